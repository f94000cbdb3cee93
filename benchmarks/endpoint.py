"""The endpoint at scale: ``tipgraph serve`` beside the Oxigraph server, Virtuoso and
rdflib-endpoint, all on one build, in one run.

Why one run: on a shared machine only numbers taken side by side, with the requests
interleaved across the servers, can be compared. Every server answers from the same
build: ``tipgraph serve`` from its store, ``oxigraph serve-read-only`` from a copy of it,
Virtuoso (Debian ``virtuoso-opensource-7-bin``, from our own ini on 127.0.0.1, with its
row and time caps raised) and rdflib-endpoint (in memory) from its N-Triples dump, the
reasoned graph (``peers.py``). Each listens on a free 127.0.0.1 port; all are stopped at
the end, on Ctrl-C or on an error too.

What it measures, one table each, appended to ``benchmarks/RESULTS.md``:

- the shipped queries (``queries/*.rq``, defaults bound): for each query, one round after
  another, each server in turn (the order rotating). The first request is the cold time
  (for tipgraph: the first after start, not in its result cache), the repeats give the
  median and p95; the ratio to the Oxigraph server's median, and geometric means. The
  answers' row (or triple) counts are compared and disagreements printed;
- arbitrary queries, not shipped (trivial and heavy: ASK, one resource, COUNT(*), a
  3-way join ...), each request made unique by a comment so that tipgraph's result
  cache does not answer it: tipgraph serve against the Oxigraph server on the same
  store (targets: at most 1.2x for queries of 10 ms or more there, at most 1 ms more
  for trivial ones), Virtuoso beside;
- resource documents and HTML pages of ``tipgraph serve``: cold, median and p95;
- throughput with 8 concurrent clients on the shipped-query mix, each server alone;
- each server's memory (resident, its whole process tree) after load and at the end.

A request that takes longer than ``--timeout`` is recorded as a timeout, and that
query is not sent to that server again; rdflib-endpoint is restarted after one, since
it would go on evaluating the abandoned query before answering anything else, and
after ``--restarts`` restarts it is stopped and the rest of its requests are not run.
``tipgraph serve`` runs with ``query_timeout`` set to ``--timeout`` and ``max_results``
raised, as Virtuoso's caps are, so that every server gives the whole answer.

Run by hand, not in CI, on a build directory (``tipgraph build --out DIR``)::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/endpoint.py --build DIR [--repeat 5] [--seconds 30]
        [--timeout 60] [--restarts 2] [--skip rdflib-endpoint] [--dry-run]

At 100,000 publications rdflib-endpoint takes minutes to start and a few GiB of memory.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pyoxigraph

from tipgraph.queries import shipped_queries
from tipgraph.testing import serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import rss_mb
from peers import (
    RdflibEndpoint,
    Server,
    oxigraph_server,
    scratch_directory,
    virtuoso_server,
)
from results import append, machine

SERVERS = ("tipgraph", "oxigraph", "virtuoso", "rdflib-endpoint")
SKIPPABLE = ("virtuoso", "rdflib-endpoint")  # the Oxigraph server is every ratio's base
RESULTS_JSON = "application/sparql-results+json"
NTRIPLES = "application/n-triples"
CLIENTS = 8

PREFIXES = """\
PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
"""

#: Queries nobody ships, as a researcher might write them: (name, text, trivial?).
#: ``{publication}`` is replaced by one publication's IRI.
ARBITRARY = (
    ("ask-any-triple", "ASK { ?s ?p ?o }", True),
    ("ask-a-publication", PREFIXES + "ASK { ?p a tip:Publication }", True),
    ("one-resource", "SELECT ?p ?o WHERE { <{publication}> ?p ?o }", True),
    ("count-all-triples", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", False),
    ("count-per-type", "SELECT ?type (COUNT(?s) AS ?n) WHERE { ?s a ?type } GROUP BY ?type",
     False),
    ("join-3-ways", PREFIXES + "SELECT ?title ?name ?year WHERE { ?p dct:title ?title ; "
     "dct:creator ?agent ; dct:issued ?year . ?agent foaf:name ?name }", False),
    ("titles-containing-labour", PREFIXES + "SELECT ?p ?title WHERE { ?p a tip:Publication ;"
     " dct:title ?title FILTER(CONTAINS(LCASE(STR(?title)), \"labour\")) }", False),
)

#: Parameters bound otherwise than by default: the default identifier names a publication
#: of the seed catalogue, absent from a synthetic one. ``{slug}``: one publication's.
BINDINGS = {"publication-record": {"identifier": "{slug}"}}

#: Resource documents and HTML pages of ``tipgraph serve``: (kind, path, Accept).
#: ``{slug}`` is one publication's.
DOCUMENTS = (
    ("document", "/publication/{slug}.ttl", "text/turtle"),
    ("document", "/publication/{slug}.jsonld", "application/ld+json"),
    ("document", "/place/ng.ttl", "text/turtle"),
    ("document", "/place/ng.jsonld", "application/ld+json"),
    ("document", "/place/west-and-central-africa.ttl", "text/turtle"),
    ("document", "/organisation/iom.ttl", "text/turtle"),
    ("page", "/", "text/html"),
    ("page", "/browse", "text/html"),
    ("page", "/browse?country=ng", "text/html"),
    ("page", "/publication/{slug}.html", "text/html"),
    ("page", "/place/ng.html", "text/html"),
    ("page", "/place/west-and-central-africa.html", "text/html"),
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


def request(url: str, *, body: bytes | None, accept: str, timeout: float,
            connection: HTTPConnection | None = None) -> Answer:
    """A GET (``body`` None) or a form POST of ``body``; on ``connection`` when given."""
    parts = urlsplit(url)
    own = connection is None
    if connection is None:
        connection = HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Accept": accept}
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


def interleave(servers: dict[str, Server], texts: dict[str, str], accepts: dict[str, str],
               *, rounds: int, timeout: float, unique: bool,
               progress: Callable[[str], None]) -> dict[tuple[str, str], Samples]:
    """Time every (query, server): ``rounds`` requests each, the servers taking turns.

    :param unique: end every request with its own comment (no cache answers it)
    """
    samples: dict[tuple[str, str], Samples] = {}
    names = list(servers)
    for number, (query, text) in enumerate(texts.items()):
        for round_ in range(rounds):
            turn = (number + round_) % len(names)
            for name in names[turn:] + names[:turn]:
                entry = samples.setdefault((query, name), Samples())
                server = servers[name]
                if not server.alive:
                    entry.note = entry.note or "not run"
                if entry.note in ("timeout", "no answer", "not run"):
                    continue
                sent = f"{text}\n# request {number}.{round_}" if unique else text
                answer = request(server.endpoint, body=query_body(server, sent),
                                 accept=accepts[query], timeout=timeout)
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
    return samples


def disagreements(samples: dict[tuple[str, str], Samples], queries: Sequence[str],
                  servers: Sequence[str]) -> dict[str, str]:
    """Queries whose servers count different rows: query -> "server n, server m"."""
    found = {}
    for query in queries:
        counts = {s: samples[query, s].rows for s in servers if samples[query, s].rows is not None}
        if len(set(counts.values())) > 1:
            found[query] = ", ".join(f"{s} {n:,}" for s, n in counts.items())
    return found


def ms(seconds: float | None, digits: int = 1) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.{digits}f}"


def ratio(value: float | None, base: float | None) -> str:
    return "—" if value is None or not base else f"{value / base:.2f}"


def row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def cell(entry: Samples, digits: int = 1) -> str:
    """``cold / median / p95`` in ms, or what went wrong."""
    if entry.note in ("timeout", "no answer", "not run") and not entry.warm:
        return entry.note
    text = f"{ms(entry.cold, digits)} / {ms(entry.median(), digits)} / {ms(entry.p95(), digits)}"
    return f"{text} ({entry.note})" if entry.note else text


def shipped_table(samples: dict[tuple[str, str], Samples], queries: Sequence[str],
                  servers: Sequence[str], disagree: dict[str, str], *,
                  timeout: float) -> list[str]:
    peers = [s for s in servers if s not in ("tipgraph", "oxigraph")]
    header = ["query", "rows", *(f"{s} cold / median / p95" for s in servers),
              "tipgraph cold ÷ oxigraph", "tipgraph warm ÷ oxigraph",
              *(f"{s} ÷ oxigraph" for s in peers)]
    lines = [row(header), "|---|" + "--:|" * (len(header) - 1)]
    for query in queries:
        base = samples[query, "oxigraph"].median()
        tip = samples[query, "tipgraph"]
        rows = samples[query, "oxigraph"].rows
        lines.append(row([
            query, ("≠" if query in disagree else "") + ("—" if rows is None else f"{rows:,}"),
            *(cell(samples[query, s], 2 if s == "tipgraph" else 1) for s in servers),
            ratio(tip.cold, base), ratio(tip.median(), base),
            *(ratio(samples[query, s].median(), base) for s in peers)]))

    def mean(server: str, pick: Callable[[Samples], float | None]) -> tuple[float | None, str]:
        """The geometric mean; a timeout counts as ``timeout`` seconds, making it a bound."""
        values = [pick(samples[q, server]) for q in queries]
        bound = any(v is None and samples[q, server].note == "timeout"
                    for q, v in zip(queries, values, strict=True))
        values = [timeout if v is None and samples[q, server].note == "timeout" else v
                  for q, v in zip(queries, values, strict=True)]
        return geometric_mean(values), "≥ " if bound else ""

    def shown(server: str, pick: Callable[[Samples], float | None]) -> str:
        value, bound = mean(server, pick)
        return "—" if value is None else bound + ms(value, 2)

    def versus(server: str, pick: Callable[[Samples], float | None]) -> str:
        (value, bound), (base, _) = mean(server, pick), mean("oxigraph", Samples.median)
        return "—" if value is None else bound + ratio(value, base)

    lines.append(row([
        "**geometric mean**", "",
        *(f"{shown(s, lambda e: e.cold)} / {shown(s, Samples.median)} / —" for s in servers),
        versus("tipgraph", lambda e: e.cold), versus("tipgraph", Samples.median),
        *(versus(s, Samples.median) for s in peers)]))
    return lines


def arbitrary_table(samples: dict[tuple[str, str], Samples], trivial: dict[str, bool],
                    servers: Sequence[str], disagree: dict[str, str]) -> list[str]:
    lines = ["| query | rows | " + " | ".join(f"{s} median / p95" for s in servers)
             + " | tipgraph ÷ oxigraph | tipgraph - oxigraph ms | target | met |",
             "|---|--:|" + "--:|" * len(servers) + "--:|--:|---|---|"]
    for query, small in trivial.items():
        tip, oxi = samples[query, "tipgraph"].median(), samples[query, "oxigraph"].median()
        if tip is None or oxi is None:
            target, met = "—", "—"
        elif small or oxi < 0.010:
            target, met = "≤ +1 ms", "yes" if tip - oxi <= 0.001 else "no"
        else:
            target, met = "≤ 1.2x", "yes" if tip <= 1.2 * oxi else "no"
        rows = samples[query, "oxigraph"].rows
        lines.append(
            f"| {query} | {'≠' if query in disagree else ''}"
            f"{'—' if rows is None else f'{rows:,}'} | "
            + " | ".join(f"{ms(samples[query, s].median(), 2)} / {ms(samples[query, s].p95(), 2)}"
                         + (f" ({samples[query, s].note})" if samples[query, s].note else "")
                         for s in servers)
            + f" | {ratio(tip, oxi)} | "
            + ("—" if tip is None or oxi is None else f"{(tip - oxi) * 1000:+.2f}")
            + f" | {target} | {met} |")
    return lines


def time_documents(base: str, paths: Sequence[tuple[str, str, str]], *, rounds: int,
                   timeout: float) -> list[str]:
    """The documents and pages of ``tipgraph serve``, each ``rounds`` times in a row."""
    lines = ["| kind | path | status | bytes | cold ms | median ms | p95 ms | target | met |",
             "|---|---|--:|--:|--:|--:|--:|---|---|"]
    for kind, path, accept in paths:
        answers = [request(base + path, body=None, accept=accept, timeout=timeout)
                   for _ in range(rounds)]
        times = [a.seconds for a in answers[1:] if a.status == 200]
        median = statistics.median(times) if times else None
        limit = 0.005 if kind == "document" else 0.020
        lines.append(f"| {kind} | `{path}` | {answers[0].status or 'timeout'} | "
                     f"{len(answers[0].body):,} | {ms(answers[0].seconds, 2)} | "
                     f"{ms(median, 2)} | {ms(percentile(times, 0.95) if times else None, 2)} "
                     f"| < {limit * 1000:.0f} ms | "
                     f"{'—' if median is None else 'yes' if median < limit else 'no'} |")
    return lines


def throughput(server: Server, mix: Sequence[tuple[str, str]], *, seconds: float,
               timeout: float) -> tuple[int, float, list[float], int]:
    """``CLIENTS`` clients, each on its own loopback address and kept-alive connection,
    cycling through ``mix`` (text, Accept) for ``seconds``; no request starts after that.

    One address per client, because ``tipgraph serve`` limits the queries of one client
    address at a time (``max_concurrent_queries_per_client``) and 8 researchers are 8.

    :return: requests answered with 200, seconds until the last one ended, their
        latencies, failures (other statuses, timeouts)
    """
    parts = urlsplit(server.endpoint)
    stop_at = time.monotonic() + seconds
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def client(number: int) -> None:
        connection: HTTPConnection | None = None
        index = number
        while time.monotonic() < stop_at:
            text, accept = mix[index % len(mix)]
            index += 1
            if connection is None:
                connection = HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                            source_address=(f"127.0.0.{2 + number}", 0))
            answer = request(server.endpoint, body=query_body(server, text), accept=accept,
                             timeout=timeout, connection=connection)
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


def one_publication(server: Server, timeout: float) -> tuple[str, str]:
    """A publication's IRI and slug, to time its document, page and one-resource query."""
    text = PREFIXES + "SELECT ?p WHERE { ?p a tip:Publication } LIMIT 1"
    answer = request(server.endpoint, body=query_body(server, text), accept=RESULTS_JSON,
                     timeout=timeout)
    iri = json.loads(answer.body)["results"]["bindings"][0]["p"]["value"]
    return iri, iri.rsplit("/", 1)[1]


@contextmanager
def tipgraph_server(build: Path, timeout: float) -> Iterator[Server]:
    """``tipgraph serve`` with its defaults but for the two caps the peers do not have."""
    settings = {"query_timeout": timeout, "max_results": 10_000_000}
    with serving(build, settings, startup_limit=300.0) as base:
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
            current / "tipgraph.nt", scratch, max_seconds=int(2 * timeout) + 1)),
        "rdflib-endpoint": lambda: stack.enter_context(RdflibEndpoint(
            current / "tipgraph.nt", startup_limit=3600.0, restarts=restarts)),
    }
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, required=True,
                        help="a build directory (the --out of `tipgraph build`)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="requests per query and server after the first (cold) one")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="seconds of the 8-client throughput run, per server")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds one request may take before it counts as a timeout")
    parser.add_argument("--skip", action="append", default=[], choices=SKIPPABLE,
                        help="a peer not to run (repeatable), e.g. rdflib-endpoint")
    parser.add_argument("--restarts", type=int, default=2,
                        help="times rdflib-endpoint is restarted after a timeout before it "
                        "is given up on (each restart parses the dump again)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the tables, do not append them to RESULTS.md")
    args = parser.parse_args()
    build = args.build.resolve()
    report = json.loads((build / "current" / "report.json").read_text(encoding="utf-8"))
    publications, triples = report["records_built"], report["triples"]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the servers

    def progress(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)

    shipped = {q.name: q for q in shipped_queries()}
    shipped_accepts = {name: NTRIPLES if q.form in ("CONSTRUCT", "DESCRIBE") else RESULTS_JSON
                       for name, q in shipped.items()}
    with ExitStack() as stack:
        servers, started = start_servers(stack, build, set(args.skip), timeout=args.timeout,
                                         restarts=args.restarts, progress=progress)
        time.sleep(2)  # let tipgraph's workers start their query processes
        memory_loaded = {name: rss_mb(server.pid) for name, server in servers.items()}
        names = list(servers)
        # asked of the Oxigraph server, so that tipgraph's first requests stay cold
        publication, slug = one_publication(servers["oxigraph"], args.timeout)
        shipped_texts = {name: q.bind({k: v.replace("{slug}", slug)
                                       for k, v in BINDINGS.get(name, {}).items()})
                         for name, q in shipped.items()}

        progress("shipped queries")
        shipped_samples = interleave(servers, shipped_texts, shipped_accepts,
                                     rounds=1 + args.repeat, timeout=args.timeout,
                                     unique=False, progress=progress)

        # next, while tipgraph's result cache holds the shipped answers: the large answers
        # of the arbitrary queries below would evict some of them
        mix = [(shipped_texts[n], shipped_accepts[n]) for n in shipped]
        loads = {}
        for name, server in servers.items():
            if server.alive:
                progress(f"throughput: {name}")
                loads[name] = throughput(server, mix, seconds=args.seconds,
                                         timeout=args.timeout)

        progress("arbitrary queries")
        arbitrary_servers = {n: s for n, s in servers.items() if n != "rdflib-endpoint"}
        arbitrary_texts = {name: text.replace("{publication}", publication)
                           for name, text, _ in ARBITRARY}
        arbitrary_samples = interleave(
            arbitrary_servers, arbitrary_texts, dict.fromkeys(arbitrary_texts, RESULTS_JSON),
            rounds=1 + args.repeat, timeout=args.timeout, unique=True, progress=progress)

        progress("documents and pages")
        base = servers["tipgraph"].endpoint.removesuffix("/sparql")
        documents = time_documents(
            base, [(k, p.replace("{slug}", slug), a) for k, p, a in DOCUMENTS],
            rounds=1 + args.repeat, timeout=args.timeout)

        memory_end = {name: rss_mb(server.pid) if server.alive else None
                      for name, server in servers.items()}
    progress("all servers stopped")

    size = (f"{publications:,} publications ({triples:,} triples)")
    heading = (f"Machine: {machine()}. `benchmarks/endpoint.py --repeat {args.repeat} "
               f"--seconds {args.seconds:.0f} --timeout {args.timeout:.0f} --restarts "
               f"{args.restarts}{''.join(f' --skip {s}' for s in args.skip)}` on a build of "
               f"{size}; every server on "
               "127.0.0.1 from the same build (tipgraph serve: 2 workers, result cache on, "
               "`max_results` raised; Virtuoso: its row and time caps raised).")
    disagree_shipped = disagreements(shipped_samples, list(shipped), names)
    disagree_arbitrary = disagreements(arbitrary_samples, list(arbitrary_texts),
                                       list(arbitrary_servers))
    for query, counts in {**disagree_shipped, **disagree_arbitrary}.items():
        print(f"answers disagree on {query}: {counts}", file=sys.stderr)

    notes = [f"{query}: {counts}." for query, counts in disagree_shipped.items()]
    tables = [
        (f"Endpoint at {publications:,} publications: shipped queries on four servers", [
            heading, "",
            "Each query with its parameters' defaults, but publication-record with the "
            "identifier of a publication of this build. "
            f"Times in ms: the first request (cold; for tipgraph the first after start), "
            f"then median and p95 of the next {args.repeat}; the servers take turns, "
            "request by request. Ratios are of medians (tipgraph cold: its first request) "
            "to the Oxigraph server's median. Rows: the Oxigraph server's row (or triple) "
            "count; ≠ where the servers' counts differ.", "",
            *shipped_table(shipped_samples, list(shipped), names, disagree_shipped,
                          timeout=args.timeout),
            *(["", "Answers that differ: " + " ".join(notes)] if notes else [])]),
        (f"Endpoint at {publications:,} publications: arbitrary queries", [
            heading, "",
            f"Queries that are not shipped, each request made unique by a comment so that "
            f"no cache answers it; median and p95 of {args.repeat} requests after a first "
            "one, in ms. Target: tipgraph within 1.2x of the Oxigraph server where it takes "
            "10 ms or more, within +1 ms where it is trivial.", "",
            *arbitrary_table(arbitrary_samples, {n: t for n, _, t in ARBITRARY},
                             list(arbitrary_servers), disagree_arbitrary)]),
        (f"Endpoint at {publications:,} publications: documents and pages", [
            heading, "",
            f"`tipgraph serve` alone: the first request, then median and p95 of "
            f"{args.repeat} more, one at a time.", "", *documents]),
        (f"Endpoint at {publications:,} publications: throughput with {CLIENTS} clients", [
            heading, "",
            f"{CLIENTS} clients, each on its own loopback address and kept-alive connection, "
            f"cycle through the {len(mix)} shipped queries for {args.seconds:.0f} s (no request "
            f"starts later; one may end up to {args.timeout:.0f} s later, or fail), one "
            "server at a time, right after the shipped queries' runs (tipgraph's result cache "
            "holds their answers).", "",
            "| server | answered | failed | seconds | requests/s | median ms | p95 ms |",
            "|---|--:|--:|--:|--:|--:|--:|",
            *(f"| {name} | {done:,} | {failed:,} | {elapsed:.1f} | {done / elapsed:.1f} | "
              f"{ms(statistics.median(lat) if lat else None)} | "
              f"{ms(percentile(lat, 0.95) if lat else None)} |"
              for name, (done, elapsed, lat, failed) in loads.items()),
            *(f"| {name} | stopped earlier (out of restarts) | | | | | |"
              for name in servers if name not in loads)]),
        (f"Endpoint at {publications:,} publications: memory", [
            heading, "",
            "Resident memory of each server's process tree (tipgraph: gunicorn, its workers "
            "and their query processes), after it loaded the build and at the end of the "
            "run; start-up is the time until it answered (Virtuoso: with its bulk load).",
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
