"""Dereferencing: every instance URI, the ontology and the shapes answer on this server.

URIs are minted under the build's base (``base_uri``, by default
``https://w3id.org/tipgraph/``) and served at the same path here, as Pubby maps
a base onto its server: ``<base>place/ng`` is ``/place/ng``. The thing answers
``303 See Other`` to its document, chosen by ``Accept`` (``Vary: Accept``); the
documents ``/place/ng.html|.ttl|.jsonld|.rdf|.nt`` name each other in ``Link``
headers. A URI that an earlier build published and this one no longer has is
``410 Gone`` (the build directory's ledger, :mod:`tipgraph.ledger`, has every URI
ever published, whichever build is current); anything else unknown is
``404`` with a page that helps.

A document carries at most ``document_links`` incoming links per property
(``documents`` says why and how): ``/place/ng.ttl?page=2`` is its next page, in
every format, and a page past the last is ``404``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, render_template, request

from tipgraph.formats import Format, find, negotiate
from tipgraph.mapping import KINDS
from tipgraph.namespaces import ONTOLOGY_IRI, SHAPES_IRI
from tipgraph.reasoning import ONTOLOGY_PATH
from tipgraph.validation import SHAPES_PATH
from tipgraph.web import get_build, get_service
from tipgraph.web.caching import conditional
from tipgraph.web.dataset import public_root
from tipgraph.web.documents import (
    RDF_VALUE,
    Document,
    describe,
    exists,
    file_document,
    serialize,
)
from tipgraph.web.service import Build

bp = Blueprint("resources", __name__)

#: The documents of a resource, the server's favourite first (browsers get HTML).
DOCUMENT_FORMATS: tuple[Format, ...] = tuple(
    f for f in (find(name) for name in ("html", "turtle", "jsonld", "rdfxml", "ntriples"))
    if f is not None)
BY_EXTENSION = {f.extension: f for f in DOCUMENT_FORMATS}
#: Resources published from a file rather than the store: path -> (IRI, file).
FILE_RESOURCES: dict[str, tuple[str, Path]] = {
    "ontology": (str(ONTOLOGY_IRI), ONTOLOGY_PATH),
    "shapes": (str(SHAPES_IRI), SHAPES_PATH),
}
_KINDS = ",".join(sorted(set(KINDS.values())))


def base_of(build: Build) -> str:
    """The base the build minted its URIs under (the setting, for an older report)."""
    base = str(build.report.get("base") or get_service().base)
    return base if base.endswith(("/", "#")) else base + "/"


def uri_of(build: Build, path: str) -> str:
    """The URI a local path (``place/ng``) stands for."""
    if path in FILE_RESOURCES:
        return FILE_RESOURCES[path][0]
    return base_of(build) + path


def local_path(build: Build, uri: str) -> str | None:
    """The path on this server (``/place/ng``) that serves ``uri``, or None for others' URIs."""
    for path, (iri, _) in FILE_RESOURCES.items():
        if uri == iri or uri.startswith(iri + "#"):
            return request.script_root + "/" + path + uri[len(iri):]
    base = base_of(build)
    if uri.startswith(base) and len(uri) > len(base):
        return request.script_root + "/" + uri[len(base):]
    return None


def alternates(path: str) -> str:
    """``Link`` header value naming every document of ``path`` (a publication's citations
    too)."""
    from tipgraph.web.exports import CITATION_FORMATS

    root = request.script_root
    formats = [(f.extension, f.media_type) for f in DOCUMENT_FORMATS]
    if path.startswith("publication/"):
        formats += [(f.extension, f.media_type) for f in CITATION_FORMATS.values()]
    return ", ".join(f'<{root}/{path}.{extension}>; rel="alternate"; type="{media_type}"'
                     for extension, media_type in formats)


@bp.route(f"/<any({_KINDS}):kind>/<path:rest>")
def instance(kind: str, rest: str) -> Response:
    """An instance URI or one of its documents."""
    return dereference(f"{kind}/{rest}")


@bp.route("/ontology", defaults={"extension": None})
@bp.route("/ontology.<extension>")
def ontology(extension: str | None) -> Response:
    return dereference("ontology" + (f".{extension}" if extension else ""))


@bp.route("/shapes", defaults={"extension": None})
@bp.route("/shapes.<extension>")
def shapes(extension: str | None) -> Response:
    return dereference("shapes" + (f".{extension}" if extension else ""))


def dereference(path: str) -> Response:
    """303 from a thing to its document, the document itself, 410 or 404."""
    from tipgraph.web.exports import citation_document, split_extension

    build = get_build()
    if _known(build, path):
        return see_other(path)
    cited, citation = split_extension(path)  # .bib, .ris, .csl.json of a publication
    if citation and cited.startswith("publication/") and _known(build, cited):
        response = citation_document(build, [uri_of(build, cited)], citation,
                                     cited.rsplit("/", 1)[-1])
        response.headers["Link"] = document_links(cited, uri_of(build, cited))
        return response
    stem, dot, extension = path.rpartition(".")
    if dot and extension in BY_EXTENSION and _known(build, stem):
        return document(build, stem, BY_EXTENSION[extension])
    if _gone(build, path) or (dot and extension in BY_EXTENSION and _gone(build, stem)):
        return error_page(410, "Gone", f"{uri_of(build, stem if dot else path)} was published "
                          "by an earlier build of the dataset and is no longer in it.")
    return error_page(404, "Not found", f"Nothing in the dataset has the URI "
                      f"{uri_of(build, path)}.", query=path.rsplit("/", 1)[-1])


def document_links(path: str, uri: str) -> str:
    """The ``Link`` header of a document of ``path``: its other documents, and the IRI
    it describes."""
    return alternates(path) + f', <{uri}>; rel="describes"'


def see_other(path: str) -> Response:
    """The 303 from a thing to the document the client's ``Accept`` prefers (406: none);
    a publication is a citation too (BibTeX, RIS, CSL-JSON)."""
    from tipgraph.web.exports import CITATION_FORMATS

    documents = [(m, f.extension) for f in DOCUMENT_FORMATS for m in f.media_types]
    if path.startswith("publication/"):
        documents += [(f.media_type, f.extension) for f in CITATION_FORMATS.values()]
    chosen = negotiate(request.headers.get("Accept"), [m for m, _ in documents])
    if chosen is None:
        response = error_page(406, "Not acceptable", "This resource is available as " + ", ".join(
            dict.fromkeys(m for m, _ in documents)) + ".")
    else:
        extension = next(e for m, e in documents if m == chosen)
        response = redirect(f"{request.script_root}/{path}.{extension}", code=303)
    response.headers["Vary"] = "Accept"
    response.headers["Link"] = alternates(path)
    return response


def document(build: Build, path: str, fmt: Format) -> Response:
    """Page ``?page=`` (default 1) of the document of ``path`` in ``fmt``; 404 past the last."""
    from tipgraph.web.pages import render_resource, warm

    warm(build)
    uri = uri_of(build, path)
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 0
    if page < 1:
        return error_page(404, "Not found", "Pages of a document are numbered from 1.")
    if path in FILE_RESOURCES:
        doc = file_document(FILE_RESOURCES[path][1], uri)
        fragments = True
        if page > 1:
            return error_page(404, "Not found", f"The document of {uri} has one page.")
    else:
        fragments = path.startswith("source/")
        doc = describe(build.store, uri, base=base_of(build), build_id=build.id, page=page,
                       fragments=fragments,
                       limit=get_service().settings["document_links"])
        if page > 1 and not _has_page(doc, fragments):
            return error_page(404, "Not found", f"The document of {uri} has fewer than {page} "
                              "pages.")
    root = public_root()
    if fmt.name == "html":  # the page links to its neighbours itself (rel="next")
        body: str | bytes = render_resource(build, doc, path=path, fragments=fragments)
    else:
        doc = doc.with_paging(lambda n: f"{root}{path}.{fmt.extension}"
                              + (f"?page={n}" if n > 1 else ""))
        body = serialize(doc, fmt.oxigraph if fmt.name != "jsonld" else None)
    response = Response(body, content_type=fmt.content_type)
    response.headers["Link"] = document_links(path, uri)
    return conditional(response, build)


def _has_page(doc: Document, fragments: bool) -> bool:
    """Whether a page after the first carries anything of its own (not only statistics)."""
    if fragments:
        return bool(doc.triples)
    node = doc.node
    return any(t.object == node and t.predicate.value != RDF_VALUE.value for t in doc.triples)


def error_page(status: int, title: str, message: str, *, query: str = "") -> Response:
    """A page that says what went wrong and where to go instead."""
    words = " ".join(query.replace("-", " ").split()[:6]) if query else ""
    body = render_template("error.html", status=status, title=title, message=message,
                           search=words)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def _known(build: Build, path: str) -> bool:
    if path in FILE_RESOURCES:
        return True
    kind = path.split("/", 1)[0]
    if kind not in KINDS.values() or "/" not in path or path.endswith("/"):
        return False
    try:
        return exists(build.store, uri_of(build, path), fragments=kind == "source")
    except ValueError:  # not an IRI: nothing can have it
        return False


def _gone(build: Build, path: str) -> bool:
    """Whether ``path`` was published once (by any build, a later one too) and is not now."""
    service = get_service()
    if service.settings.get("store_url"):  # the ledger is the local builds' (docs/deploy.md)
        return False
    return service.build_dir.ledger.ever_published(uri_of(build, path), fragments=True)
