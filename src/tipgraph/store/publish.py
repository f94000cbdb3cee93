"""Publishing a build into a remote SPARQL store, and finding the graph it serves.

Each build goes into a named graph of its own, ``<GRAPHS><build id>`` (``GRAPHS``
is ``--graph``, by default ``<base>graph/``), sent in chunks over the SPARQL 1.1
Graph Store HTTP Protocol (``POST ?graph=``) or, where the store has no Graph
Store endpoint, as SPARQL Update ``INSERT DATA``. Readers find the graph in
service through one triple in the meta graph ``<GRAPHS>meta``::

    <GRAPHS>meta tip:currentGraph <GRAPHS><build id> .

which publishing replaces, in one update, only once the new graph holds every
triple of the build. Until then (and forever, if publishing is killed) readers
go on with the previous graph. The meta graph also records each graph sent
(id, time, size, URI space), so the next publish drops the leftovers of an
interrupted one and graphs older than the previous.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tipgraph.build_dir import BuildDir
from tipgraph.errors import TipgraphError
from tipgraph.graphs import sparql_iri, sparql_string
from tipgraph.namespaces import DCT, TIP, VOID, XSD
from tipgraph.sparql_engine import QueryError, StoreUnavailable
from tipgraph.store.remote import Http, RemoteSparqlStore

META_GRAPH_NAME = "meta"
CURRENT_GRAPH = str(TIP._NS) + "currentGraph"  # meta -> the graph in service
PUBLISHED_GRAPH = str(TIP._NS) + "publishedGraph"  # meta -> every graph sent, not yet dropped
#: Statuses that say a store has no Graph Store endpoint there: fall back to SPARQL Update.
NO_GRAPH_STORE = (404, 405, 415, 501)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class GraphRecord:
    """A published graph as the meta graph records it."""

    graph: str
    build_id: str
    modified: datetime
    triples: int
    base: str


@dataclass(frozen=True)
class PublishReport:
    graph: str
    build_id: str
    triples: int
    chunks: int
    method: str  # "graph store" or "update"
    seconds: float
    previous: str | None  # the graph in service before


def graphs_prefix(base: str, graphs: str | None = None) -> str:
    """Where the named graphs go: ``graphs`` as given, or ``<base>graph/``.

    >>> graphs_prefix("https://w3id.org/tipgraph/")
    'https://w3id.org/tipgraph/graph/'
    """
    return graphs or (base if base.endswith(("/", "#")) else base + "/") + "graph/"


def meta_graph(graphs: str) -> str:
    return graphs + META_GRAPH_NAME


def current_graph(store: RemoteSparqlStore, graphs: str) -> GraphRecord | None:
    """The graph in service according to the meta graph, or None when nothing is published.

    :raises QueryError: when the store cannot be queried
    """
    meta = sparql_iri(meta_graph(graphs))
    rows = list(store.query(f"""
        SELECT ?g ?id ?modified ?triples ?base WHERE {{ GRAPH {meta} {{
          {meta} <{CURRENT_GRAPH}> ?g .
          ?g <{DCT}identifier> ?id ; <{DCT}modified> ?modified ; <{VOID}triples> ?triples ;
             <{VOID}uriSpace> ?base }} }}""", default_graph_uris=None))
    if not rows:
        return None
    row = rows[0]
    return GraphRecord(row["g"].value, row["id"].value,
                       datetime.fromisoformat(row["modified"].value.replace("Z", "+00:00")),
                       int(row["triples"].value), row["base"].value)


def publish(build_dir: Path, endpoint: str, *, graphs: str | None = None,
            update: str | None = None, graph_store: str | None = None,
            auth: str | None = None, chunk: int = 10_000,
            progress: Progress = lambda _: None) -> PublishReport:
    """Send the current build of ``build_dir`` to a store and switch its readers to it.

    Either the whole build is in its new graph and the pointer names it, or the
    pointer still names the previous graph: an error or a kill halfway changes
    nothing readers see.

    :param endpoint: the store's SPARQL query endpoint
    :param graphs: prefix of the graphs' IRIs (default ``<base>graph/``)
    :param update: its SPARQL Update endpoint (default: ``endpoint``)
    :param graph_store: its Graph Store HTTP Protocol endpoint; None: SPARQL Update only
    :param auth: ``user:password`` for writing
    :param chunk: triples per request
    :raises TipgraphError: when there is no valid build, or the store refuses or fails
    """
    started = time.monotonic()
    build = BuildDir(build_dir).current()
    if build is None:
        raise TipgraphError(f"{build_dir} has no current build: run `tipgraph build` first")
    report = json.loads((build / "report.json").read_text(encoding="utf-8"))
    if report.get("status") != "published":
        raise TipgraphError(f"build {build.name} is not a valid build ({report.get('status')})")
    base, build_id = report["base"], build.name
    graphs = graphs_prefix(base, graphs)
    graph, meta = graphs + build_id, meta_graph(graphs)
    try:  # every IRI and string written into the updates below is one of these, escaped
        graph_iri, meta_iri = sparql_iri(graph), sparql_iri(meta)
    except ValueError as error:
        raise TipgraphError(f"the graphs' IRI {graph!r} is not a valid IRI ({error}): "
                            "check the store_graphs setting and the build's base") from error
    reader = RemoteSparqlStore(endpoint, auth=auth, timeout=300)
    writer = _Writer(Http(auth), update or endpoint, graph_store)
    previous = current_graph(reader, graphs)
    nt = build / "tipgraph.nt"
    total = sum(1 for _ in _lines(nt))
    if previous is not None and previous.graph == graph:
        progress(f"<{graph}> is already the graph in service")
        return PublishReport(graph, build_id, total, 0, "none", 0.0, graph)
    # when it was switched in locally (the ledger), as the embedded store says: a build
    # made current again (`tipgraph builds use`) and published is not sent back in time
    switch = BuildDir(build_dir).ledger.last_switch()
    modified = switch.switched_at if switch and switch.build_id == build_id else \
        datetime.fromtimestamp((build / "report.json").stat().st_mtime, UTC)
    modified = modified.replace(microsecond=0)
    # recorded first, so that a later publish finds and drops what a killed one left
    writer.update(f"DROP SILENT GRAPH {graph_iri}")
    stamp = sparql_string(modified.isoformat().replace("+00:00", "Z"))
    writer.update(f"""INSERT DATA {{ GRAPH {meta_iri} {{
        {meta_iri} <{PUBLISHED_GRAPH}> {graph_iri} .
        {graph_iri} <{DCT}identifier> {sparql_string(build_id)} ;
          <{DCT}modified> {stamp}^^<{XSD}dateTime> ;
          <{VOID}triples> {int(total)} ; <{VOID}uriSpace> {sparql_string(base)} }} }}""")
    chunks = list(_chunks(nt, chunk))
    sent = 0
    for number, lines in enumerate(chunks, 1):
        writer.insert(graph, graph_iri, lines)
        sent += len(lines)
        progress(f"chunk {number}/{len(chunks)}: {sent}/{total} triples in <{graph}> "
                 f"({writer.method})")
    found = int(next(iter(reader.query(
        f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH {graph_iri} {{ ?s ?p ?o }} }}")))["n"].value)
    if found != total:
        raise TipgraphError(f"<{graph}> holds {found} triples, not the build's {total}: "
                            "the graph in service is unchanged")
    # the switch: one request (a transaction in Oxigraph and Virtuoso); should a store
    # run its two operations apart, a reader finding no pointer keeps the graph it serves
    pointer = f"{meta_iri} <{CURRENT_GRAPH}>"
    writer.update(f"DELETE WHERE {{ GRAPH {meta_iri} {{ {pointer} ?old }} }} ;\n"
                  f"INSERT DATA {{ GRAPH {meta_iri} {{ {pointer} {graph_iri} }} }}")
    now = current_graph(reader, graphs)
    if now is None or now.graph != graph:
        raise TipgraphError(f"the store took the update but does not name <{graph}> as the "
                            "graph in service")
    progress(f"<{graph}> is in service" + (f" (was <{previous.graph}>)" if previous else ""))
    _drop_old(reader, writer, meta, keep={graph, previous.graph if previous else graph},
              progress=progress)
    return PublishReport(graph, build_id, total, len(chunks), writer.method,
                         round(time.monotonic() - started, 2),
                         previous.graph if previous else None)


def _drop_old(reader: RemoteSparqlStore, writer: _Writer, meta: str, *, keep: set[str],
              progress: Progress) -> None:
    """Drop the graphs older than the previous one (a reader may still be on that)."""
    meta_iri = sparql_iri(meta)
    rows = reader.query(
        f"SELECT ?g WHERE {{ GRAPH {meta_iri} {{ {meta_iri} <{PUBLISHED_GRAPH}> ?g }} }}")
    for old in sorted({row["g"].value for row in rows} - keep):  # type: ignore[union-attr]
        old_iri = sparql_iri(old)  # the store's answer: checked like any value
        writer.update(f"DROP SILENT GRAPH {old_iri}")
        writer.update(f"WITH {meta_iri} DELETE {{ {old_iri} ?p ?o . {meta_iri} ?q {old_iri} }} "
                      f"WHERE {{ {{ {old_iri} ?p ?o }} UNION {{ {meta_iri} ?q {old_iri} }} }}")
        progress(f"dropped {old_iri}")


def _lines(nt: Path) -> Iterator[str]:
    with nt.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip() and not line.startswith("#"):
                yield line


def _chunks(nt: Path, size: int) -> Iterator[list[str]]:
    """The triples in chunks of ``size``; every triple with a blank node in the first one,
    since a blank node label only means the same node within one request."""
    with_blank = [line for line in _lines(nt) if "_:" in line]
    blank = set(with_blank)
    chunk: list[str] = list(with_blank)
    for line in _lines(nt):
        if line in blank:
            continue
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Writer:
    """Writes to the store: Graph Store POSTs while the store takes them, else updates."""

    def __init__(self, http: Http, update: str, graph_store: str | None) -> None:
        self.http = http
        self.update_url = update
        self.graph_store = graph_store
        self.method = "graph store" if graph_store else "update"

    def update(self, text: str) -> None:
        body = urllib.parse.urlencode({"update": text}).encode()
        self.http.send(self.update_url, method="POST", data=body, timeout=300, headers={
            "Content-Type": "application/x-www-form-urlencoded"}).close()

    def insert(self, graph: str, graph_iri: str, lines: list[str]) -> None:
        """Add ``lines`` (N-Triples the build wrote) to ``graph`` (``graph_iri``: the same,
        as :func:`~tipgraph.graphs.sparql_iri` wrote it)."""
        data = "".join(lines)
        if self.graph_store:
            url = self.graph_store + ("&" if "?" in self.graph_store else "?") + \
                urllib.parse.urlencode({"graph": graph})
            try:
                self.http.send(url, method="POST", data=data.encode("utf-8"), timeout=300,
                               headers={"Content-Type": "text/turtle"}).close()
                return
            except StoreUnavailable as error:
                if getattr(error, "http_status", None) not in NO_GRAPH_STORE:
                    raise
                self.graph_store = None  # no Graph Store there: SPARQL Update from now on
                self.method = "update"
        self.update(f"INSERT DATA {{ GRAPH {graph_iri} {{\n{data}}} }}")


__all__ = ["GraphRecord", "PublishReport", "QueryError", "current_graph", "publish"]
