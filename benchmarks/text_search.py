"""Two-word searches joined with a year or a country: ``tip:matches`` on tipgraph's endpoint
against the same search in plain SPARQL on the Oxigraph server (and Virtuoso).

    .venv/bin/python benchmarks/text_search.py --build DIR [--skip virtuoso]

Every search is sent once per server (tipgraph's result cache never holds it: each pair
of words is asked once with each filter), over HTTP on 127.0.0.1, one at a time; the
figures are the median and the largest of the searches' times. Plain SPARQL cannot use
an index for words: it reads each candidate's title and abstract (``CONTAINS`` on the
lower-cased text), so its answer is a superset (a word inside another counts) that the
table counts too. Appends a section to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import Server, oxigraph_server, scratch_directory, virtuoso_server
from results import append, machine

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


def ask(endpoint: str, query: str, fields: tuple[tuple[str, str], ...] = ()) -> tuple[float, int]:
    """Seconds to the whole answer, and its rows."""
    body = urlencode([("query", query), *fields]).encode()
    started = time.perf_counter()
    status, _, answer = fetch(endpoint, method="POST", data=body, timeout=600,
                              headers={"Content-Type": "application/x-www-form-urlencoded",
                                       "Accept": "application/sparql-results+json"})
    seconds = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"{endpoint}: {status} {answer[:300]!r}")
    return seconds, len(json.loads(answer)["results"]["bindings"])


def measure(server: Server, make: type | object, runs: list[tuple[tuple[str, str], str, str]]
            ) -> dict[str, tuple[float, float, float]]:
    """Per join: median ms, largest ms, median rows."""
    found: dict[str, list[tuple[float, int]]] = {}
    for words, name, join in runs:
        found.setdefault(name, []).append(ask(server.endpoint, make(words, join),  # type: ignore[operator]
                                              server.fields))
    return {name: (statistics.median(s for s, _ in got) * 1000, max(s for s, _ in got) * 1000,
                   statistics.median(n for _, n in got)) for name, got in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True, help="a build directory")
    parser.add_argument("--skip", action="append", default=[], help="a peer not to run")
    args = parser.parse_args()
    current = (args.build / "current").resolve()
    report = json.loads((current / "report.json").read_text())
    runs = [(words, name, join.format(year=2000 + i, country=COUNTRIES[i]))
            for i, words in enumerate(PAIRS) for name, join in FILTERS.items()]
    rows = []
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(scratch_directory()))
        base = stack.enter_context(serving(args.build, {"max_results": 1_000_000}, workers=1))
        ask(base + "/sparql", WARM_UP)  # the worker has opened the build
        rows.append(("tipgraph, `tip:matches`",
                     measure(Server("tipgraph", base + "/sparql", 0), tipgraph_query, runs)))
        peers = []
        if "oxigraph" not in args.skip:
            peers.append(("Oxigraph server, plain SPARQL",
                          stack.enter_context(oxigraph_server(current / "store", scratch))))
        if "virtuoso" not in args.skip:
            peers.append(("Virtuoso, plain SPARQL", stack.enter_context(virtuoso_server(
                current / "tipgraph.nt", scratch, max_seconds=600))))
        for title, server in peers:
            ask(server.endpoint, WARM_UP, server.fields)
            rows.append((title, measure(server, plain_query, runs)))
    lines = [f"Machine: {machine()}. `benchmarks/text_search.py` on a build of "
             f"{report.get('records_built', '?'):,} synthetic publications "
             f"({report.get('triples', 0):,} triples, the Zipf vocabulary of `tipgraph synth`).",
             "",
             f"{len(PAIRS)} two-word searches ({', '.join(' '.join(p) for p in PAIRS)}), each "
             "joined once with a year and once with a country, each sent once (uncached), "
             "one at a time over HTTP on 127.0.0.1.",
             "",
             "| server | join | median ms | largest ms | rows (median) |",
             "|---|---|--:|--:|--:|"]
    for title, figures in rows:
        for name, (median, largest, count) in figures.items():
            lines.append(f"| {title} | {name} | {median:,.1f} | {largest:,.1f} | {count:g} |")
    append(f"Text search at {report.get('records_built', 0):,} publications", lines)


if __name__ == "__main__":
    main()
