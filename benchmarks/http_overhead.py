"""What the endpoint adds: ``tipgraph serve`` beside the Oxigraph server on one store.

Starts the real ``tipgraph serve`` (gunicorn, its defaults unless told) on a build
directory and ``oxigraph serve-read-only`` on that build's store (opened
read-only by both), on free 127.0.0.1 ports, and measures, interleaving the two
servers request by request (the order alternating each round):

- **arbitrary queries**: a fixed set, from trivial to large answers. Every request
  carries a fresh comment so tipgraph's result cache never answers it: this is
  the cost of evaluating, writing and sending. The ratio to the Oxigraph server
  and the difference in ms are reported per query, and the CPU time each server's
  processes used per request (from /proc: unlike latency, it hardly moves when
  others load the machine, so it shows a change in our overhead on a busy machine);
- **warm shipped queries**: each ``queries/*.rq`` (defaults bound) asked again
  and again of tipgraph, a new connection per request as most clients do (so
  gunicorn's workers take turns), JSON results (N-Triples for CONSTRUCT).

Prints the tables and appends them to ``benchmarks/RESULTS.md``. Run by hand::

    .venv/bin/python benchmarks/http_overhead.py BUILD_DIR [--repeat 15] [--dry-run]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

from tipgraph.queries import shipped_queries
from tipgraph.testing import answers_sparql, find_binary, free_port, running, serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import cpu_seconds, process_tree, wait_idle
from results import append, machine

JSON = "application/sparql-results+json"
RUN = uuid.uuid4().hex[:12]  # in every arbitrary query: no answer kept by an earlier run
NT = "application/n-triples"

#: (name, query, Accept): trivial ones first, then ones whose answers are large.
ARBITRARY: tuple[tuple[str, str, str], ...] = (
    ("ask", "ASK { ?s ?p ?o }", JSON),
    ("ask-a-publication", "PREFIX tip: <https://w3id.org/tipgraph/ontology#>\n"
     "ASK { ?p a tip:Publication }", JSON),
    ("one-resource", "SELECT ?p ?o WHERE { <{publication}> ?p ?o }", JSON),  # as endpoint.py
    ("one-row", "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1", JSON),
    ("count-types", "SELECT ?t (COUNT(*) AS ?n) WHERE { ?s a ?t } GROUP BY ?t", JSON),
    ("1000-rows", "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 1000", JSON),
    ("10000-rows", "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 10000", JSON),
    ("10000-rows-xml", "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 10000",
     "application/sparql-results+xml"),
    ("10000-rows-csv", "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 10000", "text/csv"),
    ("titles-ordered", "SELECT ?p ?t WHERE { ?p <http://purl.org/dc/terms/title> ?t } "
     "ORDER BY ?t LIMIT 5000", JSON),
    ("construct-5000", "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 5000", NT),
    ("construct-5000-ttl", "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 5000",
     "text/turtle"),
)


def request(endpoint: str, query: str, accept: str, *,
            connection: HTTPConnection | None = None) -> tuple[float, int, int]:
    """POST ``query``: seconds until the whole answer is read, status, bytes."""
    parts = urlsplit(endpoint)
    own = connection is None
    connection = connection or HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        start = time.perf_counter()
        connection.request("POST", parts.path, body=query.encode("utf-8"), headers={
            "Content-Type": "application/sparql-query", "Accept": accept})
        response = connection.getresponse()
        body = response.read()
        return time.perf_counter() - start, response.status, len(body)
    finally:
        if own:
            connection.close()


def oxigraph_server(stack: ExitStack, store: Path) -> tuple[str, int]:
    """The Oxigraph server on ``store``: its endpoint and process id."""
    binary = find_binary(["oxigraph"])
    if binary is None:
        raise SystemExit("the Oxigraph server is not installed (pip install oxigraph)")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/query"
    process = stack.enter_context(running(
        [binary, "serve-read-only", "--location", str(store), "--bind", f"127.0.0.1:{port}"],
        lambda: answers_sparql(endpoint), name="oxigraph", startup_limit=120.0))
    return endpoint, process.pid


def one_publication(endpoint: str) -> str:
    """A publication's IRI, for the one-resource query."""
    text = ("PREFIX tip: <https://w3id.org/tipgraph/ontology#>\n"
            "SELECT ?p WHERE { ?p a tip:Publication } LIMIT 1")
    parts = urlsplit(endpoint)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        connection.request("POST", parts.path, body=text.encode("utf-8"), headers={
            "Content-Type": "application/sparql-query", "Accept": JSON})
        answer = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    return answer["results"]["bindings"][0]["p"]["value"]


def arbitrary(endpoints: dict[str, str], pids: dict[str, int], repeat: int,
              names: set[str] | None = None) -> list[str]:
    counter = itertools.count()
    chosen = [entry for entry in ARBITRARY if names is None or entry[0] in names]
    publication = one_publication(endpoints["oxigraph"])
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], float] = {}
    sizes: dict[tuple[str, str], int] = {}
    trees = {server: process_tree(pid) for server, pid in pids.items()}
    for round_ in range(repeat + 1):
        order = list(endpoints) if round_ % 2 else list(reversed(endpoints))
        for name, query, accept in chosen:
            for server in order:
                # never the same text, in this run or another: no cache hit
                text = f"{query.replace('{publication}', publication)}\n# {RUN} {next(counter)}"
                used = cpu_seconds(trees[server])
                seconds, status, size = request(endpoints[server], text, accept)
                used = cpu_seconds(trees[server]) - used  # in clock ticks: right on average
                if status != 200:
                    raise RuntimeError(f"{server} answered {status} to {name}")
                if round_:  # the first round warms both servers' pages and handles
                    times.setdefault((name, server), []).append(seconds * 1000)
                    cpu[name, server] = cpu.get((name, server), 0.0) + used * 1000
                sizes[name, server] = size
    lines = ["| query | tipgraph ms | oxigraph ms | ratio | added ms | CPU ms per request "
             "(tipgraph / oxigraph) | bytes (tipgraph / oxigraph) |",
             "|---|--:|--:|--:|--:|--:|---|"]
    for name, _, accept in chosen:
        t = statistics.median(times[name, "tipgraph"])
        o = statistics.median(times[name, "oxigraph"])
        lines.append(f"| {name} ({accept.split('/')[1]}) | {t:.2f} | {o:.2f} | {t / o:.2f} | "
                     f"{t - o:+.2f} | {cpu[name, 'tipgraph'] / repeat:.2f} / "
                     f"{cpu[name, 'oxigraph'] / repeat:.2f} | "
                     f"{sizes[name, 'tipgraph']} / {sizes[name, 'oxigraph']} |")
    return lines


def warm(endpoint: str, repeat: int) -> list[str]:
    lines = ["| shipped query | cold ms | warm median ms | warm p90 ms | kept-alive median ms |"
             " bytes |", "|---|--:|--:|--:|--:|--:|"]
    parts = urlsplit(endpoint)
    medians = []
    for query in shipped_queries():
        text = query.bind()
        accept = NT if query.form in ("CONSTRUCT", "DESCRIBE") else JSON
        cold, _, size = request(endpoint, text, accept)
        fresh = sorted(request(endpoint, text, accept)[0] * 1000 for _ in range(repeat))
        connection = HTTPConnection(parts.hostname, parts.port, timeout=600)
        kept = [request(endpoint, text, accept, connection=connection)[0] * 1000
                for _ in range(repeat)]
        connection.close()
        medians.append(statistics.median(fresh))
        lines.append(f"| {query.name} | {cold * 1000:.1f} | {statistics.median(fresh):.2f} | "
                     f"{fresh[int(0.9 * (len(fresh) - 1))]:.2f} | "
                     f"{statistics.median(kept):.2f} | {size} |")
    lines += ["", f"Median of the warm medians: **{statistics.median(medians):.2f} ms**; "
              f"largest: {max(medians):.2f} ms."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-warm", action="store_true")
    parser.add_argument("--skip-arbitrary", action="store_true")
    parser.add_argument("--arbitrary", default=None, metavar="NAME,...",
                        help="Only these arbitrary queries (" + ", ".join(
                            name for name, _, _ in ARBITRARY) + ").")
    parser.add_argument("--dry-run", action="store_true", help="Print, do not record.")
    args = parser.parse_args()
    build = args.build_dir.resolve()
    with ExitStack() as stack:
        base = stack.enter_context(serving(build, workers=args.workers, startup_limit=180))
        oxigraph, oxigraph_pid = oxigraph_server(stack, build / "current" / "store")
        endpoints = {"tipgraph": f"{base}/sparql", "oxigraph": oxigraph}
        pids = {"tipgraph": base.pid, "oxigraph": oxigraph_pid}
        for _ in range(4):  # each worker's first request starts its background indexes
            request(endpoints["tipgraph"], "ASK { ?s ?p ?o }", JSON)
        wait_idle(base.pid)  # which are not what is measured here
        sections = [f"{machine()}; `benchmarks/http_overhead.py --repeat {args.repeat}` on a "
                    f"build of {build.joinpath('current').resolve().name}: `tipgraph serve` "
                    f"({args.workers} workers, default settings) and `oxigraph "
                    "serve-read-only` on the same store, 127.0.0.1, POSTed queries, medians "
                    "in ms. The machine's 2 cores are shared with other work: figures are "
                    "noisy; the servers are interleaved request by request.", ""]
        if not args.skip_arbitrary:
            sections += ["Arbitrary queries (never answered from the cache):", "",
                         *arbitrary(endpoints, pids, args.repeat,
                                    set(args.arbitrary.split(",")) if args.arbitrary else None),
                         ""]
        if not args.skip_warm:
            sections += ["Shipped queries, warm (from the result cache), a new connection "
                         "per request:", "", *warm(endpoints["tipgraph"], args.repeat)]
    if args.dry_run:
        print("\n".join(sections))
    else:
        append("HTTP overhead: tipgraph serve vs the Oxigraph server", sections)


if __name__ == "__main__":
    main()
