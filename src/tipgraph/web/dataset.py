"""The dataset's description (VoID + DCAT), its dumps, the sitemap and robots.txt.

The description's counts are what a SPARQL count over the endpoint returns: the
build counts them from the triples it loads into the store and writes them in its
index file (:class:`~tipgraph.web.indexes.DatasetCounts`), with the pages the
sitemap lists; counting them over the store instead takes 15 s at 100,000
publications, and is left for a remote store and a build without the file. The
dumps are the files the build wrote beside its store, served with ranges and
validators so a harvester fetches them only when a new build has been switched in.

The sitemap follows the sitemaps.org protocol: past :data:`SITEMAP_URLS` pages,
``/sitemap.xml`` is a sitemap index of parts (``/sitemap-1.xml``, ...).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from xml.sax.saxutils import escape

from flask import Blueprint, Flask, Response, abort, current_app, request, send_file
from rdflib import BNode, Graph, Literal, Namespace, URIRef

from tipgraph.formats import Format, negotiate
from tipgraph.graphs import sparql_string
from tipgraph.namespaces import DCT, PREFIXES, RDF, RDFS, XSD, bind_prefixes
from tipgraph.store import GraphStore, OxigraphStore
from tipgraph.web import get_build, get_service
from tipgraph.web.caching import MAX_AGE, conditional, etag_for
from tipgraph.web.documents import Document, from_rdflib, serialize
from tipgraph.web.indexes import INDEX_FILE, BuildIndexes, DatasetCounts, resource_pages
from tipgraph.web.service import Build

bp = Blueprint("dataset", __name__)

VOID = Namespace("http://rdfs.org/ns/void#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
IANA = "https://www.iana.org/assignments/media-types/"

#: The dumps a build writes: file -> (media type of the content, compression or None).
DUMPS: dict[str, tuple[str, str | None]] = {
    "tipgraph.ttl": ("text/turtle", None),
    "tipgraph.nt.gz": ("application/n-triples", "application/gzip"),
    "tipgraph.jsonld": ("application/ld+json", None),
    "tipgraph.nt": ("application/n-triples", None),
}


def public_root() -> str:
    """Where this server is reached (the ``public_url`` setting, or the request's own root)."""
    root = get_service().settings.get("public_url") or (request.host_url.rstrip("/")
                                                         + request.script_root)
    return root.rstrip("/") + "/"


def dataset_uri(build: Build) -> URIRef:
    from tipgraph.web.resources import base_of

    return URIRef(base_of(build) + "dataset")


class _Descriptions:
    """One description per (build, public root): the counts only change with the build."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], Document] = {}

    def get(self, build: Build, root: str) -> Document:
        key = (build.id, root)
        doc = self._cache.get(key)
        if doc is None:
            with self._lock:
                doc = self._cache.get(key) or from_rdflib(describe_dataset(build, root),
                                                          str(dataset_uri(build)))
                self._cache = {k: v for k, v in self._cache.items() if k[0] == build.id}
                self._cache[key] = doc
        return doc


_descriptions = _Descriptions()


@dataclass(frozen=True)
class _Served:
    """What the dataset's views take from the index file of the build a worker serves."""

    build_id: str
    counts: DatasetCounts
    pages: str  # BuildIndexes.pages


def serve_dataset(app: Flask, build: Build, indexes: BuildIndexes) -> None:
    """Have the views of ``app`` describe ``build`` and list its pages from ``indexes``,
    read from its file (called where the worker reads it, :mod:`tipgraph.web.pages`)."""
    app.extensions["tipgraph.dataset"] = _Served(build.id, indexes.counts, indexes.pages)


def _served(build: Build) -> _Served | None:
    """The file's counts and pages for ``build``; None for a build without them (a remote
    store, an older build), described and listed from its store."""
    from tipgraph.web.pages import warm
    from tipgraph.web.resources import base_of

    if not isinstance(build.store, OxigraphStore) or not build.file(INDEX_FILE).is_file():
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    served = app.extensions.get("tipgraph.dataset")
    if served is None or served.build_id != build.id:
        warm(build)  # reads the file, unless this worker has already tried
        served = app.extensions.get("tipgraph.dataset")
    if served is None or served.build_id != build.id or served.counts.base != base_of(build):
        return None
    return served


def dataset_counts(build: Build) -> DatasetCounts:
    """The counts of ``build``'s description: those the build wrote in its index file
    (read when the worker opened the build), or else counted by SPARQL over its store (a
    remote store, a build made before the file held them): 15 s at 100,000 publications,
    once per worker and build."""
    from tipgraph.web.resources import base_of

    served = _served(build)
    if served is not None:
        return served.counts
    return counts_from_store(build.store, base_of(build))


def counts_from_store(store: GraphStore, base: str) -> DatasetCounts:
    """The counts of the description, by SPARQL over ``store``."""
    def count(query: str) -> int:
        return int(next(iter(store.query(query)))["n"].value)

    in_space = f"FILTER(isIRI(?s) && STRSTARTS(STR(?s), {sparql_string(base)}))"
    classes = {row["c"].value: int(row["n"].value) for row in store.query(
        "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c FILTER(isIRI(?c)) } GROUP BY ?c")}
    properties = {row["p"].value: int(row["n"].value) for row in store.query(
        "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p")}
    example = next(iter(store.query(
        f"SELECT ?s WHERE {{ ?s a <{PREFIXES['tip']}Publication> FILTER(isIRI(?s)) }} "
        "ORDER BY ?s LIMIT 1")), None)
    return DatasetCounts(
        base=base, triples=count("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"),
        entities=count(f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s ?p ?o {in_space} }}"),
        distinct_subjects=count("SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }"),
        distinct_objects=count("SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s ?p ?o }"),
        classes=dict(sorted(classes.items())), properties=dict(sorted(properties.items())),
        example=None if example is None else example["s"].value)


def describe_dataset(build: Build, root: str, counts: DatasetCounts | None = None) -> Graph:
    """VoID and DCAT for ``build``, with its services and dumps under ``root``; its counts
    are ``counts`` (by default :func:`dataset_counts`)."""
    from tipgraph.web.resources import base_of

    if counts is None:
        counts = dataset_counts(build)
    base = base_of(build)
    settings = get_service().settings
    graph = bind_prefixes(Graph(), base)
    graph.bind("void", VOID)
    graph.bind("dcat", DCAT)
    ds = dataset_uri(build)
    add = graph.add
    for kind in (VOID.Dataset, DCAT.Dataset):
        add((ds, RDF.type, kind))
    add((ds, DCT.title, Literal("tipgraph: publications on trafficking in persons", lang="en")))
    add((ds, DCT.description, Literal(
        "A catalogue of publications on trafficking in persons (IOM's counter-trafficking "
        "resource catalogue), linked to the countries and IOM regions they are about, their "
        "authors and organisations.", lang="en")))
    add((ds, DCT.license, URIRef(settings["license"])))
    rights = BNode()
    add((ds, DCT.rights, rights))
    add((rights, RDF.type, DCT.RightsStatement))
    add((rights, RDFS.label, Literal(settings["rights"], lang="en")))
    add((ds, DCT.modified, Literal(build.modified.isoformat().replace("+00:00", "Z"),
                                   datatype=XSD.dateTime)))
    add((ds, DCT.identifier, Literal(build.id)))
    add((ds, VOID.uriSpace, Literal(base)))
    add((ds, VOID.sparqlEndpoint, URIRef(root + "sparql")))
    add((ds, VOID.triples, _literal(counts.triples)))
    add((ds, VOID.entities, _literal(counts.entities)))
    add((ds, VOID.distinctSubjects, _literal(counts.distinct_subjects)))
    add((ds, VOID.distinctObjects, _literal(counts.distinct_objects)))
    for cls, n in counts.classes.items():
        part = BNode()
        add((ds, VOID.classPartition, part))
        add((part, VOID["class"], URIRef(cls)))
        add((part, VOID.entities, _literal(n)))
    add((ds, VOID.classes, _literal(len(counts.classes))))
    for prop, n in counts.properties.items():
        part = BNode()
        add((ds, VOID.propertyPartition, part))
        add((part, VOID.property, URIRef(prop)))
        add((part, VOID.triples, _literal(n)))
    add((ds, VOID.properties, _literal(len(counts.properties))))
    used = {*counts.classes, *counts.properties}
    for prefix, namespace in sorted(PREFIXES.items()):
        if prefix not in ("rdf", "xsd") and any(term.startswith(namespace) for term in used):
            add((ds, VOID.vocabulary, URIRef(namespace)))
    if counts.example is not None:
        add((ds, VOID.exampleResource, URIRef(counts.example)))
    _distributions(graph, build, ds, root)
    catalog = URIRef(f"{ds}#catalog")
    add((catalog, RDF.type, DCAT.Catalog))
    add((catalog, DCT.title, Literal("tipgraph", lang="en")))
    add((catalog, DCAT.dataset, ds))
    add((catalog, DCT.license, URIRef(settings["license"])))
    add((catalog, DCT.modified, graph.value(ds, DCT.modified)))
    add((catalog, DCAT.service, URIRef(f"{ds}#sparql")))
    return graph


def _distributions(graph: Graph, build: Build, ds: URIRef, root: str) -> None:
    add = graph.add
    for name, (media_type, compression) in DUMPS.items():
        path = build.file(name)
        if not path.is_file():
            continue
        url = URIRef(root + "dumps/" + name)
        dist = URIRef(f"{ds}#dump-{name.removeprefix('tipgraph.').replace('.', '-')}")
        add((ds, VOID.dataDump, url))
        add((ds, DCAT.distribution, dist))
        add((dist, RDF.type, DCAT.Distribution))
        add((dist, DCT.title, Literal(f"{name}: the whole graph", lang="en")))
        add((dist, DCAT.downloadURL, url))
        add((dist, DCAT.accessURL, url))
        add((dist, DCAT.mediaType, URIRef(IANA + media_type)))
        add((dist, DCAT.byteSize, Literal(path.stat().st_size, datatype=XSD.nonNegativeInteger)))
        if compression:
            add((dist, DCAT.compressFormat, URIRef(IANA + compression)))
        add((dist, DCT.modified, graph.value(ds, DCT.modified)))
    service = URIRef(f"{ds}#sparql")
    add((service, RDF.type, DCAT.DataService))
    add((service, DCT.title, Literal("SPARQL 1.1 endpoint", lang="en")))
    add((service, DCAT.endpointURL, URIRef(root + "sparql")))
    add((service, DCT.conformsTo, URIRef("https://www.w3.org/TR/sparql11-protocol/")))
    add((service, DCAT.servesDataset, ds))
    dist = URIRef(f"{ds}#sparql-distribution")
    add((ds, DCAT.distribution, dist))
    add((dist, RDF.type, DCAT.Distribution))
    add((dist, DCAT.accessURL, URIRef(root + "sparql")))
    add((dist, DCAT.accessService, service))


def _literal(n: int) -> Literal:
    return Literal(n, datatype=XSD.integer)


# -- views ----------------------------------------------------------------------------------

@bp.route("/dataset", defaults={"extension": None})
@bp.route("/dataset.<extension>")
def dataset(extension: str | None) -> Response:
    """The description: negotiated at ``/dataset``, one format per ``/dataset.<ext>``."""
    return _description(extension, html_first=True)


@bp.route("/.well-known/void")
def well_known_void() -> Response:
    """Where VoID says a dataset's description is (Turtle unless asked otherwise)."""
    return _description(None, html_first=False)


def _description(extension: str | None, *, html_first: bool) -> Response:
    from tipgraph.web.resources import BY_EXTENSION, DOCUMENT_FORMATS, alternates

    build = get_build()
    if extension is not None:
        fmt = BY_EXTENSION.get(extension)
        if fmt is None:
            abort(404, f"The description is available as "
                  f"{', '.join('.' + f.extension for f in DOCUMENT_FORMATS)}.")
    else:
        formats = list(DOCUMENT_FORMATS)
        if not html_first:
            formats = formats[1:] + formats[:1]
        chosen = negotiate(request.headers.get("Accept"),
                           [m for f in formats for m in f.media_types])
        if chosen is None:
            abort(406, "The description is available as "
                  + ", ".join(f.media_type for f in formats) + ".")
        fmt = next(f for f in formats if chosen in f.media_types)
    response = _render(build, fmt)
    response.headers["Link"] = alternates("dataset")
    if extension is None:
        response.headers["Vary"] = "Accept"
    return conditional(response, build)


def _render(build: Build, fmt: Format) -> Response:
    doc = _descriptions.get(build, public_root())
    if fmt.name == "html":
        from tipgraph.web.pages import render_resource

        body: str | bytes = render_resource(build, doc, path="dataset", fragments=True)
    else:
        body = serialize(doc, fmt.oxigraph if fmt.name != "jsonld" else None)
    return Response(body, content_type=fmt.content_type)


@bp.route("/dumps/<name>")
def dump(name: str) -> Response:
    """A whole-graph dump of the build in service; ranges and validators via ``send_file``."""
    build = get_build()
    if name not in DUMPS or not build.file(name).is_file():
        abort(404, f"There is no dump {name!r}; the dumps are {', '.join(DUMPS)}.")
    media_type, compression = DUMPS[name]
    return send_file(build.file(name), mimetype=compression or media_type, conditional=True,
                     etag=etag_for(build, "dump", name), last_modified=build.modified,
                     max_age=MAX_AGE, download_name=name)


#: The most URLs one sitemap lists (the sitemaps.org protocol's limit, 50,000 URLs and
#: 50 MB): a build with more pages is listed by a sitemap index of parts of this size.
SITEMAP_URLS = 50_000
#: The pages of the site besides the resources'.
SITE_PAGES = ("", "browse", "query", "dataset.html", "ontology.html")
_SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"


class _PagePaths:
    """Every HTML page's path, sorted, for the build in service: from the index file, or
    else a scan of the store's subjects (7 s at 100,000 publications), kept per app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: tuple[str, list[str]] | None = None

    def get(self, build: Build) -> list[str]:
        found = self._paths
        if found is None or found[0] != build.id:
            with self._lock:
                found = self._paths
                if found is None or found[0] != build.id:
                    found = self._paths = (build.id, sorted({*SITE_PAGES, *_resource_pages(build)}))
        return found[1]


def _page_paths(build: Build) -> list[str]:
    paths: _PagePaths = current_app.extensions.setdefault("tipgraph.sitemap", _PagePaths())
    return paths.get(build)


def _resource_pages(build: Build) -> list[str]:
    from tipgraph.web.resources import base_of

    served = _served(build)
    if served is not None:
        return served.pages.split("\n") if served.pages else []
    base = base_of(build)
    rows = build.store.query(
        "SELECT DISTINCT ?s WHERE { ?s ?p ?o "
        f"FILTER(isIRI(?s) && STRSTARTS(STR(?s), {sparql_string(base)})) }}")
    return resource_pages((row["s"].value for row in rows), base)


@bp.route("/sitemap.xml")
def sitemap() -> Response:
    """Every HTML page: home, browse, the query page, the description, each resource; as a
    sitemap index of parts (``/sitemap-1.xml``, ...) when they are more than one sitemap
    may list (:data:`SITEMAP_URLS`)."""
    build = get_build()
    paths = _page_paths(build)
    if len(paths) <= SITEMAP_URLS:
        return _urlset(build, paths)
    root = public_root()
    modified = build.modified.date().isoformat()
    parts = "".join(f"<sitemap><loc>{escape(root)}sitemap-{n}.xml</loc>"
                    f"<lastmod>{modified}</lastmod></sitemap>\n"
                    for n in range(1, _parts(paths) + 1))
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="{_SITEMAP}">\n' + parts + "</sitemapindex>\n")
    return conditional(Response(body, content_type="application/xml; charset=utf-8"), build)


@bp.route("/sitemap-<int:part>.xml")
def sitemap_part(part: int) -> Response:
    """Part ``part`` (from 1) of a sitemap too long for one file."""
    build = get_build()
    paths = _page_paths(build)
    count = _parts(paths) if len(paths) > SITEMAP_URLS else 0
    if not 1 <= part <= count:
        abort(404, f"There is no sitemap part {part}: /sitemap.xml lists "
              + (f"parts 1 to {count}." if count else "every page itself."))
    return _urlset(build, paths[(part - 1) * SITEMAP_URLS:part * SITEMAP_URLS])


def _parts(paths: list[str]) -> int:
    return -(-len(paths) // SITEMAP_URLS)


def _urlset(build: Build, paths: list[str]) -> Response:
    root = escape(public_root())
    modified = build.modified.date().isoformat()
    urls = "".join(f"<url><loc>{root}{escape(p)}</loc><lastmod>{modified}</lastmod></url>\n"
                   for p in paths)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="{_SITEMAP}">\n' + urls + "</urlset>\n")
    return conditional(Response(body, content_type="application/xml; charset=utf-8"), build)


@bp.route("/robots.txt")
def robots() -> Response:
    build = get_build()
    body = (f"User-agent: *\nDisallow: /sparql\nAllow: /\n\nSitemap: {public_root()}sitemap.xml\n")
    return conditional(Response(body, content_type="text/plain; charset=utf-8"), build)


