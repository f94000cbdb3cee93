"""Counts published as data: publications per country, region, year, organisation, category.

Counting 100,000 publications per facet value takes the store seconds on every
request; the build knows the answer already. So after reasoning it adds one
``tip:Statistic`` per facet value (its ``tip:count``
is how many publications have that value) and one per class (how many
instances it has), and the pages read those few nodes instead of counting::

    <https://w3id.org/tipgraph/dataset#statistic-region-west-and-central-africa>
        a tip:Statistic ; tip:facet "region" ;
        rdf:value <https://w3id.org/tipgraph/place/west-and-central-africa> ;
        tip:count 8276 .

The facets are those of the browse page, with the same meaning: a region
counts the publications that name it and those that name one of its countries
(the materialised ``dct:spatial``). The shipped queries read a few more
(:data:`CROSSED`): ``stated-region`` (the records that name the region itself),
and crossings of two values, a node with one ``rdf:value`` for each that counts
the publications having both: pairs of co-authoring organisations, (stated
country, stated region) pairs, and the first and last year of each country and
the last of each organisation::

    <https://w3id.org/tipgraph/dataset#statistic-country-last-year-ng~2020>
        a tip:Statistic ; tip:facet "country-last-year" ;
        rdf:value <https://w3id.org/tipgraph/place/ng>, "2020"^^xsd:gYear ;
        tip:count 31 .

Each is named in the dataset's document
(``<base>dataset#statistic-<facet>-<key>``) rather than by a blank node, which
every store copies as it is, and a rebuild of the same data names the same way.

The same pass gives each publication its place in title order,
``tip:sortKey`` (an ``xsd:integer`` from 0, in :func:`title_order`)::

    <https://w3id.org/tipgraph/publication/a-guide-to-...> tip:sortKey 41 .

Oxigraph compares strings by decoding both of them from its string table, which
at 100,000 titles made a query's ``ORDER BY ?title`` cost a second or more;
integers are stored inside the triple, so ``ORDER BY ?key`` reads no string and
the shipped queries fetch the titles of one page only.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TypeVar
from urllib.parse import quote

from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from tipgraph.graphs import Triple
from tipgraph.namespaces import DCT, RDF, SCHEMA, SKOS, TIP, XSD

#: The property holding a publication's position in title order.
SORT_KEY = TIP.sortKey

#: facet -> (the publication's property, the type its value has; None: a literal)
FACETS: dict[str, tuple[URIRef, URIRef | None]] = {
    "country": (DCT.spatial, TIP.Country),
    "region": (DCT.spatial, TIP.Region),
    "year": (DCT.issued, None),
    "organisation": (DCT.creator, SCHEMA.Organization),
    "category": (DCT.subject, SKOS.Concept),
}

#: Classes whose instances are counted (facet ``class``).
CLASSES = (TIP.Publication, TIP.Country, TIP.Region, SCHEMA.Organization, SCHEMA.Person)

#: Facets that cross two values (one ``rdf:value`` each): publications having both.
#: The shipped queries read them instead of counting (``queries/*.rq``). Of the
#: (country, year) and (organisation, year) cells only the first and the last year
#: with publications are published: what the queries ask, in a few hundred nodes
#: rather than one per cell.
CROSSED = ("stated-region", "organisation-pair", "country-stated-region",
           "country-first-year", "country-last-year", "organisation-last-year")

_Index = tuple[dict[Node, set[Node]], dict[Node, list[tuple[Node, Node]]]]

K = TypeVar("K", bound=str)


def title_key(title: str, uri: str) -> tuple[str, str]:
    """Where a publication stands in title order: its title casefolded, then its URI.

    The browse pages and ``tip:sortKey`` use this one order, so a page of a shipped
    query and a page of the browse view list publications alike.

    >>> sorted([("b", "u:1"), ("A", "u:3"), ("a", "u:2")], key=lambda t: title_key(*t))
    [('a', 'u:2'), ('A', 'u:3'), ('b', 'u:1')]
    """
    return title.casefold(), uri


def title_order(titles: Mapping[K, str]) -> list[K]:
    """The URIs of ``titles`` (URI -> title) in title order (:func:`title_key`).

    >>> title_order({"u:1": "beta", "u:2": "Alpha", "u:3": "alpha"})
    ['u:2', 'u:3', 'u:1']
    """
    return sorted(titles, key=lambda uri: title_key(titles[uri], uri))


def _index(triples: Iterable[Triple]) -> _Index:
    """One pass over the triples: the members of each counted class, the uses of each
    counted property (and of ``dct:title``); the closure may be a list or a stream."""
    props = ({prop for prop, _ in FACETS.values()}
             | {TIP.statedCountry, TIP.statedRegion, DCT.title})
    kinds = {kind for _, kind in FACETS.values() if kind is not None} | set(CLASSES)
    members: dict[Node, set[Node]] = {kind: set() for kind in kinds}
    uses: dict[Node, list[tuple[Node, Node]]] = {prop: [] for prop in props}
    rdf_type = str(RDF.type)
    for s, p, o in triples:  # str.__eq__: rdflib's == (and RDF.type) is a Python call each
        if str.__eq__(p, rdf_type):
            if o in members:
                members[o].add(s)
        elif p in uses:
            uses[p].append((s, o))
    return members, uses


def count(triples: Iterable[Triple]) -> dict[str, Counter]:
    """Publications per value for each facet, and instances per class (facet ``class``).

    A facet of :data:`CROSSED` counts tuples of values (sorted, for a pair of
    organisations); ``stated-region`` counts the publications whose record names
    a region itself (``tip:statedRegion``), not through one of its countries.
    """
    tally = Tally()
    tally.add(triples)
    return tally.counts()


class Tally:
    """The counts and title order of a closure taken in a part at a time (:meth:`add`):
    what is kept between parts is the counters, the title of each publication and the
    members of the counted classes, not the triples.

    Each part holds every triple about its publications (their values, their title, and
    the type of each value they name: the closure of whole publications, as the build
    cuts it). A node described in several parts is counted once.
    """

    def __init__(self) -> None:
        kinds = {kind for _, kind in FACETS.values() if kind is not None} | set(CLASSES)
        self.members: dict[Node, set[Node]] = {kind: set() for kind in kinds}
        self._counts: dict[str, Counter] = {facet: Counter() for facet in (*FACETS, *CROSSED)}
        #: (value, year) -> publications, for the first and last years of each value
        self._cells: dict[str, Counter] = {"country": Counter(), "organisation": Counter()}
        #: publication -> its title (the least, were there two)
        self.titles: dict[Node, str] = {}

    def add(self, triples: Iterable[Triple]) -> None:
        """Count a part's triples (the whole closure of its publications)."""
        members, uses = _index(triples)
        for kind, found in members.items():
            self.members[kind] |= found
        members = self.members
        publications = members[TIP.Publication]

        def values(prop: Node, kind: Node | None) -> dict[Node, list[Node]]:
            """Each publication's values of ``prop`` (of type ``kind``), without repeats."""
            wanted = members[kind] if kind is not None else None
            found: dict[Node, dict[Node, None]] = {}  # dicts as ordered sets
            for subject, value in uses[prop]:
                if subject in publications and (wanted is None or value in wanted):
                    found.setdefault(subject, {})[value] = None
            return {subject: list(vals) for subject, vals in found.items()}

        counts = self._counts
        per_facet = {facet: values(prop, kind) for facet, (prop, kind) in FACETS.items()}
        for facet, found in per_facet.items():
            for vals in found.values():
                counts[facet].update(vals)
        stated_regions = values(TIP.statedRegion, TIP.Region)
        for regions in stated_regions.values():
            counts["stated-region"].update(regions)
        years, organisations = per_facet["year"], per_facet["organisation"]
        for prefix, firsts in (("country", per_facet["country"]),
                               ("organisation", organisations)):
            self._cells[prefix].update((value, year) for publication, vals in firsts.items()
                                       for value in vals for year in years.get(publication, ()))
        for orgs in organisations.values():
            ordered = sorted(orgs, key=str)
            counts["organisation-pair"].update(
                (a, b) for n, a in enumerate(ordered) for b in ordered[n + 1:])
        for publication, countries in values(TIP.statedCountry, TIP.Country).items():
            counts["country-stated-region"].update(
                (country, region) for country in countries
                for region in stated_regions.get(publication, ()))
        titles = self.titles
        for subject, title in uses[DCT.title]:
            if subject in publications and (subject not in titles or str(title) < titles[subject]):
                titles[subject] = str(title)

    def counts(self) -> dict[str, Counter]:
        """The counts of every part added so far (:func:`count`)."""
        counts = {facet: Counter(counter) for facet, counter in self._counts.items()}
        for prefix, cells in self._cells.items():
            spans: dict[Node, list[Node]] = {}
            for value, year in cells:
                spans.setdefault(value, []).append(year)
            for value, seen in spans.items():
                ordered = sorted(seen, key=str)  # years as written: "1998" < "2025"
                if prefix == "country":
                    counts["country-first-year"][value, ordered[0]] = cells[value, ordered[0]]
                counts[f"{prefix}-last-year"][value, ordered[-1]] = cells[value, ordered[-1]]
        counts["class"] = Counter({kind: len(self.members[kind]) for kind in CLASSES})
        return counts

    def sort_keys(self) -> list[Triple]:
        """``<publication> tip:sortKey N``: each publication's position in title order,
        from 0 (:func:`title_order`).

        A publication has one title (the shapes require it); were there two, the least
        would count, as on the browse pages, whatever order the triples come in.
        """
        # Literal(int) is typed xsd:integer, which Oxigraph stores inline (no string table)
        return [(uri, SORT_KEY, Literal(n)) for n, uri in enumerate(title_order(self.titles))]

    def triples(self, base: str) -> list[Triple]:
        """The ``tip:Statistic`` nodes of the counts, named under ``base``, and each
        publication's ``tip:sortKey`` (:func:`statistics_triples`)."""
        dataset = base.rstrip("/#") + "/dataset"
        out: list[Triple] = self.sort_keys()
        for facet, counter in self.counts().items():
            for value, n in sorted(counter.items(), key=lambda kv: str(kv[0])):
                if isinstance(value, tuple):  # one rdf:value each; '~' joins the escaped keys
                    vals = value
                    key = "~".join(quote(_key(v), safe="-._") for v in value)
                else:
                    vals, key = (value,), quote(_key(value), safe="-._~")
                node = URIRef(f"{dataset}#statistic-{facet}-{key}")
                out += [(node, RDF.type, TIP.Statistic), (node, TIP.facet, Literal(facet))]
                out += [(node, RDF.value, v) for v in vals]
                out.append((node, TIP.count, Literal(n, datatype=XSD.integer)))
        return out


def _key(value: Node) -> str:
    return re.split(r"[/#]", str(value).rstrip("/"))[-1]


def statistics_triples(triples: Iterable[Triple], base: str) -> list[Triple]:
    """The ``tip:Statistic`` nodes describing the closure's counts, named under ``base``,
    and each publication's ``tip:sortKey``.

    ``triples`` is the reasoned closure (``rdf:type`` triples included) as rdflib
    terms, in any iterable: the build hands over what it holds, not a Graph (or a part
    at a time, to a :class:`Tally`).
    """
    tally = Tally()
    tally.add(triples)
    return tally.triples(base)


def add_statistics(graph: Graph, base: str) -> int:
    """Add the statistics and sort keys to ``graph``; returns how many values were counted."""
    triples = statistics_triples(list(graph), base)
    for triple in triples:
        graph.add(triple)
    return sum(1 for _, p, _ in triples if p == TIP.facet)
