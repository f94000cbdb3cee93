"""Exports reference managers read: BibTeX, RIS and CSL-JSON of one publication, of a
browse selection and of the answer of a shipped query that lists publications; CSV of
a browse selection.

A publication's exports are documents of its URI like its RDF ones
(``/publication/x.bib``, ``.ris``, ``.csl.json``) and are negotiated from the URI
(:data:`CITATION_FORMATS`, used by :mod:`tipgraph.web.resources`). A list is cut at
:data:`EXPORT_LIMIT` publications, in the order the browse page shows them; the
response says so in ``X-Total-Count`` and ``X-Exported-Count``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from flask import Blueprint, Response, abort, request

from tipgraph.citation import EXPORTS, bibtex, csl_item, csl_json, ris
from tipgraph.records import read_facts
from tipgraph.web import get_build
from tipgraph.web.caching import conditional
from tipgraph.web.service import Build

bp = Blueprint("exports", __name__)

#: The most publications one list export carries.
EXPORT_LIMIT = 5000


@dataclass(frozen=True)
class CitationFormat:
    name: str  # a key of tipgraph.citation.EXPORTS
    label: str

    @property
    def media_type(self) -> str:
        return EXPORTS[self.name][0]

    @property
    def extension(self) -> str:
        return EXPORTS[self.name][1]


#: The citation documents of a publication, by extension.
CITATION_FORMATS: dict[str, CitationFormat] = {f.extension: f for f in (
    CitationFormat("bibtex", "BibTeX"), CitationFormat("ris", "RIS"),
    CitationFormat("csl-json", "CSL-JSON"))}
#: What the browse page offers: (label, extension, media type).
BROWSE_EXPORTS: tuple[tuple[str, str, str], ...] = (
    ("CSV", "csv", "text/csv"),
    *((f.label, f.extension, f.media_type) for f in CITATION_FORMATS.values()))


def split_extension(path: str) -> tuple[str, CitationFormat | None]:
    """``publication/x.csl.json`` -> (``publication/x``, CSL-JSON); the router splits a
    path at its last dot, so the two-part extension is looked for first.

    >>> split_extension("publication/x.csl.json")[0], split_extension("place/ng.ttl")[1]
    ('publication/x', None)
    """
    for extension, fmt in CITATION_FORMATS.items():
        if path.endswith("." + extension) and len(path) > len(extension) + 1:
            return path[:-len(extension) - 1], fmt
    return path, None


def citation_document(build: Build, uris: list[str], fmt: CitationFormat, filename: str,
                      *, total: int | None = None) -> Response:
    """The publications ``uris`` in ``fmt``, as a download named ``filename``."""
    items = [csl_item(f) for f in read_facts(build.store, uris)]
    body = {"bibtex": bibtex, "ris": ris, "csl-json": csl_json}[fmt.name](items)
    return _download(build, body, fmt.media_type, f"{filename}.{fmt.extension}",
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
    from tipgraph.web.pages import BrowseState, catalogue, warm

    build = get_build()
    warm(build)
    cat = catalogue(build)
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


def _csv(entries: list) -> str:  # type: ignore[type-arg]
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
    from tipgraph.queries import QueryError, shipped_queries
    from tipgraph.web.resources import base_of

    build = get_build()
    query = next((q for q in shipped_queries() if q.name == name), None)
    if query is None:
        abort(404, f"There is no shipped query {name!r}.")
    try:
        text = query.bind(dict(request.args.items()))
    except QueryError as error:
        abort(400, str(error))
    if query.form != "SELECT":
        abort(404, f"The query {name} does not list publications.")
    prefix = base_of(build) + "publication/"
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
