"""The fast path of resource documents: a plain request for one answered before Flask.

A linked-data crawler dereferences every URI of the dataset and takes its document
(``/publication/<slug>.ttl``, ``/place/ng.nt`` ...): Flask's request context, routing,
hooks and response objects cost about 0.7 ms of a publication's 1.0-1.3 ms in the app
(the document itself: 0.3-0.4 ms), measured at 100,000 publications. A ``GET`` or
``HEAD`` of an instance's RDF document, its first page, with no condition, is made here
by the view's own code (:func:`tipgraph.web.resources.described` and
:func:`~tipgraph.web.resources.rdf_document`) with the view's headers (``Link``, ETag,
Last-Modified, Cache-Control, CORS); ``tipgraph serve``'s front answers it from its
loop (:mod:`tipgraph.front`) without gunicorn's parser either.

Everything else goes the whole way, where the view answers it: the HTML page, a page
after the first (``?page=``), any query string, a conditional or ranged request, an
``Origin`` when ``cors_origins`` lists origins, a URI not in the build (404, 410), the
ontology and the shapes, citations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from flask import Flask
from werkzeug.wsgi import get_current_url

from tipgraph.formats import Format
from tipgraph.namespaces import KINDS
from tipgraph.serving import Build
from tipgraph.web.caching import caching_headers
from tipgraph.web.context import DOCUMENT_PATH, FAST_PATH
from tipgraph.web.fast_path import FastPath, Reply
from tipgraph.web.protocol import CONDITIONAL, WSGIApp
from tipgraph.web.resources import (
    BY_EXTENSION,
    described,
    document_links,
    rdf_document,
    uri_of,
)

#: A document's path this fast path takes: ``/<kind>/<name>.<extension>``, plain
#: characters only (anything percent-encoded, or a name the router would read otherwise,
#: goes the whole way).
PLAIN_DOCUMENT = re.compile(r"/(?P<stem>(?P<kind>[a-z]+)/[A-Za-z0-9][A-Za-z0-9._~-]*"
                           r"(?:/[A-Za-z0-9][A-Za-z0-9._~-]*)*)\.(?P<extension>[a-z]+)")
_KINDS = frozenset(KINDS.values())


class DocumentPath:
    """WSGI middleware: a plain request for a resource's RDF document answered without
    Flask (see the module's docstring), inside the layers that compress and read
    proxies' headers, so they see its answers as they see the app's."""

    def __init__(self, app: Flask, wsgi_app: WSGIApp, fast: FastPath) -> None:
        self.app, self.wsgi_app, self.fast = app, wsgi_app, fast
        self.config = app.config["TIPGRAPH"]
        self.public_url = str(self.config.get("public_url") or "")
        self.trusted_proxies = int(self.config["trusted_proxies"])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        plan = self.plan(environ)
        reply = self.reply(plan, environ) if plan is not None else None
        if reply is None:
            return self.wsgi_app(environ, start_response)
        start_response(reply.status, reply.headers)
        return [reply.body]

    def plan(self, environ: dict[str, Any], *, switching: bool = True) -> DocumentPlan | None:
        """What ``environ`` asks for, when it is a plain request for an RDF document (the
        module says which); None: the whole way. Reads nothing but the ``current`` link.

        :param switching: whether a new build in service may be opened here (False on
            the front's loop: :meth:`FastPath.plan`)
        """
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or environ.get("QUERY_STRING") \
                or any(name in environ for name in CONDITIONAL):
            return None
        if not self.fast.any_origin and environ.get("HTTP_ORIGIN"):
            return None  # an origin to check against the list: cors.py decides
        match = PLAIN_DOCUMENT.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or match["kind"] not in _KINDS:
            return None
        fmt = BY_EXTENSION.get(match["extension"])
        if fmt is None or fmt.name == "html":
            return None  # the page: rendered by the view
        build = self.fast.build_in_service(switching=switching)
        if build is None:
            return None
        quick = build.store.in_process and build.made("labels", "linking")
        return DocumentPlan(build, match["stem"], fmt, method == "HEAD", quick)

    def reply(self, plan: DocumentPlan, environ: dict[str, Any]) -> Reply | None:
        """The view's answer (:func:`tipgraph.web.resources.document`) to ``plan``; None
        when the view must answer (a URI the build does not have: 404 or 410)."""
        build, stem = plan.build, plan.stem
        try:
            # what the store says of it: nothing exactly when the view's ``known`` says
            # it is not in the build (no triple names it): 404 or 410, the view's pages
            doc = described(build, stem, 1, self.config)
            if not doc.triples:
                return None
            build.warm()
            script_root = environ.get("SCRIPT_NAME", "").rstrip("/")
            root = self.public_url or _host_url(
                environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST"),
                environ.get("SERVER_NAME"), environ.get("SERVER_PORT")
            ).rstrip("/") + script_root
            root = root.rstrip("/") + "/"  # as :func:`tipgraph.web.context.public_root`
            body = rdf_document(build, doc, stem, plan.fmt, root, self.config)
        except ValueError:  # not an IRI: nothing in the build has it (the view says 404)
            return None
        except Exception:  # a bug here: the whole way answers (and logs what it meets)
            self.app.logger.exception("the documents' fast path failed on %s",
                                      environ.get("PATH_INFO"))
            return None
        content_type = plan.fmt.content_type
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
                   ("Link", document_links(stem, uri_of(build, stem), script_root)),
                   *caching_headers(build, f"{environ['PATH_INFO']}?",
                                    content_type.partition(";")[0].strip().lower(),
                                    private=not self.public_url and not self.trusted_proxies)]
        return Reply("200 OK", self.fast.cors(headers), b"" if plan.head else body)


class DocumentPlan(NamedTuple):
    """A plain request for a document: the build, the resource's path (``place/ng``), the
    format, whether it is a HEAD; ``quick`` when the store is read in this process and the
    read models are made (bounded work: the front's loop may make it itself)."""

    build: Build
    stem: str
    fmt: Format
    head: bool
    quick: bool


@functools.lru_cache(maxsize=256)
def _host_url(scheme: str, host: str | None, server_name: str | None,
              server_port: str | None) -> str:
    """werkzeug's ``Request.host_url`` of these parts of the environ, kept."""
    environ = {"wsgi.url_scheme": scheme, "SERVER_NAME": server_name or "",
               "SERVER_PORT": server_port or ""}
    if host is not None:
        environ["HTTP_HOST"] = host
    return get_current_url(environ, host_only=True)


def init_app(app: Flask) -> None:
    """Put :class:`DocumentPath` before the layers of ``/sparql`` and Flask (inside the
    compression and proxies layers, which :func:`tipgraph.web.create_app` adds after)."""
    documents = DocumentPath(app, app.wsgi_app, app.extensions[FAST_PATH])
    app.wsgi_app = app.extensions[DOCUMENT_PATH] = documents  # type: ignore[method-assign]
