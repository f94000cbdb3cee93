"""Documents and pages at their worst: the busiest resources, browse, search; and the indexes.

What ``endpoint.py`` does not time: the resources with the most incoming links
(the country, region and organisation the most publications name: their
documents and pages are the ones that grow with the catalogue), the browse page
unfiltered, by a facet, by two, and searched; and what the per-build indexes
those rely on cost a web worker (seconds to make, MiB kept).

Makes the indexes in this process first (time and resident memory each adds:
what a worker pays for a build without an index file; ``--no-fallback`` skips
it), then starts ``tipgraph serve`` (1 worker) on the build on a free loopback
port and times its start-up (until ``/health`` answers: the worker has read the
build's index file), then the first browse and busiest document, and what the
server's process tree costs in memory (summed PSS) once ready and at the end. It
requests every kind once per round, N rounds (so noise falls on all kinds
alike); prints median and p90 per kind and appends the table to
``benchmarks/RESULTS.md``. Run by hand, on a build made before:

    .venv/bin/python benchmarks/pages.py BUILD_DIR [--rounds 50] [--no-fallback]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, machine, processes, tree_cpu_seconds, tree_pss_mib

from tipgraph.namespaces import DEFAULT_BASE, RDF, TIP
from tipgraph.serving.catalogue import load_catalogue, load_statistics
from tipgraph.serving.documents import Labels, Linking
from tipgraph.store import OxigraphStore
from tipgraph.testing import serving


def rss_mib() -> float:
    """Anonymous resident memory (the store's files mapped in are not the index's)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure_indexes(store: OxigraphStore) -> list[tuple[str, float, float]]:
    """``(index, seconds, MiB kept)`` for each per-build index of the web app."""
    found = []
    kept: list[object] = []
    for name, make in (("statistics", lambda: load_statistics(store)),
                       ("document labels", lambda: Labels(store)),
                       ("linking properties", lambda: Linking(store)),
                       ("browse index", lambda: load_catalogue(store)),
                       ("its search words", lambda: kept[-1].word_index())):  # type: ignore
        gc.collect()
        before, start = rss_mib(), time.perf_counter()
        kept.append(make())
        seconds = time.perf_counter() - start
        gc.collect()
        found.append((name, seconds, rss_mib() - before))
    return found


def busiest(store: OxigraphStore, facet: str) -> str:
    """The path of the ``facet`` value with the most publications (from the statistics)."""
    rows = store.query(f"""SELECT ?v WHERE {{ ?s <{TIP.facet}> "{facet}" ; <{RDF.value}> ?v ;
        <https://w3id.org/tipgraph/ontology#count> ?n }} ORDER BY DESC(?n) LIMIT 1""")
    return next(iter(rows))["v"].value.removeprefix(DEFAULT_BASE)


def kinds(store: OxigraphStore) -> dict[str, str]:
    publication = next(iter(store.query(
        f"SELECT ?s WHERE {{ ?s a <{TIP.Publication}> }} LIMIT 1")))["s"].value
    publication = publication.removeprefix(DEFAULT_BASE)
    country, region, org = (busiest(store, f) for f in ("country", "region", "organisation"))
    key = region.rsplit("/", 1)[-1]
    return {
        "publication .ttl": f"/{publication}.ttl", "publication .jsonld": f"/{publication}.jsonld",
        "busiest country .ttl": f"/{country}.ttl", "busiest region .ttl": f"/{region}.ttl",
        "busiest region .jsonld": f"/{region}.jsonld",
        "busiest region .ttl page 10": f"/{region}.ttl?page=10",
        "busiest organisation .ttl": f"/{org}.ttl",
        "publication page": f"/{publication}.html", "busiest region page": f"/{region}.html",
        "busiest organisation page": f"/{org}.html", "home": "/", "browse": "/browse",
        "browse, a region": f"/browse?region={key}",
        "browse, a region and a year": f"/browse?region={key}&year=2015",
        "search, two words": "/browse?q=labour+exploitation",
        "search, page 3": "/browse?q=trafficking&page=3",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("build", type=Path, help="a build directory (with `current`)")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--no-fallback", action="store_true",
                        help="do not time the indexes made from the store (what a worker does "
                        "only for a build without an index file)")
    parser.add_argument("--print-only", action="store_true",
                        help="print the figures without appending them to RESULTS.md")
    args = parser.parse_args()
    store = OxigraphStore.open(args.build / "current" / "store")
    publications = next(iter(store.query(
        f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s a <{TIP.Publication}> }}")))["n"].value
    indexes = [] if args.no_fallback else measure_indexes(store)
    paths = kinds(store)
    del store
    starting = time.perf_counter()
    with serving(args.build, workers=1, startup_limit=300) as base:
        ready = time.perf_counter() - starting
        ready_cpu = tree_cpu_seconds(base.pid)
        memory_ready = tree_pss_mib(base.pid)
        each_ready = processes(base.pid)
        parts = urlsplit(base)
        connection = HTTPConnection(parts.hostname, parts.port, timeout=300)

        def get(path: str) -> float:
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert response.status == 200, (path, response.status)
            return (time.perf_counter() - start) * 1000

        warm = get("/browse") + get(paths["busiest region .ttl"])
        memory_warm = tree_pss_mib(base.pid)
        times: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, path in paths.items():
                times[name].append(get(path))
        connection.close()
        memory_end = tree_pss_mib(base.pid)
        each_end = processes(base.pid)
    load = os.getloadavg()[0]
    lines = [f"{publications} publications; {machine()}; load average {load:.1f} at the end; "
             f"1 worker; {args.rounds} rounds.", ""]
    if indexes:
        lines += ["| per-build index (made from the store) | seconds to make | resident MiB "
                  "added (with the store's block cache it filled) |", "|---|---:|---:|"]
        lines += [f"| {name} | {seconds:.2f} | {mib:.0f} |" for name, seconds, mib in indexes]
        lines += [""]
    lines += [f"Start-up (`tipgraph serve` until /health answers, the index file read): "
              f"{ready:.1f} s, {ready_cpu:.1f} CPU s. First browse and busiest region "
              f"document after start: {warm:.0f} ms. The server's process tree (gunicorn, "
              f"its worker, its query processes; summed PSS): {memory_ready:.0f} MiB when "
              f"ready, {memory_warm:.0f} MiB after those two requests, {memory_end:.0f} MiB "
              "at the end.", "",
              "Each process of the server when ready / at the end (depth 0: gunicorn's "
              "master, 1: the worker, 2: its query processes): RSS, of it anonymous, PSS "
              "MiB; CPU s.", "",
              "| depth | RSS MiB | anonymous MiB | PSS MiB | CPU s |", "|---:|---:|---:|---:|---:|"]
    ended = {pid: row for pid, *row in each_end}
    for pid, depth, rss, anonymous, pss, cpu in each_ready:
        late = ended.get(pid)
        after = (f" / {late[1]:.0f}", f" / {late[2]:.0f}", f" / {late[3]:.0f}",
                 f" / {late[4]:.1f}") if late else ("",) * 4
        lines.append(f"| {depth} | {rss:.0f}{after[0]} | {anonymous:.0f}{after[1]} | "
                     f"{pss:.0f}{after[2]} | {cpu:.1f}{after[3]} |")
    lines += ["", "First: the first request of its kind after start-up (what a read model "
              "a worker makes or remembers on first use costs).", "",
              "| request | median ms | p90 ms | first ms |", "|---|---:|---:|---:|"]
    for name, samples in times.items():
        ordered = sorted(samples)
        lines.append(f"| {name} | {statistics.median(ordered):.1f} | "
                     f"{ordered[int(len(ordered) * 0.9)]:.1f} | {samples[0]:.1f} |")
    if args.print_only:
        print("\n".join(lines))
    else:
        append("Documents and pages", lines)


if __name__ == "__main__":
    main()
