"""The dataset's description (VoID + DCAT), its dumps, the sitemap and robots.txt.

The description is made by the read side (:mod:`tipgraph.serving.dataset`), once
per build and public root. The dumps are the files the build wrote beside its
store, served with ranges and validators so a harvester fetches them only when a
new build has been switched in.

The sitemap follows the sitemaps.org protocol: past :data:`SITEMAP_URLS` pages,
``/sitemap.xml`` is a sitemap index of parts (``/sitemap-1.xml``, ...).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, request, send_file

from tipgraph.dumps import DUMPS
from tipgraph.formats import Format, negotiate
from tipgraph.serving import Build
from tipgraph.serving.dataset import description
from tipgraph.serving.documents import serialize
from tipgraph.web.caching import MAX_AGE, conditional, etag_for
from tipgraph.web.context import get_build, public_root
from tipgraph.web.resources import BY_EXTENSION, DOCUMENT_FORMATS, alternates, render_resource

bp = Blueprint("dataset", __name__)


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
    doc = description(build, public_root())
    if fmt.name == "html":
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
