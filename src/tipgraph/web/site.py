"""The site's own pages: the list of dumps, the favicon, and the site's 404 and 405 pages
for every path and method no view answers (Flask's bare "Not Found" otherwise)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, render_template, request, send_from_directory
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from tipgraph.dumps import dump_file
from tipgraph.serving.dataset import dump_files
from tipgraph.web.caching import conditional
from tipgraph.web.context import get_build, public_root

bp = Blueprint("site", __name__)


@dataclass(frozen=True)
class Dump:
    name: str
    media_type: str
    compression: str | None
    size: int
    modified: datetime
    href: str


#: What each dump is, in a reader's words.
FORMAT_NAMES = {"tipgraph.ttl": "Turtle", "tipgraph.nt.gz": "N-Triples, gzip-compressed",
                "tipgraph.jsonld": "JSON-LD", "tipgraph.nt": "N-Triples",
                "tipgraph.nq": "N-Quads", "tipgraph.nq.gz": "N-Quads, gzip-compressed",
                "tipgraph.trig": "TriG"}


@bp.route("/dumps/")
def dumps() -> Response:
    """The whole-graph dumps of the build in service, as the description lists them:
    format, size, date, link."""
    build = get_build()
    root = public_root()
    found = [Dump(d.name, d.media_type, d.compression, d.byte_size,
                  datetime.fromtimestamp(build.file(dump_file(d.name)).stat().st_mtime, tz=UTC),
                  f"{root}dumps/{d.name}")
             for d in dump_files(build)]
    body = render_template("dumps.html", build=build, dumps=found, names=FORMAT_NAMES)
    return conditional(Response(body, content_type="text/html; charset=utf-8"), build)


@bp.route("/favicon.ico")
def favicon() -> Response:
    return send_from_directory(current_app.static_folder or "", "favicon.ico",
                               mimetype="image/vnd.microsoft.icon", max_age=86400)


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    """Bytes for people: ``1.4 MB``.

    >>> filesize(1_450_000), filesize(900)
    ('1.4 MB', '900 bytes')
    """
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


@bp.app_errorhandler(404)
def not_found(error: NotFound) -> Response:
    return _error_page(error, "Not found")


@bp.app_errorhandler(405)
def method_not_allowed(error: MethodNotAllowed) -> Response:
    response = _error_page(error, "Method not allowed")
    if error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


def _error_page(error: HTTPException, title: str) -> Response:
    """The site's error page, saying what went wrong and where to go instead."""
    status = error.code or 500
    words = " ".join(request.path.strip("/").rsplit("/", 1)[-1].replace("-", " ").split()[:6])
    body = render_template("error.html", status=status, title=title,
                           message=error.description or title, search=words)
    return Response(body, status=status, content_type="text/html; charset=utf-8")
