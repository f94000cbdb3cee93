"""Two revisions of ``tipgraph serve`` side by side, with the Oxigraph server: what a change
to the HTTP layer saves, uncached, in wall time and in CPU time per request.

On a shared machine wall times move with the load; the CPU time each server's process
tree used per request (from /proc) hardly does, so it is the figure to compare. Both
revisions serve the same build (each with its own result cache, which a unique comment
per request defeats); the three servers take turns request by request, the order rotating,
each request on a new connection from 127.0.0.2-9 in turn. The old revision is a source
tree, e.g. ``git archive main src | tar -x -C /tmp/old``::

    .venv/bin/python benchmarks/revisions.py --build DIR --old-src /tmp/old/src \\
        [--requests 300] [--queries ask,describe,1000-rows,count-types]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tipgraph.testing import serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import cpu_seconds, process_tree
from peers import oxigraph_server, scratch_directory

JSON, NT = "application/sparql-results+json", "application/n-triples"
PUBLICATION = "https://w3id.org/tipgraph/ontology#Publication"
#: name -> (query, Accept); {publication} is one publication's IRI
QUERIES = {
    "ask": ("ASK { ?s ?p ?o }", JSON),
    "describe": ("DESCRIBE <{publication}>", NT),
    "1000-rows": ("SELECT * WHERE { ?s ?p ?o } LIMIT 1000", JSON),
    "count-types": ("SELECT ?t (COUNT(*) AS ?n) WHERE { ?s a ?t } GROUP BY ?t", JSON),
}


def request(url: str, text: str, accept: str, source: str) -> float:
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, source_address=(source, 0),
                                timeout=120)
    start = time.perf_counter()
    connection.request("POST", parts.path, body=urlencode({"query": text}).encode(),
                       headers={"Content-Type": "application/x-www-form-urlencoded",
                                "Accept": accept, "Accept-Encoding": "identity"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"{url} answered {response.status}: {body[:300]!r}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--old-src", type=Path, required=True,
                        help="the src directory of the revision to compare with")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--queries", default=",".join(QUERIES))
    args = parser.parse_args()
    build = args.build.resolve()
    settings = {"max_results": 10_000_000}
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(scratch_directory()))
        oxigraph = stack.enter_context(oxigraph_server(build / "current" / "store", scratch))
        urls, pids = {"oxigraph": oxigraph.endpoint}, {"oxigraph": oxigraph.pid}
        os.environ["PYTHONPATH"] = str(args.old_src.resolve())  # before the editable install
        try:
            old = stack.enter_context(serving(build, settings))
        finally:
            del os.environ["PYTHONPATH"]
        new = stack.enter_context(serving(build, settings))
        urls.update(old=f"{old}/sparql", new=f"{new}/sparql")
        pids.update(old=old.pid, new=new.pid)
        found = json.loads(urllib_get(
            oxigraph.endpoint, f"SELECT ?p WHERE {{ ?p a <{PUBLICATION}> }} LIMIT 1"))
        publication = found["results"]["bindings"][0]["p"]["value"]
        print(f"load {os.getloadavg()[0]:.2f}; {args.requests} requests per query and server")
        print("| query | oxigraph ms | old ms | new ms | new - old ms | oxigraph CPU ms/request "
              "| old CPU ms/request | new CPU ms/request | load |")
        print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
        for name in args.queries.split(","):
            text, accept = QUERIES[name]
            text = text.replace("{publication}", publication)
            names = list(urls)
            times: dict[str, list[float]] = {n: [] for n in names}
            trees = {n: process_tree(p) for n, p in pids.items()}
            before = {n: cpu_seconds(t) for n, t in trees.items()}
            for number in range(args.requests):
                names = names[1:] + names[:1]
                for server in names:
                    times[server].append(request(urls[server], f"{text}\n# {uuid.uuid4().hex}",
                                                 accept, f"127.0.0.{2 + number % 8}"))
            cpu = {n: (cpu_seconds(t) - before[n]) / args.requests * 1000
                   for n, t in trees.items()}
            median = {n: statistics.median(v[5:]) * 1000 for n, v in times.items()}
            print(f"| {name} | {median['oxigraph']:.2f} | {median['old']:.2f} | "
                  f"{median['new']:.2f} | {median['new'] - median['old']:+.2f} | "
                  f"{cpu['oxigraph']:.2f} | {cpu['old']:.2f} | {cpu['new']:.2f} | "
                  f"{os.getloadavg()[0]:.1f} |", flush=True)


def urllib_get(endpoint: str, query: str) -> bytes:
    parts = urlsplit(endpoint)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.request("GET", f"{parts.path}?{urlencode({'query': query})}",
                       headers={"Accept": JSON})
    return connection.getresponse().read()


if __name__ == "__main__":
    main()
