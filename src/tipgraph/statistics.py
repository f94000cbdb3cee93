"""Counts published as data: publications per country, region, year, organisation, category.

Counting 100,000 publications per facet value takes the store seconds on every
request; the build knows the answer already. So after reasoning it adds one
``tip:Statistic`` per facet value (a VoID-style subset: its ``void:entities``
is how many publications have that value) and one per class (how many
instances it has), and the pages read those few nodes instead of counting::

    <https://w3id.org/tipgraph/dataset#statistic-region-west-and-central-africa>
        a tip:Statistic ; tip:facet "region" ;
        rdf:value <https://w3id.org/tipgraph/place/west-and-central-africa> ;
        void:entities 8276 .

The facets are those of the browse page, with the same meaning: a region
counts the publications that name it and those that name one of its countries
(the materialised ``dct:spatial``). Each is named in the dataset's document
(``<base>dataset#statistic-<facet>-<key>``) rather than by a blank node, which
every store copies as it is, and a rebuild of the same data names the same way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from urllib.parse import quote

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, SKOS, VOID, XSD
from rdflib.term import Node

from tipgraph.namespaces import DCT, SCHEMA, TIP

#: facet -> (the publication's property, the type its value has; None: a literal)
FACETS: dict[str, tuple[URIRef, URIRef | None]] = {
    "country": (DCT.spatial, TIP.Country),
    "region": (DCT.spatial, TIP.Region),
    "year": (DCT.issued, None),
    "organisation": (DCT.creator, SCHEMA.Organization),
    "category": (DCT.subject, SKOS.Concept),
}

Triple = tuple[Node, Node, Node]

#: Classes whose instances are counted (facet ``class``).
CLASSES = (TIP.Publication, TIP.Country, TIP.Region, SCHEMA.Organization, SCHEMA.Person)


def count(triples: Iterable[Triple]) -> dict[str, Counter]:
    """Publications per value for each facet, and instances per class (facet ``class``).

    One pass over the triples: the closure may be a list or a stream, not a Graph.
    """
    props = {prop for prop, _ in FACETS.values()}
    kinds = {kind for _, kind in FACETS.values() if kind is not None} | set(CLASSES)
    members: dict[Node, set[Node]] = {kind: set() for kind in kinds}
    uses: dict[Node, list[tuple[Node, Node]]] = {prop: [] for prop in props}
    for s, p, o in triples:
        if p == RDF.type:
            if o in members:
                members[o].add(s)
        elif p in uses:
            uses[p].append((s, o))
    publications = members[TIP.Publication]
    counts: dict[str, Counter] = {facet: Counter() for facet in FACETS}
    for facet, (prop, kind) in FACETS.items():
        wanted = members[kind] if kind is not None else None
        for subject, value in uses[prop]:
            if subject in publications and (wanted is None or value in wanted):
                counts[facet][value] += 1
    counts["class"] = Counter({kind: len(members[kind]) for kind in CLASSES})
    return counts


def statistics_triples(triples: Iterable[Triple], base: str) -> list[Triple]:
    """The ``tip:Statistic`` nodes describing the closure's counts, named under ``base``.

    ``triples`` is the reasoned closure (``rdf:type`` triples included) as rdflib
    terms, in any iterable: the build hands over what it holds, not a Graph.
    """
    dataset = base.rstrip("/#") + "/dataset"
    out: list[Triple] = []
    for facet, counter in count(triples).items():
        for value, n in sorted(counter.items()):
            key = re.split(r"[/#]", str(value).rstrip("/"))[-1]
            node = URIRef(f"{dataset}#statistic-{facet}-{quote(key, safe='-._~')}")
            out += [(node, RDF.type, TIP.Statistic), (node, TIP.facet, Literal(facet)),
                    (node, RDF.value, value),
                    (node, VOID.entities, Literal(n, datatype=XSD.integer))]
    return out


def add_statistics(graph: Graph, base: str) -> int:
    """Add the statistics to ``graph``; returns how many values were counted."""
    triples = statistics_triples(list(graph), base)
    for triple in triples:
        graph.add(triple)
    return len(triples) // 4
