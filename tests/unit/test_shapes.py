"""The ontology's OWL 2 RL inferences and the SHACL shapes, on a small hand-built graph.

The graph validated is always the reasoned one: ontology + data + owlrl closure.
Two closures are exercised:

* ``owlrl``: owlrl's OWL-RL closure exactly as run with
  ``DeductiveClosure(OWLRL_Semantics, axiomatic_triples=False, datatype_axioms=False)``,
  identity rules included (reflexive ``owl:sameAs``, triples copied onto GeoNames URIs).
* ``published``: the closure DESIGN.md says we publish: the same reasoner without
  identity rules, the data's own ``owl:sameAs`` links kept, no literal subjects.

The shapes must give the same verdicts on both, and both engines must report them:
pyshacl (the reference) and tipgraph's fast engine (shapes compiled to SPARQL over
Oxigraph), which must report exactly what pyshacl reports on every graph here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import owlrl
import pyshacl
import pytest
from rdflib import OWL, RDF, RDFS, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS as DCT
from rdflib.namespace import FOAF, PROV, SKOS

from tipgraph.validation import validate_graph

ROOT = Path(__file__).resolve().parents[2]
ONTOLOGY_FILE = ROOT / "ontology" / "tipgraph.ttl"
SHAPES_FILE = ROOT / "shapes" / "tipgraph.ttl"

TIP = Namespace("https://w3id.org/tipgraph/ontology#")
GN = Namespace("https://www.geonames.org/ontology#")
SCHEMA = Namespace("https://schema.org/")
SH = Namespace("http://www.w3.org/ns/shacl#")
# a plain Namespace: rdflib's XSD warns when pytest probes it during collection
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")

DEFAULT_BASE = "https://w3id.org/tipgraph/"
OTHER_BASE = "http://data.example.org/tip/"
CLOSURES = ("owlrl", "published")
ENGINES = ("pyshacl", "fast")

GEONAMES_NG = URIRef("https://sws.geonames.org/2328926/")
GEONAMES_WORLD = URIRef("https://sws.geonames.org/6295630/")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return Graph().parse(ONTOLOGY_FILE, format="turtle")


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(SHAPES_FILE, format="turtle")


class Nodes:
    """The instance URIs of the test graph, under a given base."""

    def __init__(self, base: str) -> None:
        b = Namespace(base)
        self.pub = b["publication/handbook-on-trafficking-in-persons"]
        self.pub2 = b["publication/a-chapter-on-recruitment"]
        self.volume = b["publication/collected-essays-on-migration"]
        self.ng = b["place/ng"]
        self.wca = b["place/west-and-central-africa"]
        self.world = b["place/world"]
        self.person = b["person/jane-doe"]
        self.editor = b["person/john-roe"]
        self.org = b["organisation/international-organization-for-migration"]
        self.concept = b["concept/trafficking"]
        self.scheme = b["concept/categories"]
        self.source = b["source/000_9daa3158183ee0eb.txt/12"]
        self.source2 = b["source/000_9daa3158183ee0eb.txt/40"]


def valid_data(n: Nodes) -> Graph:
    """A small graph that uses every node type and breaks no shape (not even a warning)."""
    g = Graph()
    # publication
    g.add((n.pub, RDF.type, TIP.Publication))
    g.add((n.pub, DCT.title, Literal("Handbook on trafficking in persons", lang="en")))
    g.add((n.pub, DCT.abstract, Literal("A handbook for practitioners.", lang="en")))
    g.add((n.pub, DCT.issued, Literal("2005", datatype=XSD.gYear)))
    g.add((n.pub, TIP.statedCountry, n.ng))
    g.add((n.pub, DCT.creator, n.person))
    g.add((n.pub, DCT.creator, n.org))
    g.add((n.pub, DCT.subject, n.concept))
    g.add((n.pub, DCT.identifier, Literal("ISBN 92-9068-000-0")))
    g.add((n.pub, DCT.bibliographicCitation, Literal("Doe, J. (2005) Handbook ...")))
    g.add((n.pub, PROV.wasDerivedFrom, n.source))
    g.add((n.pub, PROV.wasDerivedFrom, URIRef("https://publications.iom.int/books/handbook")))
    # a second publication: a chapter in an edited volume, about a region
    g.add((n.pub2, RDF.type, TIP.Publication))
    g.add((n.pub2, DCT.title, Literal("A chapter on recruitment", lang="en")))
    g.add((n.pub2, DCT.issued, Literal("1999", datatype=XSD.gYear)))
    g.add((n.pub2, TIP.statedRegion, n.world))
    g.add((n.pub2, DCT.creator, n.person))
    g.add((n.pub2, DCT.isPartOf, n.volume))
    g.add((n.pub2, PROV.wasDerivedFrom, n.source2))
    # edited volume
    g.add((n.volume, RDF.type, TIP.EditedVolume))
    g.add((n.volume, DCT.title, Literal("Collected essays on migration", lang="en")))
    g.add((n.volume, SCHEMA.editor, n.editor))
    g.add((n.volume, DCT.publisher, n.org))
    # country
    g.add((n.ng, RDF.type, GN.Feature))
    g.add((n.ng, RDF.type, TIP.Country))
    g.add((n.ng, GN.name, Literal("Nigeria")))
    g.add((n.ng, SKOS.prefLabel, Literal("Nigeria", lang="en")))
    g.add((n.ng, SKOS.altLabel, Literal("Federal Republic of Nigeria", lang="en")))
    g.add((n.ng, GN.countryCode, Literal("NG")))
    g.add((n.ng, GN["featureCode"], GN["A.PCLI"]))
    g.add((n.ng, GN.parentFeature, n.wca))
    g.add((n.ng, OWL.sameAs, GEONAMES_NG))
    # regions
    g.add((n.wca, RDF.type, GN.Feature))
    g.add((n.wca, RDF.type, TIP.Region))
    g.add((n.wca, GN.name, Literal("West and Central Africa")))
    g.add((n.wca, SKOS.prefLabel, Literal("West and Central Africa", lang="en")))
    g.add((n.wca, SKOS.altLabel, Literal("West Africa", lang="en")))
    g.add((n.wca, GN["featureCode"], GN["L.RGN"]))
    g.add((n.world, RDF.type, GN.Feature))
    g.add((n.world, RDF.type, TIP.Region))
    g.add((n.world, GN.name, Literal("World")))
    g.add((n.world, SKOS.prefLabel, Literal("Worldwide", lang="en")))
    g.add((n.world, GN["featureCode"], GN["L.AREA"]))
    g.add((n.world, OWL.sameAs, GEONAMES_WORLD))
    # agents
    g.add((n.person, RDF.type, SCHEMA.Person))
    g.add((n.person, FOAF.name, Literal("Jane Doe")))
    g.add((n.person, SCHEMA.name, Literal("Jane Doe")))
    g.add((n.editor, RDF.type, SCHEMA.Person))
    g.add((n.editor, FOAF.name, Literal("John Roe")))
    g.add((n.editor, SCHEMA.name, Literal("John Roe")))
    g.add((n.org, RDF.type, SCHEMA.Organization))
    g.add((n.org, SKOS.prefLabel, Literal("International Organization for Migration", lang="en")))
    g.add((n.org, SKOS.altLabel, Literal("IOM")))
    # category
    g.add((n.concept, RDF.type, SKOS.Concept))
    g.add((n.concept, SKOS.prefLabel, Literal("Trafficking", lang="en")))
    g.add((n.concept, SKOS.inScheme, n.scheme))
    g.add((n.scheme, RDF.type, SKOS.ConceptScheme))
    g.add((n.scheme, SKOS.prefLabel, Literal("Categories", lang="en")))
    # source records
    for src, line in ((n.source, 12), (n.source2, 40)):
        g.add((src, RDF.type, TIP.SourceRecord))
        g.add((src, TIP.sourceFile, Literal("000_9daa3158183ee0eb.txt")))
        g.add((src, TIP.sourceLine, Literal(line)))
    return g


# --------------------------------------------------------------------------- helpers


def reason(data: Graph, ontology: Graph, closure: str = "owlrl") -> Graph:
    """Ontology + data + owlrl OWL-RL closure (``closure`` is "owlrl" or "published")."""
    g = Graph()
    g += ontology
    g += data
    if closure == "published":
        g.remove((None, OWL.sameAs, None))
    owlrl.DeductiveClosure(
        owlrl.OWLRL_Semantics, axiomatic_triples=False, datatype_axioms=False
    ).expand(g)
    if closure == "published":
        g.remove((None, OWL.sameAs, None))
        for t in data.triples((None, OWL.sameAs, None)):
            g.add(t)
        for t in [t for t in g if isinstance(t[0], Literal)]:
            g.remove(t)
    return g


@dataclass(frozen=True)
class Result:
    focus: object
    path: object
    severity: URIRef
    message: str


def validate(g: Graph, shapes: Graph, engine: str = "pyshacl") -> tuple[bool, list[Result]]:
    if engine == "fast":
        return validate_fast(g, shapes)
    conforms, report, _text = pyshacl.validate(
        g,
        shacl_graph=shapes,
        ont_graph=None,
        inference="none",
        allow_warnings=True,
        advanced=True,
    )
    results = []
    for r in report.subjects(RDF.type, SH.ValidationResult):
        messages = [str(m) for m in report.objects(r, SH.resultMessage)]
        assert len(messages) == 1, f"expected one message per result, got {messages}"
        results.append(
            Result(
                focus=report.value(r, SH.focusNode),
                path=report.value(r, SH.resultPath),
                severity=report.value(r, SH.resultSeverity),
                message=messages[0],
            )
        )
    return conforms, results


def validate_fast(g: Graph, shapes: Graph) -> tuple[bool, list[Result]]:
    """The fast engine's results, after checking they are exactly pyshacl's.

    An RDF store holds no literal subjects (owlrl's raw closure has some, such as
    ``"12"^^xsd:integer a xsd:decimal``), so both engines see the graph without them.
    """
    storable = Graph()
    for triple in g:
        if not isinstance(triple[0], Literal):
            storable.add(triple)
    report = validate_graph(storable, shapes, engine="fast")
    assert report == validate_graph(storable, shapes, engine="pyshacl")
    results = [
        Result(focus=URIRef(r.focus), path=URIRef(r.path) if r.path else None,
               severity=SH[r.severity], message=r.message)
        for r in report.violations + report.warnings
    ]
    return report.conforms, results


def _set(g: Graph, s, p, o) -> None:
    g.remove((s, p, None))
    if o is not None:
        g.add((s, p, o))


# --------------------------------------------------------------------------- the valid graph


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("closure", CLOSURES)
@pytest.mark.parametrize("base", [DEFAULT_BASE, OTHER_BASE])
def test_valid_graph_conforms_without_any_result(ontology, shapes, base, closure, engine):
    g = reason(valid_data(Nodes(base)), ontology, closure)
    conforms, results = validate(g, shapes, engine)
    assert results == []
    assert conforms


def test_shapes_target_our_classes_only(shapes):
    targets = set(shapes.objects(None, SH.targetClass))
    assert targets == {
        TIP.Publication,
        TIP.Country,
        TIP.Region,
        TIP.EditedVolume,
        SCHEMA.Organization,
        SCHEMA.Person,
        SKOS.Concept,
        TIP.SourceRecord,
    }
    assert not set(shapes.subjects(SH.targetNode, None))


def test_every_property_shape_has_an_english_message(shapes):
    props = list(shapes.objects(None, SH.property))
    assert len(props) > 30
    for p in props:
        messages = list(shapes.objects(p, SH.message))
        assert len(messages) == 1, p
        assert messages[0].language == "en"


def test_shapes_name_no_instance_uri():
    text = SHAPES_FILE.read_text(encoding="utf-8")
    for service in ("place/", "publication/", "person/", "organisation/", "concept/"):
        assert service not in text


# --------------------------------------------------------------------------- broken graphs

N = Nodes(DEFAULT_BASE)
V, W = SH.Violation, SH.Warning


@dataclass(frozen=True)
class Case:
    id: str
    breaks: Callable[[Graph], None]
    focus: object
    path: object
    severity: URIRef
    message: str


PUB_TITLE = "A publication must have exactly one title (dct:title)."
PUB_TITLE_FORM = (
    "A publication's title (dct:title) must be non-blank text with a language tag, "
    'such as "..."@en.'
)
PUB_ABSTRACT = (
    "A publication may have at most one abstract (dct:abstract), as text with a language tag."
)
PUB_ISSUED = (
    "A publication may have at most one year (dct:issued), an xsd:gYear from 1800 to 2099 "
    "written as four digits."
)
PUB_NO_YEAR = "The publication has no year (dct:issued)."
PUB_NO_PLACE = "The publication has no place (no stated country or region, so no dct:spatial)."
PUB_NO_AUTHOR = "The publication has no author (dct:creator)."
PUB_COUNTRY = "A stated country (tip:statedCountry) must be a country node (tip:Country)."
PUB_REGION = "A stated region (tip:statedRegion) must be a region node (tip:Region)."
PUB_CREATOR = (
    "An author (dct:creator) must be a person (schema:Person) or an organisation "
    "(schema:Organization)."
)
PUB_SUBJECT = "A subject (dct:subject) must be a concept (skos:Concept)."
PUB_PART_OF = (
    "A publication can only be part of (dct:isPartOf) an edited volume (tip:EditedVolume)."
)
PUB_DERIVED = (
    "A publication must say where it was read from (prov:wasDerivedFrom a source record or "
    "page), and that must be a node, not text."
)
PUB_IDENTIFIER = (
    "A publication may have at most one identifier (dct:identifier), as a plain string."
)
COUNTRY_CODE = (
    "A country must have exactly one country code (gn:countryCode): two capital letters, "
    'such as "NG".'
)
COUNTRY_LABEL = (
    "A country must have exactly one preferred label (skos:prefLabel), with a language tag."
)
COUNTRY_NAME = "A country must have exactly one name (gn:name), as text."
COUNTRY_CODE_FEATURE = (
    "A country must have exactly one feature code (gn:featureCode): gn:A.PCLI for a country, "
    "or gn:A.PCLH for a historical one."
)
COUNTRY_SAME_AS = (
    "A country must have exactly one link (owl:sameAs) to its GeoNames URI, written "
    "https://sws.geonames.org/ID/."
)
COUNTRY_PARENT = (
    "A country must have exactly one parent (gn:parentFeature), and it must be a region "
    "(tip:Region)."
)
REGION_LABEL = "A region must have exactly one preferred label (skos:prefLabel), as text."
REGION_NAME = "A region must have exactly one name (gn:name), as text."
REGION_FEATURE = (
    "A region must have exactly one feature code (gn:featureCode): gn:L.RGN for a region, "
    "or gn:L.AREA for the world."
)
REGION_PARENT = (
    "A region must not have a parent (gn:parentFeature): regions are the top of the place "
    "hierarchy."
)
REGION_ALT = "A region's other names (skos:altLabel) must be text."
VOLUME_TITLE = "An edited volume must have exactly one title (dct:title), as text."
VOLUME_EDITOR = "An editor (schema:editor) of an edited volume must be a person (schema:Person)."
VOLUME_PUBLISHER = (
    "A publisher (dct:publisher) of an edited volume must be an organisation "
    "(schema:Organization)."
)
ORG_LABEL = (
    "An organisation must have exactly one preferred label (skos:prefLabel), with a "
    "language tag."
)
ORG_ALT = "An organisation's other names and acronyms (skos:altLabel) must be text."
PERSON_FOAF = "A person must have exactly one name (foaf:name), as a plain string."
PERSON_SCHEMA = "A person must have exactly one name (schema:name), as a plain string."
CONCEPT_LABEL = "A concept must have exactly one preferred label (skos:prefLabel), as text."
CONCEPT_SCHEME = (
    "A concept must be in at least one concept scheme (skos:inScheme a skos:ConceptScheme)."
)
SOURCE_FILE = (
    'A source record must have exactly one source file (tip:sourceFile): a file name such as '
    '"listing.txt", not a path (no "/" or "\\").'
)
SOURCE_LINE = (
    "A source record must have exactly one line number (tip:sourceLine), an xsd:integer "
    "of 1 or more."
)


def _add(*triples):
    def breaks(g: Graph) -> None:
        for t in triples:
            g.add(t)

    return breaks


def _remove(*patterns):
    def breaks(g: Graph) -> None:
        for p in patterns:
            g.remove(p)

    return breaks


def _replace(s, p, o):
    return lambda g: _set(g, s, p, o)


def _no_place(g: Graph) -> None:
    g.remove((N.pub, TIP.statedCountry, None))
    g.remove((N.pub, TIP.statedRegion, None))


CASES = [
    # ---- publication
    Case("pub-no-title", _remove((N.pub, DCT.title, None)), N.pub, DCT.title, V, PUB_TITLE),
    Case(
        "pub-two-titles",
        _add((N.pub, DCT.title, Literal("Handbook", lang="fr"))),
        N.pub, DCT.title, V, PUB_TITLE,
    ),
    Case(
        "pub-title-without-language",
        _replace(N.pub, DCT.title, Literal("Handbook on trafficking in persons")),
        N.pub, DCT.title, V, PUB_TITLE_FORM,
    ),
    Case(
        "pub-blank-title",
        _replace(N.pub, DCT.title, Literal("  ", lang="en")),
        N.pub, DCT.title, V, PUB_TITLE_FORM,
    ),
    Case(
        "pub-two-abstracts",
        _add((N.pub, DCT.abstract, Literal("Another abstract.", lang="en"))),
        N.pub, DCT.abstract, V, PUB_ABSTRACT,
    ),
    Case(
        "pub-abstract-without-language",
        _replace(N.pub, DCT.abstract, Literal("A handbook.")),
        N.pub, DCT.abstract, V, PUB_ABSTRACT,
    ),
    Case(
        "pub-year-out-of-range",
        _replace(N.pub, DCT.issued, Literal("1750", datatype=XSD.gYear)),
        N.pub, DCT.issued, V, PUB_ISSUED,
    ),
    Case(
        "pub-year-not-four-digits",
        _replace(N.pub, DCT.issued, Literal("05", datatype=XSD.gYear)),
        N.pub, DCT.issued, V, PUB_ISSUED,
    ),
    Case(
        "pub-year-as-integer",
        _replace(N.pub, DCT.issued, Literal(2005)),
        N.pub, DCT.issued, V, PUB_ISSUED,
    ),
    Case(
        "pub-two-years",
        _add((N.pub, DCT.issued, Literal("2006", datatype=XSD.gYear))),
        N.pub, DCT.issued, V, PUB_ISSUED,
    ),
    Case("pub-no-year", _remove((N.pub, DCT.issued, None)), N.pub, DCT.issued, W, PUB_NO_YEAR),
    Case("pub-no-place", _no_place, N.pub, DCT.spatial, W, PUB_NO_PLACE),
    Case(
        "pub-no-author", _remove((N.pub, DCT.creator, None)), N.pub, DCT.creator, W, PUB_NO_AUTHOR
    ),
    Case(
        "pub-stated-country-is-text",
        _replace(N.pub, TIP.statedCountry, Literal("Nigeria")),
        N.pub, TIP.statedCountry, V, PUB_COUNTRY,
    ),
    Case(
        "pub-stated-region-is-text",
        _add((N.pub, TIP.statedRegion, Literal("West Africa"))),
        N.pub, TIP.statedRegion, V, PUB_REGION,
    ),
    Case(
        "pub-author-is-a-concept",
        _add((N.pub, DCT.creator, N.concept)),
        N.pub, DCT.creator, V, PUB_CREATOR,
    ),
    Case(
        "pub-author-is-a-name",
        _add((N.pub, DCT.creator, Literal("Jane Doe"))),
        N.pub, DCT.creator, V, PUB_CREATOR,
    ),
    Case(
        "pub-subject-is-text",
        _replace(N.pub, DCT.subject, Literal("Trafficking")),
        N.pub, DCT.subject, V, PUB_SUBJECT,
    ),
    Case(
        "pub-subject-is-a-place",
        _replace(N.pub, DCT.subject, N.wca),
        N.pub, DCT.subject, V, PUB_SUBJECT,
    ),
    Case(
        "pub-part-of-a-publication",
        _replace(N.pub2, DCT.isPartOf, N.pub),
        N.pub2, DCT.isPartOf, V, PUB_PART_OF,
    ),
    Case(
        "pub-no-provenance",
        _remove((N.pub, PROV.wasDerivedFrom, None)),
        N.pub, PROV.wasDerivedFrom, V, PUB_DERIVED,
    ),
    Case(
        "pub-provenance-is-text",
        _replace(N.pub2, PROV.wasDerivedFrom, Literal("000_9daa3158183ee0eb.txt:40")),
        N.pub2, PROV.wasDerivedFrom, V, PUB_DERIVED,
    ),
    Case(
        "pub-two-identifiers",
        _add((N.pub, DCT.identifier, Literal("ISBN 0-0000-0000-0"))),
        N.pub, DCT.identifier, V, PUB_IDENTIFIER,
    ),
    Case(
        "pub-identifier-not-a-string",
        _replace(N.pub, DCT.identifier, Literal(92906800)),
        N.pub, DCT.identifier, V, PUB_IDENTIFIER,
    ),
    # ---- country
    Case(
        "country-code-lower-case",
        _replace(N.ng, GN.countryCode, Literal("ng")),
        N.ng, GN.countryCode, V, COUNTRY_CODE,
    ),
    Case(
        "country-code-alpha-3",
        _replace(N.ng, GN.countryCode, Literal("NGA")),
        N.ng, GN.countryCode, V, COUNTRY_CODE,
    ),
    Case(
        "country-no-code", _remove((N.ng, GN.countryCode, None)), N.ng, GN.countryCode, V,
        COUNTRY_CODE,
    ),
    Case(
        "country-two-labels",
        _add((N.ng, SKOS.prefLabel, Literal("Nigéria", lang="en"))),
        N.ng, SKOS.prefLabel, V, COUNTRY_LABEL,
    ),
    Case(
        "country-label-without-language",
        _replace(N.ng, SKOS.prefLabel, Literal("Nigeria")),
        N.ng, SKOS.prefLabel, V, COUNTRY_LABEL,
    ),
    Case("country-no-name", _remove((N.ng, GN.name, None)), N.ng, GN.name, V, COUNTRY_NAME),
    Case(
        "country-feature-code-not-a-country",
        _replace(N.ng, GN["featureCode"], GN["A.ADM1"]),
        N.ng, GN["featureCode"], V, COUNTRY_CODE_FEATURE,
    ),
    Case(
        "country-two-feature-codes",
        _add((N.ng, GN["featureCode"], GN["A.PCLH"])),
        N.ng, GN["featureCode"], V, COUNTRY_CODE_FEATURE,
    ),
    Case(
        "country-no-geonames-link",
        _remove((N.ng, OWL.sameAs, None)),
        N.ng, OWL.sameAs, V, COUNTRY_SAME_AS,
    ),
    Case(
        "country-geonames-link-malformed",
        _replace(N.ng, OWL.sameAs, URIRef("http://sws.geonames.org/2328926")),
        N.ng, OWL.sameAs, V, COUNTRY_SAME_AS,
    ),
    Case(
        "country-two-geonames-links",
        _add((N.ng, OWL.sameAs, URIRef("https://sws.geonames.org/2328925/"))),
        N.ng, OWL.sameAs, V, COUNTRY_SAME_AS,
    ),
    Case(
        "country-no-parent",
        _remove((N.ng, GN.parentFeature, None)),
        N.ng, GN.parentFeature, V, COUNTRY_PARENT,
    ),
    Case(
        "country-parent-not-a-region",
        _replace(N.ng, GN.parentFeature, N.org),
        N.ng, GN.parentFeature, V, COUNTRY_PARENT,
    ),
    # ---- region
    Case(
        "region-has-a-parent",
        _add((N.wca, GN.parentFeature, N.world)),
        N.wca, GN.parentFeature, V, REGION_PARENT,
    ),
    Case(
        # tip:statedRegion's range makes the country a region, which has a parent
        "region-stated-region-is-a-country",
        _add((N.pub, TIP.statedRegion, N.ng)),
        N.ng, GN.parentFeature, V, REGION_PARENT,
    ),
    Case(
        "region-no-label", _remove((N.wca, SKOS.prefLabel, None)), N.wca, SKOS.prefLabel, V,
        REGION_LABEL,
    ),
    Case(
        "region-two-names",
        _add((N.world, GN.name, Literal("Earth"))),
        N.world, GN.name, V, REGION_NAME,
    ),
    Case(
        "region-feature-code-of-a-country",
        _replace(N.wca, GN["featureCode"], GN["A.PCLI"]),
        N.wca, GN["featureCode"], V, REGION_FEATURE,
    ),
    Case(
        "region-alt-label-is-a-node",
        _add((N.wca, SKOS.altLabel, N.ng)),
        N.wca, SKOS.altLabel, V, REGION_ALT,
    ),
    # ---- edited volume
    Case(
        "volume-no-title", _remove((N.volume, DCT.title, None)), N.volume, DCT.title, V,
        VOLUME_TITLE,
    ),
    Case(
        "volume-editor-is-an-organisation",
        _replace(N.volume, SCHEMA.editor, N.org),
        N.volume, SCHEMA.editor, V, VOLUME_EDITOR,
    ),
    Case(
        "volume-publisher-is-a-person",
        _replace(N.volume, DCT.publisher, N.person),
        N.volume, DCT.publisher, V, VOLUME_PUBLISHER,
    ),
    # ---- organisation
    Case(
        "org-no-label", _remove((N.org, SKOS.prefLabel, None)), N.org, SKOS.prefLabel, V,
        ORG_LABEL,
    ),
    Case(
        "org-two-labels",
        _add((N.org, SKOS.prefLabel, Literal("IOM", lang="en"))),
        N.org, SKOS.prefLabel, V, ORG_LABEL,
    ),
    Case(
        "org-label-without-language",
        _replace(N.org, SKOS.prefLabel, Literal("International Organization for Migration")),
        N.org, SKOS.prefLabel, V, ORG_LABEL,
    ),
    Case(
        "org-alt-label-is-a-node",
        _add((N.org, SKOS.altLabel, BNode())),
        N.org, SKOS.altLabel, V, ORG_ALT,
    ),
    # ---- person
    Case(
        "person-no-foaf-name", _remove((N.person, FOAF.name, None)), N.person, FOAF.name, V,
        PERSON_FOAF,
    ),
    Case(
        "person-two-schema-names",
        _add((N.person, SCHEMA.name, Literal("J. Doe"))),
        N.person, SCHEMA.name, V, PERSON_SCHEMA,
    ),
    Case(
        "person-name-with-language",
        _replace(N.editor, SCHEMA.name, Literal("John Roe", lang="en")),
        N.editor, SCHEMA.name, V, PERSON_SCHEMA,
    ),
    # ---- concept
    Case(
        "concept-no-label", _remove((N.concept, SKOS.prefLabel, None)), N.concept,
        SKOS.prefLabel, V, CONCEPT_LABEL,
    ),
    Case(
        "concept-no-scheme", _remove((N.concept, SKOS.inScheme, None)), N.concept,
        SKOS.inScheme, V, CONCEPT_SCHEME,
    ),
    Case(
        "concept-scheme-not-a-scheme",
        _remove((N.scheme, RDF.type, SKOS.ConceptScheme)),
        N.concept, SKOS.inScheme, V, CONCEPT_SCHEME,
    ),
    # ---- source record
    Case(
        "source-file-is-a-posix-path",
        _replace(N.source, TIP.sourceFile, Literal("/home/curator/seeds/listing.txt")),
        N.source, TIP.sourceFile, V, SOURCE_FILE,
    ),
    Case(
        "source-file-is-a-windows-path",
        _replace(N.source, TIP.sourceFile, Literal("C:\\seeds\\listing.txt")),
        N.source, TIP.sourceFile, V, SOURCE_FILE,
    ),
    Case(
        "source-no-file", _remove((N.source2, TIP.sourceFile, None)), N.source2,
        TIP.sourceFile, V, SOURCE_FILE,
    ),
    Case(
        "source-line-zero",
        _replace(N.source, TIP.sourceLine, Literal(0)),
        N.source, TIP.sourceLine, V, SOURCE_LINE,
    ),
    Case(
        "source-line-is-a-string",
        _replace(N.source, TIP.sourceLine, Literal("12")),
        N.source, TIP.sourceLine, V, SOURCE_LINE,
    ),
    Case(
        "source-two-lines",
        _add((N.source, TIP.sourceLine, Literal(13))),
        N.source, TIP.sourceLine, V, SOURCE_LINE,
    ),
    Case(
        # tip:sourceFile's domain makes anything with a file a source record
        "source-record-inferred-from-domain",
        _add((N.pub, TIP.sourceFile, Literal("listing.txt"))),
        N.pub, TIP.sourceLine, V, SOURCE_LINE,
    ),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("closure", CLOSURES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_graph_is_reported(ontology, shapes, case, closure, engine):
    data = valid_data(N)
    case.breaks(data)
    assert set(data) != set(valid_data(N)), "the case did not change the graph"

    conforms, results = validate(reason(data, ontology, closure), shapes, engine)

    expected = Result(case.focus, case.path, case.severity, case.message)
    assert expected in results, "\n".join(map(str, results))
    if case.severity == SH.Violation:
        assert not conforms
    else:
        # a warning alone does not stop a build
        assert conforms
        assert {r.severity for r in results} == {SH.Warning}
    # every result speaks the shapes' own words, never pyshacl's defaults
    assert {r.message for r in results} <= {c.message for c in CASES}


def test_cases_cover_every_shape_and_every_message(shapes):
    node_shapes = set(shapes.subjects(RDF.type, SH.NodeShape))
    shape_of = {}
    for ns in node_shapes:
        for p in shapes.objects(ns, SH.property):
            shape_of[str(shapes.value(p, SH.message))] = ns
    covered = {c.message for c in CASES}
    assert set(shape_of) == covered
    assert {shape_of[m] for m in covered} == node_shapes


# --------------------------------------------------------------------------- reasoning


@pytest.mark.parametrize("closure", CLOSURES)
def test_owlrl_gives_the_inferences_the_design_needs(ontology, closure):
    g = reason(valid_data(N), ontology, closure)

    def types(x):
        return set(g.objects(x, RDF.type))

    assert {SCHEMA.CreativeWork, DCT.BibliographicResource} <= types(N.pub)
    assert {SCHEMA.Book, DCT.BibliographicResource} <= types(N.volume)
    assert TIP.Publication not in types(N.volume)
    assert {FOAF.Person, FOAF.Agent} <= types(N.person)
    assert {FOAF.Organization, FOAF.Agent} <= types(N.org)
    assert {GN.Feature, SCHEMA.Country, SCHEMA.Place} <= types(N.ng)
    assert {GN.Feature, SCHEMA.Place} <= types(N.wca)
    assert PROV.Entity in types(N.source)
    # stated places are places (dct:spatial) ...
    assert (N.pub, DCT.spatial, N.ng) in g
    assert (N.pub2, DCT.spatial, N.world) in g
    # ... and a country's region is one too, through the property chain (prp-spo2)
    assert (N.pub, TIP.countryRegion, N.wca) in g
    assert (N.pub, DCT.spatial, N.wca) in g
    # regions have no parent: a country-level record never becomes a worldwide one
    assert (N.pub, DCT.spatial, N.world) not in g
    assert (N.pub2, TIP.countryRegion, None) not in g
    # authors are schema.org creators
    assert (N.pub, SCHEMA.creator, N.person) in g
    assert (N.pub, SCHEMA.creator, N.org) in g


def test_property_chain_alone_gives_the_region(ontology):
    """prp-spo2 on its own: no stated region, no other help."""
    data = Graph()
    data.add((N.pub, TIP.statedCountry, N.ng))
    data.add((N.ng, GN.parentFeature, N.wca))
    g = reason(data, ontology)
    assert (N.pub, TIP.countryRegion, N.wca) in g
    assert (N.pub, DCT.spatial, N.wca) in g
    assert (N.pub, RDF.type, TIP.Publication) in g  # from the domain
    assert (N.ng, RDF.type, TIP.Country) in g  # from the range
    assert (N.wca, RDF.type, TIP.Region) not in g  # no range on the chain


def test_published_closure_keeps_identity_links_but_does_not_reason_over_them(ontology):
    g = reason(valid_data(N), ontology, "published")
    assert (N.ng, OWL.sameAs, GEONAMES_NG) in g
    assert (N.ng, OWL.sameAs, N.ng) not in g
    assert (GEONAMES_NG, None, None) not in g
    assert not [t for t in g if isinstance(t[0], Literal)]
    raw = reason(valid_data(N), ontology, "owlrl")
    assert (GEONAMES_NG, RDF.type, TIP.Country) in raw  # what owlrl's eq-rep-s does


# --------------------------------------------------------------------------- the ontology


ONTOLOGY_IRI = URIRef("https://w3id.org/tipgraph/ontology")
EXTERNAL = ("http://purl.org/dc/terms/", "https://schema.org/", "https://www.geonames.org/",
            "http://xmlns.com/foaf/", "http://www.w3.org/ns/prov#")


def test_ontology_header(ontology):
    assert (ONTOLOGY_IRI, RDF.type, OWL.Ontology) in ontology
    for p in (DCT.title, DCT.description, OWL.versionInfo, DCT.license):
        assert ontology.value(ONTOLOGY_IRI, p) is not None, p


def test_ontology_terms_are_labelled_and_commented_in_english(ontology):
    terms = {s for s in ontology.subjects() if isinstance(s, URIRef) and s.startswith(TIP)}
    assert terms == {
        TIP.Publication, TIP.EditedVolume, TIP.Country, TIP.Region, TIP.SourceRecord,
        TIP.statedCountry, TIP.statedRegion, TIP.countryRegion, TIP.sourceFile, TIP.sourceLine,
        TIP.Statistic, TIP.facet, TIP["count"], TIP.sortKey, TIP.matches, TIP.matchScore,
    }
    for t in terms:
        for p in (RDFS.label, RDFS.comment):
            values = list(ontology.objects(t, p))
            assert [v.language for v in values] == ["en"], (t, p)


def test_ontology_puts_no_domain_or_range_on_external_terms(ontology):
    for p in (RDFS.domain, RDFS.range):
        for s in ontology.subjects(p, None):
            assert not str(s).startswith(EXTERNAL), s


def test_edited_volume_is_not_a_publication(ontology):
    g = reason(Graph(), ontology)
    assert (TIP.EditedVolume, RDFS.subClassOf, TIP.Publication) not in g
