"""The shipped queries through ``tipgraph serve`` beside the Oxigraph server, on one build.

Starts ``tipgraph serve`` on a build directory and ``oxigraph serve-read-only``
on a copy of that build's store, both on free 127.0.0.1 ports, and sends each
``queries/*.rq`` (defaults bound) to both, interleaved: every round asks each
server in turn, the order alternating. The first request of a query is its
cold time (for tipgraph: not yet in the result cache); the repeats give the
warm median and p95 (for tipgraph: answered from the result cache). Prints a
table with the ratio to the Oxigraph server and the geometric means, and
appends it to ``benchmarks/RESULTS.md``. Run by hand, not in CI::

    .venv/bin/python benchmarks/endpoint.py BUILD_DIR [--repeat 5]

Virtuoso and rdflib-endpoint are not in this script yet.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

from tipgraph.queries import Query, shipped_queries
from tipgraph.testing import answers_sparql, free_port, running, serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, machine

ACCEPT = {"CONSTRUCT": "application/n-triples", "DESCRIBE": "application/n-triples"}
TIMEOUT = 300.0  # seconds one request may take before the benchmark gives up on it


@contextmanager
def oxigraph_server(store: Path) -> Iterator[str]:
    """``oxigraph serve-read-only`` on a copy of ``store``; yields its /query endpoint."""
    binary = shutil.which("oxigraph") or str(Path(sys.executable).parent / "oxigraph")
    with tempfile.TemporaryDirectory(prefix="tipgraph-bench-") as scratch:
        copy = Path(scratch) / "store"
        shutil.copytree(store, copy)
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}/query"
        command = [binary, "serve-read-only", "--location", str(copy),
                   "--bind", f"127.0.0.1:{port}"]
        with running(command, lambda: answers_sparql(endpoint), name="oxigraph",
                     startup_limit=120.0):
            yield endpoint


def ask(endpoint: str, query: Query, text: str) -> tuple[float, int, int]:
    """POST ``text`` to ``endpoint``: seconds until the whole answer is read, status, bytes."""
    parts = urlsplit(endpoint)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    accept = ACCEPT.get(query.form, "application/sparql-results+json")
    try:
        start = time.perf_counter()
        connection.request("POST", parts.path, body=text.encode("utf-8"), headers={
            "Content-Type": "application/sparql-query", "Accept": accept})
        response = connection.getresponse()
        body = response.read()
        return time.perf_counter() - start, response.status, len(body)
    except OSError:
        return TIMEOUT, 0, 0
    finally:
        connection.close()


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def geometric_mean(values: list[float]) -> float:
    values = [v for v in values if v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path, help="a build directory (with `current`)")
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per query")
    args = parser.parse_args()
    build_dir = args.build_dir.resolve()
    queries = [(query, query.bind({})) for query in shipped_queries()]
    servers = ("tipgraph", "oxigraph")
    cold: dict[tuple[str, str], float] = {}
    warm: dict[tuple[str, str], list[float]] = {}
    notes: dict[tuple[str, str], str] = {}
    with ExitStack() as stack:
        tipgraph = stack.enter_context(serving(build_dir, {"query_timeout": 120},
                                               startup_limit=180.0))
        oxigraph = stack.enter_context(oxigraph_server(build_dir / "current" / "store"))
        endpoints = {"tipgraph": f"{tipgraph}/sparql", "oxigraph": oxigraph}
        for number, (query, text) in enumerate(queries):
            for round_ in range(1 + args.repeat):
                order = servers if (number + round_) % 2 == 0 else servers[::-1]
                for server in order:
                    seconds, status, size = ask(endpoints[server], query, text)
                    key = (query.name, server)
                    if status != 200:
                        notes[key] = f"HTTP {status or 'timeout'}"
                    notes.setdefault(key, f"{size} B")
                    if round_ == 0:
                        cold[key] = seconds
                    else:
                        warm.setdefault(key, []).append(seconds)
            print(f"{query.name}: done", file=sys.stderr, flush=True)
    triples = json.loads((build_dir / "report.json").read_text(encoding="utf-8"))["triples"]
    lines = [f"Machine: {machine()}. Build of {triples:,} triples; "
             f"{args.repeat} warm requests per query and server, interleaved; tipgraph serve "
             "with its defaults (2 workers, result cache on). Times in ms; ratio = tipgraph / "
             "Oxigraph server.", "",
             "| query | tipgraph cold | oxigraph cold | ratio cold | tipgraph warm median | "
             "p95 | oxigraph warm median | p95 | ratio warm | answer (tipgraph / oxigraph) |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    ratios_cold, ratios_warm = [], []
    for query, _ in queries:
        t, o = (query.name, "tipgraph"), (query.name, "oxigraph")
        tw, ow = statistics.median(warm[t]), statistics.median(warm[o])
        ratios_cold.append(cold[t] / cold[o])
        ratios_warm.append(tw / ow)
        lines.append(f"| {query.name} | {cold[t] * 1000:.1f} | {cold[o] * 1000:.1f} | "
                     f"{cold[t] / cold[o]:.2f} | {tw * 1000:.2f} | {p95(warm[t]) * 1000:.2f} | "
                     f"{ow * 1000:.1f} | {p95(warm[o]) * 1000:.1f} | {tw / ow:.3f} | "
                     f"{notes[t]} / {notes[o]} |")
    def mean_ms(server: str, times: dict) -> float:
        return geometric_mean([times[q.name, server] for q, _ in queries]) * 1000

    medians = {key: statistics.median(samples) for key, samples in warm.items()}
    lines += ["", f"Geometric mean of the ratios: cold {geometric_mean(ratios_cold):.2f}, "
              f"warm {geometric_mean(ratios_warm):.3f}. Geometric mean of the times (ms): "
              f"tipgraph cold {mean_ms('tipgraph', cold):.1f}, oxigraph cold "
              f"{mean_ms('oxigraph', cold):.1f}, tipgraph warm {mean_ms('tipgraph', medians):.2f}, "
              f"oxigraph warm {mean_ms('oxigraph', medians):.1f}."]
    append("Endpoint: shipped queries through tipgraph serve vs the Oxigraph server", lines)


if __name__ == "__main__":
    main()
