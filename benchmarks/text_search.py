"""Two-word searches joined with a year or a country: ``tip:matches`` on tipgraph's endpoint
against the same search in plain SPARQL on the Oxigraph server (and Virtuoso).

    .venv/bin/python benchmarks/text_search.py --build DIR [--samples 5] [--skip virtuoso]

Rare, middling and frequent pairs of words (by the share of publications they match),
each joined once with a year (``FILTER(?year = ...)``) and once with a country. Each is
sent ``--samples`` times per server, in interleaved rounds (every search once per round),
one request at a time over HTTP on 127.0.0.1; tipgraph's uncached samples differ by a
comment (its result cache never holds them), each followed by the same text again (its
repeated figure, from the cache). Besides wall times, the CPU seconds tipgraph's process
tree spent per request (the machine is shared: CPU is what load does not inflate). Plain
SPARQL cannot use an index for words: it reads each candidate's title and abstract
(``CONTAINS`` on the lower-cased text), so its answer is a superset (a word inside
another counts), whose rows the table gives too. Appends a section to
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import Server, oxigraph_server, scratch_directory, virtuoso_server
from results import append, machine, tree_cpu_seconds

from tipgraph.serving.textindex import TEXT_FILE, TextIndex
from tipgraph.testing import fetch, serving

#: Pairs of words of the synthetic vocabulary, frequent to rare.
PAIRS = [("forced", "labour"), ("victims", "shelter"), ("police", "corruption"),
         ("health", "services"), ("border", "smuggling"), ("girls", "education"),
         ("brokers", "wages"), ("monitoring", "evaluation")]
PREFIXES = """PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""
#: The joins: a year, a country (Nigeria, as the synthetic catalogue names it).
FILTERS = {
    "year": '?publication dct:issued ?year . FILTER(?year = "{year}"^^xsd:gYear)',
    "country": "?publication tip:statedCountry <https://w3id.org/tipgraph/place/{country}> .",
}
WARM_UP = "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1"
COUNTRIES = ["ng", "in", "br", "th", "ua", "mx", "ph", "et"]


def tipgraph_query(words: tuple[str, str], join: str) -> str:
    return PREFIXES + f"""SELECT ?publication ?title WHERE {{
  ?publication tip:matches "{' '.join(words)}" ; dct:title ?title .
  {join}
}}"""


def plain_query(words: tuple[str, str], join: str) -> str:
    tests = " && ".join(f'CONTAINS(?text, "{w}")' for w in words)
    return PREFIXES + f"""SELECT ?publication ?title WHERE {{
  {join}
  ?publication dct:title ?title .
  OPTIONAL {{ ?publication dct:abstract ?abstract }}
  BIND(LCASE(CONCAT(?title, " ", COALESCE(?abstract, ""))) AS ?text)
  FILTER({tests})
}}"""


def ask(server: Server, query: str) -> tuple[float, int]:
    """Seconds to the whole answer, and its rows."""
    body = urlencode([("query", query), *server.fields]).encode()
    started = time.perf_counter()
    status, _, answer = fetch(server.endpoint, method="POST", data=body, timeout=600,
                              headers={"Content-Type": "application/x-www-form-urlencoded",
                                       "Accept": "application/sparql-results+json"})
    seconds = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"{server.endpoint}: {status} {answer[:300]!r}")
    return seconds, len(json.loads(answer)["results"]["bindings"])


Run = tuple[tuple[str, str], str, str]  # words, join name, join pattern
#: (words, join) -> the samples of one column: (ms, CPU ms or None, rows)
Samples = dict[tuple[str, str], list[tuple[float, float | None, int]]]


def measure(server: Server, make: object, runs: list[Run], samples: int, *,
            repeated: Samples | None = None) -> Samples:
    """``samples`` interleaved rounds of every run, each sent with a comment of its own;
    with ``repeated``, each is sent again at once and its figures go there."""
    found: Samples = {}
    for round_ in range(samples):
        for words, name, join in runs:
            query = make(words, join) + f"\n# sample {round_} {time.time_ns()}"  # type: ignore[operator]
            for into in (found, repeated) if repeated is not None else (found,):
                cpu = tree_cpu_seconds(server.pid) if server.name == "tipgraph" else None
                seconds, rows = ask(server, query)
                if cpu is not None:
                    cpu = (tree_cpu_seconds(server.pid) - cpu) * 1000
                into.setdefault((" ".join(words), name), []).append((seconds * 1000, cpu, rows))
    return found


def median(got: list[tuple[float, float | None, int]], field: int) -> float:
    """The median of one field of the samples; for CPU, the mean (/proc counts it in
    hundredths of a second, coarser than one request)."""
    if field == 1:
        return statistics.fmean(g[1] for g in got)  # type: ignore[misc]
    return statistics.median(g[field] for g in got)  # type: ignore[misc]


def kind(share: float) -> str:
    return "rare" if share < 0.01 else "middling" if share < 0.05 else "frequent"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True, help="a build directory")
    parser.add_argument("--samples", type=int, default=5, help="rounds of every search")
    parser.add_argument("--skip", action="append", default=[], help="a peer not to run")
    args = parser.parse_args()
    current = (args.build / "current").resolve()
    report = json.loads((current / "report.json").read_text())
    publications = int(report.get("records_built", 0)) or 1
    index = TextIndex(current / TEXT_FILE)
    matched = {" ".join(p): len(index.hits(" ".join(p), scores=False)) for p in PAIRS}
    runs = [(words, name, join.format(year=2000 + i, country=COUNTRIES[i]))
            for i, words in enumerate(PAIRS) for name, join in FILTERS.items()]
    columns: list[tuple[str, Samples]] = []
    loads = [f"{time.strftime('%H:%M', time.gmtime())} UTC {load()}"]
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(scratch_directory()))
        base = stack.enter_context(serving(args.build, {"max_results": 1_000_000}, workers=1))
        tipgraph = Server("tipgraph", base + "/sparql", base.pid)  # type: ignore[attr-defined]
        ask(tipgraph, WARM_UP)  # the worker has opened the build
        repeated: Samples = {}
        columns.append(("tipgraph uncached", measure(tipgraph, tipgraph_query, runs,
                                                      args.samples, repeated=repeated)))
        columns.append(("tipgraph repeated", repeated))
        loads.append(f"{time.strftime('%H:%M', time.gmtime())} UTC {load()}")
        peers = []
        if "oxigraph" not in args.skip:
            peers.append(("Oxigraph server", stack.enter_context(
                oxigraph_server(current / "store", scratch))))
        if "virtuoso" not in args.skip:
            peers.append(("Virtuoso", stack.enter_context(virtuoso_server(
                current / "tipgraph.nt", scratch, max_seconds=600))))
        for title, server in peers:
            ask(server, WARM_UP)
            columns.append((f"{title}, plain SPARQL", measure(server, plain_query, runs,
                                                              args.samples)))
            loads.append(f"{time.strftime('%H:%M', time.gmtime())} UTC {load()}")
    uncached = columns[0][1]
    lines = [f"Machine: {machine()}. `benchmarks/text_search.py --samples {args.samples}` on "
             f"a build of {publications:,} synthetic publications "
             f"({report.get('triples', 0):,} triples, the Zipf vocabulary of `tipgraph synth`). "
             f"Load average (1/5/15 min): {'; '.join(loads)}.",
             "",
             f"{len(PAIRS)} two-word searches, each joined once with a year "
             "(`?publication dct:issued ?year . FILTER(?year = \"2000\"^^xsd:gYear)`, years "
             "2000-2007) and once with a country (`?publication tip:statedCountry <…>`), "
             f"{args.samples} interleaved rounds, one request at a time over HTTP on 127.0.0.1. "
             "Medians of the samples, ms; tipgraph's CPU ms is the mean CPU time its process "
             "tree (web worker and query process) spent per uncached request, which the "
             "machine's load does not inflate as it does wall times.",
             "",
             "| search | publications matched | join | rows | tipgraph uncached ms | "
             "tipgraph CPU ms | tipgraph repeated ms | "
             + " | ".join(f"{t} ms" for t, _ in columns[2:]) + " |",
             "|---|--:|---|--:|--:|--:|--:|" + "--:|" * len(columns[2:])]
    for words in PAIRS:
        text = " ".join(words)
        share = matched[text] / publications
        for name in FILTERS:
            got = uncached[(text, name)]
            peer_figures = " | ".join(f"{median(c[(text, name)], 0):,.1f}"
                                      + ("" if median(c[(text, name)], 2) == median(got, 2)
                                         else f" ({median(c[(text, name)], 2):g} rows)")
                                      for _, c in columns[2:])
            lines.append(f"| {text} ({kind(share)}) | {matched[text]:,} ({share:.1%}) | {name} | "
                         f"{median(got, 2):g} | {median(got, 0):,.1f} | {median(got, 1):,.1f} | "
                         f"{median(columns[1][1][(text, name)], 0):,.1f} | "
                         + peer_figures + (" |" if peer_figures else "|"))
    lines += ["", "| server | join | median of the searches' medians, ms | largest median, ms | "
              "searches under 50 ms |", "|---|---|--:|--:|--:|"]
    for title, column in columns:
        for name in FILTERS:
            medians = [median(column[(" ".join(p), name)], 0) for p in PAIRS]
            lines.append(f"| {title} | {name} | {statistics.median(medians):,.1f} | "
                         f"{max(medians):,.1f} | {sum(m < 50 for m in medians)} of "
                         f"{len(medians)} |")
    append(f"Text search at {publications:,} publications", lines)


if __name__ == "__main__":
    main()
