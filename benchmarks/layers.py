"""Where the time of a small uncached query goes in ``tipgraph serve``, layer by layer.

In process, without HTTP, on a build directory: for a few small queries (ASK, one
resource, DESCRIBE, a one-record CONSTRUCT, a 50-IRI VALUES), each request made unique
by a comment, the median of ``--repeat`` of

- the engine alone: pyoxigraph's query and its serialisation;
- ``evaluate()``: what a query process does (tokenising, the bound, the cut);
- the same through a query process (:class:`QueryEngine`: the pipe, pickling, waking);
- the whole WSGI app (fast path, guards, job, query process, result cache), uncached and
  repeated (answered by the result cache), and a cProfile of the uncached ASK with
  ``--profile``.

Compare with ``endpoint.py``'s figures over HTTP: the rest is ``tipgraph serve``'s front
(gunicorn's worker, the loop, the threads). Run by hand::

    .venv/bin/python benchmarks/layers.py --build DIR [--repeat 200] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pyoxigraph

from tipgraph.sparql_engine import QueryEngine, QueryJob, evaluate
from tipgraph.web import create_app
from tipgraph.web.protocol import _PREFIXES

PUBLICATION = "<https://w3id.org/tipgraph/ontology#Publication>"


def median_ms(call: Callable[[int], object], repeat: int) -> float:
    times = []
    for number in range(repeat):
        start = time.perf_counter()
        call(number)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def engine_alone(store: pyoxigraph.Store, text: str) -> None:
    result = store.query(text)
    if isinstance(result, pyoxigraph.QueryBoolean):
        json.dumps({"head": {}, "boolean": bool(result)})
    elif isinstance(result, pyoxigraph.QuerySolutions):
        result.serialize(format=pyoxigraph.QueryResultsFormat.JSON)
    else:
        result.serialize(format=pyoxigraph.RdfFormat.N_TRIPLES)


def wsgi_call(app: Callable[..., object], text: str, accept: str) -> bytes:
    body = urlencode({"query": text}).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/sparql", "QUERY_STRING": "",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
               "wsgi.errors": sys.stderr, "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.2",
               "HTTP_ACCEPT": accept, "HTTP_ACCEPT_ENCODING": "identity"}
    result = app(environ, lambda status, headers, exc_info=None: None)
    data = b"".join(result)  # type: ignore[attr-defined]
    if hasattr(result, "close"):
        result.close()
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of the uncached ASK through the WSGI app")
    args = parser.parse_args()
    build = args.build.resolve()
    with tempfile.TemporaryDirectory(prefix="tipgraph-layers-") as scratch:
        copy = Path(scratch) / "store"  # the app opens the build's own store
        shutil.copytree(build / "current" / "store", copy)
        store = pyoxigraph.Store.read_only(str(copy))
        iris = [s["p"].value for s in store.query(
            f"SELECT ?p WHERE {{ ?p a {PUBLICATION} }} LIMIT 51")]
        one, values = iris[0], " ".join(f"<{i}>" for i in iris[1:])
        json_, nt = "application/sparql-results+json", "application/n-triples"
        queries = {
            "ask-any-triple": ("ASK { ?s ?p ?o }", json_),
            "one-resource": (f"SELECT ?p ?o WHERE {{ <{one}> ?p ?o }}", json_),
            "describe": (f"DESCRIBE <{one}>", nt),
            "construct-one-record": (f"CONSTRUCT {{ <{one}> ?p ?o }} WHERE {{ <{one}> ?p ?o }}",
                                     nt),
            "values-50": ("PREFIX dct: <http://purl.org/dc/terms/> SELECT ?p ?t WHERE { "
                          f"VALUES ?p {{ {values} }} ?p dct:title ?t }}", json_),
        }
        engine = QueryEngine(processes=1, timeout=60, memory_mb=1024)
        app = create_app({"build_dir": str(build), "max_results": 10_000_000})
        print("| query | engine alone | evaluate() | through a query process | "
              "WSGI app, uncached | WSGI app, repeated |")
        print("|---|--:|--:|--:|--:|--:|")
        for name, (text, accept) in queries.items():
            graph = accept == nt
            job = QueryJob(query=text, results_format=None if graph else "json",
                           rdf_format="ntriples" if graph else None, max_results=10_000_000,
                           base_iri="http://127.0.0.1/sparql", prefixes=_PREFIXES,
                           store_path=str(copy))
            engine.run(job, client="layers")  # started, store open
            wsgi_call(app, text, accept)
            cells = [
                median_ms(lambda n, t=text: engine_alone(store, f"{t}\n# {n}"), args.repeat),
                median_ms(lambda n, j=job: evaluate(store, replace(j, query=f"{j.query}\n# {n}")),
                          args.repeat),
                median_ms(lambda n, j=job: engine.run(replace(j, query=f"{j.query}\n# {n}"),
                                                      client="layers"), args.repeat),
                median_ms(lambda n, t=text, a=accept: wsgi_call(app, f"{t}\n# wsgi {n}", a),
                          args.repeat),
                median_ms(lambda n, t=text, a=accept: wsgi_call(app, t, a), args.repeat)]
            print(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for number in range(args.repeat):
                wsgi_call(app, f"ASK {{ ?s ?p ?o }}\n# profiled {number}", json_)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(30)
            print(out.getvalue())


if __name__ == "__main__":
    main()
