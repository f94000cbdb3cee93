"""Exports reference managers read: BibTeX, RIS and CSL-JSON of one publication, of a
browse selection and of the answer of a shipped query that lists publications; CSV of
a browse selection.

A publication's exports are documents of its URI like its RDF ones
(``/publication/x.bib``, ``.ris``, ``.csl.json``) and are negotiated from the URI
(:data:`tipgraph.citation.CITATION_FORMATS`, by :mod:`tipgraph.web.resources`, which
answers them with :func:`citation_document`). A list is cut at
:data:`EXPORT_LIMIT` publications, in the order the browse page shows them; the
response says so in ``X-Total-Count`` and ``X-Exported-Count``.
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, request

from tipgraph.citation import CITATION_FORMATS, CitationFormat, csl_item, export
from tipgraph.queries import QueryTextError, shipped_queries
from tipgraph.serving import Build
from tipgraph.serving.catalogue import Entry
from tipgraph.serving.records import read_facts
from tipgraph.web.caching import conditional
from tipgraph.web.context import BrowseState, get_build

bp = Blueprint("exports", __name__)

#: The most publications one list export carries.
EXPORT_LIMIT = 5000
#: What the browse page offers: (label, extension, media type).
BROWSE_EXPORTS: tuple[tuple[str, str, str], ...] = (
    ("CSV", "csv", "text/csv"),
    *((f.label, f.extension, f.media_type) for f in CITATION_FORMATS.values()))


def citation_document(build: Build, uris: list[str], fmt: CitationFormat, filename: str,
                      *, total: int | None = None) -> Response:
    """The publications ``uris`` in ``fmt``, as a download named ``filename``."""
    items = [csl_item(f) for f in read_facts(build.store, uris)]
    return _download(build, export(items, fmt), fmt.media_type, f"{filename}.{fmt.extension}",
                     total=total, exported=len(items))


def _download(build: Build, body: str, media_type: str, filename: str, *,
              total: int | None, exported: int) -> Response:
    response = Response(body, content_type=f"{media_type}; charset=utf-8")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    if total is not None:
        response.headers["X-Total-Count"] = str(total)
        response.headers["X-Exported-Count"] = str(exported)
    return conditional(response, build)


@bp.route("/browse.<any(csv, bib, ris):extension>")
@bp.route("/browse.csl.json", defaults={"extension": "csl.json"})
def browse_export(extension: str) -> Response:
    """The publications a browse URL selects (same parameters), in title order."""
    build = get_build()
    build.warm()
    cat = build.catalogue
    selection = BrowseState.from_request().select(cat)
    entries = selection.page(0, EXPORT_LIMIT)
    if extension == "csv":
        return _download(build, _csv(entries), "text/csv", "publications.csv",
                         total=len(selection), exported=len(entries))
    return citation_document(build, [e.uri for e in entries], CITATION_FORMATS[extension],
                             "publications", total=len(selection))


#: The columns of the CSV export.
CSV_COLUMNS = ("uri", "title", "year", "persons", "organisations", "countries", "regions",
               "categories", "abstract")


def _csv(entries: list[Entry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        row = [e.uri, e.title, e.year or "",
               *("; ".join(link.label for link in links) for links in (
                   e.persons, e.organisations, e.countries, e.regions, e.categories)),
               e.abstract]
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _cell(value: str) -> str:
    """A cell a spreadsheet does not run as a formula (OWASP's CSV injection advice).

    >>> _cell("=HYPERLINK(1)"), _cell("Plain")
    ("'=HYPERLINK(1)", 'Plain')
    """
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@bp.route("/queries/<name>.<any(bib, ris):extension>")
@bp.route("/queries/<name>.csl.json", defaults={"extension": "csl.json"})
def query_export(name: str, extension: str) -> Response:
    """The publications of a shipped query's answer (its parameters from the URL, the
    defaults otherwise): those of its first column of publication URIs, in answer order."""
    build = get_build()
    query = next((q for q in shipped_queries() if q.name == name), None)
    if query is None:
        abort(404, f"There is no shipped query {name!r}.")
    try:
        text = query.bind(dict(request.args.items()))
    except QueryTextError as error:
        abort(400, str(error))
    if query.form != "SELECT":
        abort(404, f"The query {name} does not list publications.")
    prefix = build.base + "publication/"
    uris: list[str] = []
    for row in build.store.query(text):  # type: ignore[union-attr]
        found = next((t.value for t in row if t is not None and t.value.startswith(prefix)
                      and "#" not in t.value), None)
        if found and found not in uris:
            uris.append(found)
    if not uris:
        abort(404, f"The answer of {name} lists no publication.")
    total = len(uris)
    return citation_document(build, uris[:EXPORT_LIMIT], CITATION_FORMATS[extension], name,
                             total=total)
