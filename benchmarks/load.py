"""Load: 32 concurrent clients for 60 s against a real ``tipgraph serve`` on loopback.

Builds the shipped catalogue into a temporary directory (or serves ``--build DIR``),
starts ``tipgraph serve`` (gunicorn, 2 workers, 8 threads each, or ``--workers``,
``--threads``) on a free 127.0.0.1 port, and runs N clients
(default 32), each on its own loopback address (127.0.0.2, 127.0.0.3, ...: one
client per address, as the per-client query limit sees them) and its own kept-alive
connection, for D seconds (default 60). Each client cycles through a mix of the
shipped queries (``queries/*.rq``, bound with their defaults), resource documents
(Turtle, JSON-LD) and HTML pages. Reports requests/s, p50/p99 latency, errors
(any status but 200/303, or a failed connection) and the server's RSS (gunicorn
master, workers and query processes, from /proc) every 5 s; appends the
summary to ``benchmarks/RESULTS.md``. Stops by itself.

With ``--mix queries`` the clients send only the shipped queries; with
``--oxigraph`` the same query mix is then sent, by as many clients for as long,
to ``oxigraph serve-read-only`` on the same store (one server at a time, so each
has the machine), and both rows are reported::

    .venv/bin/python benchmarks/load.py [--clients 32] [--seconds 60]
    .venv/bin/python benchmarks/load.py --build BUILD_DIR --clients 8 --mix queries --oxigraph
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
from tipgraph.testing import answers_sparql, find_binary, free_port, running, serving

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
HERTZ = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
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
    for member in process_tree(pid):
        with contextlib.suppress(OSError):  # a process that just ended
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE
    return total / 2**20


def requests_mix(queries_only: bool = False, endpoint: str = "/sparql"
                 ) -> list[tuple[str, str, str]]:
    """(kind, path, Accept) of every request in the mix."""
    mix = []
    results = "application/sparql-results+json, text/turtle;q=0.9"
    for query in shipped_queries():
        mix.append(("query", f"{endpoint}?" + urlencode({"query": query.bind()}), results))
    if queries_only:
        return mix
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


def load(port: int, server_pid: int, mix: list, clients: int, seconds: float
         ) -> tuple[list, list, float]:
    """Run ``clients`` clients through ``mix`` for ``seconds``; results, memory, duration."""
    stop, results = threading.Event(), []
    threads = [threading.Thread(target=client, args=(
        port, f"127.0.0.{2 + i}", mix, stop, i * 3, results)) for i in range(clients)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    memory = []
    while (elapsed := time.perf_counter() - begin) < seconds:
        memory.append((round(elapsed), rss_mb(server_pid)))
        time.sleep(min(5.0, seconds - elapsed))
    stop.set()
    for thread in threads:
        thread.join(600)
    duration = time.perf_counter() - begin
    memory.append((round(duration), rss_mb(server_pid)))
    return results, memory, duration


def warm_up(port: int, mix: list) -> None:
    """Send each request of the mix once (twice for each worker to see it), then wait until
    the server is idle: loading the store's pages, and for tipgraph each worker's
    background indexes, are not what is measured."""
    for _, path, accept in mix * 2:
        connection = HTTPConnection("127.0.0.1", port, timeout=600)
        connection.request("GET", path, headers={"Accept": accept})
        connection.getresponse().read()
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--build", type=Path, default=None,
                        help="A build directory to serve (default: build the shipped catalogue).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--mix", choices=("all", "queries"), default="all")
    parser.add_argument("--oxigraph", action="store_true",
                        help="Also load the Oxigraph server with the query mix.")
    parser.add_argument("--dry-run", action="store_true", help="Print, do not record.")
    args = parser.parse_args()
    if args.oxigraph and args.mix != "queries":
        parser.error("--oxigraph compares the query mix: add --mix queries")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.build
        if out is None:
            out = Path(tmp) / "build"
            run_build(out=out)
        with serving(out, workers=args.workers, args=("--threads", str(args.threads)),
                     startup_limit=300) as base:
            port = int(base.rsplit(":", 1)[1])
            mix = requests_mix(args.mix == "queries")
            warm_up(port, mix)
            wait_idle(base.pid)
            runs.append(("tipgraph", *load(port, base.pid, mix, args.clients, args.seconds)))
        if args.oxigraph:
            binary = find_binary(["oxigraph"])
            if binary is None:
                raise SystemExit("the Oxigraph server is not installed (pip install oxigraph)")
            port = free_port()
            endpoint = f"http://127.0.0.1:{port}/query"
            command = [binary, "serve-read-only", "--location", str(out / "current" / "store"),
                       "--bind", f"127.0.0.1:{port}"]
            with running(command, lambda: answers_sparql(endpoint), name="oxigraph",
                         startup_limit=120) as process:
                mix = requests_mix(True, "/query")
                warm_up(port, mix)
                wait_idle(process.pid)
                runs.append(("oxigraph", *load(port, process.pid, mix, args.clients,
                                                args.seconds)))
    report(runs, args)


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system) the processes ``pids`` have used so far."""
    total = 0
    for member in pids:
        with contextlib.suppress(OSError):  # a process that just ended
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / HERTZ


def wait_idle(pid: int, limit: float = 600.0) -> None:
    """Wait until ``pid`` and its children use less than a tenth of a core."""
    deadline = time.monotonic() + limit
    before = cpu_seconds(process_tree(pid))
    while time.monotonic() < deadline:
        time.sleep(2.0)
        after = cpu_seconds(process_tree(pid))
        if (after - before) / 2.0 < 0.1:
            return
        before = after


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def report(runs: list, args: argparse.Namespace) -> None:
    server = (f"`tipgraph serve` (gunicorn, {args.workers} workers x {args.threads} threads, "
              "default settings)")
    if args.oxigraph:
        server += " and `oxigraph serve-read-only` on the same store, one after the other,"
    data = (f"build {args.build.resolve().joinpath('current').resolve().name}" if args.build
            else "seed build")
    lines = [f"## Load, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
             f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}; `benchmarks/load.py --clients {args.clients} "
             f"--seconds {args.seconds:g} --mix {args.mix}"
             f"{' --oxigraph' if args.oxigraph else ''}`: {server}"
             " on 127.0.0.1, one client per loopback address, kept-alive connections, "
             f"{data}; requests warmed up once, server idle before the run.", "",
             "| server | requests | kind | req/s | p50 ms | p99 ms | errors |",
             "|---|---|---|---:|---:|---:|---:|"]
    memories = []
    for name, results, memory, duration in runs:
        errors = [r for r in results if r[2] not in (200, 303)]
        kinds = ("query", "document", "page", "all") if args.mix == "all" else ("query",)
        for kind in kinds:
            rows = [r for r in results if kind in ("all", r[1])]
            latencies = [r[3] for r in rows]
            lines.append(f"| {name} | {len(rows)} | {kind} | {len(rows) / duration:.1f} | "
                         f"{_ms(latencies, 0.5):.1f} | {_ms(latencies, 0.99):.1f} | "
                         f"{sum(1 for r in rows if r in errors)} |")
        memories.append(f"{name}: " + ", ".join(f"{t}s {mb:.0f}" for t, mb in memory))
        if errors:
            statuses = statistics.multimode([r[2] for r in errors])
            memories.append(f"{name} errors: {len(errors)} (most common status: {statuses})")
    lines += ["", "Server RSS (with its children), MB, by second: " + "; ".join(memories), ""]
    text = "\n".join(lines)
    print(text)
    if args.dry_run:
        return
    with (ROOT / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as results_file:
        results_file.write("\n" + text)


if __name__ == "__main__":
    main()
