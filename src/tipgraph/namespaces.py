"""The vocabularies tipgraph writes, as closed namespaces where we own or pin them, and
the published files and URI kinds every layer names (the build writes them, the web
serves them: both import them from here, so neither imports the other).

rdflib already ships DCTERMS, DCAT, SKOS, FOAF, OWL, PROV, RDF, RDFS, VOID and XSD;
we add the ontology's own namespace (``TIP``), GeoNames (``GN``), Hydra's core
vocabulary and schema.org with ``https://`` (rdflib's ``SDO`` is the same IRI;
re-exported as ``SCHEMA``).
"""

from __future__ import annotations

from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import (
    DCAT,
    DCTERMS,
    FOAF,
    OWL,
    PROV,
    RDF,
    RDFS,
    SDO,
    SKOS,
    VOID,
    XSD,
    DefinedNamespace,
    NamespaceManager,
)

from tipgraph.shipped import shipped

DEFAULT_BASE = "https://w3id.org/tipgraph/"
ONTOLOGY_IRI = URIRef("https://w3id.org/tipgraph/ontology")
SHAPES_IRI = URIRef("https://w3id.org/tipgraph/shapes")
GEONAMES_SWS = "https://sws.geonames.org/"
WORLD_GEONAMES_ID = 6295630

SCHEMA = SDO
DCT = DCTERMS
#: Hydra's core vocabulary: how a paged document names its neighbours.
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
#: The W3C SPARQL 1.1 Service Description vocabulary.
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")

#: The path segment of each kind of node under the instance base; none is a service
#: path (``/sparql``, ``/dataset``, ``/dumps/``, ...), so instances never shadow one.
KINDS = {"publication": "publication", "place": "place", "organisation": "organisation",
         "person": "person", "concept": "concept", "volume": "volume", "scheme": "scheme",
         "source": "source"}

#: The ontology and the shapes, published as they are at ``ONTOLOGY_IRI`` / ``SHAPES_IRI``.
ONTOLOGY_PATH = shipped("ontology", "tipgraph.ttl")
SHAPES_PATH = shipped("shapes", "tipgraph.ttl")


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
    count: URIRef  # how many a statistic counts (xsd:integer)
    sortKey: URIRef  # an integer ordering publications by title (compare, do not count)
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


_TERMS: dict[str, URIRef] = {}


def term(iri: str) -> URIRef:
    """The one :class:`URIRef` object of ``iri`` that the build's hot loops share.

    A dict or set of terms finds an object it holds by identity, in C; an equal object of
    its own costs rdflib's ``__eq__``, a Python call: the vocabulary's terms are looked up
    millions of times in a large build (the rules, the statistics, the index makers), so
    the mapping, the rules and the lookups all take their terms from here.

    >>> from rdflib import RDF
    >>> term(RDF.type) is term(str(RDF.type)), type(term(RDF.type)) is URIRef
    (True, True)
    """
    text = str.__str__(iri)
    found = _TERMS.get(text)
    if found is None:
        found = _TERMS[text] = URIRef(text)
    return found


def bind_prefixes(graph: Graph, base: str = DEFAULT_BASE) -> Graph:
    """Bind our prefixes (and the instance base as ``tg:``) on ``graph``; returns it."""
    manager = NamespaceManager(graph, bind_namespaces="none")
    graph.namespace_manager = manager
    for prefix, iri in PREFIXES.items():
        graph.bind(prefix, iri, override=True, replace=True)
    graph.bind("tg", base, override=True, replace=True)
    return graph


__all__ = [
    "DCAT",
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
    "VOID",
    "XSD",
]
