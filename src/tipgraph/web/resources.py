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

A document's HTML page is rendered here too (:func:`render_resource`), with the
schema.org JSON-LD it embeds: it goes through ``tojson``, which escapes ``<``, ``>``
and ``&`` so that a title cannot close the ``<script>`` element it sits in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request
from pyoxigraph import BlankNode, NamedNode

from tipgraph.citation import CITATION_FORMATS, split_extension
from tipgraph.formats import Format, find
from tipgraph.namespaces import (
    DCT,
    FOAF,
    GN,
    KINDS,
    ONTOLOGY_IRI,
    ONTOLOGY_PATH,
    PREFIXES,
    RDF,
    SCHEMA,
    SHAPES_IRI,
    SHAPES_PATH,
    SKOS,
    TIP,
)
from tipgraph.negotiation import choose_type
from tipgraph.schema_org import resource_jsonld
from tipgraph.serving import Build
from tipgraph.serving.catalogue import FACETS, Link
from tipgraph.serving.documents import (
    NODES,
    RDF_VALUE,
    Document,
    describe,
    exists,
    file_document,
    label_of,
    serialize,
)
from tipgraph.web.caching import conditional
from tipgraph.web.context import (
    browse_url,
    get_build,
    get_settings,
    public_root,
    requested_page,
)
from tipgraph.web.exports import citation_document
from tipgraph.web.record import country_map, node_summary, publication_record

bp = Blueprint("resources", __name__)

#: The documents of a resource, the server's favourite first (browsers get HTML).
DOCUMENT_FORMATS: tuple[Format, ...] = tuple(
    f for f in (find(name) for name in ("html", "turtle", "jsonld", "rdfxml", "ntriples",
                                        "nquads", "trig"))
    if f is not None)
BY_EXTENSION = {f.extension: f for f in DOCUMENT_FORMATS}
#: Resources published from a file rather than the store: path -> (IRI, file).
FILE_RESOURCES: dict[str, tuple[str, Path]] = {
    "ontology": (str(ONTOLOGY_IRI), ONTOLOGY_PATH),
    "shapes": (str(SHAPES_IRI), SHAPES_PATH),
}
_KINDS = ",".join(sorted(set(KINDS.values())))


def uri_of(build: Build, path: str) -> str:
    """The URI a local path (``place/ng``) stands for."""
    if path in FILE_RESOURCES:
        return FILE_RESOURCES[path][0]
    return build.base + path


def local_path(build: Build, uri: str) -> str | None:
    """The path on this server (``/place/ng``) that serves ``uri``, or None for others' URIs."""
    for path, (iri, _) in FILE_RESOURCES.items():
        if uri == iri or uri.startswith(iri + "#"):
            return request.script_root + "/" + path + uri[len(iri):]
    base = build.base
    if uri.startswith(base) and len(uri) > len(base):
        return request.script_root + "/" + uri[len(base):]
    return None


def alternates(path: str, script_root: str | None = None) -> str:
    """``Link`` header value naming every document of ``path`` (a publication's citations
    too)."""
    root = request.script_root if script_root is None else script_root
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
    build = get_build()
    if known(build, path):
        return see_other(path)
    cited, citation = split_extension(path)  # .bib, .ris, .csl.json of a publication
    if citation and cited.startswith("publication/") and known(build, cited):
        response = citation_document(build, [uri_of(build, cited)], citation,
                                     cited.rsplit("/", 1)[-1])
        response.headers["Link"] = document_links(cited, uri_of(build, cited))
        return response
    stem, dot, extension = path.rpartition(".")
    if dot and extension in BY_EXTENSION and known(build, stem):
        return document(build, stem, BY_EXTENSION[extension])
    if _gone(build, path) or (dot and extension in BY_EXTENSION and _gone(build, stem)):
        return error_page(410, "Gone", f"{uri_of(build, stem if dot else path)} was published "
                          "by an earlier build of the dataset and is no longer in it.")
    return error_page(404, "Not found", f"Nothing in the dataset has the URI "
                      f"{uri_of(build, path)}.", query=path.rsplit("/", 1)[-1])


def document_links(path: str, uri: str, script_root: str | None = None) -> str:
    """The ``Link`` header of a document of ``path``: its other documents, and the IRI
    it describes (``script_root``: the request's, by default)."""
    return alternates(path, script_root) + f', <{uri}>; rel="describes"'


def see_other(path: str) -> Response:
    """The 303 from a thing to the document the client's ``Accept`` prefers (406: none);
    a publication is a citation too (BibTeX, RIS, CSL-JSON), offered after its documents."""
    offered = [(f.media_type, f.also_accepts, f.extension) for f in DOCUMENT_FORMATS]
    if path.startswith("publication/"):
        offered += [(f.media_type, (), f.extension) for f in CITATION_FORMATS.values()]
    index = choose_type(request.headers.get("Accept"), [(m, a) for m, a, _ in offered])
    if index is None:
        response = not_acceptable("This resource", [m for m, _, _ in offered])
    else:
        response = redirect(f"{request.script_root}/{path}.{offered[index][2]}", code=303)
    response.headers["Vary"] = "Accept"
    response.headers["Link"] = alternates(path)
    return response


def document(build: Build, path: str, fmt: Format) -> Response:
    """Page ``?page=`` (default 1) of the document of ``path`` in ``fmt``; 404 past the last."""
    build.warm()
    uri = uri_of(build, path)
    page = requested_page() or 0
    if page < 1:
        return error_page(404, "Not found", "Pages of a document are numbered from 1.")
    if path in FILE_RESOURCES:
        doc = file_document(FILE_RESOURCES[path][1], uri)
        fragments = True
        if page > 1:
            return error_page(404, "Not found", f"The document of {uri} has one page.")
    else:
        fragments = path.startswith("source/")
        doc = described(build, path, page, get_settings())
        if page > 1 and not _has_page(doc, fragments):
            return error_page(404, "Not found", f"The document of {uri} has fewer than {page} "
                              "pages.")
    if fmt.name == "html":  # the page links to its neighbours itself (rel="next")
        body: str | bytes = render_resource(build, doc, path=path, fragments=fragments)
    else:
        body = rdf_document(build, doc, path, fmt, public_root(), get_settings())
    response = Response(body, content_type=fmt.content_type)
    response.headers["Link"] = document_links(path, uri)
    return conditional(response, build)


def described(build: Build, path: str, page: int, settings: dict[str, Any]) -> Document:
    """Page ``page`` of what the store says of ``path`` (an instance's, not a file's)."""
    return describe(build.store, uri_of(build, path), base=build.base, labels=build.labels,
                    linking=build.linking, page=page, fragments=path.startswith("source/"),
                    limit=settings["document_links"])


def rdf_document(build: Build, doc: Document, path: str, fmt: Format, root: str,
                 settings: dict[str, Any]) -> bytes:
    """``doc`` (of ``path``) in the RDF format ``fmt``, with the links to its neighbouring
    pages and, for the dataset's own resources, what it is (VoID), its URLs under ``root``:
    the body the view and the documents' fast path
    (:class:`tipgraph.web.fast_documents.DocumentPath`) both serve."""
    def url(n: int) -> str:
        return f"{root}{path}.{fmt.extension}" + (f"?page={n}" if n > 1 else "")

    doc = doc.with_paging(url)
    if path not in FILE_RESOURCES:  # the ontology and shapes are not in the dataset
        doc = doc.in_dataset(url(doc.page), build.base + "dataset", settings["license"])
    return serialize(doc, fmt.oxigraph if fmt.name != "jsonld" else None)


def _has_page(doc: Document, fragments: bool) -> bool:
    """Whether a page after the first carries anything of its own (not only statistics)."""
    if fragments:
        return bool(doc.triples)
    node = doc.node
    return any(t.object == node and t.predicate.value != RDF_VALUE.value for t in doc.triples)


def not_acceptable(what: str, offered: Iterable[Format | str]) -> Response:
    """406, naming the formats (or media types) ``what`` (a sentence's subject) is
    available in."""
    return error_page(406, "Not acceptable", f"{what} is available as " + ", ".join(
        f if isinstance(f, str) else f.media_type for f in offered) + ".")


def error_page(status: int, title: str, message: str, *, query: str = "") -> Response:
    """A page that says what went wrong and where to go instead."""
    words = " ".join(query.replace("-", " ").split()[:6]) if query else ""
    body = render_template("error.html", status=status, title=title, message=message,
                           search=words)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def known(build: Build, path: str) -> bool:
    """Whether ``path`` is an instance's (or the ontology's, the shapes') in ``build``."""
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
    return build.ever_published(uri_of(build, path))


#: Shown in this order at the top of a resource's table; the rest follow by name.
FIRST_PROPERTIES = (RDF.type, SKOS.prefLabel, DCT.title, GN.name, FOAF.name, SCHEMA.name,
                    DCT.issued, DCT.creator, TIP.statedCountry, TIP.statedRegion, DCT.spatial,
                    DCT.abstract)


# -- resource pages -------------------------------------------------------------------------

@bp.app_template_global()
def safe_href(target: str) -> str:
    """``target`` when a page may link to it: a path on this server, or an ``http``/``https``
    IRI; else "" (and the page shows the text without a link). Whatever the store holds,
    a ``javascript:``, ``data:`` or ``vbscript:`` IRI is never a link.

    >>> safe_href("https://example.org/a"), safe_href("/place/ng"), safe_href("javascript:x")
    ('https://example.org/a', '/place/ng', '')
    >>> safe_href("//elsewhere.example/x"), safe_href(" JavaScript:x")
    ('', '')
    """
    if target.startswith("/"):
        return "" if target.startswith("//") or target.startswith("/\\") else target
    scheme = target.partition(":")[0].lower()
    return target if scheme in _WEB_SCHEMES and target[len(scheme):].startswith("://") else ""


_WEB_SCHEMES = frozenset({"http", "https"})


def link_of(build: Build, uri: str) -> str:
    """Where a link to ``uri`` goes: our own URIs on this server, others' http(s) IRIs as
    they are, anything else nowhere ("")."""
    return safe_href(local_path(build, uri) or uri)


def linker(build: Build) -> Callable[[str], str]:
    """:func:`link_of` for the many links of one page: the base and root looked up once."""
    base, root = build.base, request.script_root + "/"
    files = tuple(iri for iri, _ in FILE_RESOURCES.values())

    def link(uri: str) -> str:
        if uri.startswith(base) and len(uri) > len(base) and not uri.startswith(files):
            return safe_href(root + uri[len(base):])
        return link_of(build, uri)

    return link


def curie(uri: str, base: str) -> str:
    for prefix, namespace in _BY_LENGTH:
        if uri.startswith(namespace) and len(uri) > len(namespace):
            return f"{prefix}:{uri[len(namespace):]}"
    if uri.startswith(base):
        return uri[len(base):]
    return uri


_BY_LENGTH = sorted(PREFIXES.items(), key=lambda kv: -len(kv[1]))
_FIRST = tuple(NamedNode(str(p)) for p in FIRST_PROPERTIES)
_N = {**NODES, "Statistic": NamedNode(str(TIP.Statistic)),
      "facet": NamedNode(str(TIP.facet)), "count": NamedNode(str(TIP["count"]))}


def _natural(text: str) -> tuple[Any, ...]:
    """Sort key that puts ``line-2`` before ``line-10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def render_resource(build: Build, doc: Document, *, path: str, fragments: bool) -> str:
    """The HTML document of ``doc.uri`` from its document (``documents.describe``)."""
    base = build.base
    uri = doc.uri
    node = doc.node
    subjects: list[Any] = [node] if doc.describes(node) else []
    if fragments:
        subjects += sorted((s for s in doc.subjects() if isinstance(s, NamedNode) and s != node
                            and (s.value.startswith(uri + "#")
                                 or path in ("ontology", "shapes"))),
                           key=lambda s: _natural(s.value))
    sections = [{"id": s.value[len(uri) + 1:] if s.value.startswith(uri + "#") else "",
                 "uri": s.value, "label": label_of(doc, s) or curie(s.value, base),
                 "rows": _rows(build, doc, s, base)} for s in subjects]
    publications, incoming = _incoming(build, doc, node, base)
    title = label_of(doc, node) or curie(uri, base)
    types = sorted(curie(t.value, base) for t in doc.objects(node, _N["type"]))
    page_url = f"{public_root()}{path}.html"
    here = f"{request.script_root}/{path}.html"
    record, summary = _record_or_summary(build, doc, path=path, page_url=page_url)
    return render_template(
        "resource.html", build=build, uri=uri, title=title, types=types, sections=sections,
        record=record, summary=summary,
        publications=publications, incoming=incoming, total=_total(doc, node),
        page=doc.page, first=(doc.page - 1) * get_settings()["document_links"] + 1,
        previous=(here + (f"?page={doc.page - 1}" if doc.page > 2 else "")
                  if doc.page > 1 else None),
        next=f"{here}?page={doc.page + 1}" if doc.more else None,
        documents=[(f.extension, f.media_type, f"{request.script_root}/{path}.{f.extension}"
                    + (f"?page={doc.page}" if doc.page > 1 else ""))
                   for f in DOCUMENT_FORMATS if f.name != "html"],
        schema_org=resource_jsonld(doc, node, page_url, base))


def _record_or_summary(build: Build, doc: Document, *, path: str, page_url: str
                       ) -> tuple[Any, Any]:
    """A publication's record, or a place's, organisation's or person's summary (a region's
    with its map), for the first page of its document; (None, None) for anything else."""
    kind = path.split("/", 1)[0]
    if doc.page != 1 or kind not in ("publication", "place", "organisation", "person",
                                     "concept"):
        return None, None
    cat = build.catalogue
    href = linker(build)
    if kind == "publication":
        return publication_record(build, doc, cat, href=href, page_url=page_url,
                                  path=f"{request.script_root}/{path}"), None
    summary = node_summary(cat, doc.uri, href=href, browse=browse_url)
    if summary is not None and summary.facet == "region":
        # the countries inside it (a place's key is its URI's last step, as a country's)
        inside = {Link(s.value, "").key for s, p in doc.incoming(doc.node)
                  if p == _N["parentFeature"]}
        rows = [(key, label, n) for key, label, n in
                cat.counts(cat.select("", {"region": [Link(doc.uri, "").key]}), ["country"])
                ["country"] if not inside or key in inside]
        area = sorted(inside)
        if rows or area:
            summary.map_svg = country_map(cat, rows, area=area, href=href,
                                          title=f"Publications per country: {summary.heading}")
    return None, summary


def _total(doc: Document, node: NamedNode) -> dict[str, Any] | None:
    """The publications the build counted for ``node`` (its ``tip:Statistic``), with the
    browse page listing them all."""
    for subject, prop in doc.incoming(node):
        if prop == _N["value"] and _N["Statistic"] in doc.objects(subject, _N["type"]):
            facet, n = doc.value(subject, _N["facet"]), doc.value(subject, _N["count"])
            if facet is None or n is None or facet.value not in FACETS:
                continue
            key = facet.value if facet.value == "year" else Link(node.value, "").key
            return {"count": int(n.value), "browse": browse_url(**{facet.value: key})}
    return None


def _value(build: Build, doc: Document, value: Any, base: str, prop: NamedNode,
           depth: int = 0) -> dict[str, Any]:
    if isinstance(value, NamedNode):
        local = link_of(build, value.value)
        return {"text": label_of(doc, value) or curie(value.value, base), "href": local,
                "external": local == value.value, "uri": value.value}
    if isinstance(value, BlankNode):
        rows = _rows(build, doc, value, base, depth + 1) if depth < 3 else []
        return {"text": "", "rows": rows}
    item: dict[str, Any] = {"text": value.value, "lang": value.language}
    if not value.language and value.datatype.value != _XSD_STRING:
        item["datatype"] = curie(value.datatype.value, base)
    if prop == _N["issued"]:
        item["href"] = browse_url(year=value.value)
    return item


_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def _rows(build: Build, doc: Document, subject: Any, base: str,
          depth: int = 0) -> list[dict[str, Any]]:
    props = sorted(doc.predicates(subject),
                   key=lambda p: (_FIRST.index(p) if p in _FIRST else len(_FIRST),
                                  curie(p.value, base)))
    rows = []
    for prop in props:
        values = sorted(doc.objects(subject, prop), key=lambda v: (
            str(label_of(doc, v) or v.value) if isinstance(v, NamedNode) else str(v.value)))
        rows.append({"property": curie(prop.value, base), "uri": prop.value,
                     "values": [_value(build, doc, v, base, prop, depth) for v in values]})
    return rows


def _incoming(build: Build, doc: Document, node: NamedNode, base: str
              ) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Publications that point at ``node``, and the other links into it by property."""
    publications: dict[str, dict[str, str]] = {}
    others: dict[str, dict[str, Any]] = {}
    prefix = base + "publication/"
    statistics = base.rstrip("/#") + "/dataset#statistic-"  # the total says it; not a link
    for subject, prop in doc.incoming(node):
        if subject == node or not isinstance(subject, NamedNode) \
                or subject.value.startswith(statistics):
            continue
        item = {"text": label_of(doc, subject) or curie(subject.value, base),
                "href": link_of(build, subject.value)}
        if subject.value.startswith(prefix) and "#" not in subject.value:
            publications[subject.value] = item
        else:
            group = others.setdefault(prop.value, {"property": curie(prop.value, base),
                                                   "values": {}})
            group["values"][subject.value] = item
    listed = sorted(publications.values(), key=lambda i: i["text"].casefold())
    return listed, [{"property": g["property"], "values": sorted(
        g["values"].values(), key=lambda i: i["text"].casefold())}
        for g in sorted(others.values(), key=lambda g: g["property"])]
