"""Evaluating SPARQL queries in worker processes that can be stopped.

pyoxigraph cannot interrupt a running query, and a Python signal waits until
the query returns, so a runaway query would hold a web worker forever. Each web
worker therefore keeps a small pool of query processes (:class:`QueryEngine`).
A query is sent to an idle one; when no answer comes within the time limit the
process is killed, a fresh one takes its place, and the client gets a
:class:`QueryTimeout` while other queries go on in the other processes.

A query process opens the build's store read-only (one handle per build, kept
across queries), evaluates, cuts the answer at ``max_results`` and writes it
in the negotiated format, so only bytes cross the pipe.

Outbound requests: pyoxigraph evaluates ``SERVICE`` by sending HTTP requests,
so a query naming ``SERVICE`` is checked with rdflib's full SPARQL parser
before evaluation and refused unless every endpoint it names is allow-listed.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import pyoxigraph

from tipgraph import formats
from tipgraph.errors import TipgraphError

# -- what crosses the pipe ----------------------------------------------------------------


@dataclass(frozen=True)
class QueryJob:
    """One query to evaluate, and how to write its answer."""

    query: str
    results_format: str | None  # format name for SELECT/ASK; None: none acceptable
    rdf_format: str | None  # format name for CONSTRUCT/DESCRIBE; None: none acceptable
    # "html" for either: the answer is written as JSON results for the page to show
    max_results: int
    base_iri: str | None = None
    default_graphs: tuple[str, ...] | None = None  # protocol dataset (default-graph-uri)
    named_graphs: tuple[str, ...] | None = None  # protocol dataset (named-graph-uri)
    prefixes: tuple[tuple[str, str], ...] = ()
    service_allowlist: tuple[str, ...] = ()
    store_path: str = ""  # the embedded store to open (set by the store, not the caller)


@dataclass(frozen=True)
class QueryAnswer:
    form: str  # SELECT, ASK or GRAPH (CONSTRUCT/DESCRIBE)
    format: str  # name of the format ``body`` is written in
    body: bytes
    count: int  # rows or triples written (1 for ASK)
    truncated: bool  # more rows existed than ``max_results``


class QueryError(TipgraphError):
    """A query the endpoint answers with an error: an HTTP status, a title, a sentence."""

    status = 400
    title = "Query error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QuerySyntaxError(QueryError):
    title = "Malformed query"


class UpdateRefused(QueryError):
    status = 403
    title = "SPARQL Update refused"


class ServiceRefused(QueryError):
    status = 403
    title = "SERVICE refused"


class NotAcceptable(QueryError):
    status = 406
    title = "Not acceptable"


class QueryTimeout(QueryError):
    status = 503
    title = "Query stopped"


class EngineBusy(QueryError):
    status = 503
    title = "Endpoint busy"


class EngineFailure(QueryError):
    status = 500
    title = "Query failed"


class StoreUnavailable(QueryError):
    """The remote store could not be reached or answered with an error of its own."""

    status = 502
    title = "Store unavailable"
    http_status: int | None = None  # what the store answered, when it answered


_ERRORS = {cls.__name__: cls for cls in (QuerySyntaxError, UpdateRefused, ServiceRefused,
                                         NotAcceptable, EngineFailure, QueryTimeout,
                                         StoreUnavailable)}

READ_ONLY = ("SPARQL Update is not accepted: this endpoint is read-only. Send a query "
             "(SELECT, ASK, CONSTRUCT or DESCRIBE) instead.")

# -- checks that need no store --------------------------------------------------------------

_UPDATE_WORDS = {"insert", "delete", "load", "clear", "create", "drop", "copy", "move",
                 "add", "with"}
_PROLOGUE = re.compile(r"""(?ix)
    (?: \s+ | \#[^\n\r]* | BASE \s* <[^>]*> | PREFIX \s* [^\s:]* : \s* <[^>]*> )*""")


def looks_like_update(text: str) -> bool:
    """Whether ``text`` starts (after its prologue) with an update operation's keyword.

    >>> looks_like_update("PREFIX ex: <http://e/> # wipe\\nCLEAR ALL")
    True
    >>> looks_like_update("SELECT * {}")
    False
    """
    rest = text[_PROLOGUE.match(text).end():]
    word = re.match(r"[A-Za-z]+", rest)
    return bool(word) and word.group(0).lower() in _UPDATE_WORDS


def check_services(text: str, allowlist: Sequence[str], base_iri: str | None = None) -> None:
    """Refuse a query whose ``SERVICE`` clauses name an endpoint outside ``allowlist``.

    Only a query containing the letters "service" (any case) can have such a
    clause, so most queries skip the (slower) full parse.

    :raises ServiceRefused: naming the first endpoint that is not allowed
    """
    if not re.search("service", text, re.IGNORECASE):
        return
    from rdflib.plugins.sparql.algebra import translateQuery
    from rdflib.plugins.sparql.parser import parseQuery
    from rdflib.term import URIRef

    how = ("this endpoint sends no request to other endpoints unless they are listed in "
           "the service_allowlist setting")
    try:
        algebra = translateQuery(parseQuery(text), base=base_iri).algebra
    except Exception as error:  # pyparsing and rdflib raise many kinds
        raise ServiceRefused(f"The query mentions SERVICE and could not be checked ({error}); "
                             f"{how}.") from error
    for endpoint in _service_terms(algebra):
        if not isinstance(endpoint, URIRef):
            raise ServiceRefused(f"SERVICE with a variable endpoint is not allowed: {how}.")
        if str(endpoint) not in allowlist:
            raise ServiceRefused(f"SERVICE <{endpoint}> is not allowed: {how}.")


def _service_terms(node: Any) -> list[Any]:
    from rdflib.plugins.sparql.parserutils import CompValue

    found, stack, seen = [], [node], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, CompValue):
            if item.name == "ServiceGraphPattern":
                found.append(item.get("term"))
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set) or type(item).__name__ == "ParseResults":
            stack.extend(item)
    return found


# -- inside a query process ------------------------------------------------------------------

_STORES_KEPT = 2


def evaluate(store: pyoxigraph.Store, job: QueryJob) -> QueryAnswer:
    """Evaluate ``job`` on ``store`` and write the answer (what a query process does)."""
    check_services(job.query, job.service_allowlist, job.base_iri)
    dataset: dict[str, Any] = {}
    if job.default_graphs is not None or job.named_graphs is not None:
        dataset["default_graph"] = [pyoxigraph.NamedNode(g) for g in job.default_graphs or ()]
        dataset["named_graphs"] = [pyoxigraph.NamedNode(g) for g in job.named_graphs or ()]
    try:
        result = store.query(job.query, base_iri=job.base_iri, **dataset)
    except SyntaxError as error:
        if looks_like_update(job.query):
            raise UpdateRefused(READ_ONLY) from error
        hint = ""
        if "{" not in job.query and "}" not in job.query:
            hint = (" (The query has no braces: curl removes them from a URL unless given "
                    "-g; or send the query with curl --data-urlencode.)")
        raise QuerySyntaxError(f"The query is not valid SPARQL: {error}{hint}") from error
    return write_answer(result, job)


def write_answer(result: Any, job: QueryJob) -> QueryAnswer:
    """Write a query's result in the format ``job`` asks for, cut at ``job.max_results``.

    One writer for every store: ``result`` is what :meth:`GraphStore.query` returns
    (solutions, a boolean, or triples), from the embedded store or parsed from a remote one.
    """
    as_json = formats.FORMATS[0]  # the page shows JSON results
    if isinstance(result, pyoxigraph.QueryBoolean):
        fmt = _chosen(job.results_format, "results", "ASK")
        return QueryAnswer("ASK", fmt.name, formats.write_boolean(
            as_json if fmt.kind == "html" else fmt, bool(result)), 1, False)
    if isinstance(result, pyoxigraph.QuerySolutions):
        fmt = _chosen(job.results_format, "results", "SELECT")
        variables = [v.value for v in result.variables]
        rows, truncated = _take(result, job.max_results, tuple)
        body = formats.write_results(as_json if fmt.kind == "html" else fmt, variables, rows)
        return QueryAnswer("SELECT", fmt.name, body, len(rows), truncated)
    if job.rdf_format == "html":  # a table of the triples
        triples, truncated = _take(result, job.max_results, lambda t: t)
        rows = [(t.subject, t.predicate, t.object) for t in triples]
        body = formats.write_results(as_json, ["subject", "predicate", "object"], rows)
        return QueryAnswer("GRAPH", "html", body, len(rows), truncated)
    fmt = _chosen(job.rdf_format, "rdf", "CONSTRUCT and DESCRIBE")
    triples, truncated = _take(result, job.max_results, lambda t: t)
    body = formats.write_rdf(fmt, triples, dict(job.prefixes))
    return QueryAnswer("GRAPH", fmt.name, body, len(triples), truncated)


def _chosen(name: str | None, kind: formats.Kind, form: str) -> formats.Format:
    fmt = formats.find(name, [kind, "html"]) if name else None
    if fmt is None:
        offered = ", ".join(f.media_type for f in formats.formats_of(kind))
        raise NotAcceptable(f"None of the requested formats can carry a {form} answer; "
                            f"this endpoint offers {offered}.")
    return fmt


def _take(items: Any, limit: int, convert: Any) -> tuple[list[Any], bool]:
    taken = []
    for item in items:
        if len(taken) == limit:
            return taken, True
        taken.append(convert(item))
    return taken, False


def _open(stores: OrderedDict[str, pyoxigraph.Store], path: str) -> pyoxigraph.Store:
    if path not in stores:
        stores[path] = pyoxigraph.Store.read_only(path)
        while len(stores) > _STORES_KEPT:  # an old build: let its handle go
            stores.popitem(last=False)
    return stores[path]


def _process_main(conn: Connection, parent: int) -> None:
    """Loop of a query process: answer jobs until the pipe closes or the parent dies."""
    stores: OrderedDict[str, pyoxigraph.Store] = OrderedDict()
    while True:
        try:
            if not conn.poll(1.0):
                if os.getppid() != parent:  # the web worker is gone: so are we
                    return
                continue
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: object = evaluate(_open(stores, job.store_path), job)
        except QueryError as error:
            reply = (type(error).__name__, error.message)
        except Exception as error:  # a store or writer failure: report it, keep serving
            reply = ("EngineFailure", f"The query could not be evaluated: {error}")
        conn.send(reply)


# -- in the web worker -------------------------------------------------------------------------


class _Process:
    def __init__(self, context: Any) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_process_main, args=(child, os.getpid()),
                                       daemon=True, name="tipgraph-query")
        self.process.start()
        child.close()

    def stop(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class QueryEngine:
    """A pool of query processes with a time limit per query.

    :param processes: how many queries may run at once
    :param timeout: seconds a query may run (and wait for a free process) before it is stopped
    """

    def __init__(self, *, processes: int, timeout: float) -> None:
        self.timeout = timeout
        self._size = max(1, processes)
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._idle: queue.Queue[_Process] = queue.Queue()
        self._started = False
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self.replaced = 0  # processes killed and replaced (runaway queries)

    def start(self) -> None:
        """Start the query processes (done on first use when not done before)."""
        with self._lock:
            if not self._started:
                for _ in range(self._size):
                    self._idle.put(_Process(self._context))
                self._started = True

    def run(self, job: QueryJob) -> QueryAnswer:
        """Evaluate ``job`` in a query process.

        :raises QueryError: the query is refused, malformed, unanswerable or took too long
        """
        if os.getpid() != self._owner:
            raise EngineFailure("this query engine belongs to another process")
        self.start()
        try:
            worker = self._idle.get(timeout=self.timeout)
        except queue.Empty:
            raise EngineBusy(f"Every query process was busy for {self.timeout:g} s; "
                             "try again later.") from None
        try:
            worker.conn.send(job)
            if not worker.conn.poll(self.timeout):
                worker.stop()
                worker = _Process(self._context)
                self.replaced += 1
                raise QueryTimeout(
                    f"The query was stopped after {self.timeout:g} s, the time limit "
                    "(setting query_timeout). Narrow it down or add a LIMIT.")
            reply = worker.conn.recv()
        except (EOFError, OSError) as error:
            worker.stop()
            worker = _Process(self._context)
            self.replaced += 1
            raise EngineFailure(f"The query process ended unexpectedly: {error}") from error
        finally:
            self._idle.put(worker)
        if isinstance(reply, QueryAnswer):
            return reply
        name, message = reply
        raise _ERRORS.get(name, EngineFailure)(message)

    def close(self) -> None:
        """Stop every idle query process (busy ones end with their parent)."""
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                break
        self._started = False
