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
from rdflib import Graph, URIRef

from tipgraph import description
from tipgraph.formats import Format, find
from tipgraph.namespaces import PREFIXES
from tipgraph.negotiation import accepts_gzip, choose
from tipgraph.store import GraphStore, OxigraphStore
from tipgraph.web import get_build, get_service
from tipgraph.web.caching import MAX_AGE, conditional, etag_for
from tipgraph.web.compression import NOT_COMPRESSED
from tipgraph.web.documents import Document, from_rdflib, serialize
from tipgraph.web.indexes import INDEX_FILE, BuildIndexes, DatasetCounts, resource_pages
from tipgraph.web.service import Build

bp = Blueprint("dataset", __name__)

#: The dumps a build serves: name -> (media type of the content, compression or None).
DUMPS: dict[str, tuple[str, str | None]] = {
    "tipgraph.ttl": ("text/turtle", None),
    "tipgraph.nt.gz": ("application/n-triples", "application/gzip"),
    "tipgraph.jsonld": ("application/ld+json", None),
    "tipgraph.nt": ("application/n-triples", None),
    "tipgraph.nq": ("application/n-quads", None),
    "tipgraph.nq.gz": ("application/n-quads", "application/gzip"),
    "tipgraph.trig": ("application/trig", None),
}
#: Dumps served from another's file: the graph is one default graph, so its N-Triples
#: file is an N-Quads file and its Turtle file a TriG file, byte for byte.
DUMP_FILES: dict[str, str] = {"tipgraph.nq": "tipgraph.nt", "tipgraph.nq.gz": "tipgraph.nt.gz",
                              "tipgraph.trig": "tipgraph.ttl"}


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

    in_space = f'FILTER(isIRI(?s) && STRSTARTS(STR(?s), "{base}"))'
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
    """VoID and DCAT-AP for ``build`` (:func:`tipgraph.description.describe_dataset`), with
    its services and dumps under ``root``; its counts are ``counts`` (by default
    :func:`dataset_counts`)."""
    from tipgraph.web.resources import base_of

    return description.describe_dataset(
        counts if counts is not None else dataset_counts(build),
        description.read_facts(build.store), dump_files(build),
        settings=get_service().settings, base=base_of(build), root=root, version=build.id,
        modified=build.modified)


def dump_files(build: Build) -> list[description.DumpFile]:
    """The dumps ``build`` serves: its files, and those served from them as another type."""
    found = []
    for name, (media_type, compression) in DUMPS.items():
        path = build.file(DUMP_FILES.get(name, name))
        if path.is_file():
            found.append(description.DumpFile(name, media_type, compression,
                                              path.stat().st_size))
    return found


# -- views ----------------------------------------------------------------------------------

@bp.route("/dataset", defaults={"extension": None})
@bp.route("/dataset.<extension>")
def dataset(extension: str | None) -> Response:
    """The description: negotiated at ``/dataset``, one format per ``/dataset.<ext>``."""
    return _description(extension)


@bp.route("/.well-known/void")
def well_known_void() -> Response:
    """Where VoID says a dataset's description is (negotiated as ``/dataset`` is)."""
    return _description(None)


def description_formats() -> list[Format]:
    """The description's formats, Turtle first: a harvester sending ``*/*`` (CKAN's does)
    gets data; a browser names ``text/html`` and gets the page."""
    from tipgraph.web.resources import DOCUMENT_FORMATS

    return [f for f in DOCUMENT_FORMATS if f.name != "html"] + \
        [f for f in DOCUMENT_FORMATS if f.name == "html"]


def _description(extension: str | None) -> Response:
    from tipgraph.web.resources import BY_EXTENSION, DOCUMENT_FORMATS, alternates, not_acceptable

    build = get_build()
    if extension is not None:
        fmt = BY_EXTENSION.get(extension)
        if fmt is None:
            abort(404, f"The description is available as "
                  f"{', '.join('.' + f.extension for f in DOCUMENT_FORMATS)}.")
    else:
        offered = description_formats()
        fmt = choose(request.headers.get("Accept"), offered)
        if fmt is None:
            return not_acceptable("The description", offered)
    response = _render(build, fmt)
    response.headers["Link"] = alternates("dataset")
    if extension is None:
        response.headers["Vary"] = "Accept"
    return conditional(response, build)


def description_of(build: Build) -> Document:
    """The description of ``build`` as served at this request's root (made once)."""
    return _descriptions.get(build, public_root())


def _render(build: Build, fmt: Format) -> Response:
    doc = description_of(build)
    if fmt.name == "html":
        from tipgraph.web.pages import render_resource

        body: str | bytes = render_resource(build, doc, path="dataset", fragments=True)
    else:
        body = serialize(doc, fmt.oxigraph if fmt.name != "jsonld" else None)
    return Response(body, content_type=fmt.content_type)


#: The dumps by format, for ``/dumps/tipgraph`` (negotiated): the server's favourite first.
DUMP_BY_FORMAT: dict[str, str] = {"turtle": "tipgraph.ttl", "ntriples": "tipgraph.nt",
                                  "jsonld": "tipgraph.jsonld", "nquads": "tipgraph.nq",
                                  "trig": "tipgraph.trig"}


@bp.route("/dumps/tipgraph")
def negotiated_dump() -> Response:
    """The whole graph in the format ``Accept`` prefers (``Content-Location`` names its
    file); 406 when the client takes none of them."""
    from tipgraph.web.resources import not_acceptable

    build = get_build()
    offered = [f for f in (find(name, ["rdf"]) for name in DUMP_BY_FORMAT)
               if f is not None and build.file(DUMP_FILES.get(DUMP_BY_FORMAT[f.name],
                                                              DUMP_BY_FORMAT[f.name])).is_file()]
    fmt = choose(request.headers.get("Accept"), offered)
    if fmt is None:
        return not_acceptable("The dump", offered)
    name = DUMP_BY_FORMAT[fmt.name]
    response = dump(name)
    response.headers["Content-Location"] = f"{request.script_root}/dumps/{name}"
    response.vary.add("Accept")
    return response


@bp.route("/dumps/<name>")
def dump(name: str) -> Response:
    """A whole-graph dump of the build in service; ranges and validators via ``send_file``.

    A client that takes gzip gets the dump's precompressed ``.gz`` file, when the build has
    one, as ``Content-Encoding: gzip`` (with an ETag of its own): nothing is compressed per
    request, and :mod:`tipgraph.web.compression` leaves dumps alone.
    """
    build = get_build()
    file = DUMP_FILES.get(name, name)
    if name not in DUMPS or not build.file(file).is_file():
        abort(404, f"There is no dump {name!r}; the dumps are {', '.join(DUMPS)}.")
    media_type, compression = DUMPS[name]
    request.environ[NOT_COMPRESSED] = True
    precompressed = build.file(file + ".gz")
    if compression is None and precompressed.is_file() and accepts_gzip(
            request.headers.get("Accept-Encoding")):
        response = send_file(precompressed, mimetype=media_type, conditional=True,
                             etag=etag_for(build, "dump", name, "gzip"),
                             last_modified=build.modified, max_age=MAX_AGE,
                             download_name=name)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = send_file(build.file(file), mimetype=compression or media_type,
                             conditional=True, etag=etag_for(build, "dump", name),
                             last_modified=build.modified, max_age=MAX_AGE,
                             download_name=name)
    if compression is None and precompressed.is_file():
        response.vary.add("Accept-Encoding")
    return response


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
        f'SELECT DISTINCT ?s WHERE {{ ?s ?p ?o FILTER(isIRI(?s) && STRSTARTS(STR(?s), "{base}"))'
        " }")
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


