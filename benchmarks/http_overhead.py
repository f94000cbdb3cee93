"""What the HTTP layer adds: the shipped queries through ``/sparql`` vs pyoxigraph in-process.

Builds the shipped catalogue into a temporary directory, starts the real
``tipgraph serve`` (gunicorn, one worker) on a free 127.0.0.1 port, and times
each ``queries/*.rq`` both ways: an HTTP request over a kept-alive connection
(JSON results) and ``Store.query`` on the same store, consumed and written as
JSON by pyoxigraph. Prints a table of medians and appends it to
``benchmarks/RESULTS.md``.

    .venv/bin/python benchmarks/http_overhead.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

import pyoxigraph

from tipgraph.build import run_build
from tipgraph.testing import serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, machine

ROOT = Path(__file__).resolve().parents[1]


def _in_process(store: pyoxigraph.Store, query: str) -> int:
    result = store.query(query)
    if isinstance(result, pyoxigraph.QueryBoolean):
        return len(result.serialize(format=pyoxigraph.QueryResultsFormat.JSON))
    if isinstance(result, pyoxigraph.QuerySolutions):
        return len(result.serialize(format=pyoxigraph.QueryResultsFormat.JSON))
    return len(pyoxigraph.serialize(result, format=pyoxigraph.RdfFormat.TURTLE))


def _over_http(connection: HTTPConnection, query: str) -> int:
    connection.request("GET", "/sparql?" + urlencode({"query": query}),
                       headers={"Accept": "application/sparql-results+json, text/turtle;q=0.9"})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {body[:200]!r}")
    return len(body)


def _median_ms(action, repeat: int) -> float:
    action()  # warm caches (and the query process's store handle)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    queries = sorted((ROOT / "queries").glob("*.rq"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "build"
        run_build(out=out)
        with serving(out, workers=1) as base:
            connection = HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=60)
            store = pyoxigraph.Store.read_only(str(out / "store"))
            rows = []
            for path in queries:
                query = path.read_text(encoding="utf-8")
                direct = _median_ms(lambda q=query: _in_process(store, q), args.repeat)
                http = _median_ms(lambda q=query: _over_http(connection, q), args.repeat)
                rows.append((path.stem, direct, http, _over_http(connection, query)))
            connection.close()
    lines = ["| query | in-process ms | /sparql ms | added ms | response bytes |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {d:.2f} | {h:.2f} | {h - d:.2f} | {size} |"
              for name, d, h, size in rows]
    added = statistics.median(h - d for _, d, h, _ in rows)
    append("HTTP overhead", [
        f"{machine()}; `benchmarks/http_overhead.py --repeat {args.repeat}`: median of "
        f"{args.repeat} runs per query, gunicorn with 1 worker over a kept-alive connection "
        "on 127.0.0.1, JSON results (Turtle for CONSTRUCT).",
        "",
        *lines,
        "",
        f"Median added by the HTTP layer across queries: **{added:.2f} ms**."])

if __name__ == "__main__":
    main()
