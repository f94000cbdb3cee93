"""The SPARQL 1.1 Protocol endpoint (``/sparql``), its query page and ``/health``.

Queries run in the query processes of :mod:`tipgraph.sparql_engine`, never in
the request thread, so a runaway query is stopped at ``query_timeout`` while
other requests go on. The endpoint is read-only: SPARQL Update is refused.

A plain query request (one query, a protocol format) is answered by
:class:`FastPath` before Flask routes it, with the same guards, job and headers
as the view (:func:`make_job`, :func:`answer_headers`); the view answers the rest.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO
from urllib.parse import parse_qsl

import pyoxigraph
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    render_template,
    request,
    url_for,
)
from werkzeug.datastructures import MultiDict
from werkzeug.http import HTTP_STATUS_CODES, parse_options_header
from werkzeug.wsgi import get_current_url, wrap_file

from tipgraph import formats
from tipgraph.errors import TipgraphError
from tipgraph.guard import check_graph_iris, check_query, redact_paths
from tipgraph.namespaces import PREFIXES
from tipgraph.sparql_engine import READ_ONLY, QueryAnswer, QueryEngine, QueryError, QueryJob
from tipgraph.web import get_build, get_service
from tipgraph.web.caching import caching_headers, conditional
from tipgraph.web.cors import EXPOSED_HEADERS
from tipgraph.web.errors import plain_page
from tipgraph.web.limits import pool_state
from tipgraph.web.result_cache import REPLAYABLE, get_result_cache
from tipgraph.web.service import Build, Service

bp = Blueprint("sparql", __name__)

_FORMAT_PARAMS = ("format", "output", "results")  # SPARQLWrapper sends all three
_FORM = "application/x-www-form-urlencoded"
_SPARQL_QUERY = "application/sparql-query"
_POST_TYPES = (_FORM, _SPARQL_QUERY)
_engine_lock = threading.Lock()


#: Where a worker's query engine is kept in ``app.extensions``.
ENGINE_KEY = "tipgraph.queries"


def get_engine() -> QueryEngine:
    """This process's query engine, started on first use (each gunicorn worker has its own)."""
    key = ENGINE_KEY
    engine = current_app.extensions.get(key)
    if engine is None or engine._owner != os.getpid():
        with _engine_lock:
            engine = current_app.extensions.get(key)
            if engine is None or engine._owner != os.getpid():
                config = current_app.config["TIPGRAPH"]
                cache = get_result_cache()  # answers are written where they are kept
                engine = QueryEngine(processes=config["query_workers"],
                                     timeout=config["query_timeout"],
                                     spool=str(cache.spool) if cache else None,
                                     memory_mb=config["query_memory_mb"],
                                     wait=config["query_wait"],
                                     share=config["query_share_seconds"])
                current_app.extensions[key] = engine
    return engine


def _error(status: int, title: str, message: str) -> Response:
    """A protocol error: a status and a sentence, as plain text every client can show."""
    return Response(f"{title}: {message}\n", status=status,
                    content_type="text/plain; charset=utf-8", headers={"Vary": "Accept"})


@bp.errorhandler(QueryError)
def _query_error(error: QueryError) -> Response:
    return _error(error.status, error.title, error.message)


@bp.errorhandler(TipgraphError)
def _no_build(error: TipgraphError) -> Response:
    return _error(503, "No build in service", redact_paths(str(error)))


# -- reading a protocol request -------------------------------------------------------------


def _protocol_params() -> MultiDict[str, str]:
    """The protocol parameters of this request, from its URL and, for POST, its body.

    :raises QueryError: (as an HTTP error) for an update, a wrong media type or charset
    """
    params = g.get("tipgraph_params")
    if params is None:  # the guard reads them first, the endpoint again
        params = g.tipgraph_params = _read_protocol_params()
    return params


def _read_protocol_params() -> MultiDict[str, str]:
    config = current_app.config["TIPGRAPH"]
    media_type, options = request.mimetype, request.mimetype_params
    try:
        body = request.get_data(cache=True) if request.method == "POST" else b""
        return protocol_params(request.method, request.query_string, media_type,
                               options.get("charset"), body, config["max_request_bytes"])
    except Refused as refused:
        abort(_error(refused.status, refused.title, refused.message))


class Refused(Exception):
    """A protocol request the endpoint refuses, with the status and words to say so."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def protocol_params(method: str, query_string: bytes, media_type: str, charset: str | None,
                    body: bytes, max_bytes: int) -> MultiDict[str, str]:
    """The protocol parameters of a request, from its URL and, for a POST, its body: the
    one reading of a request both the view and :class:`FastPath` use.

    >>> protocol_params("GET", b"query=ASK+%7B%7D&format=json", "", None, b"", 1000)
    MultiDict([('query', 'ASK {}'), ('format', 'json')])

    :raises Refused: for an update, a wrong media type or charset, bytes that are not
        UTF-8, a query string over ``max_bytes``
    """
    if len(query_string) > max_bytes:
        raise Refused(414, "Request too long", "the query string is longer than "
                      f"{max_bytes} bytes (setting max_request_bytes); POST the query instead.")
    pairs = _decoded(_parse_utf8, query_string, "the query string")
    if method == "POST":
        if media_type == "application/sparql-update":
            raise Refused(403, "SPARQL Update refused", READ_ONLY)
        if media_type == _FORM:
            pairs += _decoded(_parse_utf8, body, "the form body")
        elif media_type == _SPARQL_QUERY:
            encoding = (charset or "utf-8").lower()
            if encoding not in ("utf-8", "utf8"):
                raise Refused(415, "Unsupported media type",
                              f"a query must be sent in UTF-8, not {encoding}.")
            pairs.append(("query", _decoded(bytes.decode, body, "the query")))
        else:
            sent = media_type or "no Content-Type"
            raise Refused(415, "Unsupported media type",
                          f"POST a query as {' or '.join(_POST_TYPES)}, not {sent}.")
    params = MultiDict(pairs)
    if params.getlist("update"):
        raise Refused(403, "SPARQL Update refused", READ_ONLY)
    return params


def _decoded(decode: Callable[[bytes], Any], raw: bytes, what: str) -> Any:
    try:
        return decode(raw)
    except UnicodeDecodeError:
        raise Refused(400, "Malformed request", f"{what} is not valid UTF-8.") from None


def _choose(params: MultiDict[str, str], kind: formats.Kind, accept: str | None
            ) -> str | None:
    """The format name to answer a ``kind`` query with: ``format=`` first, then ``accept``
    (the request's Accept header)."""
    asked = tuple(token for name in _FORMAT_PARAMS for value in params.getlist(name)
                  for token in value.split(",") if token.strip())
    return _chosen_format(asked, kind, accept)


@functools.lru_cache(maxsize=512)
def _chosen_format(asked: tuple[str, ...], kind: formats.Kind, accept: str | None
                   ) -> str | None:
    """:func:`_choose`'s answer, remembered: clients send the same few Accept headers
    again and again, and negotiating one took a tenth of a trivial query's time here."""
    kinds: list[formats.Kind] = [kind, "html"]
    for token in asked:
        fmt = formats.find(token, kinds)
        if fmt is not None:
            return fmt.name
    if asked and any(formats.find(token) for token in asked):
        return None  # a known format, but not one for this kind of answer
    offered = formats.media_types_of(kind) + formats.media_types_of("html")
    chosen = formats.negotiate(accept, offered)
    return formats.find(chosen, kinds).name if chosen else None


# -- the endpoint ------------------------------------------------------------------------------


def make_job(query: str, params: MultiDict[str, str], accept: str | None, base_url: str,
             config: dict[str, Any]) -> QueryJob:
    """The job a protocol request asks for: all that selects its answer (query, dataset,
    formats, limits), so it is also the answer's cache key and part of its ETag."""
    defaults, named = params.getlist("default-graph-uri"), params.getlist("named-graph-uri")
    return QueryJob(
        query=query,
        results_format=_choose(params, "results", accept),
        rdf_format=_choose(params, "rdf", accept),
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


def find_answer(build: Build, job: QueryJob) -> tuple[QueryAnswer, BinaryIO | None, bool]:
    """The answer to ``job``: kept or evaluated (and kept), its file at the body when it
    is in one, and whether it was kept before (a cache hit).

    :raises QueryError: as :meth:`GraphStore.answer` does
    """
    cache = get_result_cache()
    kept = cache.get(build.id, job) if cache else None
    hit = kept is not None
    if kept is None:
        answer = build.store.answer(job)
        if not cache:
            return answer, None, False
        kept = cache.put(build.id, job, answer)
    return kept[0], kept[1], hit


@bp.route("/sparql", methods=["GET", "POST"])
def sparql() -> Response:
    """Answer a SPARQL query; without one, describe the service (or show the query page).

    A plain query request is answered by :class:`FastPath` before it gets here; this view
    answers the rest (the results page, conditional requests, errors) and says the same.
    """
    params = _protocol_params()
    queries = params.getlist("query")
    if len(queries) > 1:
        return _error(400, "Malformed request", "send one query per request; this one "
                      f"has {len(queries)} query parameters.")
    if not queries:
        if request.method == "POST":  # a form sent without its query: say which is missing
            return _error(400, "Malformed request", "the form has no query parameter; send "
                          "the SPARQL query as query=... (a GET without one describes "
                          "the service).")
        return _service_description()
    config = current_app.config["TIPGRAPH"]
    build = get_build()
    job = make_job(queries[0], params, request.headers.get("Accept"), request.base_url,
                   config)
    answer, file, hit = find_answer(build, job)
    if answer.format == "html":
        body = answer.read() if file is None else _read_and_close(file)
        response = Response(_results_page(queries[0], answer, body),
                            content_type="text/html; charset=utf-8")
    elif file is not None:  # sent by sendfile from the kept file, never read here
        length = os.fstat(file.fileno()).st_size - file.tell()
        response = Response(wrap_file(request.environ, file), direct_passthrough=True,
                            content_type=formats.find(answer.format).content_type)
        response.content_length = length
        if answer.path:
            request.environ[REPLAYABLE] = (build.id, answer.path)  # the same again: Replay
    else:
        response = Response(answer.read(), content_type=formats.find(answer.format).content_type)
    response.headers.extend(answer_headers(answer, build, config, hit=hit))
    # the job holds all that selects the answer: query, dataset, formats, limits
    response = conditional(response, build, repr(job))
    if response.status_code == 304 and response.direct_passthrough:
        response.response.close()  # no body goes out: let the file go now
    return response


def _read_and_close(file: BinaryIO) -> bytes:
    with file:
        return file.read()


def _results_page(query: str, answer: QueryAnswer, body: bytes) -> str:
    data = json.loads(body)
    rows = data.get("results", {}).get("bindings", [])
    if answer.count is None:
        answer = dataclasses.replace(answer, count=len(rows))
    return render_template("sparql_results.html", query=query, answer=answer,
                           variables=data["head"].get("vars", []),
                           rows=rows,
                           boolean=data.get("boolean"),
                           max_results=current_app.config["TIPGRAPH"]["max_results"])


# -- service description -----------------------------------------------------------------------

SD = "http://www.w3.org/ns/sparql-service-description#"
VOID = "http://rdfs.org/ns/void#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_SEE_ALSO = "http://www.w3.org/2000/01/rdf-schema#seeAlso"


def _service_description() -> Response:
    offered = formats.media_types_of("rdf") + formats.media_types_of("html")
    chosen = formats.negotiate(request.headers.get("Accept"), offered)
    fmt = formats.find(chosen) if chosen else None
    if fmt is None:
        return _error(406, "Not acceptable", "the service description is offered as "
                      + ", ".join(f.media_type for f in formats.formats_of("rdf", "html")))
    if fmt.kind == "html":
        response = Response(query_page(), content_type=fmt.content_type)
    else:
        body = formats.write_rdf(fmt, service_description(request.base_url),
                                 {"sd": SD, "void": VOID, "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
                                  "formats": "http://www.w3.org/ns/formats/"})
        response = Response(body, content_type=fmt.content_type)
    response.headers["Vary"] = "Accept"
    return response


def service_description(endpoint: str) -> list[pyoxigraph.Triple]:
    """The SPARQL 1.1 Service Description of this endpoint, with its default dataset.

    The default dataset is the VoID dataset the build describes (``{base}dataset``,
    whose full VoID/DCAT description is served at ``/dataset``).
    """
    build = get_build()
    iri = pyoxigraph.NamedNode
    base = str(build.report.get("base") or get_service().base)
    service = iri(endpoint)
    dataset = iri(base.rstrip("/#") + "/dataset")
    graph = pyoxigraph.BlankNode()

    def t(s: Any, p: str, o: Any) -> pyoxigraph.Triple:
        return pyoxigraph.Triple(s, iri(p), o)

    triples = [
        t(service, RDF_TYPE, iri(SD + "Service")),
        t(service, SD + "endpoint", service),
        t(service, SD + "supportedLanguage", iri(SD + "SPARQL11Query")),
        *(t(service, SD + "resultFormat", iri(f.w3c))
          for f in formats.formats_of("results", "rdf") if f.w3c),
        t(service, SD + "defaultDataset", dataset),
        t(dataset, RDF_TYPE, iri(SD + "Dataset")),
        t(dataset, RDF_TYPE, iri(VOID + "Dataset")),
        t(dataset, VOID + "sparqlEndpoint", service),
        t(dataset, RDFS_SEE_ALSO, iri(request.url_root + "dataset")),
        t(dataset, SD + "defaultGraph", graph),
        t(graph, RDF_TYPE, iri(SD + "Graph")),
        t(graph, VOID + "triples", pyoxigraph.Literal(
            str(build.triples), datatype=iri("http://www.w3.org/2001/XMLSchema#integer"))),
    ]
    if current_app.config["TIPGRAPH"]["service_allowlist"]:
        triples.append(t(service, SD + "feature", iri(SD + "BasicFederatedQuery")))
    return triples


# -- pages -----------------------------------------------------------------------------------------


def query_page() -> str:
    return render_template("query.html", endpoint=url_for("sparql.sparql"),
                           example="SELECT ?s ?p ?o\nWHERE { ?s ?p ?o }\nLIMIT 25")


@bp.route("/query")
def query() -> str:
    """The query page: a form that sends its query to /sparql."""
    return query_page()


@bp.route("/health")
def health() -> Response:
    """Which build is in service, how big it is, and the state of the query processes
    (for monitors and test fixtures). A liveness check: 200 while the server can answer.
    ``/health?ready`` (for load balancers) is 503 when a query could not start soon."""
    try:
        build = get_build()
    except TipgraphError as error:
        return Response(json.dumps({"status": "no build", "error": redact_paths(str(error))}),
                        status=503, content_type="application/json")
    body = {"status": "ok", "build": build.id, "triples": build.triples,
            "modified": build.modified.isoformat(), "base": get_service().base}
    cache = get_result_cache()
    if cache:
        body["result_cache"] = cache.statistics()
    body["queries"] = pool_state(current_app)
    status = 200
    if "ready" in request.args and body["queries"]["saturated"]:
        body["status"], status = "saturated", 503
    return Response(json.dumps(body), status=status, content_type="application/json",
                    headers={"Cache-Control": "no-store"})


# -- the fast path ---------------------------------------------------------------------------

#: Request headers that make a request conditional: answered by the view (304, 206).
_CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH",
                "HTTP_IF_UNMODIFIED_SINCE", "HTTP_RANGE")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FastPath:
    """WSGI middleware: a plain protocol query on ``/sparql`` answered without Flask.

    Flask's request context, routing, hooks and response objects, and werkzeug's
    parsing, cost about 1 ms of a trivial query's 2.3 ms (measured at 100,000
    publications), against the Oxigraph server's 0.6 ms for the whole request. A
    GET or POST with one query, answered in a format of the protocol, is read here
    with the same parsers, passes the same guards (:mod:`tipgraph.web.limits`: UTF-8,
    nesting depth, graph IRIs, the client's slot), becomes the same
    :class:`QueryJob` and gets the same headers (ETag, CORS ...) as through the view.

    Everything else goes the whole way, where the view and the hooks answer it
    and say what is wrong: no query (the service description), the results page,
    a conditional request, anything a guard refuses, a client out of slots, an
    ``Origin`` when ``cors_origins`` lists origins, an update. An error of the
    query itself (syntax, time limit, format) is answered here as the view's
    error handler does, since going the whole way would evaluate it again.
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app, self.wsgi_app = app, wsgi_app
        self.config = app.config["TIPGRAPH"]
        self.max_bytes = int(self.config["max_request_bytes"])
        self.max_depth = int(self.config["max_query_depth"])
        self.max_chain = int(self.config["max_query_chain"])
        self.any_origin = str(self.config["cors_origins"]).strip() == "*"
        self.service: Service = app.extensions["tipgraph"]
        self._link = None if self.config.get("store_url") else \
            os.path.join(self.service.build_dir.root, "current")
        self._last: tuple[tuple[str, int], Build] | None = None  # current link, its build

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/sparql":
            read = self._read(environ)
            if read is not None:
                return self._answer(environ, start_response, *read)
        return self.wsgi_app(environ, start_response)

    def _read(self, environ: dict[str, Any]) -> tuple[str, MultiDict[str, str], Build] | None:
        """The query, the protocol parameters and the build, or None: the whole way."""
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "POST") or any(name in environ for name in _CONDITIONAL):
            return None
        if not self.any_origin and environ.get("HTTP_ORIGIN"):
            return None  # an origin to check against the list: cors.py decides
        raw = environ.get("QUERY_STRING", "").encode("latin-1")  # as werkzeug reads it
        try:
            media_type, charset, body = self._read_body(environ) if method == "POST" else \
                ("", None, b"")
            params = protocol_params(method, raw, media_type, charset, body, self.max_bytes)
            queries = params.getlist("query")
            if len(queries) != 1:
                return None
            check_query(queries[0], max_depth=self.max_depth, max_chain=self.max_chain)
            check_graph_iris(params.getlist("default-graph-uri")
                             + params.getlist("named-graph-uri"))
            build = self._current_build()
        except (TipgraphError, Refused, _ReadByTheView):  # the whole way says why
            return None
        return queries[0], params, build

    def current_build_id(self) -> str:
        """The id of the build in service (for :class:`Replay`)."""
        return self._current_build().id

    def _current_build(self) -> Build:
        """The build in service, as :meth:`Service.current` says.

        That resolves the ``current`` link's path on every call (44 us, the largest
        cost of a trivial query here); when the link's target, one ``readlink``, is
        the one it pointed to last time, the build it gave then is the build.
        """
        if self._link is None:  # a remote store: its own pointer, its own poll
            return self.service.current()
        try:  # the target and the link itself: a switch back to the same target is a switch
            target = (os.readlink(self._link), os.lstat(self._link).st_ino)
        except OSError:
            return self.service.current()  # no build, or one being switched in
        last = self._last
        if last is not None and last[0] == target:
            return last[1]
        build = self.service.current()
        if build.id == os.path.basename(target[0].rstrip("/")):  # not the old one, kept while
            self._last = (target, build)  # another thread opens the new one
        return build

    def _read_body(self, environ: dict[str, Any]) -> tuple[str, str | None, bytes]:
        """A POST's media type, charset and body, read here when it is plain (a length
        given and within the limit).

        :raises _ReadByTheView: for a body werkzeug should read (chunked, too long ...)
        """
        content_type = environ.get("CONTENT_TYPE", "")
        media_type, options = parse_options_header(content_type)
        media_type = media_type.lower()
        if media_type not in (_FORM, _SPARQL_QUERY) or environ.get("HTTP_TRANSFER_ENCODING"):
            raise _ReadByTheView
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise _ReadByTheView from None
        if length > self.max_bytes:
            raise _ReadByTheView
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # for the view, should it read it
        return media_type, options.get("charset"), body

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any],
                query: str, params: MultiDict[str, str], build: Build) -> Iterable[bytes]:
        accept = environ.get("HTTP_ACCEPT")
        job = make_job(query, params, accept, get_current_url(environ, strip_querystring=True),
                       self.config)
        if "html" in (job.results_format, job.rdf_format):
            return self.wsgi_app(environ, start_response)  # the results page
        limiter = self.app.extensions["tipgraph.limiter"]
        slot = limiter.slot(environ.get("REMOTE_ADDR") or "?")
        try:
            slot.__enter__()
        except QueryError:  # out of slots: the whole way answers 429 with Retry-After
            return self.wsgi_app(environ, start_response)
        keep = None
        try:
            with self.app.app_context():
                cache = get_result_cache()
                kept = cache.get(build.id, job) if cache else None
                if kept is None:
                    answer, file, hit = build.store.answer(job), None, False
                    if cache and answer.path is None:  # small: sent first, kept after
                        keep = functools.partial(cache.keep, build.id, job, answer)
                        environ[REPLAYABLE] = (build.id, cache.path_of(build.id, job))
                    elif cache:
                        answer, file = cache.put(build.id, job, answer)
                else:
                    (answer, file), hit = kept, True
        except QueryError as error:
            headers = [("Content-Type", "text/plain; charset=utf-8"), ("Vary", "Accept")]
            if getattr(error, "retry_after", None) is not None:
                headers.append(("Retry-After", str(error.retry_after)))
            return self._send(start_response, f"{error.status} {_reason(error.status)}",
                              headers, f"{error.title}: {error.message}\n".encode())
        except TipgraphError as error:
            message = f"No build in service: {redact_paths(str(error))}\n"
            return self._send(start_response, f"503 {_reason(503)}",
                              [("Content-Type", "text/plain; charset=utf-8"),
                               ("Vary", "Accept")], message.encode())
        except Exception:  # as Flask does: logged with its traceback, a plain page says so
            self.app.logger.exception("Exception on /sparql [%s]", environ.get("REQUEST_METHOD"))
            page = plain_page(500, "Internal error", "Something went wrong on the server "
                              "while answering this request. It has been logged; please "
                              "try again later.")
            return self._send(start_response, f"500 {_reason(500)}",
                              [("Content-Type", page.content_type)], page.get_data())
        finally:
            slot.__exit__(None, None, None)
        content_type = formats.find(answer.format).content_type
        headers = [("Content-Type", content_type),
                   *answer_headers(answer, build, self.config, hit=hit),
                   *caching_headers(build, f"/sparql?{environ.get('QUERY_STRING', '')}",
                                    content_type.partition(";")[0].strip().lower(),
                                    repr(job))]
        if file is None:
            body = self._send(start_response, "200 OK", headers, answer.read())
            return body if keep is None else _ThenKeep(body, keep, self.app)
        length = os.fstat(file.fileno()).st_size - file.tell()
        if answer.path:
            environ[REPLAYABLE] = (build.id, answer.path)  # the same again: Replay
        headers.insert(1, ("Content-Length", str(length)))
        start_response("200 OK", self._cors(headers))
        return wrap_file(environ, file, 65536)  # gunicorn's: sent with sendfile

    def _send(self, start_response: Callable[..., Any], status: str,
              headers: list[tuple[str, str]], body: bytes) -> Iterable[bytes]:
        headers.insert(1, ("Content-Length", str(len(body))))
        start_response(status, self._cors(headers))
        return [body]

    def _cors(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """What :mod:`tipgraph.web.cors` adds (``*`` or no origin: the cases served here)."""
        if self.any_origin:
            headers += [("Access-Control-Allow-Origin", "*"),
                        ("Access-Control-Expose-Headers", EXPOSED_HEADERS)]
        return headers


class _ReadByTheView(Exception):
    """A request :class:`FastPath` leaves to the view."""


class _ThenKeep:
    """A response body that keeps its answer in the result cache once it has been sent:
    writing and renaming the file then costs the client nothing (gunicorn calls
    ``close`` after the last byte is written)."""

    def __init__(self, body: Iterable[bytes], keep: Callable[[], None], app: Flask) -> None:
        self.body, self.keep, self.app = body, keep, app

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            self.keep()
        except OSError:  # shared memory full, the directory gone: only a cache miss later
            self.app.logger.exception("could not keep an answer in the result cache")


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


def _reason(status: int) -> str:
    """The reason phrase werkzeug sends (upper case)."""
    return HTTP_STATUS_CODES.get(status, "Unknown").upper()


def init_app(app: Flask) -> None:
    """Answer plain query requests before Flask routes them (:class:`FastPath`)."""
    app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]
