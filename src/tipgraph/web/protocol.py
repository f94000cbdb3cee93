"""The SPARQL 1.1 Protocol at ``/sparql``: the one request reader and the one error writer.

Three layers answer ``/sparql`` (:func:`tipgraph.web.sparql.init_app` declares their
order): the result cache's :class:`~tipgraph.web.result_cache.Replay`, the
:class:`~tipgraph.web.fast_path.FastPath`, and the Flask view with the guards of
:mod:`tipgraph.web.limits` before it. Each reads a request with
:func:`protocol_params` and :func:`checked_queries`, and says what is wrong with
:func:`error_parts` (a WSGI answer) or :func:`error_response` (the same as a
Flask response): a status, a sentence, as plain text every client can show.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Response, current_app, g, request
from werkzeug.datastructures import MultiDict
from werkzeug.http import HTTP_STATUS_CODES

from tipgraph import formats
from tipgraph.guard import check_graph_iris, check_query, redact_paths
from tipgraph.namespaces import PREFIXES
from tipgraph.negotiation import choose
from tipgraph.serving import Build
from tipgraph.sparql_engine import READ_ONLY, QueryAnswer, QueryError, QueryJob

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
POST_TYPES = (FORM, SPARQL_QUERY)
#: Request headers that make a request conditional: answered by the view (304, 206).
CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH",
               "HTTP_IF_UNMODIFIED_SINCE", "HTTP_RANGE")
#: A WSGI application, as the layers before Flask wrap one another.
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RequestRefused(QueryError):
    """A protocol request the endpoint refuses before reading its query (a wrong method,
    media type or charset, bytes that are not UTF-8, an update), with its own status."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title = status, title


class NoBuild(QueryError):
    """No build is in service (:class:`~tipgraph.errors.TipgraphError` from the service)."""

    status = 503
    title = "No build in service"

    def __init__(self, message: str) -> None:
        super().__init__(redact_paths(message))


def protocol_params(method: str, query_string: bytes, media_type: str, charset: str | None,
                    body: bytes, max_bytes: int) -> MultiDict[str, str]:
    """The protocol parameters of a request, from its URL and, for a POST, its body: the
    one reading of a request every layer uses.

    >>> protocol_params("GET", b"query=ASK+%7B%7D&format=json", "", None, b"", 1000)
    MultiDict([('query', 'ASK {}'), ('format', 'json')])

    :raises RequestRefused: for an update, a wrong media type or charset, bytes that are
        not UTF-8, a query string over ``max_bytes``
    """
    if len(query_string) > max_bytes:
        raise RequestRefused(414, "Request too long", "the query string is longer than "
                             f"{max_bytes} bytes (setting max_request_bytes); POST the query "
                             "instead.")
    pairs = _decoded(_parse_utf8, query_string, "the query string")
    if method == "POST":
        if media_type == "application/sparql-update":
            raise RequestRefused(403, "SPARQL Update refused", READ_ONLY)
        if media_type == FORM:
            pairs += _decoded(_parse_utf8, body, "the form body")
        elif media_type == SPARQL_QUERY:
            encoding = (charset or "utf-8").lower()
            if encoding not in ("utf-8", "utf8"):
                raise RequestRefused(415, "Unsupported media type",
                                     f"a query must be sent in UTF-8, not {encoding}.")
            pairs.append(("query", _decoded(bytes.decode, body, "the query")))
        else:
            sent = media_type or "no Content-Type"
            raise RequestRefused(415, "Unsupported media type",
                                 f"POST a query as {' or '.join(POST_TYPES)}, not {sent}.")
    params = MultiDict(pairs)
    if params.getlist("update"):
        raise RequestRefused(403, "SPARQL Update refused", READ_ONLY)
    return params


def checked_queries(params: MultiDict[str, str], *, max_depth: int, max_chain: int
                    ) -> list[str]:
    """The queries of ``params``, each passed through the guards that run before any parser
    (nesting depth, operator chains, graph IRIs: :mod:`tipgraph.guard`).

    :raises QueryError: for a query or a graph IRI a guard refuses
    """
    queries = params.getlist("query")
    if queries:
        for query in queries:
            check_query(query, max_depth=max_depth, max_chain=max_chain)
        check_graph_iris(params.getlist("default-graph-uri")
                         + params.getlist("named-graph-uri"))
    return queries


def request_params() -> MultiDict[str, str]:
    """The protocol parameters of the Flask request being answered, read once (the guards
    of :mod:`tipgraph.web.limits` read them first, the view again).

    :raises RequestRefused: as :func:`protocol_params` does
    """
    params = g.get("tipgraph_params")
    if params is None:
        body = request.get_data(cache=True) if request.method == "POST" else b""
        params = g.tipgraph_params = protocol_params(
            request.method, request.query_string, request.mimetype,
            request.mimetype_params.get("charset"), body,
            current_app.config["TIPGRAPH"]["max_request_bytes"])
    return params


# -- the job a request asks for, and the headers of its answer ------------------------------

_FORMAT_PARAMS = ("format", "output", "results")  # SPARQLWrapper sends all three


def choose_format(params: MultiDict[str, str], kind: formats.Kind, accept: str | None
                  ) -> str | None:
    """The format name to answer a ``kind`` query with: ``format=`` first, then ``accept``
    (the request's Accept header)."""
    asked = tuple(token for name in _FORMAT_PARAMS for value in params.getlist(name)
                  for token in value.split(",") if token.strip())
    return _chosen_format(asked, kind, accept)


@functools.lru_cache(maxsize=512)
def _chosen_format(asked: tuple[str, ...], kind: formats.Kind, accept: str | None
                   ) -> str | None:
    """:func:`choose_format`'s answer, remembered: clients send the same few Accept headers
    again and again, and negotiating one took a tenth of a trivial query's time here."""
    kinds: list[formats.Kind] = [kind, "html"]
    for token in asked:
        fmt = formats.find(token, kinds)
        if fmt is not None:
            return fmt.name
    if asked and any(formats.find(token) for token in asked):
        return None  # a known format, but not one for this kind of answer
    chosen = choose(accept, formats.formats_of(kind) + formats.formats_of("html"))
    return chosen.name if chosen else None


def make_job(query: str, params: MultiDict[str, str], accept: str | None, base_url: str,
             config: dict[str, Any]) -> QueryJob:
    """The job a protocol request asks for: all that selects its answer (query, dataset,
    formats, limits), so it is also the answer's cache key and part of its ETag."""
    defaults, named = params.getlist("default-graph-uri"), params.getlist("named-graph-uri")
    return QueryJob(
        query=query,
        results_format=choose_format(params, "results", accept),
        rdf_format=choose_format(params, "rdf", accept),
        max_results=config["max_results"], max_bytes=config["max_result_bytes"],
        base_iri=base_url,
        default_graphs=tuple(defaults) if defaults or named else None,
        named_graphs=tuple(named) if defaults or named else None,
        prefixes=_PREFIXES,
        service_allowlist=tuple(config["service_allowlist"]))


_PREFIXES = tuple(PREFIXES.items())


def answer_headers(answer: QueryAnswer, build: Build, config: dict[str, Any], *, hit: bool
                   ) -> list[tuple[str, str]]:
    """The headers an answer carries besides its type, length and caching headers."""
    headers = [("Vary", "Accept"), ("X-Tipgraph-Build", build.id)]
    if answer.truncated and answer.cut_by == "max_result_bytes":
        headers += [("X-SPARQL-MaxRows", str(answer.count)),
                    ("Warning", f'199 tipgraph "answer cut at {answer.count} results, '
                     f'{config["max_result_bytes"]} bytes (setting max_result_bytes)"')]
    elif answer.truncated:
        # Virtuoso's header, so clients that know it see the cut; Warning says it in words
        limit = config["max_results"]
        headers += [("X-SPARQL-MaxRows", str(limit)),
                    ("Warning", f'199 tipgraph "answer cut at {limit} results (setting '
                     'max_results)"')]
    headers.append(("X-Cache", "hit" if hit else "miss"))
    return headers


# -- errors ----------------------------------------------------------------------------------


def error_parts(error: QueryError) -> tuple[str, list[tuple[str, str]], bytes]:
    """``error`` as a WSGI answer: status line, headers, body (a sentence, plain text)."""
    body = f"{error.title}: {error.message}\n".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Vary", "Accept")]
    if error.retry_after is not None:
        headers.append(("Retry-After", str(error.retry_after)))
    return f"{error.status} {reason(error.status)}", headers, body


def error_response(error: QueryError) -> Response:
    """``error`` as the Flask response :func:`error_parts` describes."""
    status, headers, body = error_parts(error)
    return Response(body, status=int(status.split(" ", 1)[0]), headers=headers)


def reason(status: int) -> str:
    """The reason phrase werkzeug sends (upper case)."""
    return HTTP_STATUS_CODES.get(status, "Unknown").upper()


def _decoded(decode: Callable[[bytes], Any], raw: bytes, what: str) -> Any:
    try:
        return decode(raw)
    except UnicodeDecodeError:
        raise RequestRefused(400, "Malformed request", f"{what} is not valid UTF-8.") from None


def _parse_utf8(raw: bytes) -> list[tuple[str, str]]:
    """URL-encoded parameters as werkzeug reads them, but strict: the bytes, raw or
    percent-encoded, must be UTF-8 (what :func:`tipgraph.guard.check_utf8` checks).

    >>> _parse_utf8(b"query=ASK+%7B%7D&format=json")
    [('query', 'ASK {}'), ('format', 'json')]
    >>> _parse_utf8(b"query=%ff")
    Traceback (most recent call last):
    ...
    UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte

    :raises UnicodeDecodeError: when they are not
    """
    return parse_qsl(raw.decode(), keep_blank_values=True, errors="strict")
