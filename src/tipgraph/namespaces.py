"""The vocabularies tipgraph writes, as closed namespaces where we own or pin them.

rdflib already ships DCTERMS, SKOS, FOAF, OWL, PROV, RDF, RDFS and XSD; we add
the ontology's own namespace (``TIP``), GeoNames (``GN``) and schema.org with
``https://`` (rdflib's ``SDO`` is the same IRI; re-exported as ``SCHEMA``).
"""

from __future__ import annotations

from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import (
    DCTERMS,
    FOAF,
    OWL,
    PROV,
    RDF,
    RDFS,
    SDO,
    SKOS,
    XSD,
    DefinedNamespace,
    NamespaceManager,
)

DEFAULT_BASE = "https://w3id.org/tipgraph/"
ONTOLOGY_IRI = URIRef("https://w3id.org/tipgraph/ontology")
SHAPES_IRI = URIRef("https://w3id.org/tipgraph/shapes")
GEONAMES_SWS = "https://sws.geonames.org/"
WORLD_GEONAMES_ID = 6295630

SCHEMA = SDO
DCT = DCTERMS


class TIP(DefinedNamespace):
    """The tipgraph ontology (``ontology/tipgraph.ttl``)."""

    _NS = Namespace("https://w3id.org/tipgraph/ontology#")
    _fail = True

    Publication: URIRef  # a catalogued publication on trafficking in persons
    EditedVolume: URIRef  # an edited compendium that publications are part of
    Country: URIRef  # a country or historical country, GeoNames-style
    Region: URIRef  # an IOM region, or the whole world
    SourceRecord: URIRef  # the place in a source file a record was read from
    statedCountry: URIRef  # a country the record names
    statedRegion: URIRef  # a region the record names
    countryRegion: URIRef  # the IOM region of a stated country (inferred)
    sourceFile: URIRef  # file name of the source (never a path)
    sourceLine: URIRef  # line of the record in its source file
    Statistic: URIRef  # a count published as data: publications per facet value
    facet: URIRef  # the browse facet a statistic counts by
    sortKey: URIRef  # a publication's position in title order (xsd:integer, for paging)
    matches: URIRef  # a node whose text matches a search (the endpoint's text index)
    matchScore: URIRef  # how well it matches (bm25; with tip:matches)


class GN(DefinedNamespace):
    """The parts of the GeoNames ontology tipgraph uses."""

    _NS = Namespace("https://www.geonames.org/ontology#")
    _fail = True

    Feature: URIRef
    name: URIRef
    countryCode: URIRef
    featureCode: URIRef
    parentFeature: URIRef


# Feature codes are individuals named with a dot, which attribute syntax cannot spell.
GN_PCLI = URIRef(str(GN._NS) + "A.PCLI")  # independent political entity
GN_PCLH = URIRef(str(GN._NS) + "A.PCLH")  # historical political entity
GN_RGN = URIRef(str(GN._NS) + "L.RGN")  # region
GN_AREA = URIRef(str(GN._NS) + "L.AREA")  # area (the whole Earth)

PREFIXES: dict[str, str] = {
    "tip": str(TIP._NS),
    "dct": str(DCTERMS),
    "schema": str(SCHEMA),
    "gn": str(GN._NS),
    "skos": str(SKOS),
    "foaf": str(FOAF),
    "owl": str(OWL),
    "prov": str(PROV),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "xsd": str(XSD),
}


def bind_prefixes(graph: Graph, base: str = DEFAULT_BASE) -> Graph:
    """Bind our prefixes (and the instance base as ``tg:``) on ``graph``; returns it."""
    manager = NamespaceManager(graph, bind_namespaces="none")
    graph.namespace_manager = manager
    for prefix, iri in PREFIXES.items():
        graph.bind(prefix, iri, override=True, replace=True)
    graph.bind("tg", base, override=True, replace=True)
    return graph


__all__ = [
    "DCT",
    "DCTERMS",
    "FOAF",
    "GN",
    "OWL",
    "PROV",
    "RDF",
    "RDFS",
    "SCHEMA",
    "SKOS",
    "TIP",
    "XSD",
]
