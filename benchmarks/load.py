"""Load: 32 concurrent clients for 60 s against a real ``tipgraph serve`` on loopback.

Builds the shipped catalogue into a temporary directory, starts ``tipgraph serve``
(gunicorn, 2 workers, 8 threads each) on a free 127.0.0.1 port, and runs N clients
(default 32), each on its own loopback address (127.0.0.2, 127.0.0.3, ...: one
client per address, as the per-client query limit sees them) and its own kept-alive
connection, for D seconds (default 60). Each client cycles through a mix of the
shipped queries (``queries/*.rq``, bound with their defaults), resource documents
(Turtle, JSON-LD) and HTML pages. Reports requests/s, p50/p99 latency, errors
(any status but 200/303, or a failed connection) and the server's RSS (gunicorn
master, workers and query processes, from /proc) every 5 s; appends the
summary to ``benchmarks/RESULTS.md``. Stops by itself.

    .venv/bin/python benchmarks/load.py [--clients 32] [--seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import platform
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

from tipgraph.build import run_build
from tipgraph.queries import shipped_queries
from tipgraph.testing import serving

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def rss_mb(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):  # a process that just ended
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE
    return total / 2**20


def requests_mix() -> list[tuple[str, str, str]]:
    """(kind, path, Accept) of every request in the mix."""
    mix = []
    results = "application/sparql-results+json, text/turtle;q=0.9"
    for query in shipped_queries():
        mix.append(("query", "/sparql?" + urlencode({"query": query.bind()}), results))
    for path in ("/place/ng.ttl", "/place/west-and-central-africa.jsonld",
                 "/organisation/iom.ttl", "/place/ng", "/ontology.ttl"):
        mix.append(("document", path, "text/turtle"))
    for path in ("/", "/browse", "/browse?country=ng", "/place/ng.html", "/query"):
        mix.append(("page", path, "text/html"))
    return mix


def client(port: int, source: str, mix: list, stop: threading.Event, offset: int,
           out: list) -> None:
    connection = None
    for kind, path, accept in itertools.islice(itertools.cycle(mix), offset, None):
        if stop.is_set():
            break
        started = time.perf_counter()
        try:
            if connection is None:
                connection = HTTPConnection("127.0.0.1", port, timeout=60,
                                            source_address=(source, 0))
            connection.request("GET", path, headers={"Accept": accept})
            response = connection.getresponse()
            response.read()
            status = response.status
        except OSError:
            status = 0
            if connection is not None:
                connection.close()
            connection = None
        out.append((time.perf_counter(), kind, status, time.perf_counter() - started))
    if connection is not None:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--dry-run", action="store_true", help="Print, do not record.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "build"
        run_build(out=out)
        with serving(out, workers=2, args=("--threads", "8")) as base:
            port = int(base.rsplit(":", 1)[1])
            server_pid = base.pid
            time.sleep(2)  # let the workers start their query processes
            mix = requests_mix()
            stop, results = threading.Event(), []
            threads = [threading.Thread(target=client, args=(
                port, f"127.0.0.{2 + i}", mix, stop, i * 3, results))
                for i in range(args.clients)]
            begin = time.perf_counter()
            for thread in threads:
                thread.start()
            memory = []
            while (elapsed := time.perf_counter() - begin) < args.seconds:
                memory.append((round(elapsed), rss_mb(server_pid)))
                time.sleep(min(5.0, args.seconds - elapsed))
            stop.set()
            for thread in threads:
                thread.join(120)
            duration = time.perf_counter() - begin
            memory.append((round(duration), rss_mb(server_pid)))
    report(results, memory, duration, args)


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def report(results: list, memory: list, duration: float, args: argparse.Namespace) -> None:
    errors = [r for r in results if r[2] not in (200, 303)]
    lines = [f"## Load, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
             f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}; `benchmarks/load.py --clients {args.clients} "
             f"--seconds {args.seconds:g}`: `tipgraph serve` (gunicorn, 2 workers x 8 "
             "threads, default settings) on 127.0.0.1, one client per loopback address, "
             "kept-alive connections, seed build.", "",
             "| requests | kind | req/s | p50 ms | p99 ms | errors |",
             "|---|---|---:|---:|---:|---:|"]
    for kind in ("query", "document", "page", "all"):
        rows = [r for r in results if kind in ("all", r[1])]
        latencies = [r[3] for r in rows]
        lines.append(f"| {len(rows)} | {kind} | {len(rows) / duration:.0f} | "
                     f"{_ms(latencies, 0.5):.1f} | {_ms(latencies, 0.99):.1f} | "
                     f"{sum(1 for r in rows if r in errors)} |")
    lines += ["", "Server RSS (master + workers + query processes), MB, by second: "
              + ", ".join(f"{t}s {mb:.0f}" for t, mb in memory), ""]
    if errors:
        statuses = statistics.multimode([r[2] for r in errors])
        lines.append(f"Errors: {len(errors)} (most common status: {statuses})")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.dry_run:
        return
    with (ROOT / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as results_file:
        results_file.write("\n" + text)


if __name__ == "__main__":
    main()
