"""What a resource page shows first, before its statements: the catalogue record.

For a publication: its title, authors (persons and organisations told apart), year,
places, category, abstract, the volume it is part of, the document's link, its
citation in the shipped styles and its exports, and publications like it; the
Highwire Press ``citation_*`` and Dublin Core ``DC.*`` meta tags reference managers
and Google Scholar read. For a place, an organisation or a person: its publications
by year, and what they share (a country's region, an organisation's co-publishers, a
person's co-authors), counted over the browse index so that a page costs the same
whatever the catalogue's size. Internal keys (sort keys, source lines) stay in the
statements table below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup

from tipgraph.citation import (
    CITATION_FORMATS,
    STYLES,
    Agent,
    Facts,
    cite,
    csl_name,
)
from tipgraph.serving import Build
from tipgraph.serving.catalogue import Catalogue, Link, Selection
from tipgraph.serving.documents import Document
from tipgraph.serving.records import read_facts
from tipgraph.worldmap import world_map

#: How many publications "more like this" and a node's page list.
MORE_LIKE_THIS = 6
LISTED = 10
#: The catalogue slots a publication links to -> the browse facet of each.
FACET_OF_SLOT = {"countries": "country", "regions": "region", "organisations": "organisation",
                 "persons": "person", "categories": "category"}


def safe_url(url: str) -> str | None:
    """``url`` when it is an absolute http(s) URL a page may link to, else None.

    >>> safe_url("https://example.org/a.pdf"), safe_url("javascript:alert(1)")
    ('https://example.org/a.pdf', None)
    """
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


@dataclass
class Named:
    """A linked name on the page."""

    label: str
    href: str
    kind: str = ""  # person, organisation, country, region, category
    note: str = ""


@dataclass
class Record:
    facts: Facts
    authors: list[Named]
    countries: list[Named]
    regions: list[Named]
    categories: list[Named]
    abstract: list[str]
    volume: dict[str, Any] | None
    document: str | None
    citations: list[tuple[str, Markup, str]]  # (style, HTML, plain text)
    exports: list[tuple[str, str, str]]  # (label, href, media type)
    more: list[dict[str, Any]]
    meta: list[tuple[str, str]] = field(default_factory=list)


def paragraphs(text: str) -> list[str]:
    """An abstract's paragraphs: split at blank lines (or at line breaks when it has no
    blank line), spaces tidied.

    >>> paragraphs("One.\\n\\nTwo\\n lines.")
    ['One.', 'Two lines.']
    """
    parts = re.split(r"\n\s*\n", text.strip()) if re.search(r"\n\s*\n", text) \
        else text.strip().splitlines()
    return [" ".join(p.split()) for p in parts if p.strip()]


def publication_record(build: Build, doc: Document, cat: Catalogue, *,
                       href: Callable[[str], str], page_url: str, path: str) -> Record | None:
    """The record of the publication ``doc`` describes, or None when the store has none."""
    found = read_facts(build.store, [doc.uri])
    if not found:
        return None
    facts = found[0]
    links = _links(cat, doc.uri)
    kinds = {"countries": [], "regions": [], "categories": []}  # type: dict[str, list[Named]]
    for slot, link in links:
        if slot in kinds:
            kinds[slot].append(Named(link.label, href(link.uri), slot[:-1]))
    authors = [Named(a.name, href(a.uri) if a.uri else "", a.kind) for a in facts.authors]
    volume = None
    if facts.volume:
        v = facts.volume
        volume = {"title": v.title, "href": href(v.uri) if v.uri else "",
                  "editors": [Named(a.name, href(a.uri), a.kind) for a in v.editors],
                  "publisher": Named(v.publisher.name, href(v.publisher.uri),
                                     v.publisher.kind) if v.publisher else None,
                  "year": v.year}
    citations = [(STYLES[style], Markup(ref.html), ref.text)  # escaped by citation
                 for style, ref in zip(STYLES, cite(facts), strict=True)]
    exports = [(f.label, f"{path}.{f.extension}", f.media_type)
               for f in CITATION_FORMATS.values()]
    return Record(facts, authors, kinds["countries"], kinds["regions"], kinds["categories"],
                  paragraphs(facts.abstract), volume, safe_url(facts.url) if facts.url else None,
                  citations, exports, more_like_this(cat, doc.uri, links, href=href),
                  meta_tags(facts, page_url))


def _links(cat: Catalogue, uri: str) -> list[tuple[str, Link]]:
    """The nodes the catalogue links the publication to, with their slots."""
    try:
        position = cat.uris.index(uri)
    except ValueError:
        return []
    return [(cat.nodes[link.uri][0], link) for link in cat.shown[position][2]]


def more_like_this(cat: Catalogue, uri: str, links: list[tuple[str, Link]], *,
                   href: Callable[[str], str]) -> list[dict[str, Any]]:
    """Publications sharing an author, then a country, then a region with this one (the
    more specific link first), each with what it shares."""
    try:
        me = 1 << cat.uris.index(uri)
    except ValueError:
        return []
    chosen: dict[int, str] = {}
    for slots in (("persons", "organisations"), ("countries",), ("regions",)):
        for slot, link in links:
            if slot not in slots or len(chosen) >= MORE_LIKE_THIS:
                continue
            bits = cat.postings[FACET_OF_SLOT[slot]].get(link.key, 0) & ~me
            for position in _positions(bits, MORE_LIKE_THIS):
                if position not in chosen and len(chosen) < MORE_LIKE_THIS:
                    chosen[position] = link.label
    more = []
    for position, shared in chosen.items():
        title, year, _ = cat.shown[position]
        more.append({"title": title, "year": year, "href": href(cat.uris[position]),
                     "shared": shared})
    return more


def _positions(bits: int, count: int) -> list[int]:
    found = []
    while bits and len(found) < count:
        low = bits & -bits
        found.append(low.bit_length() - 1)
        bits ^= low
    return found


def meta_tags(facts: Facts, page_url: str) -> list[tuple[str, str]]:
    """Highwire Press ``citation_*`` tags (Google Scholar, Zotero) and Dublin Core
    ``DC.*`` tags (Zotero's embedded-metadata reader) of a publication."""
    tags: list[tuple[str, str]] = [("citation_title", facts.title)]
    tags += [("citation_author", _author(a)) for a in facts.authors]
    if facts.year:
        tags += [("citation_publication_date", facts.year), ("citation_date", facts.year)]
    if facts.volume:
        tags.append(("citation_inbook_title", facts.volume.title))
        if facts.volume.publisher:
            tags.append(("citation_publisher", facts.volume.publisher.name))
    else:
        tags.append(("citation_technical_report_institution", "; ".join(
            a.name for a in facts.authors if a.kind == "organisation")))
    tags.append(("citation_abstract_html_url", page_url))
    document = safe_url(facts.url) if facts.url else None
    if document and urlsplit(document).path.lower().endswith(".pdf"):
        tags.append(("citation_pdf_url", document))
    if facts.keywords:
        tags.append(("citation_keywords", "; ".join(facts.keywords)))
    tags.append(("citation_language", "en"))
    tags.append(("DC.title", facts.title))
    tags += [("DC.creator", _author(a)) for a in facts.authors]
    if facts.year:
        tags.append(("DC.date", facts.year))
    if facts.volume and facts.volume.publisher:
        tags.append(("DC.publisher", facts.volume.publisher.name))
    if facts.abstract:
        tags.append(("DC.description", " ".join(facts.abstract.split())))
    tags += [("DC.subject", k) for k in facts.keywords]
    tags += [("DC.identifier", facts.uri), ("DC.type", "Text"), ("DC.language", "en")]
    return [(name, value) for name, value in tags if value]


def _author(agent: Agent) -> str:
    """``Family, Given`` for a person (what Google Scholar asks), an organisation whole."""
    name = csl_name(agent)
    if "literal" in name:
        return name["literal"]
    family = " ".join(p for p in (name.get("non-dropping-particle"), name["family"]) if p)
    return f"{family}, {name['given']}" if name.get("given") else family


# -- places, organisations, persons ---------------------------------------------------

@dataclass
class Summary:
    """What a node's page shows first: its publications, by year, and its neighbours."""

    facet: str
    heading: str
    total: int
    browse: str
    years: list[tuple[str, int, str]]  # (year, count, browse URL)
    related: list[tuple[str, list[tuple[str, int, str]]]]  # (heading, [(label, n, href)])
    publications: list[dict[str, Any]]
    parent: Named | None = None
    map_svg: Markup | None = None

    @property
    def kind(self) -> str:
        """What the node is, in a reader's word."""
        return KINDS[self.facet]


#: For each kind of node, the facets its page counts its publications by (heading first).
RELATED = {"country": (("organisation", "Organisations"), ("person", "Authors"),
                       ("country", "Countries named with it")),
           "region": (("country", "Countries"), ("organisation", "Organisations"),
                      ("person", "Authors")),
           "organisation": (("organisation", "Co-publishers"), ("person", "Authors"),
                            ("country", "Countries")),
           "person": (("person", "Co-authors"), ("organisation", "Organisations"),
                      ("country", "Countries")),
           "category": (("country", "Countries"), ("organisation", "Organisations"))}
KINDS = {"country": "Country", "region": "Region", "organisation": "Organisation",
         "person": "Person", "category": "Category"}
HEADINGS = {"country": "Publications about this country",
            "region": "Publications about this region (its countries included)",
            "organisation": "Publications of this organisation",
            "person": "Publications by this person", "category": "Publications in this category"}


def node_summary(cat: Catalogue, uri: str, *, href: Callable[[str], str],
                 browse: Callable[..., str], top: int = 12) -> Summary | None:
    """The summary of a place, organisation, person or category the catalogue links to."""
    slot_link = cat.nodes.get(uri)
    if slot_link is None:
        return None
    slot, link = slot_link
    facet = FACET_OF_SLOT[slot]
    bits = cat.postings[facet].get(link.key, 0)
    selection = Selection(bits, cat, (facet, link.key))
    counts = cat.counts(selection, ["year", *(f for f, _ in RELATED[facet])])
    years = [(year, n, browse(**{facet: link.key, "year": year}))
             for year, _, n in sorted(counts["year"], reverse=True)]
    related = []
    for other, heading in RELATED[facet]:
        rows = [(label, n, browse(**{facet: link.key, other: key})) for key, label, n in
                [row for row in counts[other]
                 if not (other == facet and row[0] == link.key)][:top]]
        if rows:
            related.append((heading, rows))
    publications = [{"title": e.title, "year": e.year, "href": href(e.uri)}
                    for e in selection.page(0, LISTED)]
    return Summary(facet, HEADINGS[facet], len(selection), browse(**{facet: link.key}), years,
                   related, publications)


# -- the map ---------------------------------------------------------------------------

def country_map(cat: Catalogue | None, rows: list[tuple[str, str, int]], *,
                href: Callable[[str], str], title: str, uris: dict[str, str] | None = None,
                area: list[str] | None = None) -> Markup:
    """The world map of ``rows`` (country key, label, publications), each country linked
    to its page (``href`` of its URI: from ``uris``, else from the catalogue), zoomed to
    ``area`` (country keys) when given."""
    if uris is None:
        uris = {link.key: uri for uri, (slot, link) in (cat.nodes.items() if cat else ())
                if slot == "countries"}

    def link(code: str) -> str | None:
        uri = uris.get(code) or uris.get(code.lower())
        return href(uri) if uri else None

    svg = world_map({key: n for key, _, n in rows}, names={key: label for key, label, _ in rows},
                    href=link, title=title, area=area or ())
    return Markup(svg)  # escaped by world_map
