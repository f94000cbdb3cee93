"""HTML pages: home, browse (search and facets), and the query page's helpers.

Pages are rendered on the server and work without JavaScript. Every string
from the data goes through Jinja's autoescaping. What a page shows of a build
comes from the build's read models (:class:`tipgraph.serving.Build`); a resource's
own page is rendered where it is dereferenced (:mod:`tipgraph.web.resources`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from flask import Blueprint, Response, render_template, request

from tipgraph.graphs import sparql_iri
from tipgraph.namespaces import SCHEMA, TIP
from tipgraph.queries import QueryTextError, query_form
from tipgraph.queries import shipped_queries as load_shipped_queries
from tipgraph.serving import Build
from tipgraph.serving.catalogue import FACETS, Catalogue, Statistics
from tipgraph.web.caching import conditional
from tipgraph.web.context import browse_url, get_build, get_settings, requested_page
from tipgraph.web.errors import plain_page
from tipgraph.web.resources import link_of, linker

bp = Blueprint("pages", __name__)

PAGE_SIZE = 20
#: Values of a facet listed on the browse page unless it is asked for in full (``all=``).
FACET_VALUES = 20
#: Most facet values one browse request may choose, all facets together (400 beyond).
MAX_CHOSEN = 50
#: Longest search text (and facet value) of a browse request, in characters (400 beyond).
MAX_SEARCH_CHARS = 1000


def html(body: str, build: Build) -> Response:
    """A rendered page with caching headers (304 when the client has it)."""
    return conditional(Response(body, content_type="text/html; charset=utf-8"), build)


# -- home -----------------------------------------------------------------------------------

@bp.route("/")
def home() -> Response:
    """What the dataset is, its size, where its services are, and two charts."""
    build = get_build()
    build.warm()
    # the published statistics when the build has them: no scan of every publication
    stats = build.statistics
    source: Statistics | Catalogue = stats or build.catalogue
    counts = _type_counts(build, stats)
    years = source.per_year()
    regions = source.per_region()
    publications = (stats.classes.get(str(TIP.Publication), 0) if stats
                    else len(build.catalogue.entries))
    return html(render_template(
        "home.html", build=build, counts=counts, publications=publications,
        year_chart=_column_chart(years), region_chart=_bar_chart(
            [(link.label, n, browse_url(region=link.key)) for link, n in regions]),
        settings=get_settings()), build)


def _type_counts(build: Build, stats: Statistics | None) -> list[tuple[str, int]]:
    types = [("countries", TIP.Country), ("regions", TIP.Region),
             ("organisations", SCHEMA.Organization), ("persons", SCHEMA.Person)]
    if stats:
        return [(name, stats.classes.get(str(t), 0)) for name, t in types]
    values = " ".join(sparql_iri(str(t)) for _, t in types)
    rows = build.store.query(f"SELECT ?t (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s a ?t "
                             f"VALUES ?t {{ {values} }} }} GROUP BY ?t")
    found = {row["t"].value: int(row["n"].value) for row in rows}
    return [(name, found.get(str(t), 0)) for name, t in types]


@dataclass
class Bar:
    label: str
    count: int
    href: str
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, int]] = field(default_factory=list)


def _column_chart(years: list[tuple[str, int]]) -> Chart:
    """Publications per year as columns, every year of the span shown (gaps are zeros)."""
    if not years:
        return Chart(600, 60)
    found = dict(years)
    span = [str(y) for y in range(int(years[0][0]), int(years[-1][0]) + 1)]
    top = max(found.values())
    plot_h, column, gap = 160, 28, 6
    chart = Chart(max(300, 40 + len(span) * (column + gap)), plot_h + 60)
    for i, year in enumerate(span):
        n = found.get(year, 0)
        h = plot_h * n / top
        chart.bars.append(Bar(year, n, browse_url(year=year) if n else "", 40 + i * (column + gap),
                              20 + plot_h - h, column, h))
    chart.ticks = [(20 + plot_h - plot_h * t / top, t) for t in _ticks(top)]
    return chart


def _bar_chart(rows: list[tuple[str, int, str]]) -> Chart:
    """Horizontal bars with their labels on the left."""
    top = max((n for _, n, _ in rows), default=1)
    bar_h, gap, label_w, plot_w = 22, 8, 400, 280
    chart = Chart(label_w + plot_w + 50, max(40, len(rows) * (bar_h + gap) + 10))
    for i, (label, n, href) in enumerate(rows):
        chart.bars.append(Bar(label, n, href, label_w, 5 + i * (bar_h + gap),
                              max(2.0, plot_w * n / top), bar_h))
    return chart


def _ticks(top: int) -> list[int]:
    step = max(1, math.ceil(top / 4))
    return list(range(0, top + 1, step))


# -- browse ---------------------------------------------------------------------------------

@bp.route("/browse")
def browse() -> Response:
    """Publications, paginated, filtered by a search over titles and abstracts and by facets."""
    build = get_build()
    build.warm()
    cat = build.catalogue
    query = request.args.get("q", "").strip()
    chosen = {name: request.args.getlist(name) for name in FACETS}
    refused = _refused_browse(query, chosen)
    if refused:
        return plain_page(400, "Bad request", refused)
    asked = requested_page() or 1
    entries = cat.select(query, chosen)
    pages = max(1, math.ceil(len(entries) / PAGE_SIZE))
    page = min(max(1, asked), pages)
    shown = entries.page((page - 1) * PAGE_SIZE, PAGE_SIZE)
    expanded = [name for name in request.args.getlist("all") if name in FACETS]
    state: dict[str, Any] = {"q": query, **chosen, "all": expanded}

    def with_(**changes: Any) -> str:
        return browse_url(**{**state, **changes})

    # unfiltered, the counts are the published statistics; filtered, counted here
    stats = None if query or any(chosen.values()) else build.statistics
    counts = stats.counts if stats else cat.counts(entries)
    facets = []
    for name, heading in FACETS.items():
        rows = counts[name]
        if name not in expanded:  # the most frequent values, and those chosen
            rows = [r for i, r in enumerate(rows) if i < FACET_VALUES or r[0] in chosen[name]]
        values = []
        for key, label, n in rows:
            active = key in chosen[name]
            others = [v for v in chosen[name] if v != key]
            values.append({"label": label, "count": n, "active": active,
                           "href": with_(**{name: others if active else [*others, key]})})
        hidden = len(counts[name]) - len(rows)
        facets.append({"name": name, "heading": heading, "values": values, "hidden": hidden,
                       "all": with_(all=[*expanded, name]) if hidden else None})
    active = [{"heading": FACETS[name], "label": cat.labels[name].get(v, v),
               "href": with_(**{name: [x for x in values if x != v]})}
              for name, values in chosen.items() for v in values]
    return html(render_template(
        "browse.html", build=build, query=query, search_text=query, entries=shown,
        total=len(entries),
        page=page, pages=pages, facets=facets, active=active,
        href=linker(build), chosen=chosen, expanded=expanded,
        previous=with_(page=str(page - 1)) if page > 1 else None,
        next=with_(page=str(page + 1)) if page < pages else None,
        first=(page - 1) * PAGE_SIZE + 1), build)


def _refused_browse(query: str, chosen: dict[str, list[str]]) -> str | None:
    """Why a browse request asks for more than a page can show, or None. Each facet link
    carries every value chosen, so a page grows with the square of their number (a 41 KB
    URL once made a 159 MB page): a request is bounded before anything is selected."""
    values = sum(len(v) for v in chosen.values())
    if values > MAX_CHOSEN:
        return f"At most {MAX_CHOSEN} facet values may be chosen at once ({values} were)."
    if len(query) > MAX_SEARCH_CHARS:
        return f"A search may be at most {MAX_SEARCH_CHARS} characters long."
    if any(len(v) > MAX_SEARCH_CHARS for values_ in chosen.values() for v in values_):
        return f"A facet value may be at most {MAX_SEARCH_CHARS} characters long."
    return None


# -- helpers for the query pages (templates of the SPARQL area) ----------------------------

@bp.app_template_global()
@cache
def shipped_queries() -> list[Any]:
    """The queries in ``queries/`` (title, description, parameters), as examples; read once
    per worker, not on every render of the query page."""
    return load_shipped_queries()


@bp.app_template_global()
def shipped_query_text(name: str | None) -> str | None:
    """The text of the shipped query ``name`` with its parameters bound to their defaults."""
    if not name:
        return None
    return next((q.bind() for q in shipped_queries() if q.name == name), None)


@bp.app_template_global()
def query_form_of(text: str) -> str:
    try:
        return query_form(text)
    except QueryTextError:
        return ""


@bp.app_template_global()
def resource_href(uri: str) -> str:
    """Where a result's URI is served: our own URIs on this server, others as they are."""
    return link_of(get_build(), uri)
