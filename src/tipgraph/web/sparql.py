"""The SPARQL 1.1 Protocol endpoint (``/sparql``), its query page and ``/health``.

Queries run in the query processes of :mod:`tipgraph.sparql_engine`, never in
the request thread, so a runaway query is stopped at ``query_timeout`` while
other requests go on. The endpoint is read-only: SPARQL Update is refused.

The view is the last of the layers that answer ``/sparql``; :func:`init_app` declares
them all, in order. A plain query request (one query, a protocol format) is answered by
:class:`~tipgraph.web.fast_path.FastPath` before Flask routes it, with the same reader,
guards, job, headers and error writer as the view (:mod:`tipgraph.web.protocol`); the
view answers the rest.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from typing import Any, BinaryIO

import pyoxigraph
from flask import Blueprint, Flask, Response, current_app, g, render_template, request, url_for
from werkzeug.wsgi import wrap_file

from tipgraph import formats
from tipgraph.description import OAI_PMH
from tipgraph.errors import TipgraphError
from tipgraph.guard import ClientLimiter, MalformedRequest, redact_paths
from tipgraph.namespaces import DCAT, DCT, PREFIXES, RDF, RDFS, SD, VOID, XSD
from tipgraph.negotiation import choose
from tipgraph.serving import Build
from tipgraph.serving.text_sparql import MATCHES
from tipgraph.sparql_engine import NotAcceptable, QueryAnswer, QueryError, QueryJob
from tipgraph.web.caching import conditional
from tipgraph.web.context import (
    FAST_PATH,
    LIMITER,
    REPLAY,
    RESULT_CACHE,
    SERVICE,
    get_build,
    get_result_cache,
    get_service,
    get_settings,
    public_root,
)
from tipgraph.web.fast_path import FastPath
from tipgraph.web.limits import pool_state
from tipgraph.web.pages import results_view
from tipgraph.web.protocol import (
    NoBuild,
    answer_headers,
    choose_format,
    error_response,
    make_job,
    request_params,
)
from tipgraph.web.result_cache import REPLAYABLE, Replay, ResultCache

bp = Blueprint("sparql", __name__)



@bp.errorhandler(QueryError)
def _query_error(error: QueryError) -> Response:
    """The error as plain text (:func:`error_response`); to a person who asked for the
    results page, the query page again, the query kept in the editor and the error shown
    there."""
    params = g.get("tipgraph_params")
    queries = params.getlist("query") if params is not None else []
    if len(queries) == 1 and choose_format(params, "results",
                                           request.headers.get("Accept")) == "html":
        body = query_page(query=queries[0], error=error)
        return Response(body, status=error.status, content_type="text/html; charset=utf-8",
                        headers={"Vary": "Accept"})
    return error_response(error)


@bp.errorhandler(TipgraphError)
def _no_build(error: TipgraphError) -> Response:
    return error_response(NoBuild(str(error)))


def find_answer(build: Build, job: QueryJob) -> tuple[QueryAnswer, BinaryIO | None, bool]:
    """The answer to ``job``: kept or evaluated (and kept), its file at the body when it
    is in one, and whether it was kept before (a cache hit).

    :raises QueryError: as :meth:`Build.answer` does
    """
    cache = get_result_cache()
    kept = cache.get(build.id, job) if cache else None
    hit = kept is not None
    if kept is None:
        answer = build.answer(job)
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
    params = request_params()
    queries = params.getlist("query")
    if len(queries) > 1:
        raise MalformedRequest("send one query per request; this one has "
                               f"{len(queries)} query parameters.")
    if not queries:
        if request.method == "POST":  # a form sent without its query: say which is missing
            raise MalformedRequest("the form has no query parameter; send the SPARQL query "
                                   "as query=... (a GET without one describes the service).")
        return _service_description()
    config = get_settings()
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


#: Rows of an answer the results page shows at a time.
RESULTS_PAGE = 100


def _results_page(query: str, answer: QueryAnswer, body: bytes) -> str:
    """The answer as a page of a table (``page=`` picks which), with a bar chart when it
    has a label column and a number column."""
    data = json.loads(body)
    rows = data.get("results", {}).get("bindings", [])
    if answer.count is None:
        answer = dataclasses.replace(answer, count=len(rows))
    variables = data["head"].get("vars", [])
    pages = max(1, -(-len(rows) // RESULTS_PAGE))
    try:
        page = min(max(1, int(request_params().get("page", "1"))), pages)
    except ValueError:
        page = 1
    first = (page - 1) * RESULTS_PAGE
    return render_template("sparql_results.html", query=query, answer=answer,
                           variables=variables, rows=rows[first:first + RESULTS_PAGE],
                           page=page, pages=pages, first=first + 1,
                           **results_view(get_build(), variables, rows),
                           boolean=data.get("boolean"),
                           max_results=get_settings()["max_results"])


# -- service description -----------------------------------------------------------------------

RDF_TYPE = str(RDF.type)
RDFS_SEE_ALSO = str(RDFS.seeAlso)


def _service_description() -> Response:
    fmt = choose(request.headers.get("Accept"), formats.formats_of("rdf", "html"))
    if fmt is None:
        raise NotAcceptable("the service description is offered as "
                            + ", ".join(f.media_type for f in formats.formats_of("rdf", "html")))
    if fmt.kind == "html":
        response = Response(query_page(), content_type=fmt.content_type)
    else:
        body = formats.write_rdf(fmt, service_description(request.base_url),
                                 {"sd": str(SD), "void": str(VOID), "rdfs": str(RDFS),
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
    base = build.base
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
        t(dataset, RDFS_SEE_ALSO, iri(public_root() + "dataset")),
        t(dataset, SD + "defaultGraph", graph),
        t(graph, RDF_TYPE, iri(SD + "Graph")),
        t(graph, VOID + "triples", pyoxigraph.Literal(
            str(build.triples), datatype=iri(str(XSD.integer)))),
    ]
    if get_settings()["service_allowlist"]:
        triples.append(t(service, SD + "feature", iri(SD + "BasicFederatedQuery")))
    if build.text_index is not None:  # text search: ?x tip:matches "words" (the query page)
        triples += [t(service, SD + "feature", iri(MATCHES)),
                    t(iri(MATCHES), RDFS_SEE_ALSO, iri(public_root() + "query#text-search"))]
    oai = iri(public_root() + "oai")  # the same dataset's records, harvested by OAI-PMH
    triples += [t(oai, RDF_TYPE, iri(str(DCAT.DataService))),
                t(oai, str(DCAT.servesDataset), dataset),
                t(oai, str(DCT.conformsTo), iri(OAI_PMH))]
    return triples


# -- pages -----------------------------------------------------------------------------------------


def query_page(query: str | None = None, error: QueryError | None = None) -> str:
    """The query page; with ``query`` and ``error``, that query kept and its error shown
    (with the line and column the parser names, for the editor to mark)."""
    where = re.search(r"error at (\d+):(\d+)", error.message) if error else None
    return render_template(
        "query.html", endpoint=url_for("sparql.sparql"), query=query,
        example="SELECT ?s ?p ?o\nWHERE { ?s ?p ?o }\nLIMIT 25", prefixes=sorted(PREFIXES.items()),
        error=error and {"title": error.title, "message": error.message,
                         "line": where and int(where[1]), "column": where and int(where[2])})


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


# -- the layers of /sparql -------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Set up the layers that answer ``/sparql``, outermost first:

    1. :class:`~tipgraph.web.result_cache.Replay` (when the result cache is on): a request
       this worker answered from a kept file, byte for byte the same, answered again;
    2. :class:`~tipgraph.web.fast_path.FastPath`: a plain protocol query, answered
       without Flask;
    3. Flask: the guards of :mod:`tipgraph.web.limits` (before the request), then the
       view :func:`sparql`, which answers everything else.

    Each reads a request and writes an error through :mod:`tipgraph.web.protocol`.
    ``tipgraph serve``'s front (:mod:`tipgraph.front`) answers a plain query request on
    its asyncio loop with the first two (``app.extensions``), before any thread or WSGI
    environ is made, and hands every other request to the app.
    """
    config = app.config["TIPGRAPH"]
    # a client's queries end within query_timeout at the latest; most much sooner
    retry = max(1, min(5, math.ceil(float(config["query_timeout"]))))
    app.extensions[LIMITER] = ClientLimiter(int(config["max_concurrent_queries_per_client"]),
                                            retry_after=retry)
    megabytes = float(config["result_cache_mb"])
    cache = ResultCache(int(megabytes * 1024 * 1024), config["result_cache_dir"] or None) \
        if megabytes > 0 else None
    if cache is not None:
        app.extensions[RESULT_CACHE] = cache
    fast = FastPath(app, app.wsgi_app, app.extensions[SERVICE])
    app.wsgi_app = app.extensions[FAST_PATH] = fast  # type: ignore[method-assign]
    if cache is not None:
        # the build in service from one readlink, as the fast path knows it
        replay = Replay(fast, cache, fast.current_build_id,
                        max_body=int(config["max_request_bytes"]))
        app.wsgi_app = app.extensions[REPLAY] = replay  # type: ignore[method-assign]
