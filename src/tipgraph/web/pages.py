"""HTML pages: home, browse (search and facets), and one page per resource.

Pages are rendered on the server and work without JavaScript. Every string
from the data goes through Jinja's autoescaping; the schema.org JSON-LD each
resource page embeds goes through ``tojson``, which escapes ``<``, ``>`` and
``&`` so that a title cannot close the ``<script>`` element it sits in.
"""

from __future__ import annotations

import gc
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask.blueprints import BlueprintSetupState
from pyoxigraph import BlankNode, NamedNode
from rdflib.namespace import VOID

from tipgraph.graphs import sparql_iri
from tipgraph.namespaces import (
    DCT,
    FOAF,
    GN,
    OWL,
    PREFIXES,
    RDF,
    SCHEMA,
    SKOS,
    TIP,
)
from tipgraph.store import OxigraphStore
from tipgraph.textindex import TextQueryError
from tipgraph.web import get_build, get_service
from tipgraph.web.caching import conditional
from tipgraph.web.catalogue import (
    FACETS,
    BuildCache,
    Catalogue,
    Link,
    Selection,
    Statistics,
    load_catalogue,
    load_statistics,
)
from tipgraph.web.dataset import serve_dataset
from tipgraph.web.documents import Document, label_of, serve_documents, warm_documents
from tipgraph.web.indexes import INDEX_FILE, read_indexes
from tipgraph.web.service import Build, Service

bp = Blueprint("pages", __name__)

PAGE_SIZE = 20
#: Values of a facet listed on the browse page unless it is asked for in full (``all=``).
FACET_VALUES = 20
#: Shown in this order at the top of a resource's table; the rest follow by name.
FIRST_PROPERTIES = (RDF.type, SKOS.prefLabel, DCT.title, GN.name, FOAF.name, SCHEMA.name,
                    DCT.issued, DCT.creator, TIP.statedCountry, TIP.statedRegion, DCT.spatial,
                    DCT.abstract)


def catalogue(build: Build) -> Catalogue:
    cache = current_app.extensions.setdefault("tipgraph.catalogue", BuildCache(load_catalogue))
    return cache.get(build.id, build.store)


def statistics(build: Build) -> Statistics | None:
    """The counts the build published, read once per build (None for an older build)."""
    cache = current_app.extensions.setdefault("tipgraph.statistics",
                                              BuildCache(load_statistics))
    return cache.get(build.id, build.store)


def warm(build: Build) -> None:
    """On a build's first page or document in this worker, have its indexes (browse,
    labels, linking): read from the file the build wrote beside its store (a fraction of
    a second, done here; usually done already when the worker started, see
    :func:`_open_at_start`), or, for a build without one (made before the build wrote
    it, or in a remote store), made from the store in the background, so that the first
    browse or busy document does not wait seconds for them. Called by the views, which
    have the build already."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    warmed: _Warmed = app.extensions.setdefault("tipgraph.warmed", _Warmed())
    if build.id in warmed.builds:
        return
    with warmed.lock:  # the other first requests wait for the file: it is quick
        if build.id in warmed.builds:
            return
        if _read_indexes(app, build):
            warmed.builds.add(build.id)
            return
        warmed.builds.add(build.id)

    def run() -> None:
        with app.app_context():
            try:
                statistics(build)
                warm_documents(build.id, build.store)
                catalogue(build).word_index()
            except Exception:  # the request that needs it will report it
                app.logger.exception("could not prepare the indexes of build %s", build.id)

    threading.Thread(target=run, name=f"warm-{build.id}", daemon=True).start()


@dataclass
class _Warmed:
    """The builds whose indexes this worker has (or is making), per app."""

    builds: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _read_indexes(app: Flask, build: Build) -> bool:
    """Serve ``build`` with the indexes it wrote beside its store; False when it has none
    (or none this version reads: :func:`tipgraph.web.indexes.read_indexes` says why)."""
    if not isinstance(build.store, OxigraphStore):
        return False  # a remote store's build has no file of the build's own
    started = time.perf_counter()
    indexes = read_indexes(build.file(INDEX_FILE))
    if indexes is None:
        return False
    # the index lives as long as the build is served and holds no cycles: out of the
    # collector's sight, a later full collection does not walk its million objects again
    # (140 ms at 100,000 publications, in whichever request it falls on)
    gc.collect()
    gc.freeze()
    with app.app_context():
        cache = current_app.extensions.setdefault("tipgraph.catalogue",
                                                  BuildCache(load_catalogue))
        indexes.catalogue.text_index = build.text_index  # the search tip:matches asks
        cache.put(build.id, indexes.catalogue.reading(build.store))
        serve_documents(build.id, build.store, indexes.labels, indexes.properties)
        serve_dataset(app, build, indexes)
        try:
            statistics(build)  # a query of a few thousand nodes: not worth a file of its own
        except Exception:  # the page that needs them will report it
            app.logger.exception("could not read the statistics of build %s", build.id)
    app.logger.info("build %s: indexes read from %s in %.2f s", build.id, INDEX_FILE,
                    time.perf_counter() - started)
    return True


@bp.record_once
def _open_at_start(state: BlueprintSetupState) -> None:
    """When the app is made (each gunicorn worker makes its own), open the current build
    and read the indexes it wrote, so that the worker's first request finds them ready.
    A build without the file waits for its first page, as :func:`warm` says."""
    app = state.app
    service: Service = app.extensions["tipgraph"]
    if service.settings.get("store_url"):
        return
    current = service.build_dir.current()
    if current is None or not (current / INDEX_FILE).is_file():
        return
    try:
        build = service.current()
        with app.app_context():
            warm(build)
            for name in ("home.html", "browse.html", "resource.html"):
                app.jinja_env.get_template(name)  # compiled now, not on a first page
    except Exception:  # the first request opens it again, and says what is wrong
        app.logger.exception("could not open the current build at start-up")


def html(body: str, build: Build) -> Response:
    """A rendered page with caching headers (304 when the client has it)."""
    return conditional(Response(body, content_type="text/html; charset=utf-8"), build)


# -- home -----------------------------------------------------------------------------------

@bp.route("/")
def home() -> Response:
    """What the dataset is, its size, where its services are, and two charts."""
    build = get_build()
    warm(build)
    # the published statistics when the build has them: no scan of every publication
    stats = statistics(build)
    source: Statistics | Catalogue = stats or catalogue(build)
    counts = _type_counts(build, stats)
    years = source.per_year()
    regions = source.per_region()
    publications = (stats.classes.get(str(TIP.Publication), 0) if stats
                    else len(catalogue(build).entries))
    return html(render_template(
        "home.html", build=build, counts=counts, publications=publications,
        year_chart=_column_chart(years), region_chart=_bar_chart(
            [(link.label, n, _browse_url(region=link.key)) for link, n in regions]),
        settings=get_service().settings), build)


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
        chart.bars.append(Bar(year, n, _browse_url(year=year) if n else "", 40 + i * (column + gap),
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

def _browse_url(**params: str | list[str]) -> str:
    pairs = [(k, v) for k, values in params.items()
             for v in ([values] if isinstance(values, str) else values) if v]
    return request.script_root + "/browse" + (f"?{urlencode(pairs)}" if pairs else "")


@bp.route("/browse")
def browse() -> Response:
    """Publications, paginated, filtered by a search over titles and abstracts and by facets."""
    build = get_build()
    warm(build)
    cat = catalogue(build)
    query = request.args.get("q", "").strip()
    chosen = {name: request.args.getlist(name) for name in FACETS}
    try:
        entries = cat.select(query, chosen)
    except TextQueryError:  # an operator without its words: nothing matches it
        entries = Selection(0, cat)
    pages = max(1, math.ceil(len(entries) / PAGE_SIZE))
    try:
        page = min(max(1, int(request.args.get("page", "1"))), pages)
    except ValueError:
        page = 1
    shown = entries.page((page - 1) * PAGE_SIZE, PAGE_SIZE)
    expanded = [name for name in request.args.getlist("all") if name in FACETS]
    state: dict[str, Any] = {"q": query, **chosen, "all": expanded}

    def with_(**changes: Any) -> str:
        return _browse_url(**{**state, **changes})

    # unfiltered, the counts are the published statistics; filtered, counted here
    stats = None if query or any(chosen.values()) else statistics(build)
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
        href=_linker(build), chosen=chosen, expanded=expanded,
        previous=with_(page=str(page - 1)) if page > 1 else None,
        next=with_(page=str(page + 1)) if page < pages else None,
        first=(page - 1) * PAGE_SIZE + 1), build)


# -- helpers for the query pages (templates of the SPARQL area) ----------------------------

@bp.app_template_global()
@cache
def shipped_queries() -> list[Any]:
    """The queries in ``queries/`` (title, description, parameters), as examples; read once
    per worker, not on every render of the query page."""
    from tipgraph.queries import shipped_queries as load

    return load()


@bp.app_template_global()
def shipped_query_text(name: str | None) -> str | None:
    """The text of the shipped query ``name`` with its parameters bound to their defaults."""
    if not name:
        return None
    return next((q.bind() for q in shipped_queries() if q.name == name), None)


@bp.app_template_global()
def query_form_of(text: str) -> str:
    from tipgraph.queries import QueryError, query_form

    try:
        return query_form(text)
    except QueryError:
        return ""


@bp.app_template_global()
def resource_href(uri: str) -> str:
    """Where a result's URI is served: our own URIs on this server, others as they are."""
    return _href(get_build(), uri)


# -- resource pages -------------------------------------------------------------------------

@bp.app_template_global()
def safe_href(target: str) -> str:
    """``target`` when a page may link to it: a path on this server, or an ``http``/``https``
    IRI; else "" (and the page shows the text without a link). Whatever the store holds,
    a ``javascript:``, ``data:`` or ``vbscript:`` IRI is never a link.

    >>> safe_href("https://example.org/a"), safe_href("/place/ng"), safe_href("javascript:x")
    ('https://example.org/a', '/place/ng', '')
    >>> safe_href("//elsewhere.example/x"), safe_href(" JavaScript:x")
    ('', '')
    """
    if target.startswith("/"):
        return "" if target.startswith("//") or target.startswith("/\\") else target
    scheme = target.partition(":")[0].lower()
    return target if scheme in _WEB_SCHEMES and target[len(scheme):].startswith("://") else ""


_WEB_SCHEMES = frozenset({"http", "https"})


def _href(build: Build, uri: str) -> str:
    """Where a link to ``uri`` goes: our own URIs on this server, others' http(s) IRIs as
    they are, anything else nowhere ("")."""
    from tipgraph.web.resources import local_path

    return safe_href(local_path(build, uri) or uri)


def _linker(build: Build) -> Callable[[str], str]:
    """:func:`_href` for the many links of one page: the base and root looked up once."""
    from tipgraph.web.resources import FILE_RESOURCES, base_of

    base, root = base_of(build), request.script_root + "/"
    files = tuple(iri for iri, _ in FILE_RESOURCES.values())

    def href(uri: str) -> str:
        if uri.startswith(base) and len(uri) > len(base) and not uri.startswith(files):
            return safe_href(root + uri[len(base):])
        return _href(build, uri)

    return href


def _curie(uri: str, base: str) -> str:
    for prefix, namespace in _BY_LENGTH:
        if uri.startswith(namespace) and len(uri) > len(namespace):
            return f"{prefix}:{uri[len(namespace):]}"
    if uri.startswith(base):
        return uri[len(base):]
    return uri


_BY_LENGTH = sorted(PREFIXES.items(), key=lambda kv: -len(kv[1]))
_FIRST = tuple(NamedNode(str(p)) for p in FIRST_PROPERTIES)
_N = {name: NamedNode(str(term)) for name, term in {
    "type": RDF.type, "value": RDF.value, "abstract": DCT.abstract, "issued": DCT.issued,
    "creator": DCT.creator, "spatial": DCT.spatial, "subject": DCT.subject,
    "isPartOf": DCT.isPartOf, "url": SCHEMA.url, "altLabel": SKOS.altLabel,
    "sameAs": OWL.sameAs, "parentFeature": GN.parentFeature, "Publication": TIP.Publication,
    "Country": TIP.Country, "Region": TIP.Region, "Feature": GN.Feature,
    "Organization": SCHEMA.Organization, "Person": SCHEMA.Person,
    "EditedVolume": TIP.EditedVolume, "Statistic": TIP.Statistic, "facet": TIP.facet,
    "entities": VOID.entities}.items()}


def _natural(text: str) -> tuple[Any, ...]:
    """Sort key that puts ``line-2`` before ``line-10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def render_resource(build: Build, doc: Document, *, path: str, fragments: bool) -> str:
    """The HTML document of ``doc.uri`` from its document (``documents.describe``)."""
    from tipgraph.web.resources import DOCUMENT_FORMATS, base_of

    base = base_of(build)
    uri = doc.uri
    node = doc.node
    subjects: list[Any] = [node] if doc.describes(node) else []
    if fragments:
        subjects += sorted((s for s in doc.subjects() if isinstance(s, NamedNode) and s != node
                            and (s.value.startswith(uri + "#")
                                 or path in ("ontology", "shapes"))),
                           key=lambda s: _natural(s.value))
    sections = [{"id": s.value[len(uri) + 1:] if s.value.startswith(uri + "#") else "",
                 "uri": s.value, "label": label_of(doc, s) or _curie(s.value, base),
                 "rows": _rows(build, doc, s, base)} for s in subjects]
    publications, incoming = _incoming(build, doc, node, base)
    title = label_of(doc, node) or _curie(uri, base)
    types = sorted(_curie(t.value, base) for t in doc.objects(node, _N["type"]))
    page_url = request.host_url.rstrip("/") + request.script_root + f"/{path}.html"
    here = f"{request.script_root}/{path}.html"
    return render_template(
        "resource.html", build=build, uri=uri, title=title, types=types, sections=sections,
        publications=publications, incoming=incoming, total=_total(doc, node),
        page=doc.page, first=(doc.page - 1) * get_service().settings["document_links"] + 1,
        previous=(here + (f"?page={doc.page - 1}" if doc.page > 2 else "")
                  if doc.page > 1 else None),
        next=f"{here}?page={doc.page + 1}" if doc.more else None,
        documents=[(f.extension, f.media_type, f"{request.script_root}/{path}.{f.extension}"
                    + (f"?page={doc.page}" if doc.page > 1 else ""))
                   for f in DOCUMENT_FORMATS if f.name != "html"],
        schema_org=schema_org(doc, node, page_url, base))


def _total(doc: Document, node: NamedNode) -> dict[str, Any] | None:
    """The publications the build counted for ``node`` (its ``tip:Statistic``), with the
    browse page listing them all."""
    for subject, prop in doc.incoming(node):
        if prop == _N["value"] and _N["Statistic"] in doc.objects(subject, _N["type"]):
            facet, n = doc.value(subject, _N["facet"]), doc.value(subject, _N["entities"])
            if facet is None or n is None or facet.value not in FACETS:
                continue
            key = facet.value if facet.value == "year" else Link(node.value, "").key
            return {"count": int(n.value), "browse": _browse_url(**{facet.value: key})}
    return None


def _value(build: Build, doc: Document, value: Any, base: str, prop: NamedNode,
           depth: int = 0) -> dict[str, Any]:
    if isinstance(value, NamedNode):
        local = _href(build, value.value)
        return {"text": label_of(doc, value) or _curie(value.value, base), "href": local,
                "external": local == value.value, "uri": value.value}
    if isinstance(value, BlankNode):
        rows = _rows(build, doc, value, base, depth + 1) if depth < 3 else []
        return {"text": "", "rows": rows}
    item: dict[str, Any] = {"text": value.value, "lang": value.language}
    if not value.language and value.datatype.value != _XSD_STRING:
        item["datatype"] = _curie(value.datatype.value, base)
    if prop == _N["issued"]:
        item["href"] = _browse_url(year=value.value)
    return item


_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def _rows(build: Build, doc: Document, subject: Any, base: str,
          depth: int = 0) -> list[dict[str, Any]]:
    props = sorted(doc.predicates(subject),
                   key=lambda p: (_FIRST.index(p) if p in _FIRST else len(_FIRST),
                                  _curie(p.value, base)))
    rows = []
    for prop in props:
        values = sorted(doc.objects(subject, prop), key=lambda v: (
            str(label_of(doc, v) or v.value) if isinstance(v, NamedNode) else str(v.value)))
        rows.append({"property": _curie(prop.value, base), "uri": prop.value,
                     "values": [_value(build, doc, v, base, prop, depth) for v in values]})
    return rows


def _incoming(build: Build, doc: Document, node: NamedNode, base: str
              ) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Publications that point at ``node``, and the other links into it by property."""
    publications: dict[str, dict[str, str]] = {}
    others: dict[str, dict[str, Any]] = {}
    prefix = base + "publication/"
    statistics = base.rstrip("/#") + "/dataset#statistic-"  # the total says it; not a link
    for subject, prop in doc.incoming(node):
        if subject == node or not isinstance(subject, NamedNode) \
                or subject.value.startswith(statistics):
            continue
        item = {"text": label_of(doc, subject) or _curie(subject.value, base),
                "href": _href(build, subject.value)}
        if subject.value.startswith(prefix) and "#" not in subject.value:
            publications[subject.value] = item
        else:
            group = others.setdefault(prop.value, {"property": _curie(prop.value, base),
                                                   "values": {}})
            group["values"][subject.value] = item
    listed = sorted(publications.values(), key=lambda i: i["text"].casefold())
    return listed, [{"property": g["property"], "values": sorted(
        g["values"].values(), key=lambda i: i["text"].casefold())}
        for g in sorted(others.values(), key=lambda g: g["property"])]


def _names(doc: Document, nodes: Iterable[Any], kind: str) -> list[dict[str, str]]:
    return [{"@type": kind, "@id": n.value, "name": label_of(doc, n) or n.value}
            for n in sorted((n for n in nodes if isinstance(n, NamedNode)),
                            key=lambda n: n.value)]


def schema_org(doc: Document, node: NamedNode, page_url: str, base: str) -> dict[str, Any]:
    """The schema.org description of ``node`` that the page embeds for search engines.

    The context is inline (``@vocab`` https://schema.org/), so nothing is fetched to read it.
    """
    types = set(doc.objects(node, _N["type"]))
    data: dict[str, Any] = {"@context": {"@vocab": "https://schema.org/"}, "@id": node.value,
                            "url": page_url, "name": label_of(doc, node) or node.value}
    if _N["Publication"] in types:
        data["@type"] = "CreativeWork"
        abstract = doc.value(node, _N["abstract"])
        if abstract is not None:
            data["abstract"] = abstract.value
        year = doc.value(node, _N["issued"])
        if year is not None:
            data["datePublished"] = year.value
        authors = []
        for agent in sorted((a for a in doc.objects(node, _N["creator"])
                             if isinstance(a, NamedNode)), key=lambda a: a.value):
            person = agent.value.startswith(base + "person/")
            authors += _names(doc, [agent], "Person" if person else "Organization")
        if authors:
            data["author"] = authors
        places = _names(doc, doc.objects(node, _N["spatial"]), "Place")
        if places:
            data["spatialCoverage"] = places
        keywords = [label_of(doc, c) for c in doc.objects(node, _N["subject"])]
        if any(keywords):
            data["keywords"] = sorted(k for k in keywords if k)
        part = doc.value(node, _N["isPartOf"])
        if part is not None:
            data["isPartOf"] = _names(doc, [part], "Book")[0]
        data["isBasedOn"] = [u.value for u in doc.objects(node, _N["url"])]
    elif _N["Country"] in types:
        data["@type"] = "Country"
    elif _N["Region"] in types or _N["Feature"] in types:
        data["@type"] = "Place"
    elif _N["Organization"] in types:
        data["@type"] = "Organization"
        data["alternateName"] = sorted(v.value for v in doc.objects(node, _N["altLabel"]))
    elif _N["Person"] in types:
        data["@type"] = "Person"
    elif _N["EditedVolume"] in types:
        data["@type"] = "Book"
    else:
        data["@type"] = "Thing"
    same = sorted(v.value for v in doc.objects(node, _N["sameAs"]))
    if same:
        data["sameAs"] = same
    parent = doc.value(node, _N["parentFeature"])
    if parent is not None:
        data["containedInPlace"] = _names(doc, [parent], "Place")[0]
    return {k: v for k, v in data.items() if v not in ([], None, "")}
