"""Evaluating SPARQL queries in worker processes that can be stopped.

pyoxigraph cannot interrupt a running query, and a Python signal waits until
the query returns, so a runaway query would hold a web worker forever. Each web
worker therefore keeps a small pool of query processes (:class:`QueryEngine`).
A query is sent to an idle one; when no answer comes within the time limit the
process is killed, a fresh one takes its place, and the client gets a
:class:`QueryTimeout` while other queries go on in the other processes.

A query process opens the build's store read-only (one handle per build, kept
across queries), evaluates, cuts the answer at ``max_results`` and writes it
in the negotiated format. Solutions are written by pyoxigraph's own (Rust)
writers: the query is asked as a sub-query under ``LIMIT max_results + 1``
(:func:`bounded_select`), so the cut costs no Python per row (writing 10,000
rows in Python took twice as long as evaluating them). Given a spool directory
(the result cache's, in shared memory), the process writes a large answer there and
only its file name crosses the pipe: a web worker then sends the file with
``sendfile`` and keeps it as the cached answer, without copying it. A small
answer (most) crosses the pipe: opening, reading and renaming its file cost more
than the copy, so the web worker sends it and writes its file only afterwards.

Outbound requests: pyoxigraph evaluates ``SERVICE`` by sending HTTP requests,
so a query naming ``SERVICE`` is checked with rdflib's full SPARQL parser
before evaluation and refused unless every endpoint it names is allow-listed.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import itertools
import json
import math
import multiprocessing
import os
import re
import select
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextvars import ContextVar
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any, BinaryIO

import pyoxigraph

from tipgraph import formats
from tipgraph.errors import TipgraphError
from tipgraph.queries import lexed, looks_like_update

# -- what crosses the pipe ----------------------------------------------------------------


@dataclass(frozen=True)
class QueryJob:
    """One query to evaluate, and how to write its answer."""

    query: str
    results_format: str | None  # format name for SELECT/ASK; None: none acceptable
    rdf_format: str | None  # format name for CONSTRUCT/DESCRIBE; None: none acceptable
    # "html" for either: the answer is written as JSON results for the page to show
    max_results: int
    max_bytes: int = 0  # largest answer body; beyond it the answer is cut (0: no cap)
    base_iri: str | None = None
    default_graphs: tuple[str, ...] | None = None  # protocol dataset (default-graph-uri)
    named_graphs: tuple[str, ...] | None = None  # protocol dataset (named-graph-uri)
    prefixes: tuple[tuple[str, str], ...] = ()
    service_allowlist: tuple[str, ...] = ()
    store_path: str = ""  # the embedded store to open (set by the store, not the caller)


@functools.lru_cache(maxsize=32)
def job_tag(job: QueryJob) -> str:
    """``repr(job)``: all that selects its answer, as the result cache's key and the ETag
    use it (made once per job: a dataclass's ``repr`` is slow, and both ask)."""
    return repr(job)


@dataclass(frozen=True)
class QueryAnswer:
    form: str  # SELECT, ASK or GRAPH (CONSTRUCT/DESCRIBE)
    format: str  # name of the format ``body`` is written in
    body: bytes  # b"" when the answer is in the file ``path``
    count: int | None  # rows or triples written (1 for ASK); None: written natively, uncounted
    truncated: bool  # more rows existed than ``max_results``
    path: str | None = None  # an answer file (:func:`write_answer_file`) holding the body
    cut_by: str = "max_results"  # the setting that cut it, when ``truncated``

    def read(self) -> bytes:
        """The body, wherever it is."""
        if self.path is None:
            return self.body
        with open_answer_file(self.path)[1] as file:
            return file.read()


_written = itertools.count()


def write_answer_file(directory: str, answer: QueryAnswer) -> QueryAnswer:
    """Write ``answer`` to a new file in ``directory``: one JSON header line, then the body.

    The header says what a reader needs to serve it (form, format, count, cut), so a
    cached answer is served from the file alone. The name is this process's id and a
    counter (``mkstemp`` cost a quarter of a trivial query's time).
    """
    header = json.dumps([answer.form, answer.format, answer.count, answer.truncated,
                         answer.cut_by])
    path = os.path.join(directory, f"{os.getpid()}-{next(_written)}.part")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for part in (header.encode("utf-8") + b"\n", answer.body):  # the body is not copied
            data = memoryview(part)
            while data:
                data = data[os.write(descriptor, data):]
    finally:
        os.close(descriptor)
    return replace(answer, body=b"", path=path)


def open_answer_file(path: str) -> tuple[QueryAnswer, BinaryIO]:
    """The answer in ``path`` (body not read) and the file, positioned at the body.

    The file is unbuffered, so its position is the descriptor's: gunicorn's
    ``sendfile`` sends from there.

    :raises OSError: when there is no such file (e.g. evicted meanwhile)
    """
    file = open(path, "rb", buffering=0)  # noqa: SIM115 (the caller closes it)
    try:
        start = file.read(1024)
        end = start.index(b"\n")
        form, name, count, truncated, *cut_by = json.loads(start[:end])
        file.seek(end + 1)
    except (ValueError, OSError):
        file.close()
        raise OSError(f"{path} is not an answer file") from None
    return QueryAnswer(form, name, b"", count, truncated, path, *cut_by), file


class QueryError(TipgraphError):
    """A query the endpoint answers with an error: an HTTP status, a title, a sentence."""

    status = 400
    title = "Query error"
    #: seconds after which the same query may be answered (``Retry-After``), if so
    retry_after: int | None = None

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


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


class QueryPreempted(QueryTimeout):
    """Stopped to give its process to a lighter client's query (``query_share_seconds``):
    the same query may well run in a moment, so the answer says when to retry."""


class EngineBusy(QueryError):
    status = 503
    title = "Endpoint busy"


class TooBusy(QueryError):
    """No query process came free within the wait: the client should retry later."""

    status = 429
    title = "Too many queries"


class QueryTooLarge(QueryError):
    status = 503
    title = "Query stopped"


class EngineFailure(QueryError):
    status = 500
    title = "Query failed"


class ClientGone(QueryError):
    """The client closed its connection while its query ran: the query was stopped."""

    status = 499
    title = "Client gone"


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

def check_services(text: str, allowlist: Sequence[str], base_iri: str | None = None) -> None:
    """Refuse a query whose ``SERVICE`` clauses name an endpoint outside ``allowlist``.

    Only a query having the keyword ``SERVICE`` (any case; not the letters inside an
    IRI, a string or a comment) can have such a clause, so most queries skip the
    (slower) full parse: seconds for a query of thousands of IRIs, as a text search
    makes (:mod:`tipgraph.serving.text_sparql`), a few of whose IRIs say "services".

    >>> check_services('SELECT * { <http://e/public-services> ?p "service" } # SERVICE', [])

    :raises ServiceRefused: naming the first endpoint that is not allowed
    """
    if not re.search("service", text, re.IGNORECASE) or not any(
            kind == "word" and token.upper() == "SERVICE" for kind, token, _ in lexed(text)):
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


def engine_failure(error: Exception) -> EngineFailure:
    """What a store's or a writer's ``error`` during a query is said as, wherever the query
    was evaluated (a query process, or the web worker for a lookup)."""
    return EngineFailure(f"The query could not be evaluated: {error}")


def evaluate(store: pyoxigraph.Store, job: QueryJob) -> QueryAnswer:
    """Evaluate ``job`` on ``store`` and write the answer (what a query process does),
    cut at ``job.max_bytes`` too."""
    return cut_to_bytes(_evaluate(store, job), job.max_bytes)


def _evaluate(store: pyoxigraph.Store, job: QueryJob) -> QueryAnswer:
    check_services(job.query, job.service_allowlist, job.base_iri)
    dataset: dict[str, Any] = {}
    if job.default_graphs is not None or job.named_graphs is not None:
        dataset["default_graph"] = [pyoxigraph.NamedNode(g) for g in job.default_graphs or ()]
        dataset["named_graphs"] = [pyoxigraph.NamedNode(g) for g in job.named_graphs or ()]
    bounded = bounded_select(job.query, job.max_results)
    if bounded is not None:
        try:
            solutions = store.query(bounded, base_iri=job.base_iri, **dataset)
        except SyntaxError:
            pass  # the query as sent says what is wrong (or is answered the slow way)
        else:
            return write_solutions(solutions, job)
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
    if fmt.name == "ntriples" and isinstance(result, pyoxigraph.QueryTriples):
        return _native_ntriples(result, job.max_results)
    triples, truncated = _take(result, job.max_results, lambda t: t)
    body = formats.write_rdf(fmt, triples, dict(job.prefixes))
    return QueryAnswer("GRAPH", fmt.name, body, len(triples), truncated)


def bounded_select(text: str, limit: int, *, sorted_limit: bool = True) -> str | None:
    """A SELECT query that gives at most ``limit + 1`` solutions, the same ones, or None.

    The native writer writes every solution it is given, so the query itself must
    stop one past the cut. Cheapest first: a query whose own ``LIMIT`` is within the
    cut is left as it is; one without ``LIMIT`` (and without a final ``VALUES``) gets
    ``LIMIT limit+1`` appended; any other becomes a sub-query,
    ``PROLOGUE SELECT ?a ?b WHERE { SELECT ?a ?b ... } LIMIT limit+1``, with the same
    variables in the same order (``*`` stays ``*``: Oxigraph orders it by name in
    both) and the same solutions in the same order. None for any other form, and
    for a sub-query that would need a ``FROM`` clause; and, unless ``sorted_limit``, for
    a query that sorts and would get a ``LIMIT`` (an engine that sorts at most so many
    rows under a ``LIMIT``, as Virtuoso does, could refuse it where it sorts all without).

    >>> bounded_select("SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s # last", 10)[-27:]
    'ORDER BY ?s # last\\nLIMIT 11'
    >>> print(bounded_select("PREFIX x: <http://x/> SELECT (COUNT(*) AS ?n) ?t "
    ...                      "WHERE { ?s a ?t } GROUP BY ?t LIMIT 20", 10))
    PREFIX x: <http://x/> SELECT ?n ?t WHERE {
    SELECT (COUNT(*) AS ?n) ?t WHERE { ?s a ?t } GROUP BY ?t LIMIT 20
    } LIMIT 11
    >>> bounded_select("CONSTRUCT WHERE { ?s ?p ?o }", 10) is None
    True
    >>> bounded_select("SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s", 10, sorted_limit=False)
    """
    names: list[str] = []
    star = dataset = values = order = False
    start = group = end = own_limit = None
    parens = braces = 0
    pending: str | None = None
    previous = ""
    for kind, token, offset in lexed(text):
        if kind == "comment":
            continue
        word = token.upper() if kind == "word" else ""
        if start is None:  # the prologue: BASE <iri>, PREFIX p: <iri>
            if kind == "iri" or word in ("BASE", "PREFIX") or (word and token.endswith(":")):
                continue
            if word != "SELECT":
                return None
            start = offset
        elif group is None:  # the projection, FROM clauses, up to the WHERE group
            if parens == 0:
                if token == "{":
                    group, braces = offset, 1
                elif word == "FROM":
                    dataset = True
                elif token == "*":
                    star = True
                elif kind == "var":
                    names.append(token[1:])
                elif token == "(":
                    parens, pending = 1, None
            elif token == "(":
                parens += 1
            elif token == ")":
                parens -= 1
                if parens == 0 and pending:
                    names.append(pending)
            elif kind == "var" and parens == 1 and pending == "":
                pending = token[1:]
            elif word == "AS" and parens == 1:
                pending = ""
        elif end is None:  # inside the WHERE group
            if token == "{":
                braces += 1
            elif token == "}":
                braces -= 1
                if braces == 0:
                    end = offset
        else:  # GROUP BY, HAVING, ORDER BY, LIMIT, OFFSET, VALUES
            if token in "({":
                parens += 1
            elif token in ")}":
                parens -= 1
            elif parens == 0 and word == "VALUES":
                values = True
            elif parens == 0 and word == "ORDER":
                order = True
            elif parens == 0 and previous == "LIMIT" and kind == "number":
                own_limit = int(token) if token.isdigit() else limit + 1
        previous = word or token
    if end is None:
        return None  # malformed: the query as sent says how
    if own_limit is not None and own_limit <= limit:
        return text
    if order and not sorted_limit:
        return None
    if own_limit is None and not values:
        return f"{text}\nLIMIT {limit + 1}"
    if dataset or (star and names) or len(set(names)) != len(names):
        return None
    projection = "*" if star else " ".join(f"?{name}" for name in names)
    assert start is not None
    return f"{text[:start]}SELECT {projection} WHERE {{\n{text[start:]}\n}} LIMIT {limit + 1}"


def write_solutions(solutions: pyoxigraph.QuerySolutions, job: QueryJob) -> QueryAnswer:
    """Write the solutions of a :func:`bounded_select` query natively, cut at the limit."""
    fmt = results_format(job, "SELECT")
    assert fmt.results is not None
    return solutions_answer(solutions.serialize(format=fmt.results), job)


def results_format(job: QueryJob, form: str) -> formats.Format:
    """The format a SELECT or ASK answer to ``job`` is written in (JSON for the page).

    :raises NotAcceptable: when the client accepts no results format
    """
    fmt = _chosen(job.results_format, "results", form)
    return formats.FORMATS[0] if fmt.kind == "html" else fmt


def solutions_answer(body: bytes, job: QueryJob, written: str | None = None) -> QueryAnswer:
    """The answer to ``job`` from ``body``: the solutions of its query (by pyoxigraph, or
    by a remote store) written in ``written`` (a results format's name; default
    :func:`results_format`), cut at ``max_results``, then written again natively in
    :func:`results_format` if that is another.

    Whether solutions are beyond the cut is found from the written bytes (exactly for
    XML and TSV, a quick upper bound for JSON and CSV, parsed only when the bound
    reaches the cut): at most ``max_results + 1`` come from a :func:`bounded_select`
    query, any number from another.
    """
    fmt = results_format(job, "SELECT")
    written = written or fmt.name
    body, count, truncated = _cut(written, body, job.max_results)
    if written != fmt.name:
        source = formats.find(written, ["results"])
        assert source is not None and source.results is not None and fmt.results is not None
        solutions = pyoxigraph.parse_query_results(body, format=source.results)
        body = solutions.serialize(format=fmt.results)  # type: ignore[union-attr]
    return QueryAnswer("SELECT", "html" if job.results_format == "html" else fmt.name,
                       body, count, truncated)


def cut_lines(body: bytes, limit: int) -> tuple[bytes, int, bool]:
    """N-Triples ``body`` (one triple a line) cut to ``limit`` triples; the count; whether
    it was cut."""
    count = body.count(b"\n")
    if count <= limit:
        return body, count, False
    rest = body.split(b"\n", limit)[-1]
    return body[:len(body) - len(rest)], limit, True


def _cut(name: str, body: bytes, limit: int) -> tuple[bytes, int | None, bool]:
    """``body`` cut to ``limit`` solutions; the count when known; whether it was cut."""
    if name == "xml":  # "<" in a value is written "&lt;": each tag is one solution
        count = body.count(b"<result>")
        if count <= limit:
            return body, count, False
        # (the body may stop in a row past the cut: the document is closed anew)
        kept = b"<result>".join(body.split(b"<result>", limit + 1)[:-1])
        return kept + b"</results></sparql>", limit, True
    if name == "tsv":  # a newline in a value is written \n: one line per solution
        count = body.count(b"\n") - 1
        if count <= limit:
            return body, count, False
        return b"\n".join(body.split(b"\n", limit + 1)[:-1]) + b"\n", limit, True
    if name == "json":  # solutions are separated by "},{", which a value may hold too
        # (written with spaces by some stores: an upper bound without any whitespace)
        if body.translate(None, b" \t\r\n").count(b"},{") < limit:
            return body, None, False
        data = json.loads(body)
        rows = data["results"]["bindings"]
        if len(rows) <= limit:
            return body, len(rows), False
        data["results"]["bindings"] = rows[:limit]
        return (json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                limit, True)
    if name == "csv":  # a value may hold a quoted line break
        if body.count(b"\r\n") - 1 <= limit:
            return body, None, False
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
        if len(rows) - 1 <= limit:
            return body, len(rows) - 1, False
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows[:limit + 1])
        return buffer.getvalue().encode("utf-8"), limit, True
    raise ValueError(f"{name} is not a query results format")


def cut_to_bytes(answer: QueryAnswer, cap: int) -> QueryAnswer:
    """``answer`` cut to the whole rows (or triples) that fit in ``cap`` bytes, with the
    same cut headers as a cut by rows; unchanged when it fits (or ``cap`` is 0).

    >>> rows = b"?s\\n" + b"<http://x/a>\\n" * 10
    >>> cut = cut_to_bytes(QueryAnswer("SELECT", "tsv", rows, 10, False), 40)
    >>> cut.count, cut.truncated, cut.cut_by, len(cut.body) <= 40
    (2, True, 'max_result_bytes', True)
    """
    if cap <= 0 or len(answer.body) <= cap or answer.form == "ASK":
        return answer
    name = "json" if answer.format == "html" else answer.format
    if answer.form == "SELECT":
        body, count = _cut_solutions(name, answer.body, cap)
    else:
        body, count = _cut_triples(name, answer.body, cap)
    return replace(answer, body=body, count=count, truncated=True, cut_by="max_result_bytes")


def _cut_solutions(name: str, body: bytes, cap: int) -> tuple[bytes, int]:
    """A results document of the whole solutions in the first ``cap`` bytes of ``body``."""
    if name == "xml":
        tail = b"</results></sparql>"
        end = body.rfind(b"</result>", 0, cap - len(tail))
        if end < 0:
            end = body.index(b"<results>") + len(b"<results>")
        else:
            end += len(b"</result>")
        kept = body[:end] + tail
        return kept, kept.count(b"<result>")
    if name == "tsv":
        kept = body[:body.rfind(b"\n", 0, cap) + 1]
        return kept, max(0, kept.count(b"\n") - 1)
    text = body[:cap].decode("utf-8", errors="ignore")
    if name == "csv":
        rows = list(csv.reader(io.StringIO(text, newline="")))[:-1]  # the last may be cut
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue().encode("utf-8"), max(0, len(rows) - 1)
    if name == "json":
        start = re.search(r'"bindings"\s*:\s*\[', text)
        if start is None:
            raise ValueError("a JSON results document without bindings")
        decoder = json.JSONDecoder()
        end = position = start.end()
        count = 0
        while True:
            while position < len(text) and text[position] in " \t\r\n,":
                position += 1
            try:
                _, after = decoder.raw_decode(text, position)
            except ValueError:
                break
            if after + 3 > cap:  # room for the closing ]}}
                break
            end, position, count = after, after, count + 1
        return (text[:end] + "]}}").encode("utf-8"), count
    raise ValueError(f"{name} is not a query results format")


def _cut_triples(name: str, body: bytes, cap: int) -> tuple[bytes, int]:
    """The whole triples in the first ``cap`` bytes of ``body``, written again."""
    fmt = formats.find(name)
    if fmt is None or fmt.oxigraph is None:
        raise ValueError(f"{name} is not an RDF format")
    if fmt.name == "ntriples":  # one triple a line
        kept = body[:body.rfind(b"\n", 0, cap) + 1]
        return kept, kept.count(b"\n")
    triples = list(pyoxigraph.parse(body, format=fmt.oxigraph))
    count = len(triples)
    written = body
    while len(written) > cap and count:
        count = min(count - 1, int(count * cap / len(written) * 0.95))
        written = formats.write_rdf(fmt, triples[:count])
    return written, count


class _Enough(Exception):
    """Raised by :class:`_Lines` to stop a writer once the cut is passed."""


class _Lines:
    """A file for pyoxigraph's writer that keeps what it gets until ``limit`` lines passed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.lines = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.lines += data.count(b"\n")
        if self.lines > self.limit:
            raise _Enough
        return len(data)

    def flush(self) -> None:
        pass


def _native_ntriples(triples: pyoxigraph.QueryTriples, limit: int) -> QueryAnswer:
    """N-Triples written by pyoxigraph (one triple a line), stopped and cut at ``limit``."""
    out = _Lines(limit)
    truncated = False
    try:
        triples.serialize(out, format=pyoxigraph.RdfFormat.N_TRIPLES)  # type: ignore[arg-type]
    except _Enough:
        truncated = True
    body, count, cut = cut_lines(b"".join(out.parts), limit)
    return QueryAnswer("GRAPH", "ntriples", body, count, truncated or cut)


def _chosen(name: str | None, kind: formats.Kind, form: str) -> formats.Format:
    fmt = formats.find(name, [kind, "html"]) if name else None
    if fmt is None:
        offered = ", ".join(f.media_type for f in formats.formats_of(kind))
        article = "an" if form[:1] in "AEIOU" else "a"  # an ASK, a SELECT
        raise NotAcceptable(f"None of the requested formats can carry {article} {form} answer; "
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


#: Bytes up to which an answer comes back through the pipe even with a spool directory:
#: the web worker sends it at once and keeps it (writes its file) after it is sent.
SMALL_ANSWER = 65536


def _process_main(conn: Connection, parent: int, spool: str | None) -> None:
    """Loop of a query process: answer jobs until the pipe closes or the parent dies.

    With a ``spool`` directory, an answer larger than :data:`SMALL_ANSWER` is written
    to a file there and only the file's name is sent back.
    """
    # Ctrl-C reaches every process of the terminal's group: this one ends when its web
    # worker closes the pipe or dies, not with a KeyboardInterrupt traceback of its own
    # (a gunicorn worker ignores it already, and a process it starts inherits that)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stores: OrderedDict[str, pyoxigraph.Store] = OrderedDict()
    try:
        conn.send(_READY)  # imported and listening: the time limit counts from here
    except OSError:
        return
    waiting = select.poll()  # Connection.poll makes a new selector per call
    waiting.register(conn.fileno(), select.POLLIN)
    while True:
        try:
            if not waiting.poll(1000):
                if os.getppid() != parent:  # the web worker is gone: so are we
                    return
                continue
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = evaluate(_open(stores, job.store_path), job)
            reply: object = answer
            if spool is not None and len(answer.body) > SMALL_ANSWER:
                reply = write_answer_file(spool, answer)
        except QueryError as error:
            reply = (type(error).__name__, error.message)
        except Exception as error:  # a store or writer failure: report it, keep serving
            reply = ("EngineFailure", engine_failure(error).message)
        conn.send(reply)


# -- in the web worker -------------------------------------------------------------------------


_READY = "ready"


def _answer(reply: object) -> QueryAnswer:
    """The answer a query process sent, or its error raised."""
    if isinstance(reply, QueryAnswer):
        return reply
    name, message = reply  # type: ignore[misc]
    raise _ERRORS.get(name, EngineFailure)(message)


class _RoundTrip:
    """One query's round trip to a process of ``engine`` (taken for it, released at the
    end of the block), the same whoever waits for the answer (a thread or the loop):
    :meth:`send` the job, :meth:`settle` with the watcher's verdict, then :meth:`answer`.
    A process that ends mid-query, or is stopped, is replaced."""

    def __init__(self, engine: QueryEngine, worker: _Process, *,
                 replace_when_cancelled: bool = False) -> None:
        self.engine, self.worker, self.running = engine, worker, engine._busy[worker]
        self.replace_when_cancelled = replace_when_cancelled
        self.stop: QueryError | None = None
        self.reply: object = None

    def __enter__(self) -> _RoundTrip:
        return self

    def send(self, job: QueryJob) -> None:
        self.running.started = time.monotonic()  # the time limit counts from here
        self.worker.conn.send(job)

    def settle(self, stop: QueryError | None) -> None:
        """The watcher's verdict: None, the answer is there; else the error to stop with."""
        if stop is None:
            self.reply = self.worker.conn.recv()
        else:
            self.stop, self.worker = stop, self.engine._replaced(self.worker)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: Any) -> None:
        engine = self.engine
        try:
            if isinstance(error, (EOFError, OSError)):
                self.worker = engine._replaced(self.worker)
                raise engine._lost(self.running, error) from error
            if error is not None and self.replace_when_cancelled:
                self.worker = engine._replaced(self.worker)
        finally:
            engine._release(self.worker, self.running)

    def answer(self) -> QueryAnswer:
        if self.stop is not None:
            raise self.stop
        return _answer(self.reply)


def _client_gone() -> ClientGone:
    return ClientGone("The client closed its connection before the answer.")

#: Who asks the query being answered in this thread (an address), for the pool's fair
#: share: set by the web layer (:class:`tipgraph.guard.ClientLimiter`), read by
#: :meth:`QueryEngine.run`.
CLIENT: ContextVar[str] = ContextVar("tipgraph_client", default="?")
#: Seconds between two looks at a query process's memory while it evaluates.
MEMORY_POLL = 0.1
#: Seconds in which a client's past use of the query processes counts half.
USAGE_HALF_LIFE = 60.0
#: Seconds a new query process may take to start (a fresh interpreter importing pyoxigraph
#: on a busy machine), not counted in the time limit of the query it is given first.
STARTUP_LIMIT = 120.0
#: Characters of a query the loop sends down a process's pipe itself (the pipe takes 64 KiB
#: before its reader has read: a longer query is sent from a thread).
_SENT_ON_LOOP = 32768


class _Process:
    def __init__(self, context: Any, spool: str | None) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_process_main, args=(child, os.getpid(), spool),
                                       daemon=True, name="tipgraph-query")
        self.process.start()
        child.close()
        self.ready = False
        self._waiting = select.poll()  # Connection.poll makes a new selector per call
        self._waiting.register(self.conn.fileno(), select.POLLIN)

    def answered(self, timeout: float) -> bool:
        """Whether the process has sent something within ``timeout`` seconds."""
        return bool(self._waiting.poll(max(0, math.ceil(timeout * 1000))))

    def wait_ready(self) -> None:
        """Wait for the process to say it has started (once).

        :raises EOFError: when it ended, or did not start within :data:`STARTUP_LIMIT`
        """
        if not self.ready:
            if not self.conn.poll(STARTUP_LIMIT) or self.conn.recv() != _READY:
                raise EOFError("the query process did not start")
            self.ready = True

    def memory(self) -> int:
        """Bytes of anonymous memory (the heap: not the store's mapped files) the process
        holds; 0 when it cannot be read."""
        try:
            with open(f"/proc/{self.process.pid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"RssAnon:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def stop(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    def end(self, wait: float) -> None:
        """Close the pipe: the process ends its loop and exits; killed if it has not
        within ``wait`` seconds."""
        self.conn.close()
        self.process.join(wait)
        if self.process.is_alive():
            self.stop()


@dataclass(eq=False)
class _Running:
    """A query holding a process: whose, since when, and whether it is being stopped for
    a lighter client (the seconds it had run then)."""

    client: str
    started: float
    preempted: float = 0.0


class QueryEngine:
    """A pool of query processes with a time limit and a memory limit per query, shared
    fairly between clients.

    Admission (:meth:`run`): a query that finds no idle process waits in its client's
    queue. A freed process goes to the waiting client with the fewest queries running,
    then the fewest waiting, then the least process time used lately (decaying,
    :data:`USAGE_HALF_LIFE`), then the one that came first: one client's many queries never
    push another's aside. The wait is bounded (``wait``, then :class:`TooBusy`, 429). When
    a waiting client runs fewer queries than another, and that other's query has held its
    process for ``share`` seconds, that query is stopped (503) and its process, replaced,
    goes to the waiting client (one such stop per waiting client, in turn): runaway queries
    from many addresses cannot keep a light client out.

    :param processes: how many queries may run at once
    :param timeout: seconds a query may run before it is stopped
    :param spool: a directory the processes write answers to (:func:`write_answer_file`);
        None: answers come back through the pipe
    :param memory_mb: MiB of anonymous memory a query process may use; over it the query
        is stopped (:class:`QueryTooLarge`, 503) and the process replaced; 0: no limit
    :param wait: seconds a query may wait for a process before it is refused (429)
    :param share: seconds a query holds its process before a lighter client's waiting
        query may take it; 0: never
    """

    def __init__(self, *, processes: int, timeout: float, spool: str | None = None,
                 memory_mb: float = 0.0, wait: float | None = None, share: float = 0.0
                 ) -> None:
        self.timeout = timeout
        self.spool = spool
        self.memory_limit = int(memory_mb * 1024 * 1024)
        self.wait = timeout if wait is None else wait
        self.share = share
        self._size = max(1, processes)
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        # the process used last is woken first: alternating between idle processes cost
        # twice the time of a trivial query (each wake-up of a cold process)
        self._idle: list[_Process] = []
        self._busy: dict[_Process, _Running] = {}
        self._waiting: dict[str, list[float]] = {}  # client -> arrival times of its queries
        self._usage: dict[str, tuple[float, float]] = {}  # client -> (seconds, when)
        self._started = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._owner = os.getpid()
        self.replaced = 0  # processes killed and replaced (runaway queries)
        self.preempted = 0  # queries stopped to give their process to a lighter client
        self.over_memory = 0  # queries stopped by the memory limit
        self.refused = 0  # queries refused after waiting ``wait`` seconds

    def start(self) -> None:
        """Start the query processes (done on first use when not done before)."""
        with self._lock:
            if not self._started:
                self._idle = [_Process(self._context, self.spool) for _ in range(self._size)]
                self._started = True

    def warm(self, job: QueryJob) -> None:
        """Start the processes and have each answer ``job`` (a trivial query on the build's
        store), so the first real query finds them imported and the store open."""
        self.start()
        with self._lock:
            processes, self._idle = self._idle, []
        warmed = []
        for process in processes:
            try:
                process.wait_ready()
                process.conn.send(job)
                if process.conn.poll(self.timeout):
                    reply = process.conn.recv()
                    if isinstance(reply, QueryAnswer) and reply.path:
                        os.unlink(reply.path)  # nobody asked for it
            except (EOFError, OSError):
                process.stop()
                process = _Process(self._context, self.spool)
            warmed.append(process)
        with self._changed:
            self._idle.extend(warmed)
            self._changed.notify_all()

    def run(self, job: QueryJob, client: str | None = None, *,
            abandoned: Callable[[], bool] | None = None) -> QueryAnswer:
        """Evaluate ``job`` in a query process, in ``client``'s turn.

        :param client: who asks (an address); default: :data:`CLIENT`, set by the web layer
        :raises QueryError: the query is refused, malformed, unanswerable, took too long
            or too much memory, or waited too long for a process (:class:`TooBusy`)
        """
        if os.getpid() != self._owner:
            raise EngineFailure("this query engine belongs to another process")
        self.start()
        client = CLIENT.get() if client is None else client
        with _RoundTrip(self, self._admit(client)) as trip:
            trip.worker.wait_ready()
            trip.send(job)
            trip.settle(self._watch(trip.worker, trip.running, abandoned))
        return trip.answer()

    async def run_soon(self, job: QueryJob, client: str, *,
                       gone: Callable[[], asyncio.Future[Any]] | None,
                       executor: Executor) -> QueryAnswer:
        """:meth:`run` for an asyncio loop: the same job, limits and errors, stopped (its
        process replaced) when ``gone()``, a future watched from :data:`MEMORY_POLL` seconds
        on, comes true: the client closed its connection, nobody will read the answer.

        When a started process is idle and no query waits for one (the common case), the
        loop sends the job and waits on the pipe itself (:meth:`_watch_soon`): a thread's
        hand-over each way cost a small query 0.3 ms (two wake-ups, Python's lock
        taken in turns). Otherwise (every process busy, queries waiting: the client's turn
        is to be waited for), :meth:`run` takes it in a thread of ``executor``. The loop
        waits itself only when large answers come as files (a spool directory): a pipe's
        answer is read whole, and on the loop it must be small.

        :raises QueryError: as :meth:`run` does; :class:`ClientGone`
        """
        loop = asyncio.get_running_loop()
        worker = self._take_idle(client) if self.spool is not None \
            and os.getpid() == self._owner and len(job.query) <= _SENT_ON_LOOP else None
        if worker is not None:
            return await self._run_on_loop(loop, worker, job, gone)
        left = threading.Event()
        watching: list[asyncio.Future[Any]] = []

        def watch() -> None:
            if gone is not None:
                ended = gone()
                ended.add_done_callback(
                    lambda f: f.cancelled() or not f.result() or left.set())
                watching.append(ended)

        timer = loop.call_later(MEMORY_POLL, watch)
        try:
            return await loop.run_in_executor(
                executor, functools.partial(self.run, job, client, abandoned=left.is_set))
        finally:
            timer.cancel()
            for ended in watching:  # ended before the connection reads its next request
                ended.cancel()
                await asyncio.wait((ended,))

    async def _run_on_loop(self, loop: asyncio.AbstractEventLoop, worker: _Process,
                           job: QueryJob, gone: Callable[[], asyncio.Future[Any]] | None
                           ) -> QueryAnswer:
        """:meth:`run`'s round trip with the process taken by :meth:`_take_idle`."""
        # cancelled (the worker stops) mid-query: the process is in an unknown state
        with _RoundTrip(self, worker, replace_when_cancelled=True) as trip:
            trip.send(job)  # an idle process reads it at once: the pipe takes it
            trip.settle(await self._watch_soon(loop, trip.worker, trip.running, gone))
        return trip.answer()

    def _replaced(self, worker: _Process) -> _Process:
        """A new process in place of ``worker``, stopped (mid-query: its state is unknown)."""
        worker.stop()
        self.replaced += 1
        return _Process(self._context, self.spool)

    def _lost(self, running: _Running, error: Exception) -> QueryError:
        """What a query whose process ended before answering is said as: stopped for a
        lighter client's query (:meth:`_preempt_for`), else a failure."""
        if not running.preempted:
            return EngineFailure(f"The query process ended unexpectedly: {error}")
        self.preempted += 1
        return QueryPreempted(
            f"The query was stopped after {running.preempted:.0f} s to let another "
            "client's query run: every query process was busy (setting "
            "query_share_seconds). Retry it, narrowed down or with a LIMIT.",
            max(1, math.ceil(self.share)))

    def _take_idle(self, client: str) -> _Process | None:
        """An idle, started process for ``client`` when no query waits for one (the turn
        :meth:`_admit` would give it at once); None otherwise."""
        with self._lock:
            if not self._started or self._waiting or not self._idle \
                    or not self._idle[-1].ready:
                return None
            process = self._idle.pop()
            self._busy[process] = _Running(client, time.monotonic())
            return process

    async def _watch_soon(self, loop: asyncio.AbstractEventLoop, worker: _Process,
                          running: _Running, gone: Callable[[], asyncio.Future[Any]] | None
                          ) -> QueryError | None:
        """:meth:`_watch` on the loop: the pipe read by the loop's selector; from
        :data:`MEMORY_POLL` seconds on, ``gone()`` (the client's end) is watched too."""
        descriptor = worker.conn.fileno()
        woken: list[asyncio.Future[None]] = []
        answered = False

        def readable() -> None:
            nonlocal answered
            answered = True
            wake()

        def wake(*_: Any) -> None:
            if woken and not woken[-1].done():
                woken[-1].set_result(None)

        loop.add_reader(descriptor, readable)
        ended: asyncio.Future[Any] | None = None
        try:
            deadline = running.started + self.timeout
            while not answered:
                left = deadline - time.monotonic()
                if left <= 0:
                    return self._timed_out()
                woken.append(loop.create_future())
                timer = loop.call_later(min(left, MEMORY_POLL), wake)
                try:
                    await woken[-1]
                finally:
                    timer.cancel()
                if answered:
                    break
                if ended is not None and ended.done() and not ended.cancelled() \
                        and ended.result():
                    return _client_gone()
                if ended is None and gone is not None:
                    ended = gone()
                    ended.add_done_callback(wake)
                if (too_large := self._over_memory(worker)) is not None:
                    return too_large
            return None
        finally:
            loop.remove_reader(descriptor)
            if ended is not None:
                ended.cancel()  # ended before the connection reads its next request
                await asyncio.wait((ended,))

    def _admit(self, client: str) -> _Process:
        """An idle process for ``client``, once it is its turn (see the class).

        :raises TooBusy: when none came within ``wait`` seconds
        """
        arrived = time.monotonic()
        deadline = arrived + self.wait
        with self._changed:
            mine = self._waiting.setdefault(client, [])
            mine.append(arrived)
            try:
                while True:
                    if mine[0] == arrived:  # the client's first waiting query: its turn?
                        rank = self._turns().index(client)
                        if rank < len(self._idle):
                            process = self._idle.pop()
                            self._busy[process] = _Running(client, time.monotonic())
                            return process
                        preempting = sum(1 for r in self._busy.values() if r.preempted)
                        if rank == len(self._idle) + preempting:
                            self._preempt_for(client)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.refused += 1
                        retry = max(1, math.ceil(min(self.share or self.timeout,
                                                     self.timeout)))
                        raise TooBusy(
                            f"Every query process was busy for {self.wait:g} s (setting "
                            f"query_wait); {len(self._busy)} queries are running and "
                            f"{self._queued()} waiting. Retry in a few seconds.", retry)
                    self._changed.wait(min(left, 0.25))
            finally:
                mine.remove(arrived)
                if not mine:
                    del self._waiting[client]
                self._changed.notify_all()  # another may be next now

    def _turns(self) -> list[str]:
        """The waiting clients in the order free processes go to them (holding the lock):
        fewest queries running, then fewest waiting, then least process time used lately
        (the running queries' time included), then the first to come."""
        running = self._running_by_client()
        now = time.monotonic()
        held: dict[str, float] = {}
        for query in self._busy.values():
            held[query.client] = held.get(query.client, 0.0) + now - query.started
        return sorted(self._waiting, key=lambda c: (
            running.get(c, 0), len(self._waiting[c]), self._used(c) + held.get(c, 0.0),
            self._waiting[c][0]))

    def _running_by_client(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for running in self._busy.values():
            counts[running.client] = counts.get(running.client, 0) + 1
        return counts

    def _preempt_for(self, client: str) -> None:
        """Stop the query of a heavier client (more queries running) that has held its
        process ``share`` seconds, so ``client`` gets the process (holding the lock)."""
        if self.share <= 0:
            return
        now = time.monotonic()
        counts = self._running_by_client()
        mine = counts.get(client, 0)
        victims = [(counts[r.client], now - r.started, p, r) for p, r in self._busy.items()
                   if not r.preempted and counts[r.client] > mine
                   and now - r.started >= self.share]
        if not victims:
            return
        _, ran, process, running = max(victims, key=lambda v: (v[0], v[1]))
        running.preempted = ran
        process.process.kill()  # its waiter (a thread, or the loop) sees the pipe close

    def _watch(self, worker: _Process, running: _Running,
               abandoned: Callable[[], bool] | None = None) -> QueryError | None:
        """Wait for ``worker``'s answer; the error to stop it with when it takes too long
        or too much memory, or ``abandoned()`` (None: it has answered, or ended)."""
        deadline = running.started + self.timeout
        poll = self.memory_limit or abandoned is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self._timed_out()
            if worker.answered(min(left, MEMORY_POLL) if poll else left):
                return None
            if abandoned is not None and abandoned():
                return _client_gone()
            if (too_large := self._over_memory(worker)) is not None:
                return too_large

    def _timed_out(self) -> QueryTimeout:
        return QueryTimeout(f"The query was stopped after {self.timeout:g} s, the time limit "
                            "(setting query_timeout). Narrow it down or add a LIMIT.")

    def _over_memory(self, worker: _Process) -> QueryTooLarge | None:
        """The error to stop ``worker``'s query with when it is over the memory limit."""
        if not self.memory_limit or worker.memory() <= self.memory_limit:
            return None
        self.over_memory += 1
        return QueryTooLarge(
            f"The query was stopped when it used more than "
            f"{self.memory_limit // (1024 * 1024)} MiB of memory, the limit (setting "
            "query_memory_mb). Narrow it down: a cross product or an ORDER BY over "
            "millions of rows needs that much.")

    def _release(self, worker: _Process, running: _Running) -> None:
        with self._changed:
            for process, held in list(self._busy.items()):
                if held is running:
                    del self._busy[process]
            self._idle.append(worker)
            seconds, when = self._usage.get(running.client, (0.0, 0.0))
            now = time.monotonic()
            self._usage[running.client] = (self._decayed(seconds, when, now)
                                           + now - running.started, now)
            if len(self._usage) > 4096:  # forget the lightest long-gone clients
                for name in sorted(self._usage, key=self._used)[:1024]:
                    del self._usage[name]
            self._changed.notify_all()

    def _used(self, client: str) -> float:
        seconds, when = self._usage.get(client, (0.0, 0.0))
        return self._decayed(seconds, when, time.monotonic())

    @staticmethod
    def _decayed(seconds: float, when: float, now: float) -> float:
        return seconds * 0.5 ** ((now - when) / USAGE_HALF_LIFE)

    def _queued(self) -> int:
        return sum(map(len, self._waiting.values()))

    def state(self) -> dict[str, Any]:
        """The pool as ``/health`` reports it: processes, busy, queued, the longest wait
        so far (seconds), and whether a new query could start soon (``saturated``: every
        process busy and queries waiting)."""
        with self._lock:
            now = time.monotonic()
            arrivals = [t for times in self._waiting.values() for t in times]
            busy, queued = len(self._busy), len(arrivals)
            return {"processes": self._size, "busy": busy, "queued": queued,
                    "waiting_seconds": round(now - min(arrivals), 3) if arrivals else 0.0,
                    "saturated": busy >= self._size and queued > 0,
                    "replaced": self.replaced, "preempted": self.preempted,
                    "over_memory": self.over_memory, "refused": self.refused}

    def close(self, wait: float = 0.0) -> None:
        """Stop every idle query process (busy ones end with their parent).

        :param wait: seconds each may take to exit on its own (its pipe closed) before
            it is killed; 0: killed at once
        """
        with self._lock:
            processes, self._idle = self._idle, []
        for process in processes:
            if wait > 0:
                process.end(wait)
            else:
                process.stop()
        self._started = False
