"""Soak: well-behaved clients beside runaway queries and slow clients, for minutes.

Starts ``tipgraph serve`` with the default settings on the seed-sized shipped catalogue
(or ``--build DIR``) and runs, for ``--seconds`` (default 600):

- ``--clients`` well-behaved clients (default 64), each on its own loopback address and
  kept-alive connection, cycling through the realistic mix of ``load.py`` (the shipped
  queries, documents, pages) and ``/health``;
- ``--runaways`` addresses (default 4) each sending, again and again, 4 queries at once
  that never end (a cross product of four patterns), stopped by the time limit or by
  another client's turn;
- ``--hungry`` addresses (default 1) sending the 53-byte query that sorts a cross
  product (gigabytes within seconds), stopped by ``query_memory_mb``;
- ``--slow`` slow connections (default 100, a third of each kind): headers sent a byte
  at a time, a body that never ends, a dump asked for and never read; each replaced
  when the server closes it.

Reports, per kind of well-behaved request, the count, p50/p95/p99 latency and errors
(any status but 200/303, or a failed connection: none are expected), what the abusers
got (status counts), and the server's memory (master, workers, query processes) every
20 s; appends the section to RESULTS.md::

    .venv/bin/python benchmarks/soak.py [--clients 64] [--seconds 600]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

from tipgraph.build import run_build
from tipgraph.testing import serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import client, requests_mix, rss_mb, wait_idle, warm_up
from results import append, machine

RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
HUNGRY = "SELECT * { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c"
JSON = "application/sparql-results+json"
#: Seconds between two looks at the server's memory.
MEMORY_EVERY = 20.0


def abuser(port: int, source: str, text: str, at_once: int, stop: threading.Event,
           out: Counter) -> None:
    """Send ``text`` ``at_once`` times in parallel from ``source``, again and again."""
    path = "/sparql?" + urlencode({"query": text})

    def one() -> None:
        while not stop.is_set():
            try:
                connection = HTTPConnection("127.0.0.1", port, timeout=120,
                                            source_address=(source, 0))
                connection.request("GET", path, headers={"Accept": JSON})
                response = connection.getresponse()
                response.read()
                out[response.status] += 1
                connection.close()
                if response.status == 429:
                    time.sleep(float(response.getheader("Retry-After") or 1))
            except OSError:
                out[0] += 1
                time.sleep(1)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(at_once)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


SLOW_KINDS = {
    "headers": b"GET /health HTTP/1.1\r\nHost: x\r\n",  # then a byte now and then
    "body": b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query"
            b"\r\nContent-Length: 1000\r\n\r\nSELECT",
    "reader": b"GET /dumps/tipgraph.nt HTTP/1.1\r\nHost: x\r\n\r\n" * 10,
}


def slow_connections(port: int, count: int, stop: threading.Event, out: Counter) -> None:
    """Hold ``count`` slow connections open, a third of each kind; a closed one is
    replaced by one of its kind (and counted: ``closed by the server``). A reader the
    server closed is not seen closed (its unread bytes stay in its socket): it is held,
    not replaced."""
    kinds = list(SLOW_KINDS)
    held: list[tuple[str, socket.socket]] = []
    while not stop.is_set():
        while len(held) < count:  # the kind with the fewest held (a third of each)
            kind = min(kinds, key=lambda k: sum(1 for held_kind, _ in held if held_kind == k))
            connection = socket.socket()
            if kind == "reader":
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            try:
                connection.bind((f"127.0.1.{1 + random.randrange(250)}", 0))
                connection.connect(("127.0.0.1", port))
                connection.sendall(SLOW_KINDS[kind])
                connection.setblocking(False)
            except OSError:
                connection.close()
                out["could not open"] += 1
                time.sleep(0.5)
                continue
            held.append((kind, connection))
            out[f"{kind} opened"] += 1
        time.sleep(1.0)
        for kind, connection in list(held):
            try:
                if kind == "headers":
                    connection.send(b"X")  # a byte a second: never a whole header
                elif kind == "body":
                    connection.send(b" ")
                elif connection.recv(1, socket.MSG_PEEK) == b"":
                    raise ConnectionError
            except BlockingIOError:
                continue
            except OSError:
                held.remove((kind, connection))
                connection.close()
                out[f"{kind} closed by the server"] += 1
    for _, connection in held:
        connection.close()


def health_client(port: int, stop: threading.Event, out: list) -> None:
    """``/health`` once a second from its own address: kind ``health``."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            connection = HTTPConnection("127.0.0.1", port, timeout=60,
                                        source_address=("127.0.0.250", 0))
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            status = response.status
            connection.close()
        except OSError:
            status = 0
        out.append((time.perf_counter(), "health", status, time.perf_counter() - started))
        stop.wait(1.0)


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--runaways", type=int, default=4)
    parser.add_argument("--hungry", type=int, default=1)
    parser.add_argument("--slow", type=int, default=100)
    parser.add_argument("--build", type=Path, default=None)
    parser.add_argument("--dry-run", action="store_true", help="Print, do not record.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.build
        if out is None:
            out = Path(tmp) / "build"
            run_build(out=out)
        with serving(out, startup_limit=300) as base:
            port = int(base.rsplit(":", 1)[1])
            mix = requests_mix()
            warm_up(port, mix)
            wait_idle(base.pid)
            stop, results, abused, slow = threading.Event(), [], Counter(), Counter()
            threads = [threading.Thread(target=client, args=(
                port, f"127.0.0.{2 + i}", mix, stop, i * 3, results), daemon=True)
                for i in range(args.clients)]
            threads.append(threading.Thread(target=health_client, args=(port, stop, results),
                                            daemon=True))
            for n in range(args.runaways):
                threads.append(threading.Thread(target=abuser, args=(
                    port, f"127.0.2.{1 + n}", RUNAWAY, 4, stop, abused), daemon=True))
            for n in range(args.hungry):
                threads.append(threading.Thread(target=abuser, args=(
                    port, f"127.0.3.{1 + n}", HUNGRY, 1, stop, abused), daemon=True))
            threads.append(threading.Thread(target=slow_connections, args=(
                port, args.slow, stop, slow), daemon=True))
            begin = time.perf_counter()
            for thread in threads:
                thread.start()
            memory = []
            while (elapsed := time.perf_counter() - begin) < args.seconds:
                memory.append((round(elapsed), rss_mb(base.pid)))
                time.sleep(min(MEMORY_EVERY, args.seconds - elapsed))
            stop.set()
            duration = time.perf_counter() - begin
            memory.append((round(duration), rss_mb(base.pid)))
            for thread in threads:
                thread.join(180)
    load = os.getloadavg()
    lines = [f"{machine()}; load average {load[0]:.1f} at the end (other work on the "
             f"machine included); `benchmarks/soak.py --clients {args.clients} --seconds "
             f"{args.seconds:g} --runaways {args.runaways} --hungry {args.hungry} --slow "
             f"{args.slow}`: `tipgraph serve` with the default settings, "
             f"{'build ' + args.build.name if args.build else 'the shipped catalogue'}; "
             f"{args.clients} well-behaved clients (own address, kept-alive connection, the "
             "load.py mix) and /health once a second, beside runaway queries "
             f"({args.runaways} addresses x 4 at once), the memory-hungry query "
             f"({args.hungry} address) and {args.slow} slow connections.", "",
             "| kind | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for kind in ("query", "document", "page", "health", "all"):
        rows = [r for r in results if kind in ("all", r[1])]
        latencies = [r[3] for r in rows]
        errors = sum(1 for r in rows if r[2] not in (200, 303))
        lines.append(f"| {kind} | {len(rows)} | {len(rows) / duration:.1f} | "
                     f"{_ms(latencies, 0.5):.1f} | {_ms(latencies, 0.95):.1f} | "
                     f"{_ms(latencies, 0.99):.1f} | {errors} |")
    statuses = Counter(r[2] for r in results if r[2] not in (200, 303))
    lines += ["", "Errors of the well-behaved clients by status: "
              + (", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())) or "none") + ".",
              "Abusers' answers by status (0: connection failed): "
              + ", ".join(f"{s}: {n}" for s, n in sorted(abused.items())) + ".",
              "Slow connections: " + ", ".join(f"{k} {n}" for k, n in sorted(slow.items()))
              + ".",
              "Server RSS (with its children), MB, by second: "
              + ", ".join(f"{t}s {mb:.0f}" for t, mb in memory) + "."]
    if args.dry_run:
        print("\n".join(lines))
        return
    with contextlib.suppress(KeyboardInterrupt):
        append("Soak", lines)


if __name__ == "__main__":
    main()
