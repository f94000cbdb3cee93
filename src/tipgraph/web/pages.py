"""HTML pages: home, browse (search and facets), and the query page's helpers.

Pages are rendered on the server and work without JavaScript. Every string
from the data goes through Jinja's autoescaping. What a page shows of a build
comes from the build's read models (:class:`tipgraph.serving.Build`); a resource's
own page is rendered where it is dereferenced (:mod:`tipgraph.web.resources`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from flask import Blueprint, Response, render_template

from tipgraph.graphs import sparql_iri
from tipgraph.namespaces import SCHEMA, TIP
from tipgraph.queries import QueryTextError, query_form
from tipgraph.queries import shipped_queries as load_shipped_queries
from tipgraph.schema_org import dataset_jsonld
from tipgraph.serving import Build
from tipgraph.serving.catalogue import FACETS, Catalogue, Statistics
from tipgraph.serving.dataset import description
from tipgraph.web.caching import conditional
from tipgraph.web.context import (
    BrowseState,
    browse_url,
    get_build,
    get_settings,
    public_root,
    requested_page,
)
from tipgraph.web.exports import BROWSE_EXPORTS, EXPORT_LIMIT
from tipgraph.web.record import country_map
from tipgraph.web.resources import curie, linker

bp = Blueprint("pages", __name__)

PAGE_SIZE = 20
#: Values of a facet listed on the browse page unless it is asked for in full (``all=``).
FACET_VALUES = 20


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
    href = linker(build)
    if stats:
        country_rows = stats.counts["country"]
        world = country_map(None, country_rows, href=href, title="Publications per country",
                            uris={key: stats.uris[key] for key, _, _ in country_rows})
    else:
        cat = build.catalogue
        world = country_map(cat, cat.counts(cat.entries, ["country"])["country"], href=href,
                            title="Publications per country")
    return html(render_template(
        "home.html", build=build, counts=counts, publications=publications, world=world,
        year_chart=_column_chart(years), region_chart=_bar_chart(
            [(link.label, n, browse_url(region=link.key)) for link, n in regions]),
        settings=get_settings(),
        schema_org=dataset_jsonld(description(build, public_root()))), build)


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

def _facet_values(rows: list[tuple[str, str, int]], name: str, state: BrowseState
                  ) -> tuple[list[tuple[str, str, int]], int]:
    """The values a facet lists (the most frequent ones and those chosen, unless it is
    expanded), in the order asked for: by label (years newest first), or by count; and
    how many are left out."""
    chosen = state.chosen[name]
    shown = rows if name in state.expanded else [
        r for i, r in enumerate(rows) if i < FACET_VALUES or r[0] in chosen]
    if state.order == "count":
        shown = sorted(shown, key=lambda r: (-r[2], r[1].casefold(), r[0]))
    elif name == "year":
        shown = sorted(shown, key=lambda r: r[0], reverse=True)
    else:
        shown = sorted(shown, key=lambda r: (r[1].casefold(), r[0]))
    return shown, len(rows) - len(shown)


@bp.route("/browse")
def browse() -> Response:
    """Publications, paginated, filtered by a search over titles and abstracts and by facets;
    each facet's values by label (``sort=count``: most frequent first)."""
    build = get_build()
    build.warm()
    cat = build.catalogue
    state = BrowseState.from_request()  # 400 for a request larger than a page can show
    asked = requested_page() or 1
    entries = state.select(cat)
    pages = max(1, math.ceil(len(entries) / PAGE_SIZE))
    page = min(max(1, asked), pages)
    shown = entries.page((page - 1) * PAGE_SIZE, PAGE_SIZE)
    # unfiltered, the counts the build published; filtered (or not published), counted here
    stats = None if state.query or any(state.chosen.values()) else build.statistics
    counts = dict(stats.counts) if stats else {}
    missing = [name for name in FACETS if name not in counts]
    if missing:
        counts.update(cat.counts(entries, missing))
    facets = []
    for name, heading in FACETS.items():
        rows, hidden = _facet_values(counts[name], name, state)
        values = []
        for key, label, n in rows:
            active = key in state.chosen[name]
            others = [v for v in state.chosen[name] if v != key]
            values.append({"label": label, "count": n, "active": active,
                           "href": state.url(**{name: others if active else [*others, key]})})
        facets.append({"name": name, "heading": heading, "values": values, "hidden": hidden,
                       "all": state.url(all=[*state.expanded, name]) if hidden else None})
    active = [{"heading": FACETS[name], "label": cat.labels[name].get(v, v),
               "href": state.url(**{name: [x for x in values if x != v]})}
              for name, values in state.chosen.items() for v in values]
    exports = [(label, state.url(f"/browse.{extension}", all=[], sort=""), media_type)
               for label, extension, media_type in BROWSE_EXPORTS]
    return html(render_template(
        "browse.html", build=build, query=state.query, search_text=state.query,
        entries=shown, total=len(entries), page=page, pages=pages, facets=facets,
        active=active, href=linker(build), chosen=state.chosen, expanded=state.expanded,
        order=state.order, by_label=state.url(sort="", page=""),
        by_count=state.url(sort="count", page=""), exports=exports,
        export_limit=EXPORT_LIMIT,
        previous=state.url(page=str(page - 1)) if page > 1 else None,
        next=state.url(page=str(page + 1)) if page < pages else None,
        first=(page - 1) * PAGE_SIZE + 1), build)


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


def results_view(build: Build, variables: list[str], rows: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    """What the results page shows beside its rows: ``href`` (where an IRI is served: our
    own on this server, others as they are) and ``short`` (an IRI as people read it,
    ``xsd:integer``, ``place/ng``), the build's base looked up once for a page's many
    IRIs; and the answer's ``chart`` with its ``chart_caption`` (see :func:`answer_chart`).
    """
    base = build.base
    href = linker(build)
    chart = answer_chart(variables, rows, href)
    return {"href": href, "short": lambda uri: curie(uri, base),
            "chart": chart[0] if chart else None, "chart_caption": chart[1] if chart else ""}


_NUMBERS = {f"http://www.w3.org/2001/XMLSchema#{name}" for name in (
    "integer", "decimal", "double", "float", "int", "long", "short", "byte",
    "nonNegativeInteger", "positiveInteger", "negativeInteger", "nonPositiveInteger",
    "unsignedInt", "unsignedLong", "unsignedShort", "unsignedByte")}
#: Most bars a chart of a query's answer draws (its first rows).
ANSWER_BARS = 40


def answer_chart(variables: list[str], rows: list[dict[str, Any]],
                 href: Callable[[str], str]) -> tuple[Chart, str] | None:
    """A bar chart of a SELECT answer (SPARQL JSON bindings) that has a label column (its
    values are text, or years) and a number column: the first of each, each bar linked to
    the row's first IRI, for its first :data:`ANSWER_BARS` rows; None for any other answer.
    """
    def kind(term: dict[str, str] | None) -> str | None:
        if term is None:
            return None
        if term["type"] != "literal":
            return "iri" if term["type"] == "uri" else "other"
        return "number" if term.get("datatype") in _NUMBERS else "label"

    kinds = {v: {kind(row.get(v)) for row in rows} - {None} for v in variables}
    label = next((v for v in variables if kinds[v] == {"label"}), None)
    number = next((v for v in variables if kinds[v] == {"number"}), None)
    if label is None or number is None:
        return None
    link = next((v for v in variables if kinds[v] == {"iri"}), None)
    bars = []
    for row in rows[:ANSWER_BARS]:
        if label in row and number in row:
            value = float(row[number]["value"])
            if not math.isfinite(value):
                continue
            bars.append((row[label]["value"], int(value) if value.is_integer() else value,
                         href(row[link]["value"]) if link and link in row else ""))
    if not bars or max(n for _, n, _ in bars) <= 0:
        return None  # nothing to draw bars of
    caption = f"{number} by {label}" + (f" (the first {ANSWER_BARS} rows)"
                                         if len(rows) > ANSWER_BARS else "")
    return _bar_chart(bars), caption
