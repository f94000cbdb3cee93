"""The SPARQL 1.1 Protocol endpoint (``/sparql``), its query page and ``/health``.

Queries run in the query processes of :mod:`tipgraph.sparql_engine`, never in
the request thread, so a runaway query is stopped at ``query_timeout`` while
other requests go on. The endpoint is read-only: SPARQL Update is refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from typing import Any

import pyoxigraph
from flask import Blueprint, Response, abort, current_app, g, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wsgi import wrap_file

from tipgraph import formats
from tipgraph.errors import TipgraphError
from tipgraph.guard import redact_paths
from tipgraph.namespaces import PREFIXES
from tipgraph.sparql_engine import READ_ONLY, QueryAnswer, QueryEngine, QueryError, QueryJob
from tipgraph.web import get_build, get_service
from tipgraph.web.caching import conditional
from tipgraph.web.result_cache import REPLAYABLE, get_result_cache

bp = Blueprint("sparql", __name__)

_FORMAT_PARAMS = ("format", "output", "results")  # SPARQLWrapper sends all three
_POST_TYPES = ("application/x-www-form-urlencoded", "application/sparql-query")
_engine_lock = threading.Lock()


def get_engine() -> QueryEngine:
    """This process's query engine, started on first use (each gunicorn worker has its own)."""
    key = "tipgraph.queries"
    engine = current_app.extensions.get(key)
    if engine is None or engine._owner != os.getpid():
        with _engine_lock:
            engine = current_app.extensions.get(key)
            if engine is None or engine._owner != os.getpid():
                config = current_app.config["TIPGRAPH"]
                cache = get_result_cache()  # answers are written where they are kept
                engine = QueryEngine(processes=config["query_workers"],
                                     timeout=config["query_timeout"],
                                     spool=str(cache.spool) if cache else None)
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
    if len(request.query_string) > config["max_request_bytes"]:
        abort(_error(414, "Request too long", "the query string is longer than "
                     f"{config['max_request_bytes']} bytes (setting max_request_bytes); "
                     "POST the query instead."))
    params: MultiDict[str, str] = MultiDict(request.args)
    if request.method == "POST":
        media_type = request.mimetype
        if media_type == "application/sparql-update":
            abort(_error(403, "SPARQL Update refused", READ_ONLY))
        if media_type == "application/x-www-form-urlencoded":
            for name, value in request.form.items(multi=True):
                params.add(name, value)
        elif media_type == "application/sparql-query":
            charset = request.mimetype_params.get("charset", "utf-8").lower()
            if charset not in ("utf-8", "utf8"):
                abort(_error(415, "Unsupported media type", f"a query must be sent in UTF-8, "
                             f"not {charset}."))
            try:
                params.add("query", request.get_data().decode("utf-8"))
            except UnicodeDecodeError:
                abort(_error(400, "Malformed request", "the query is not valid UTF-8."))
        else:
            sent = media_type or "no Content-Type"
            abort(_error(415, "Unsupported media type", f"POST a query as "
                         f"{' or '.join(_POST_TYPES)}, not {sent}."))
    if params.getlist("update"):
        abort(_error(403, "SPARQL Update refused", READ_ONLY))
    return params


def _choose(params: MultiDict[str, str], kind: formats.Kind) -> str | None:
    """The format name to answer a ``kind`` query with: ``format=`` first, then Accept."""
    kinds: list[formats.Kind] = [kind, "html"]
    asked = [token for name in _FORMAT_PARAMS for value in params.getlist(name)
             for token in value.split(",") if token.strip()]
    for token in asked:
        fmt = formats.find(token, kinds)
        if fmt is not None:
            return fmt.name
    if asked and any(formats.find(token) for token in asked):
        return None  # a known format, but not one for this kind of answer
    offered = formats.media_types_of(kind) + formats.media_types_of("html")
    chosen = formats.negotiate(request.headers.get("Accept"), offered)
    return formats.find(chosen, kinds).name if chosen else None


# -- the endpoint ------------------------------------------------------------------------------


@bp.route("/sparql", methods=["GET", "POST"])
def sparql() -> Response:
    """Answer a SPARQL query; without one, describe the service (or show the query page)."""
    params = _protocol_params()
    queries = params.getlist("query")
    if len(queries) > 1:
        return _error(400, "Malformed request", "send one query per request; this one "
                      f"has {len(queries)} query parameters.")
    if not queries:
        return _service_description()
    config = current_app.config["TIPGRAPH"]
    build = get_build()
    defaults, named = params.getlist("default-graph-uri"), params.getlist("named-graph-uri")
    job = QueryJob(
        query=queries[0],
        results_format=_choose(params, "results"), rdf_format=_choose(params, "rdf"),
        max_results=config["max_results"], base_iri=request.base_url,
        default_graphs=tuple(defaults) if defaults or named else None,
        named_graphs=tuple(named) if defaults or named else None,
        prefixes=tuple(PREFIXES.items()),
        service_allowlist=tuple(config["service_allowlist"]))
    cache = get_result_cache()
    kept = cache.get(build.id, job) if cache else None
    hit = kept is not None
    if kept is None:
        answer = build.store.answer(job)
        if cache:
            kept = cache.put(build.id, job, answer)
    if kept is not None:
        answer, file = kept
        if answer.format == "html":
            with file:
                response = Response(_results_page(queries[0], answer, file.read()),
                                    content_type="text/html; charset=utf-8")
        else:  # sent by sendfile from the kept file, never read here
            length = os.fstat(file.fileno()).st_size - file.tell()
            response = Response(wrap_file(request.environ, file), direct_passthrough=True,
                                content_type=formats.find(answer.format).content_type)
            response.content_length = length
            request.environ[REPLAYABLE] = (build.id, answer.path)  # the same again: Replay
    elif answer.format == "html":
        response = Response(_results_page(queries[0], answer, answer.read()),
                            content_type="text/html; charset=utf-8")
    else:
        response = Response(answer.read(), content_type=formats.find(answer.format).content_type)
    response.headers["Vary"] = "Accept"
    response.headers["X-Tipgraph-Build"] = build.id
    if answer.truncated:
        # Virtuoso's header, so clients that know it see the cut; Warning says it in words
        response.headers["X-SPARQL-MaxRows"] = str(config["max_results"])
        response.headers["Warning"] = (f'199 tipgraph "answer cut at {config["max_results"]} '
                                       'results (setting max_results)"')
    response.headers["X-Cache"] = "hit" if hit else "miss"
    # the job holds all that selects the answer: query, dataset, formats, limits
    response = conditional(response, build, repr(job))
    if response.status_code == 304 and response.direct_passthrough:
        response.response.close()  # no body goes out: let the file go now
    return response


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
    """Which build is in service and how big it is (for monitors and test fixtures)."""
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
    return Response(json.dumps(body), content_type="application/json")
