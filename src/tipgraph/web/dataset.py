"""The dataset's description (VoID + DCAT), its dumps, the sitemap and robots.txt.

The description is made by the read side (:mod:`tipgraph.serving.dataset`), once
per build and public root. The dumps are the files the build wrote beside its
store, served with ranges and validators so a harvester fetches them only when a
new build has been switched in, negotiated at ``/dumps/tipgraph``, and served from their
precompressed ``.gz`` file to a client that takes gzip.

The sitemap follows the sitemaps.org protocol: past :data:`SITEMAP_URLS` pages,
``/sitemap.xml`` is a sitemap index of parts (``/sitemap-1.xml``, ...).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, request, send_file

from tipgraph.dumps import DUMPS, dump_file
from tipgraph.formats import Format, find
from tipgraph.negotiation import accepts_gzip, choose
from tipgraph.serving import Build
from tipgraph.serving.dataset import description
from tipgraph.serving.documents import serialize
from tipgraph.web.caching import MAX_AGE, conditional, etag_for
from tipgraph.web.compression import NOT_COMPRESSED
from tipgraph.web.context import get_build, public_root
from tipgraph.web.resources import (
    BY_EXTENSION,
    DOCUMENT_FORMATS,
    alternates,
    not_acceptable,
    render_resource,
)

bp = Blueprint("dataset", __name__)


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


#: The description's formats, Turtle first: a harvester sending ``*/*`` (CKAN's does) gets
#: data; a browser names ``text/html`` and gets the page.
DESCRIPTION_FORMATS: tuple[Format, ...] = (
    *(f for f in DOCUMENT_FORMATS if f.name != "html"),
    *(f for f in DOCUMENT_FORMATS if f.name == "html"))


def _description(extension: str | None) -> Response:
    build = get_build()
    if extension is not None:
        fmt = BY_EXTENSION.get(extension)
        if fmt is None:
            abort(404, f"The description is available as "
                  f"{', '.join('.' + f.extension for f in DOCUMENT_FORMATS)}.")
    else:
        fmt = choose(request.headers.get("Accept"), DESCRIPTION_FORMATS)
        if fmt is None:
            return not_acceptable("The description", DESCRIPTION_FORMATS)
    response = _render(build, fmt)
    response.headers["Link"] = alternates("dataset")
    if extension is None:
        response.headers["Vary"] = "Accept"
    return conditional(response, build)


def _render(build: Build, fmt: Format) -> Response:
    doc = description(build, public_root())
    if fmt.name == "html":
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
    build = get_build()
    offered = [f for f in (find(name, ["rdf"]) for name in DUMP_BY_FORMAT)
               if f is not None and build.file(dump_file(DUMP_BY_FORMAT[f.name])).is_file()]
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
    file = dump_file(name)
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


def _page_paths(build: Build) -> list[str]:
    """Every HTML page's path, sorted: the site's and each resource's."""
    return build.model("sitemap", lambda: sorted({*SITE_PAGES, *build.page_paths}))


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
