"""The endpoint at scale: ``tipgraph serve`` beside the Oxigraph server, Virtuoso and
rdflib-endpoint, all on one build, in one interleaved run, uncached beside repeated.

Why one run: on a shared machine only numbers taken side by side, with the requests
interleaved across the servers, can be compared. Every server answers from the same
build: ``tipgraph serve`` from its store, ``oxigraph serve-read-only`` from a copy of it,
Virtuoso (Debian ``virtuoso-opensource-7-bin``, from our own ini on 127.0.0.1, with its
row and time caps raised) and rdflib-endpoint (in memory) from its N-Triples dump, the
reasoned graph (``peers.py``). Each listens on a free 127.0.0.1 port; all are stopped at
the end, on Ctrl-C or on an error too.

Benchmarks that cannot flatter (issue 23, point 3):

- every query is timed two ways in the same run: **uncached**, each request ending with
  its own comment (what a researcher's new question meets: no result cache answers it),
  and **repeated**, the same text again (what a cache can answer). For each query the
  servers take turns request by request (the order rotating), uncached and repeated
  alternating, ``--samples`` times each after a first request (the cold one);
- two sets: the shipped queries (``queries/*.rq``, defaults bound) and arbitrary ones
  nobody ships, as a researcher would write them (aggregates, deep paging, the property
  path ``dct:spatial/gn:parentFeature*``, co-authorship, DESCRIBE, a 50-IRI VALUES);
- every request says ``Accept-Encoding: identity`` (no server compresses), and the
  requests come from several loopback addresses (127.0.0.2-9, on a new connection each),
  so that ``tipgraph serve``'s per-client limits do not decide the result;
- resource documents of ``tipgraph serve`` (a different publication each request, so
  uncached) against a CONSTRUCT of the same record with its links' labels on the
  Oxigraph server; HTML pages; throughput of 8 clients on an uncached mix and on the
  shipped mix; memory;
- where the time goes: a small, a middle and a heavy query and a document sent to each
  server alone, with the CPU each process of each server used per request (tipgraph's
  front, its query processes, the engines), so that a missed target says where it went;
- the targets of issue 23 are printed as met or missed: each uncached query of 10 ms or
  more on the Oxigraph server within 1.05x of it, each smaller one within +0.5 ms;
  8-client uncached throughput at least 0.95x the Oxigraph server's; resource documents
  within 1.2x of the CONSTRUCT; and point 2: ``tipgraph serve --store`` in front of the
  Virtuoso (the build published to it with ``tipgraph publish``, as a site does) within
  1.1x of that Virtuoso asked directly (the same graph), geometric mean of the uncached
  medians of the arbitrary queries.

Bounded in time: a request longer than ``--timeout`` is a timeout and that query is not
sent to that server again; a (query, server) whose requests have taken ``--budget``
seconds gets no more samples (the table says how many it got). rdflib-endpoint is
restarted after a timeout, at most ``--restarts`` times. ``tipgraph serve`` runs with
``query_timeout`` set to ``--timeout`` and ``max_results`` raised, as Virtuoso's caps are.

Run by hand, not in CI, on a build directory (``tipgraph build --out DIR``)::

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python benchmarks/endpoint.py --build DIR [--samples 30] [--seconds 15]
        [--timeout 60] [--budget 30] [--skip rdflib-endpoint] [--queries FILE] [--dry-run]

Point 2 alone (``--front``): the queries of ``--queries`` (default ``researcher.rq``
beside this script) through ``tipgraph serve --store`` and asked of its engine directly,
interleaved, uncached, the target printed as met or missed. Either on servers already
running as docs/deploy.md sets them up (``--store`` the engine's endpoint, ``--served``
the front's base URL, ``--graphs`` the graphs' IRI if not the default), or started from
``--build`` (Virtuoso from our own ini, published to, ``serve --store`` in front)::

    .venv/bin/python benchmarks/endpoint.py --front --store http://127.0.0.1:8890/sparql
        --served http://127.0.0.1:5000 [--samples 30] [--timeout 30] [--dry-run]

At 100,000 publications rdflib-endpoint takes minutes to start and a few GiB of memory.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pyoxigraph

from tipgraph.queries import shipped_queries
from tipgraph.store.publish import current_graph
from tipgraph.store.remote import RemoteSparqlStore
from tipgraph.testing import serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import cpu_seconds, process_tree, rss_mb
from peers import (
    RdflibEndpoint,
    Server,
    oxigraph_server,
    scratch_directory,
    virtuoso_front,
    virtuoso_server,
)
from results import append, machine

#: "tipgraph-virtuoso": ``tipgraph serve --store`` in front of that Virtuoso (point 2)
SERVERS = ("tipgraph", "oxigraph", "virtuoso", "tipgraph-virtuoso", "rdflib-endpoint")
#: the Oxigraph server is every ratio's base; tipgraph-virtuoso needs virtuoso
SKIPPABLE = ("virtuoso", "tipgraph-virtuoso", "rdflib-endpoint")
RESULTS_JSON = "application/sparql-results+json"
NTRIPLES = "application/n-triples"
TURTLE = "text/turtle"
CLIENTS = 8
#: loopback addresses the requests come from, in turn (one per throughput client)
ADDRESSES = tuple(f"127.0.0.{n}" for n in range(2, 2 + CLIENTS))
RUN = uuid.uuid4().hex[:12]  # in every unique comment: no answer kept by an earlier run
MODES = ("uncached", "repeated")
#: Shipped queries only tipgraph answers (its text search, ``tip:matches``): the peers
#: answer them with nothing, so they have no target and stay out of the throughput mix.
TIPGRAPH_ONLY = frozenset({"search-titles-abstracts"})

#: Issue 23's targets, point 1: uncached, tipgraph against the Oxigraph server
HEAVY_MS, HEAVY_RATIO, LIGHT_EXTRA_MS = 10.0, 1.05, 0.5
THROUGHPUT_RATIO, DOCUMENT_RATIO = 0.95, 1.2
#: Rounds of documents, times --samples: a median of a millisecond needs more than 30
DOCUMENT_ROUNDS = 3
#: Requests per kind and server in "where the time goes": at least SPLIT_ROUNDS, and more
#: until SPLIT_SECONDS have passed, at most SPLIT_MOST
SPLIT_ROUNDS, SPLIT_SECONDS, SPLIT_MOST = 30, 3.0, 1500
#: point 2: tipgraph serve --store in front of Virtuoso against Virtuoso direct
FRONT_RATIO = 1.1

PREFIXES = """\
PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
PREFIX gn: <https://www.geonames.org/ontology#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""

#: Queries nobody ships, as a researcher might write them: (name, text). ``{publication}``
#: is one publication's IRI, ``{values}`` 50 publications' IRIs, ``{deep}`` half the
#: publications (an offset deep in the list).
ARBITRARY = (
    ("ask-any-triple", "ASK { ?s ?p ?o }"),
    ("ask-a-publication", PREFIXES + "ASK { ?p a tip:Publication }"),
    ("one-resource", "SELECT ?p ?o WHERE { <{publication}> ?p ?o }"),
    ("construct-one-record", "CONSTRUCT { <{publication}> ?p ?o } "
     "WHERE { <{publication}> ?p ?o }"),
    ("describe-publication", "DESCRIBE <{publication}>"),
    ("values-50-titles", PREFIXES + "SELECT ?p ?title WHERE { VALUES ?p { {values} } "
     "?p dct:title ?title }"),
    ("count-all-triples", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"),
    ("count-per-type", "SELECT ?type (COUNT(?s) AS ?n) WHERE { ?s a ?type } GROUP BY ?type"),
    ("per-country-group-by", PREFIXES + "SELECT ?country (COUNT(DISTINCT ?p) AS ?n) "
     "WHERE { ?p a tip:Publication ; tip:statedCountry ?country } GROUP BY ?country "
     "ORDER BY DESC(?n) ?country"),
    ("per-year-group-by", PREFIXES + "SELECT ?year (COUNT(?p) AS ?n) WHERE { "
     "?p dct:issued ?year } GROUP BY ?year ORDER BY ?year"),
    ("top-authors", PREFIXES + "SELECT ?name (COUNT(?p) AS ?n) WHERE { ?p dct:creator ?a . "
     "?a foaf:name ?name } GROUP BY ?name ORDER BY DESC(?n) ?name LIMIT 10"),
    ("co-authorship", PREFIXES + "SELECT ?a ?b (COUNT(?p) AS ?n) WHERE { "
     "?p dct:creator ?a, ?b . FILTER(STR(?a) < STR(?b)) } GROUP BY ?a ?b "
     "ORDER BY DESC(?n) ?a ?b LIMIT 20"),
    ("spatial-parent-path", PREFIXES + "SELECT ?region (COUNT(DISTINCT ?p) AS ?n) WHERE { "
     "?p a tip:Publication ; dct:spatial/gn:parentFeature* ?region . ?region a tip:Region } "
     "GROUP BY ?region ORDER BY ?region"),
    ("deep-paging", PREFIXES + "SELECT ?p ?title WHERE { ?p a tip:Publication ; "
     "dct:title ?title } ORDER BY ?title ?p OFFSET {deep} LIMIT 20"),
    ("join-3-ways", PREFIXES + "SELECT ?title ?name ?year WHERE { ?p dct:title ?title ; "
     "dct:creator ?agent ; dct:issued ?year . ?agent foaf:name ?name }"),
    ("titles-containing-labour", PREFIXES + "SELECT ?p ?title WHERE { ?p a tip:Publication ;"
     " dct:title ?title FILTER(CONTAINS(LCASE(STR(?title)), \"labour\")) }"),
)

#: A resource document's like on the Oxigraph server: the record and its links' labels
RECORD_CONSTRUCT = PREFIXES + (
    "CONSTRUCT { <{publication}> ?p ?o . ?o ?lp ?label } WHERE { <{publication}> ?p ?o "
    "OPTIONAL { ?o ?lp ?label FILTER(?lp IN (skos:prefLabel, foaf:name, rdfs:label)) } }")

#: Parameters bound otherwise than by default: the default identifier names a publication
#: of the seed catalogue, absent from a synthetic one. ``{slug}``: one publication's.
BINDINGS = {"publication-record": {"identifier": "{slug}"}}

#: HTML pages and place documents of ``tipgraph serve``: (kind, path, Accept).
PAGES = (
    ("document", "/place/ng.ttl", TURTLE),
    ("document", "/place/west-and-central-africa.ttl", TURTLE),
    ("document", "/organisation/iom.ttl", TURTLE),
    ("page", "/", "text/html"),
    ("page", "/browse", "text/html"),
    ("page", "/browse?country=ng", "text/html"),
    ("page", "/publication/{slug}.html", "text/html"),
    ("page", "/place/ng.html", "text/html"),
    ("page", "/query", "text/html"),
)


@dataclass
class Answer:
    """One request's outcome: seconds until the whole body was read, status, body."""

    seconds: float
    status: int  # 0: no answer (timeout or connection error)
    body: bytes = b""
    media_type: str = ""


@dataclass
class Samples:
    """Every timing of one request kind on one server, and what its answers held."""

    cold: float | None = None
    warm: list[float] = field(default_factory=list)
    note: str = ""  # "timeout", "HTTP 500", ... when any request failed
    rows: int | None = None  # rows, triples or 1/0 for ASK, from the first good answer
    size: int = 0
    spent: float = 0.0  # seconds of all its requests, against --budget

    def median(self) -> float | None:
        return statistics.median(self.warm) if self.warm else None

    def p95(self) -> float | None:
        return percentile(self.warm, 0.95) if self.warm else None


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def geometric_mean(values: Sequence[float | None]) -> float | None:
    """Of the positive values; None when a value is missing (a timeout has no time)."""
    if not values or any(v is None or v <= 0 for v in values):
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))  # type: ignore[arg-type]


_address = itertools.cycle(ADDRESSES)


HERE = Path(__file__).resolve().parent
BEFORE = "tipgraph-virtuoso-before"  # a second front to compare with (--before)
#: what the front's queries name: a build's graphs, by default (``publish --graph``)
GRAPHS = "https://w3id.org/tipgraph/graph/"


def read_queries(path: Path) -> tuple[tuple[str, str], ...]:
    """(name, text) of each query in a file like ``researcher.rq``: each starts at a line
    ``#> name``; the lines before the first (comments aside) come before each."""
    prologue: list[str] = []
    found: list[tuple[str, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#>"):
            found.append((line[2:].strip(), []))
        elif found:
            found[-1][1].append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            prologue.append(line)
    return tuple((name, "\n".join([*prologue, *lines]).strip()) for name, lines in found)


def request(url: str, *, body: bytes | None, accept: str, timeout: float,
            connection: HTTPConnection | None = None) -> Answer:
    """A GET (``body`` None) or a form POST of ``body``, ``Accept-Encoding: identity``;
    on ``connection`` when given, else on a new one from the next loopback address."""
    parts = urlsplit(url)
    own = connection is None
    if connection is None:
        connection = HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                    source_address=(next(_address), 0))
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Accept": accept, "Accept-Encoding": "identity"}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    start = time.perf_counter()
    try:
        connection.request("GET" if body is None else "POST", target, body=body,
                           headers=headers)
        response = connection.getresponse()
        data = response.read()
        seconds = time.perf_counter() - start
        media_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        return Answer(seconds, response.status, data, media_type)
    except (OSError, HTTPException):
        connection.close()
        return Answer(time.perf_counter() - start, 0)
    finally:
        if own:
            connection.close()


def query_body(server: Server, text: str) -> bytes:
    """The SPARQL 1.1 Protocol's URL-encoded POST: every server reads it (Virtuoso 7.2
    does not answer a direct ``application/sparql-query`` POST)."""
    return urlencode([("query", text), *server.fields]).encode("utf-8")


def accept_for(text: str) -> str:
    """N-Triples for a CONSTRUCT or DESCRIBE, JSON results otherwise (by the query's
    first form keyword outside comments)."""
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            for word in line.replace("{", " ").split():
                if word.upper() in ("CONSTRUCT", "DESCRIBE"):
                    return NTRIPLES
                if word.upper() in ("SELECT", "ASK"):
                    return RESULTS_JSON
    return RESULTS_JSON


def count_rows(answer: Answer) -> int | None:
    """Rows of a SELECT, triples of a CONSTRUCT, 1/0 for ASK; None when unreadable."""
    try:
        if answer.media_type in (RESULTS_JSON, "application/json"):
            results = json.loads(answer.body)
            if "boolean" in results:
                return int(bool(results["boolean"]))
            return len(results["results"]["bindings"])
        kind = pyoxigraph.RdfFormat.from_media_type(answer.media_type) \
            or pyoxigraph.RdfFormat.N_TRIPLES  # Virtuoso's N-Triples come as text/plain
        return len(set(pyoxigraph.parse(answer.body, format=kind)))
    except (ValueError, SyntaxError, KeyError, TypeError):
        return None


Key = tuple[str, str, str]  # (query, server, mode)


def interleave(servers: dict[str, Server], texts: dict[str, str], *, samples: int,
               timeout: float, budget: float, stop_at: float,
               progress: Callable[[str], None],
               modes: Sequence[str] = MODES) -> dict[Key, Samples]:
    """Time every (query, server, mode): a first request, then ``samples`` more, the
    servers taking turns and the two modes alternating, request by request.

    :param budget: seconds of requests a (query, server, mode) may take once it has one
        sample after the first request
    :param stop_at: ``time.monotonic()`` past which each query gets one round more only
    """
    found: dict[Key, Samples] = {}
    names = list(servers)
    for number, (query, text) in enumerate(texts.items()):
        accept = accept_for(text)
        for round_ in range(1 + samples):
            if round_ > 1 and time.monotonic() > stop_at:
                break
            turn = (number + round_) % len(names)
            order = modes if round_ % 2 == 0 else modes[::-1]
            for name, mode in itertools.product(names[turn:] + names[:turn], order):
                entry = found.setdefault((query, name, mode), Samples())
                server = servers[name]
                if not server.alive:
                    entry.note = entry.note or "not run"
                if entry.note in ("timeout", "no answer", "not run") or (
                        entry.spent > budget and entry.warm):
                    continue
                sent = f"{text}\n# {RUN} {number}.{round_}" if mode == "uncached" else text
                answer = request(server.endpoint, body=query_body(server, sent),
                                 accept=accept, timeout=timeout)
                entry.spent += answer.seconds
                if answer.status == 0:
                    entry.note = "timeout" if answer.seconds >= timeout else "no answer"
                    progress(f"{query}: {name}: {entry.note} after {answer.seconds:.1f} s")
                    if server.restart():
                        progress(f"{name}: restarted")
                    elif not server.alive:
                        progress(f"{name}: stopped, out of restarts")
                    continue
                if answer.status != 200:
                    entry.note = f"HTTP {answer.status}"
                    continue
                if entry.rows is None:
                    entry.rows, entry.size = count_rows(answer), len(answer.body)
                if round_ == 0:
                    entry.cold = answer.seconds
                else:
                    entry.warm.append(answer.seconds)
        progress(f"{query}: done")
    return found


def disagreements(found: dict[Key, Samples], queries: Sequence[str],
                  servers: Sequence[str]) -> dict[str, str]:
    """Queries whose servers count different rows: query -> "server n, server m"."""
    result = {}
    for query in queries:
        counts = {s: found[query, s, "uncached"].rows for s in servers
                  if found[query, s, "uncached"].rows is not None}
        if len(set(counts.values())) > 1:
            result[query] = ", ".join(f"{s} {n:,}" for s, n in counts.items())
    return result


def ms(seconds: float | None, digits: int = 1) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.{digits}f}"


def ratio(value: float | None, base: float | None) -> str:
    return "—" if value is None or not base else f"{value / base:.2f}"


def row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def point1(tip: float | None, oxi: float | None) -> tuple[str, str]:
    """Issue 23's per-query target for tipgraph's uncached median: (target, met)."""
    if tip is None or oxi is None:
        return "—", "—"
    if oxi * 1000 >= HEAVY_MS:
        return f"≤ {HEAVY_RATIO}x", "met" if tip <= HEAVY_RATIO * oxi else "missed"
    return (f"≤ +{LIGHT_EXTRA_MS} ms",
            "met" if (tip - oxi) * 1000 <= LIGHT_EXTRA_MS else "missed")


def query_table(found: dict[Key, Samples], queries: Sequence[str], servers: Sequence[str],
                disagree: dict[str, str], *, timeout: float) -> tuple[list[str], list[str]]:
    """The table of one set, and its per-query verdicts ("met"/"missed")."""
    peers = [s for s in servers if s not in ("tipgraph", "oxigraph")]
    header = ["query", "rows", "n", *(f"{s} uncached median / p95 · repeated median"
                                      for s in servers),
              "tipgraph first", "tipgraph uncached ÷ oxigraph", "tipgraph - oxigraph ms",
              "tipgraph repeated ÷ oxigraph", *(f"{s} uncached ÷ oxigraph" for s in peers),
              "target", "met"]
    lines = [row(header), "|---|--:|--:|" + "--:|" * (len(header) - 5) + "---|---|"]
    verdicts = []

    def cell(server: str, query: str) -> str:
        un, rep = found[query, server, "uncached"], found[query, server, "repeated"]
        note = un.note or rep.note
        if note in ("timeout", "no answer", "not run") and not un.warm:
            return note
        text = f"{ms(un.median(), 2)} / {ms(un.p95(), 2)} · {ms(rep.median(), 2)}"
        return f"{text} ({note})" if note else text

    for query in queries:
        oxi = found[query, "oxigraph", "uncached"].median()
        tip = found[query, "tipgraph", "uncached"]
        target, met = ("n/a (tipgraph's own)", "n/a") if query in TIPGRAPH_ONLY \
            else point1(tip.median(), oxi)
        verdicts.append(met)
        rows = found[query, "oxigraph", "uncached"].rows
        counts = sorted({len(found[query, s, "uncached"].warm) for s in servers})
        lines.append(row([
            query, ("≠" if query in disagree else "") + ("—" if rows is None else f"{rows:,}"),
            "/".join(str(n) for n in counts),
            *(cell(s, query) for s in servers),
            ms(found[query, "tipgraph", "repeated"].cold, 2),
            ratio(tip.median(), oxi),
            "—" if tip.median() is None or oxi is None else f"{(tip.median() - oxi) * 1000:+.2f}",
            ratio(found[query, "tipgraph", "repeated"].median(),
                  found[query, "oxigraph", "repeated"].median()),
            *(ratio(found[query, s, "uncached"].median(), oxi) for s in peers),
            target, met]))

    def mean(server: str, mode: str) -> tuple[float | None, str]:
        """The geometric mean of medians; a timeout counts as ``timeout`` seconds."""
        entries = [found[q, server, mode] for q in queries]
        bound = any(e.median() is None and e.note == "timeout" for e in entries)
        values = [timeout if e.median() is None and e.note == "timeout" else e.median()
                  for e in entries]
        return geometric_mean(values), "≥ " if bound else ""

    def versus(server: str, mode: str) -> str:
        (value, bound), (base, _) = mean(server, mode), mean("oxigraph", mode)
        return "—" if value is None else bound + ratio(value, base)

    def shown(server: str) -> str:
        (un, b1), (rep, b2) = mean(server, "uncached"), mean(server, "repeated")
        return (f"{'—' if un is None else b1 + ms(un, 2)} / — · "
                f"{'—' if rep is None else b2 + ms(rep, 2)}")

    lines.append(row([
        "**geometric mean**", "", "", *(shown(s) for s in servers), "",
        versus("tipgraph", "uncached"), "", versus("tipgraph", "repeated"),
        *(versus(s, "uncached") for s in peers), "",
        f"{verdicts.count('met')} of {len(verdicts) - verdicts.count('n/a')} met"]))
    return lines, verdicts


def front_table(found: dict[Key, Samples], queries: Sequence[str],
                fronts: Sequence[str] = ("tipgraph-virtuoso",)
                ) -> tuple[list[str], float | None]:
    """Point 2: tipgraph serve --store in front of Virtuoso against Virtuoso direct, per
    query (uncached medians), for each of ``fronts``; the table and the geometric mean of
    the first front's ratios."""
    header = ["query", "rows", "virtuoso direct ms"]
    for front in fronts:
        header += [f"{front} ms", "÷ virtuoso", "+ ms"]
    lines = [row(header), "|---|--:|--:|" + "--:|" * 3 * len(fronts)]
    ratios: dict[str, list[float]] = {front: [] for front in fronts}
    for query in queries:
        direct = found[query, "virtuoso", "uncached"]
        d = direct.median()
        cells = [query, "—" if direct.rows is None else f"{direct.rows:,}",
                 ms(d, 2) + (f" ({direct.note})" if direct.note else "")]
        for name in fronts:
            front = found[query, name, "uncached"]
            f = front.median()
            if d and f:
                ratios[name].append(f / d)
            cells += [ms(f, 2) + (f" ({front.note})" if front.note else ""), ratio(f, d),
                      "—" if d is None or f is None else f"{(f - d) * 1000:+.2f}"]
        lines.append(row(cells))
    means = [geometric_mean(ratios[front]) for front in fronts]
    cells = ["**geometric mean of the ratios**", "", ""]
    for mean in means:
        cells += ["", "—" if mean is None else f"{mean:.2f}", ""]
    lines.append(row(cells))
    return lines, means[0]


def time_documents(tipgraph: Server, oxigraph: Server, slugs: Sequence[tuple[str, str]], *,
                   timeout: float) -> tuple[list[str], list[str]]:
    """Publication documents (Turtle) of ``tipgraph serve`` against a CONSTRUCT of the same
    record on the Oxigraph server, a different publication each round (uncached), the
    two taking turns; then one publication's document again and again (repeated)."""
    base = tipgraph.endpoint.removesuffix("/sparql")
    kinds = {"document": [], "construct": [], "repeated": []}
    sizes: dict[str, int] = {}
    for number, (iri, slug) in enumerate(slugs):
        pair = [("document", lambda s=slug: request(f"{base}/publication/{s}.ttl", body=None,
                                                    accept=TURTLE, timeout=timeout)),
                ("construct", lambda i=iri: request(
                    oxigraph.endpoint, body=query_body(oxigraph, RECORD_CONSTRUCT.replace(
                        "{publication}", i)), accept=TURTLE, timeout=timeout))]
        for kind, send in pair if number % 2 == 0 else pair[::-1]:
            answer = send()
            if answer.status == 200 and number > 0:
                kinds[kind].append(answer.seconds)
                sizes.setdefault(kind, len(answer.body))
    for _ in range(len(slugs)):
        answer = request(f"{base}/publication/{slugs[0][1]}.ttl", body=None, accept=TURTLE,
                         timeout=timeout)
        if answer.status == 200:
            kinds["repeated"].append(answer.seconds)
            sizes.setdefault("repeated", len(answer.body))
    median = {k: statistics.median(v) if v else None for k, v in kinds.items()}
    doc, con = median["document"], median["construct"]
    met = "—" if doc is None or con is None else \
        "met" if doc <= DOCUMENT_RATIO * con else "missed"
    lines = ["| request | n | bytes (first) | median ms | p95 ms | ÷ CONSTRUCT | target | met |",
             "|---|--:|--:|--:|--:|--:|---|---|"]
    for kind, label in (("document", "tipgraph `/publication/{slug}.ttl`, uncached"),
                        ("construct", "Oxigraph server, CONSTRUCT of the record, Turtle"),
                        ("repeated", "tipgraph, one publication's document again")):
        values = kinds[kind]
        lines.append(f"| {label} | {len(values)} | {sizes.get(kind, 0):,} | "
                     f"{ms(median[kind], 2)} | "
                     f"{ms(percentile(values, 0.95) if values else None, 2)} | "
                     f"{ratio(median[kind], con)} | "
                     + (f"≤ {DOCUMENT_RATIO}x | {met} |" if kind == "document" else "| |"))
    return lines, [met]


#: Requests whose CPU "where the time goes" splits by process: a small query, a middle one,
#: a heavy one (names of the shipped or arbitrary set), and a resource document.
CPU_SPLIT = ("construct-one-record", "publications-per-country", "count-per-type")

def roles(servers: dict[str, Server]) -> dict[int, str]:
    """Each process of the servers' trees, by what it does: ``tipgraph front`` (gunicorn's
    arbiter and workers), ``tipgraph query processes``, or the engine (``oxigraph``,
    ``virtuoso``)."""
    found: dict[int, str] = {}
    for name, server in servers.items():
        if not server.alive or not server.pid:
            continue
        for pid in process_tree(server.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if not name.startswith("tipgraph"):
                found[pid] = name
            elif b"spawn_main" in command:  # not multiprocessing's resource tracker
                found[pid] = f"{name} query processes"
            else:
                found[pid] = f"{name} front"
    return found


Split = dict[tuple[str, str], dict[str, float]]  # (request, server) -> role -> CPU ms


def cpu_split(servers: dict[str, Server], requests: dict[str, dict[str, Callable[[], Answer]]],
              *, rounds: int) -> tuple[list[str], Split]:
    """Where the time goes: each request kind sent to each server, one server after the
    other (each time a new text: uncached), at least ``rounds`` times and until
    :data:`SPLIT_SECONDS` have passed (at most :data:`SPLIT_MOST`), and the CPU every process
    of every server used in that block, per request, grouped by :func:`roles`. The client's
    own time is the same for all; a server's wall time beyond its CPU is waiting (for a
    process to be woken, for the client)."""
    lines = ["| request | server | n | median ms | CPU ms per request, by process | "
             "CPU ms in all |", "|---|---|--:|--:|---|--:|"]
    found: Split = {}
    for kind, by_server in requests.items():
        for name, send in by_server.items():
            if not servers[name].alive:
                continue
            processes = roles(servers)
            before = {pid: cpu_seconds([pid]) for pid in processes}
            times: list[float] = []
            sent, began = 0, time.monotonic()
            # the kernel counts CPU in ticks (10 ms): a block long enough that a tick is a
            # small part of it, so small requests are sent many more times
            while sent < rounds or (time.monotonic() - began < SPLIT_SECONDS
                                    and sent < SPLIT_MOST):
                answer = send()
                sent += 1
                if answer.status == 200:
                    times.append(answer.seconds)
            used: dict[str, float] = {}
            for pid, role in processes.items():
                used[role] = used.get(role, 0.0) + cpu_seconds([pid]) - before[pid]
            shown = {role: 1000 * seconds / sent for role, seconds in used.items()
                     if 1000 * seconds / sent >= 0.05}
            found[kind, name] = shown
            lines.append(
                f"| {kind} | {name} | {sent} | "
                f"{ms(statistics.median(times) if times else None, 2)} | "
                + ("; ".join(f"{role} {value:.2f}" for role, value in sorted(
                    shown.items(), key=lambda item: -item[1])) or "—")
                + f" | {sum(shown.values()):.2f} |")
    return lines, found


def where_time_goes(found: Split) -> str:
    """One sentence from :func:`cpu_split`'s figures: what tipgraph's processes spent per
    uncached request against what the engine it is compared with spent in all."""

    def cpu(kind: str, name: str, role: str | None = None) -> float | None:
        used = found.get((kind, name))
        if used is None:
            return None
        if role is None:
            return sum(v for r, v in used.items() if r == name or r.startswith(name + " "))
        return used.get(f"{name} {role}", 0.0)

    parts = []
    for kind in (*CPU_SPLIT, "publication document"):
        front, engine = cpu(kind, "tipgraph", "front"), cpu(kind, "tipgraph", "query processes")
        oxigraph = cpu(kind, "oxigraph")
        if front is None or oxigraph is None:
            continue
        parts.append(f"{kind}: tipgraph's front {front:.2f} ms"
                     + (f" and its query processes {engine:.2f} ms" if engine else "")
                     + f" against the Oxigraph server's {oxigraph:.2f} ms in all")
    for kind in CPU_SPLIT:
        front = cpu(kind, "tipgraph-virtuoso", "front")
        behind, direct = found.get((kind, "tipgraph-virtuoso"), {}), cpu(kind, "virtuoso")
        if front is None or direct is None:
            continue
        parts.append(f"{kind} in front of Virtuoso: the front {front:.2f} ms and Virtuoso "
                     f"{behind.get('virtuoso', 0.0):.2f} ms against Virtuoso's {direct:.2f} ms "
                     "asked directly")
    return "; ".join(parts) + "." if parts else "not measured."


def split_requests(servers: dict[str, Server], texts: dict[str, str],
                   slugs: Sequence[tuple[str, str]], *, timeout: float
                   ) -> dict[str, dict[str, Callable[[], Answer]]]:
    """The requests :func:`cpu_split` sends: each of :data:`CPU_SPLIT` (a new comment each
    time) to every server but rdflib-endpoint, and a new publication's document of
    tipgraph against its CONSTRUCT on the Oxigraph server."""
    requests: dict[str, dict[str, Callable[[], Answer]]] = {}
    asked = [n for n, s in servers.items() if s.alive and n != "rdflib-endpoint"]
    for query in CPU_SPLIT:
        text = texts[query]
        requests[query] = {name: lambda server=servers[name], text=text: request(
            server.endpoint, body=query_body(server, f"{text}\n# {RUN} {uuid.uuid4()}"),
            accept=accept_for(text), timeout=timeout) for name in asked}
    # each server its own publications: none finds them in a cache the other filled
    documents = itertools.cycle(slugs[:len(slugs) // 2])
    records = itertools.cycle(slugs[len(slugs) // 2:])
    base = servers["tipgraph"].endpoint.removesuffix("/sparql")
    requests["publication document"] = {
        "tipgraph": lambda: request(f"{base}/publication/{next(documents)[1]}.ttl",
                                    body=None, accept=TURTLE, timeout=timeout),
        "oxigraph": lambda: request(
            servers["oxigraph"].endpoint, body=query_body(
                servers["oxigraph"], RECORD_CONSTRUCT.replace("{publication}",
                                                              next(records)[0])),
            accept=TURTLE, timeout=timeout)}
    return requests


def time_pages(base: str, paths: Sequence[tuple[str, str, str]], *, rounds: int,
               timeout: float) -> list[str]:
    """Place documents and HTML pages of ``tipgraph serve``, ``rounds`` times in a row."""
    lines = ["| kind | path | status | bytes | first ms | median ms | p95 ms |",
             "|---|---|--:|--:|--:|--:|--:|"]
    for kind, path, accept in paths:
        answers = [request(base + path, body=None, accept=accept, timeout=timeout)
                   for _ in range(rounds)]
        times = [a.seconds for a in answers[1:] if a.status == 200]
        lines.append(f"| {kind} | `{path}` | {answers[0].status or 'timeout'} | "
                     f"{len(answers[0].body):,} | {ms(answers[0].seconds, 2)} | "
                     f"{ms(statistics.median(times) if times else None, 2)} | "
                     f"{ms(percentile(times, 0.95) if times else None, 2)} |")
    return lines


def throughput(server: Server, mix: Sequence[str], *, seconds: float, timeout: float,
               unique: bool) -> tuple[int, float, list[float], int]:
    """``CLIENTS`` clients, each on its own loopback address and kept-alive connection,
    cycling through ``mix`` for ``seconds``; no request starts after that.

    :param unique: end every request with its own comment (no cache answers it)
    :return: requests answered with 200, seconds until the last one ended, their
        latencies, failures (other statuses, timeouts)
    """
    parts = urlsplit(server.endpoint)
    call = uuid.uuid4().hex[:8]  # a second call in this process repeats no text either
    stop_at = time.monotonic() + seconds
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def client(number: int) -> None:
        connection: HTTPConnection | None = None
        index = number
        while time.monotonic() < stop_at:
            text = mix[index % len(mix)]
            if unique:
                text = f"{text}\n# {RUN} {call} client {number} request {index}"
            index += 1
            if connection is None:
                connection = HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                            source_address=(ADDRESSES[number], 0))
            answer = request(server.endpoint, body=query_body(server, text),
                             accept=accept_for(text), timeout=timeout, connection=connection)
            with lock:
                if answer.status == 200:
                    latencies.append(answer.seconds)
                else:
                    failures[0] += 1
            if answer.status == 0:
                connection = None  # request() closed it
        if connection is not None:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + timeout + 10)
    return len(latencies), time.monotonic() - started, latencies, failures[0]


def publications(server: Server, count: int, timeout: float) -> list[tuple[str, str]]:
    """``count`` publications' IRIs and slugs, to time documents and one-record queries."""
    text = PREFIXES + f"SELECT ?p WHERE {{ ?p a tip:Publication }} LIMIT {count}"
    answer = request(server.endpoint, body=query_body(server, text), accept=RESULTS_JSON,
                     timeout=timeout)
    iris = [b["p"]["value"] for b in json.loads(answer.body)["results"]["bindings"]]
    return [(iri, iri.rsplit("/", 1)[1]) for iri in iris]


def tipgraph_settings(timeout: float) -> dict[str, object]:
    """``tipgraph serve``'s defaults but for the two caps the peers do not have."""
    return {"query_timeout": timeout, "max_results": 10_000_000}


@contextmanager
def tipgraph_server(build: Path, timeout: float) -> Iterator[Server]:
    """``tipgraph serve`` on ``build``, :func:`tipgraph_settings`."""
    with serving(build, tipgraph_settings(timeout), startup_limit=300.0) as base:
        yield Server("tipgraph", f"{base}/sparql", base.pid)


def start_servers(stack: ExitStack, build: Path, skip: set[str], *, timeout: float,
                  restarts: int, progress: Callable[[str], None]
                  ) -> tuple[dict[str, Server], dict[str, float]]:
    """Start every server not skipped, one after the other; returns them and their
    start-up (load) seconds."""
    current = build / "current"
    scratch = Path(stack.enter_context(scratch_directory()))
    servers: dict[str, Server] = {}
    started: dict[str, float] = {}

    starters: dict[str, Callable[[], object]] = {
        "tipgraph": lambda: stack.enter_context(tipgraph_server(build, timeout)),
        "oxigraph": lambda: stack.enter_context(oxigraph_server(current / "store", scratch)),
        "virtuoso": lambda: stack.enter_context(virtuoso_server(
            build, scratch, max_seconds=int(2 * timeout) + 1,
            publish_build="tipgraph-virtuoso" not in skip)),
        "tipgraph-virtuoso": lambda: stack.enter_context(virtuoso_front(
            servers["virtuoso"], scratch, tipgraph_settings(timeout))),
        "rdflib-endpoint": lambda: stack.enter_context(RdflibEndpoint(
            current / "tipgraph.nt", startup_limit=3600.0, restarts=restarts)),
    }
    if "virtuoso" in skip:
        skip = skip | {"tipgraph-virtuoso"}
    for name in SERVERS:
        if name in skip:
            continue
        progress(f"{name}: starting")
        begin = time.perf_counter()
        server = starters[name]()
        assert isinstance(server, Server)
        servers[name] = server
        started[name] = time.perf_counter() - begin
        progress(f"{name}: ready in {started[name]:.1f} s")
    return servers, started


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def count_publications(server: Server, timeout: float) -> int:
    text = PREFIXES + "SELECT (COUNT(?p) AS ?n) WHERE { ?p a tip:Publication }"
    answer = request(server.endpoint, body=query_body(server, text), accept=RESULTS_JSON,
                     timeout=timeout)
    return int(json.loads(answer.body)["results"]["bindings"][0]["n"]["value"])


def front_only(args: argparse.Namespace, progress: Callable[[str], None]) -> None:
    """Point 2 alone: ``tipgraph serve --store`` against its engine asked directly, on the
    queries of ``--queries``; the table and the target, met or missed."""
    load_start, began = load(), time.strftime("%H:%M", time.gmtime())
    queries = read_queries(args.queries)
    with ExitStack() as stack:
        if args.store and args.served:
            store = RemoteSparqlStore(args.store)
            record = current_graph(store, args.graphs)
            if record is None:
                raise SystemExit(f"nothing published in {args.store} under {args.graphs}")
            servers = {"virtuoso": Server("virtuoso", args.store, 0,
                                          fields=(("default-graph-uri", record.graph),)),
                       "tipgraph-virtuoso": Server("tipgraph-virtuoso",
                                                   args.served.rstrip("/") + "/sparql", 0)}
            if args.before:
                servers[BEFORE] = Server(BEFORE, args.before.rstrip("/") + "/sparql", 0)
            where = f"servers already running (the engine: {store.engine or 'unnamed'})"
        elif args.build:
            servers, _ = start_servers(stack, args.build.resolve(),
                                       {"tipgraph", "oxigraph", "rdflib-endpoint"},
                                       timeout=args.timeout, restarts=0, progress=progress)
            where = "started by the script from --build (max_results raised)"
        else:
            raise SystemExit("--front needs --store and --served, or --build")
        size = count_publications(servers["virtuoso"], args.timeout)
        chosen = publications(servers["virtuoso"], 2, args.timeout)
        texts = {name: text.replace("{publication}", chosen[0][0])
                 .replace("{deep}", str(size // 2)) for name, text in queries}
        found = interleave(servers, texts, samples=args.samples, timeout=args.timeout,
                           budget=args.budget, stop_at=time.monotonic() + 60 * args.minutes,
                           progress=progress, modes=("uncached",))
    load_end, ended = load(), time.strftime("%H:%M", time.gmtime())
    lines, mean = front_table(found, list(texts), [s for s in servers if s != "virtuoso"])
    disagree = disagreements(found, list(texts), list(servers))
    verdict = (f"Point 2, `serve --store` in front of Virtuoso ≤ {FRONT_RATIO}x Virtuoso "
               f"direct (geometric mean of the uncached medians, {len(texts)} queries of "
               f"{args.queries.name}): " + ("not measured" if mean is None else
                                            f"{'PASS' if mean <= FRONT_RATIO else 'FAIL'} "
                                            f"({mean:.2f}x)") + ".")
    heading = (f"Machine: {machine()}; load average (1/5/15 min) {load_start} at {began} UTC, "
               f"{load_end} at {ended} UTC. `benchmarks/endpoint.py --front --samples "
               f"{args.samples} --timeout {args.timeout:.0f} --budget {args.budget:.0f}` on "
               f"{size:,} publications, {where}. Every request uncached (its own comment), "
               "`Accept-Encoding: identity`, from 127.0.0.2-9 in turn, the two servers "
               "taking turns request by request; JSON results, N-Triples for graphs."
               + (f" {BEFORE}: another `serve --store` ({args.before}), the code to compare "
                  "with, in the same turns." if BEFORE in servers else ""))
    body = [heading, "", verdict, "", *lines,
            *(["", "Answers that differ: " + "; ".join(f"{q}: {c}" for q, c in
                                                      disagree.items())] if disagree else [])]
    print(verdict, file=sys.stderr)
    title = f"serve --store in front of Virtuoso at {size:,} publications: researcher queries"
    if args.dry_run:
        print("\n".join([f"## {title}", "", *body, ""]))
    else:
        append(title, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path,
                        help="a build directory (the --out of `tipgraph build`)")
    parser.add_argument("--queries", type=Path,
                        help="a file of arbitrary queries (see researcher.rq); default: "
                        "the ARBITRARY set, or researcher.rq with --front")
    parser.add_argument("--front", action="store_true",
                        help="point 2 alone: `serve --store` against its engine direct")
    parser.add_argument("--store", help="with --front: the engine's running endpoint")
    parser.add_argument("--served", help="with --front: the base URL of `tipgraph serve "
                        "--store` running in front of it")
    parser.add_argument("--before", help="with --front --served: the base URL of another "
                        "`serve --store` (e.g. an older revision), timed in the same turns")
    parser.add_argument("--graphs", default=GRAPHS,
                        help="with --store: the graphs' IRI given to `tipgraph publish`")
    parser.add_argument("--samples", type=int, default=30,
                        help="interleaved requests per query, server and mode after the "
                        "first (cold) one")
    parser.add_argument("--seconds", type=float, default=15.0,
                        help="seconds of each 8-client throughput run, per server and mix")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds one request may take before it counts as a timeout")
    parser.add_argument("--budget", type=float, default=30.0,
                        help="seconds of requests one (query, server, mode) may take; "
                        "past it, it gets no more samples")
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="minutes of query sampling after which each query gets only "
                        "one more round (the rest of the run is bounded by --seconds)")
    parser.add_argument("--skip", action="append", default=[], choices=SKIPPABLE,
                        help="a peer not to run (repeatable), e.g. rdflib-endpoint")
    parser.add_argument("--restarts", type=int, default=2,
                        help="times rdflib-endpoint is restarted after a timeout before it "
                        "is given up on (each restart parses the dump again)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the tables, do not append them to RESULTS.md")
    args = parser.parse_args()

    def progress(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the servers
    if args.front:
        args.queries = args.queries or HERE / "researcher.rq"
        front_only(args, progress)
        return
    if args.build is None:
        parser.error("--build is needed (but with --front --store --served)")
    arbitrary = read_queries(args.queries) if args.queries else ARBITRARY
    build = args.build.resolve()
    report = json.loads((build / "current" / "report.json").read_text(encoding="utf-8"))
    size, triples = report["records_built"], report["triples"]
    load_start, began = load(), time.strftime("%H:%M", time.gmtime())

    shipped = {q.name: q for q in shipped_queries()}
    with ExitStack() as stack:
        servers, started = start_servers(stack, build, set(args.skip), timeout=args.timeout,
                                         restarts=args.restarts, progress=progress)
        time.sleep(2)  # let tipgraph's workers start their query processes
        memory_loaded = {name: rss_mb(server.pid) for name, server in servers.items()}
        names = list(servers)
        # asked of the Oxigraph server, so that tipgraph's first requests stay cold: one for
        # the one-record queries, 50 for the VALUES query, then publications nobody was
        # asked about for the documents and for where the time goes
        document_rounds = DOCUMENT_ROUNDS * args.samples
        chosen = publications(servers["oxigraph"], 51 + document_rounds + 1 + 2 * SPLIT_MOST,
                              args.timeout)
        publication, slug = chosen[0]
        fresh = chosen[51:]
        shipped_texts = {name: q.bind({k: v.replace("{slug}", slug)
                                       for k, v in BINDINGS.get(name, {}).items()})
                         for name, q in shipped.items()}

        progress("shipped queries")
        stop_at = time.monotonic() + 60 * args.minutes
        shipped_found = interleave(servers, shipped_texts, samples=args.samples,
                                   timeout=args.timeout, budget=args.budget,
                                   stop_at=stop_at, progress=progress)

        # next, while tipgraph's result cache holds the shipped answers: the large answers
        # of the arbitrary queries below would evict some of them
        loads: dict[tuple[str, str], tuple[int, float, list[float], int]] = {}
        light = [shipped_texts[n] for n in shipped if n not in TIPGRAPH_ONLY]
        for mix, unique in (("shipped, repeated", False), ("shipped, uncached", True)):
            for name, server in servers.items():
                if server.alive and name != "rdflib-endpoint":
                    progress(f"throughput: {name}, {mix}")
                    loads[name, mix] = throughput(server, light, seconds=args.seconds,
                                                  timeout=args.timeout, unique=unique)

        progress("arbitrary queries")
        arbitrary_servers = {n: s for n, s in servers.items() if n != "rdflib-endpoint"}
        values = " ".join(f"<{iri}>" for iri, _ in chosen[1:51])
        arbitrary_texts = {name: text.replace("{publication}", publication)
                           .replace("{values}", values).replace("{deep}", str(size // 2))
                           for name, text in arbitrary}
        arbitrary_found = interleave(arbitrary_servers, arbitrary_texts, samples=args.samples,
                                     timeout=args.timeout, budget=args.budget,
                                     stop_at=stop_at, progress=progress)

        progress("documents and pages")
        documents, document_met = time_documents(
            servers["tipgraph"], servers["oxigraph"], fresh[:document_rounds + 1],
            timeout=args.timeout)
        base = servers["tipgraph"].endpoint.removesuffix("/sparql")
        pages = time_pages(base, [(k, p.replace("{slug}", slug), a) for k, p, a in PAGES],
                           rounds=1 + min(args.samples, 10), timeout=args.timeout)

        progress("where the time goes")
        split, split_found = cpu_split(servers, split_requests(
            servers, {**shipped_texts, **arbitrary_texts}, fresh[document_rounds + 1:],
            timeout=args.timeout), rounds=SPLIT_ROUNDS)

        memory_end = {name: rss_mb(server.pid) if server.alive else None
                      for name, server in servers.items()}
    progress("all servers stopped")
    load_end, ended = load(), time.strftime("%H:%M", time.gmtime())

    heading = (f"Machine: {machine()}; load average (1/5/15 min) {load_start} at {began} UTC, "
               f"{load_end} at {ended} UTC. `benchmarks/endpoint.py --samples {args.samples} "
               f"--seconds {args.seconds:.0f} --timeout {args.timeout:.0f} --budget "
               f"{args.budget:.0f} --minutes {args.minutes:.0f}"
               f"{''.join(f' --skip {s}' for s in args.skip)}` on a build "
               f"of {size:,} publications ({triples:,} triples); every server on 127.0.0.1 "
               "from the same build (tipgraph serve: 2 workers, its defaults, result cache "
               "on, `max_results` raised; Virtuoso: its row and time caps raised); every "
               "request with `Accept-Encoding: identity`, from 127.0.0.2-9 in turn.")
    explain = (
        "Times in ms. Per server: the uncached median and p95 (each request ending with its "
        "own comment), then the repeated median (the same text again); n: samples per "
        f"server and mode (fewer where --budget or a timeout stopped them, of {args.samples}). "
        "The servers take turns request by request, uncached and repeated alternating. "
        "tipgraph first: its first request of the query (after start, uncached by any "
        "cache). Ratios are of medians to the Oxigraph server's, same mode. Target (issue "
        f"23, point 1): tipgraph uncached within {HEAVY_RATIO}x of the Oxigraph server where "
        f"it takes {HEAVY_MS:.0f} ms or more there, else within +{LIGHT_EXTRA_MS} ms. Rows: "
        "the Oxigraph server's count; ≠ where the servers' counts differ.")
    disagree_shipped = disagreements(shipped_found, list(shipped), names)
    disagree_arbitrary = disagreements(arbitrary_found, list(arbitrary_texts),
                                       list(arbitrary_servers))
    for query, counts in {**disagree_shipped, **disagree_arbitrary}.items():
        print(f"answers disagree on {query}: {counts}", file=sys.stderr)
    shipped_lines, shipped_met = query_table(shipped_found, list(shipped), names,
                                             disagree_shipped, timeout=args.timeout)
    arbitrary_lines, arbitrary_met = query_table(
        arbitrary_found, list(arbitrary_texts), list(arbitrary_servers), disagree_arbitrary,
        timeout=args.timeout)

    front_lines, front_mean, shipped_front = [], None, None
    if "tipgraph-virtuoso" in arbitrary_servers:
        front_lines, front_mean = front_table(arbitrary_found, list(arbitrary_texts))
        shipped_front = front_table(shipped_found, [q for q in shipped
                                                    if q not in TIPGRAPH_ONLY])[1]
    rates = {key: done / elapsed for key, (done, elapsed, _, _) in loads.items() if elapsed}
    tip_rate, oxi_rate = (rates.get(("tipgraph", "shipped, uncached")),
                          rates.get(("oxigraph", "shipped, uncached")))
    throughput_met = "—" if not tip_rate or not oxi_rate else \
        "met" if tip_rate >= THROUGHPUT_RATIO * oxi_rate else "missed"
    verdicts = [
        f"- Point 1, each uncached shipped query: {shipped_met.count('met')} of "
        f"{len(shipped_met) - shipped_met.count('n/a')} met ({', '.join(q for q, m in zip(shipped, shipped_met, strict=True) if m == 'missed') or 'none missed'}).",  # noqa: E501
        f"- Point 1, each uncached arbitrary query: {arbitrary_met.count('met')} of "
        f"{len(arbitrary_met)} met ({', '.join(q for q, m in zip(arbitrary_texts, arbitrary_met, strict=True) if m == 'missed') or 'none missed'}).",  # noqa: E501
        f"- Point 1, 8-client uncached throughput ≥ {THROUGHPUT_RATIO}x the Oxigraph "
        f"server's: {throughput_met} ({ratio(tip_rate, oxi_rate)}x).",
        f"- Point 1, resource documents ≤ {DOCUMENT_RATIO}x a CONSTRUCT on the Oxigraph "
        f"server: {document_met[0]}.",
        f"- Point 2, `serve --store` in front of Virtuoso ≤ {FRONT_RATIO}x Virtuoso direct "
        "(geometric mean, arbitrary queries, uncached): " + (
            "not measured (skipped)" if front_mean is None else
            f"{'met' if front_mean <= FRONT_RATIO else 'missed'} ({front_mean:.2f}x; "
            f"shipped queries {'—' if shipped_front is None else f'{shipped_front:.2f}'}x)."),
        "- Where the time goes, CPU per uncached request (the table \"where the time goes\" "
        "below): " + where_time_goes(split_found),
    ]
    for line in verdicts:
        print(line, file=sys.stderr)

    notes = [f"{query}: {counts}." for query, counts in disagree_shipped.items()]
    tables = [
        (f"Endpoint at {size:,} publications: targets of issue 23", [heading, "", *verdicts]),
        (f"Endpoint at {size:,} publications: shipped queries, uncached and repeated", [
            heading, "",
            "Each query with its parameters' defaults, but publication-record with the "
            "identifier of a publication of this build. " + explain, "", *shipped_lines,
            *(["", "Answers that differ: " + " ".join(notes)] if notes else [])]),
        (f"Endpoint at {size:,} publications: arbitrary queries, uncached and repeated", [
            heading, "",
            "Queries that are not shipped, as a researcher would write them (the "
            "`ARBITRARY` set of the script). " + explain, "", *arbitrary_lines]),
        *([(f"Endpoint at {size:,} publications: serve --store in front of Virtuoso", [
            heading, "",
            "The build published to Virtuoso (`tipgraph publish`, Graph Store protocol), "
            "`tipgraph serve --store` in front of it (2 workers, its defaults, result cache "
            "on, `max_results` raised), against the same Virtuoso asked directly for the same "
            "graph; the arbitrary queries, uncached medians (ms), from the run of the table "
            f"above. Target (issue 23, point 2): geometric mean ≤ {FRONT_RATIO}x.", "",
            *front_lines])] if front_lines else []),
        (f"Endpoint at {size:,} publications: resource documents", [
            heading, "",
            "A different publication each round, one no earlier request of the run named "
            "(no cache answers it, in no server's engine), tipgraph's Turtle "
            "document and the Oxigraph server's CONSTRUCT of the same record with its "
            "links' labels, in Turtle, taking turns; then one document again and again. "
            f"Target (issue 23, point 1): ≤ {DOCUMENT_RATIO}x the CONSTRUCT.", "",
            *documents, "", "Place and organisation documents and HTML pages of `tipgraph "
            "serve`: the first request, then the median and p95 of the next ones, one at "
            "a time.", "", *pages]),
        (f"Endpoint at {size:,} publications: where the time goes", [
            heading, "",
            f"Each request at least {SPLIT_ROUNDS} times to each server, and more for "
            f"{SPLIT_SECONDS:.0f} s (n), one server after the other, uncached (a new "
            "comment, a new publication each time), one at a time; the CPU each server's "
            "processes used in its block, per request: tipgraph's front (its "
            "gunicorn workers, with their result cache and the pages' models) and its query "
            "processes (the embedded engine, pyoxigraph); the Oxigraph server and Virtuoso "
            "whole; tipgraph-virtuoso's front and the Virtuoso it asks. The median is of the "
            "client's wall time: what a server's CPU leaves of it is waiting (the client, "
            "the loopback, a process woken) and the client's own work, the same for all.",
            "", *split]),
        (f"Endpoint at {size:,} publications: throughput with {CLIENTS} clients", [
            heading, "",
            f"{CLIENTS} clients, each on its own loopback address and kept-alive connection, "
            f"cycle through the {len(light)} shipped queries (not tipgraph's own text "
            f"search) for {args.seconds:.0f} s (no "
            "request starts later), one server at a time: first the same texts again "
            "(tipgraph's result cache holds their answers), then each request made unique "
            "by a comment (uncached). Target (issue 23, point 1): uncached ≥ "
            f"{THROUGHPUT_RATIO}x the Oxigraph server's requests/s.", "",
            "| server | mix | answered | failed | seconds | requests/s | ÷ oxigraph | "
            "median ms | p95 ms |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|",
            *(f"| {name} | {mix} | {done:,} | {failed:,} | {elapsed:.1f} | "
              f"{rates.get((name, mix), 0):.1f} | "
              f"{ratio(rates.get((name, mix)), rates.get(('oxigraph', mix)))} | "
              f"{ms(statistics.median(lat) if lat else None)} | "
              f"{ms(percentile(lat, 0.95) if lat else None)} |"
              for (name, mix), (done, elapsed, lat, failed) in loads.items())]),
        (f"Endpoint at {size:,} publications: memory", [
            heading, "",
            "Resident memory of each server's process tree (tipgraph: gunicorn, its workers "
            "and their query processes), after it loaded the build and at the end of the "
            "run; start-up is the time until it answered (Virtuoso: with its bulk load or the "
            "publish; tipgraph-virtuoso: with making the dumps from the store).",
            "", "| server | start-up s | MiB after load | MiB at the end |", "|---|--:|--:|--:|",
            *(f"| {name} | {started[name]:.1f} | {memory_loaded[name]:,.0f} | "
              f"{'stopped' if memory_end[name] is None else f'{memory_end[name]:,.0f}'} |"
              for name in servers)]),
    ]
    for title, lines in tables:
        if args.dry_run:
            print("\n".join([f"## {title}", "", *lines, ""]))
        else:
            append(title, lines)


if __name__ == "__main__":
    main()
