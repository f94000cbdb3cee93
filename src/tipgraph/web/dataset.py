"""The dataset's description (VoID + DCAT), its dumps, the sitemap and robots.txt.

The description is computed from the store of the build in service, so its
counts are what a SPARQL count over the endpoint returns; the dumps are the
files the build wrote beside its store, served with ranges and validators so a
harvester fetches them only when a new build has been switched in.
"""

from __future__ import annotations

import threading
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, request, send_file
from rdflib import BNode, Graph, Literal, Namespace, URIRef

from tipgraph.formats import Format, negotiate
from tipgraph.namespaces import DCT, PREFIXES, RDF, RDFS, XSD, bind_prefixes
from tipgraph.web import get_build, get_service
from tipgraph.web.caching import MAX_AGE, conditional, etag_for
from tipgraph.web.documents import Document, from_rdflib, serialize
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


def _count(build: Build, query: str) -> int:
    return int(next(iter(build.store.query(query)))["n"].value)


def describe_dataset(build: Build, root: str) -> Graph:
    """VoID and DCAT for ``build``, with its services and dumps under ``root``."""
    from tipgraph.web.resources import base_of

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
    in_space = f'FILTER(isIRI(?s) && STRSTARTS(STR(?s), "{base}"))'
    add((ds, VOID.triples, _literal(_count(build, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"))))
    add((ds, VOID.entities, _literal(_count(
        build, f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s ?p ?o {in_space} }}"))))
    add((ds, VOID.distinctSubjects, _literal(_count(
        build, "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }"))))
    add((ds, VOID.distinctObjects, _literal(_count(
        build, "SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s ?p ?o }"))))
    used: set[str] = set()
    classes = build.store.query(
        "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c ORDER BY ?c")
    count = 0
    for row in classes:
        count += 1
        part = BNode()
        add((ds, VOID.classPartition, part))
        add((part, VOID["class"], URIRef(row["c"].value)))
        add((part, VOID.entities, _literal(int(row["n"].value))))
        used.add(row["c"].value)
    add((ds, VOID.classes, _literal(count)))
    count = 0
    for row in build.store.query(
            "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY ?p"):
        count += 1
        part = BNode()
        add((ds, VOID.propertyPartition, part))
        add((part, VOID.property, URIRef(row["p"].value)))
        add((part, VOID.triples, _literal(int(row["n"].value))))
        used.add(row["p"].value)
    add((ds, VOID.properties, _literal(count)))
    for prefix, namespace in sorted(PREFIXES.items()):
        if prefix not in ("rdf", "xsd") and any(term.startswith(namespace) for term in used):
            add((ds, VOID.vocabulary, URIRef(namespace)))
    example = next(iter(build.store.query(
        f"SELECT ?s WHERE {{ ?s a <{PREFIXES['tip']}Publication> }} ORDER BY ?s LIMIT 1")), None)
    if example is not None:
        add((ds, VOID.exampleResource, URIRef(example["s"].value)))
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


@bp.route("/sitemap.xml")
def sitemap() -> Response:
    """Every HTML page: home, browse, the query page, the description, each resource."""
    from tipgraph.web.resources import base_of

    build = get_build()
    root = public_root()
    base = base_of(build)
    paths = {"", "browse", "query", "dataset.html", "ontology.html"}
    rows = build.store.query(
        f'SELECT DISTINCT ?s WHERE {{ ?s ?p ?o FILTER(isIRI(?s) && STRSTARTS(STR(?s), "{base}"))'
        " }")
    for row in rows:
        path = row["s"].value[len(base):].split("#", 1)[0]
        if "/" in path:
            paths.add(path + ".html")
    modified = build.modified.date().isoformat()
    urls = "".join(f"<url><loc>{escape(root + p)}</loc><lastmod>{modified}</lastmod></url>\n"
                   for p in sorted(paths))
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + urls
            + "</urlset>\n")
    return conditional(Response(body, content_type="application/xml; charset=utf-8"), build)


@bp.route("/robots.txt")
def robots() -> Response:
    build = get_build()
    body = (f"User-agent: *\nDisallow: /sparql\nAllow: /\n\nSitemap: {public_root()}sitemap.xml\n")
    return conditional(Response(body, content_type="text/plain; charset=utf-8"), build)


