"""The dataset's description: DCAT-AP 3 for portals, VoID for linked-data tools.

One graph serves both readers (``/dataset``, ``/.well-known/void``). It is made
here from what the build counted (:class:`DatasetCounts`), a few facts read
from the data (:class:`DataFacts`: the places and years the catalogue covers,
its categories, its GeoNames links), the dump files and the settings, without
Flask or a store, so it can be tested as a function and made anywhere.

What the readers need, and where it is:

- DCAT-AP 3.0.1 (``tests/data/dcat-ap``: the official shapes, 0 violations):
  the catalogue and the dataset have a publisher and a description; the
  dataset has a contact point, keywords, themes (the EU data themes), spatial
  coverage (the countries and regions publications are about) and temporal
  coverage (first and last year); every distribution has the licence (CKAN
  reads it there), ``dct:format`` and ``dcat:mediaType``; every value is typed
  as the shapes' ranges say (a licence is a ``dct:LicenseDocument``...). The
  ``dct:identifier`` is the dataset's IRI, the same on every build; the build
  id is its ``dcat:version`` (and ``owl:versionInfo``).
- VoID (the W3C note's guide): ``void:entities`` on the dataset and its class
  partitions only; one ``void:dataDump`` (the other formats are DCAT
  distributions of the same dataset, so a loader takes the data once); every
  vocabulary the data uses; a ``void:Linkset`` for the ``owl:sameAs`` links to
  GeoNames with its triple count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rdflib import Graph, Literal, Namespace, URIRef

from tipgraph.namespaces import (
    DCT,
    FOAF,
    GEONAMES_SWS,
    OWL,
    PREFIXES,
    RDF,
    RDFS,
    SKOS,
    TIP,
    XSD,
    bind_prefixes,
)

if TYPE_CHECKING:
    from tipgraph.serving.indexes import DatasetCounts
    from tipgraph.store import GraphStore

VOID = Namespace("http://rdfs.org/ns/void#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
IANA = "https://www.iana.org/assignments/media-types/"
#: The EU Publications Office's authority tables DCAT-AP names.
EU = "http://publications.europa.eu/resource/authority/"
DATA_THEMES = URIRef(EU + "data-theme")

TITLE = "tipgraph: publications on trafficking in persons"
DESCRIPTION = (
    "A catalogue of publications on trafficking in persons (IOM's counter-trafficking "
    "resource catalogue), linked to the countries and IOM regions they are about, their "
    "authors and organisations.")
CATALOG_TITLE = "tipgraph"
CATALOG_DESCRIPTION = (
    "The tipgraph catalogue: the publications dataset, its dumps and its SPARQL endpoint.")

#: The EU data themes (``dataset_themes`` names them by code), with their English labels.
THEMES: dict[str, str] = {
    "AGRI": "Agriculture, fisheries, forestry and food", "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport", "ENER": "Energy", "ENVI": "Environment",
    "GOVE": "Government and public sector", "HEAL": "Health",
    "INTR": "International issues", "JUST": "Justice, legal system and public safety",
    "OP_DATPRO": "Provisional data", "REGI": "Regions and cities",
    "SOCI": "Population and society", "TECH": "Science and technology",
    "TRAN": "Transport",
}

#: media type -> the EU file type (``dct:format``) of a distribution in it.
FILE_TYPES: dict[str, str] = {
    "text/turtle": "RDF_TURTLE", "application/n-triples": "RDF_N_TRIPLES",
    "application/ld+json": "JSON_LD", "application/n-quads": "RDF_N_QUADS",
    "application/trig": "RDF_TRIG", "application/rdf+xml": "RDF_XML",
}
#: Licences whose ADMS licence type is known (``dct:type`` of the licence document).
LICENCE_TYPES: dict[str, str] = {
    "https://creativecommons.org/publicdomain/zero/1.0/": "PublicDomain",
    "http://creativecommons.org/publicdomain/zero/1.0/": "PublicDomain",
    "https://creativecommons.org/licenses/by/4.0/": "Attribution",
    "http://creativecommons.org/licenses/by/4.0/": "Attribution",
    "https://creativecommons.org/licenses/by-sa/4.0/": "ViralEffect-ShareAlike",
}
ADMS_LICENCE_TYPE = "http://purl.org/adms/licencetype/"
#: What a client loads the data from (VoID's one ``void:dataDump``), best first.
DATA_DUMP_PREFERENCE = ("tipgraph.nt.gz", "tipgraph.nt", "tipgraph.ttl")


@dataclass(frozen=True)
class DumpFile:
    """One whole-graph download of the build (a file, or a file served as another type)."""

    name: str  # as served under /dumps/
    media_type: str  # of the content
    compression: str | None  # media type of the compression (application/gzip) or None
    byte_size: int


@dataclass(frozen=True)
class Place:
    iri: str
    label: str | None


@dataclass
class DataFacts:
    """What the description says of the data besides counts, read with a few small queries
    over the build's statistics (:func:`read_facts`)."""

    #: the countries and regions publications are about (``dct:spatial``)
    places: list[Place] = field(default_factory=list)
    #: the first and last year of publication, as written (``xsd:gYear``)
    first_year: str | None = None
    last_year: str | None = None
    #: the categories' labels (keywords besides the settings')
    categories: list[str] = field(default_factory=list)
    #: ``owl:sameAs`` triples to GeoNames (the linkset)
    geonames_links: int = 0


def read_facts(store: GraphStore) -> DataFacts:
    """The :class:`DataFacts` of the graph ``store`` serves: from the ``tip:Statistic``
    nodes the build wrote (a few thousand at most) and the GeoNames links (one per place),
    so a few milliseconds whatever the catalogue's size, on any store."""
    facet, value = TIP.facet, RDF.value
    places: dict[str, Place] = {}
    years: list[str] = []
    categories: set[str] = set()
    rows = store.query(
        # VALUES first: the store looks each facet's nodes up by it, never scanning the rest
        f'SELECT ?facet ?v ?label WHERE {{ VALUES ?facet {{ "country" "region" "year" '
        f'"category" }} ?s <{facet}> ?facet ; <{value}> ?v . '
        f"OPTIONAL {{ ?v <{SKOS.prefLabel}> ?label "
        f'FILTER(LANGMATCHES(LANG(?label), "en") || LANG(?label) = "") }} }}')
    for row in rows:
        kind, node = row["facet"].value, row["v"]
        label = row["label"].value if row["label"] is not None else None
        if kind == "year":
            years.append(node.value)
        elif kind == "category":
            if label:
                categories.add(label)
        else:
            known = places.get(node.value)
            if known is None or (known.label or "~") > (label or "~"):
                places[node.value] = Place(node.value, label)
    links = next(iter(store.query(
        f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s <{OWL.sameAs}> ?o "
        f'FILTER(isIRI(?o) && STRSTARTS(STR(?o), "{GEONAMES_SWS}")) }}')))
    years.sort()
    return DataFacts(places=sorted(places.values(), key=lambda p: p.iri),
                     first_year=years[0] if years else None,
                     last_year=years[-1] if years else None,
                     categories=sorted(categories), geonames_links=int(links["n"].value))


def dataset_iri(base: str) -> URIRef:
    """The dataset's IRI: ``<base>dataset`` (also its stable ``dct:identifier``)."""
    return URIRef(base + "dataset")


def describe_dataset(counts: DatasetCounts, facts: DataFacts, dumps: Sequence[DumpFile], *,
                     settings: Mapping[str, Any], base: str, root: str, version: str,
                     modified: datetime) -> Graph:
    """VoID and DCAT-AP for one build.

    :param counts: what the build counted (triples, entities, partitions)
    :param facts: coverage, categories and GeoNames links (:func:`read_facts`)
    :param dumps: the dump files served under ``<root>dumps/``
    :param settings: the publisher, contact point, keywords, themes and licence
    :param base: the base the build minted its IRIs under
    :param root: where this server is reached (endpoint and download URLs)
    :param version: the build's id (``dcat:version``)
    :param modified: when the build was switched in (``dct:modified``)
    """
    graph = bind_prefixes(Graph(), base)
    for prefix, namespace in (("void", VOID), ("dcat", DCAT), ("dcatap", DCATAP),
                              ("vcard", VCARD)):
        graph.bind(prefix, namespace)
    ds = dataset_iri(base)
    add = graph.add
    when = Literal(modified.isoformat().replace("+00:00", "Z"), datatype=XSD.dateTime)
    context = _Context(graph, ds, settings, root, when)

    add((ds, RDF.type, VOID.Dataset))
    add((ds, RDF.type, DCAT.Dataset))
    add((ds, DCT.title, Literal(TITLE, lang="en")))
    add((ds, DCT.description, Literal(DESCRIPTION, lang="en")))
    add((ds, DCT.identifier, Literal(str(ds))))
    add((ds, DCAT.version, Literal(version)))
    add((ds, OWL.versionInfo, Literal(version)))
    add((ds, DCT.modified, when))
    add((ds, DCAT.landingPage, context.typed(URIRef(root), FOAF.Document)))
    add((ds, DCT.language, context.typed(URIRef(EU + "language/ENG"), DCT.LinguisticSystem)))
    add((ds, DCT.accrualPeriodicity, context.typed(URIRef(EU + "frequency/IRREG"),
                                                   DCT.Frequency)))
    rights = URIRef(f"{ds}#rights")
    add((ds, DCT.rights, rights))
    add((rights, RDF.type, DCT.RightsStatement))
    add((rights, RDFS.label, Literal(settings["rights"], lang="en")))
    context.common(ds)
    for keyword in sorted({*settings["keywords"], *facts.categories}, key=str.casefold):
        add((ds, DCAT.keyword, Literal(keyword, lang="en")))
    for place in facts.places:
        node = context.typed(URIRef(place.iri), DCT.Location)
        add((ds, DCT.spatial, node))
        if place.label:
            add((node, SKOS.prefLabel, Literal(place.label, lang="en")))
    if facts.first_year and facts.last_year:
        period = URIRef(f"{ds}#period")
        add((ds, DCT.temporal, context.typed(period, DCT.PeriodOfTime)))
        add((period, DCAT.startDate, Literal(facts.first_year, datatype=XSD.gYear)))
        add((period, DCAT.endDate, Literal(facts.last_year, datatype=XSD.gYear)))

    _void(graph, ds, counts, facts, dumps, root)
    services = [_service(context, ds, spec) for spec in SERVICES]
    for dump in dumps:
        _distribution(context, ds, dump)

    catalog = URIRef(f"{ds}#catalog")
    add((catalog, RDF.type, DCAT.Catalog))
    add((catalog, DCT.title, Literal(CATALOG_TITLE, lang="en")))
    add((catalog, DCT.description, Literal(CATALOG_DESCRIPTION, lang="en")))
    add((catalog, DCT.publisher, context.publisher))
    add((catalog, FOAF.homepage, context.typed(URIRef(root), FOAF.Document)))
    add((catalog, DCT.language, URIRef(EU + "language/ENG")))
    add((catalog, DCT.license, context.license))
    add((catalog, DCT.modified, when))
    add((catalog, DCAT.themeTaxonomy, context.typed(DATA_THEMES, SKOS.ConceptScheme)))
    add((DATA_THEMES, DCT.title, Literal("Data theme", lang="en")))
    for place in facts.places:
        add((catalog, DCT.spatial, URIRef(place.iri)))
    add((catalog, DCAT.dataset, ds))
    for service in services:
        add((catalog, DCAT.service, service))
    return graph


@dataclass
class _Context:
    """The parts of the description several nodes share: publisher, contact, licence..."""

    graph: Graph
    ds: URIRef
    settings: Mapping[str, Any]
    root: str
    when: Literal

    def typed(self, node: URIRef, kind: URIRef) -> URIRef:
        """``node``, stated to be a ``kind`` (the DCAT-AP shapes check classes, and a
        harvester reads no other graph to learn them)."""
        self.graph.add((node, RDF.type, kind))
        return node

    @property
    def license(self) -> URIRef:
        node = self.typed(URIRef(self.settings["license"]), DCT.LicenseDocument)
        kind = LICENCE_TYPES.get(str(node))
        if kind:
            concept = self.typed(URIRef(ADMS_LICENCE_TYPE + kind), SKOS.Concept)
            self.graph.add((node, DCT.type, concept))
            self.graph.add((concept, SKOS.prefLabel, Literal(kind, lang="en")))
        return node

    @property
    def publisher(self) -> URIRef:
        url = self.settings["publisher_url"]
        node = URIRef(url) if url else URIRef(f"{self.ds}#publisher")
        if (node, FOAF.name, None) not in self.graph:
            self.typed(node, FOAF.Agent)
            self.typed(node, FOAF.Organization)
            self.graph.add((node, FOAF.name, Literal(self.settings["publisher_name"])))
            if url:
                self.graph.add((node, FOAF.homepage, URIRef(url)))
        return node

    @property
    def contact(self) -> URIRef:
        node = URIRef(f"{self.ds}#contact")
        if (node, VCARD.fn, None) not in self.graph:
            self.typed(node, VCARD.Kind)
            self.typed(node, VCARD.Organization)
            self.graph.add((node, VCARD.fn, Literal(self.settings["publisher_name"])))
            email = self.settings["contact_email"]
            if email:
                self.graph.add((node, VCARD.hasEmail, URIRef("mailto:" + email)))
            url = self.settings["contact_url"] or self.settings["publisher_url"] or self.root
            self.graph.add((node, VCARD.hasURL, URIRef(url)))
        return node

    def themes(self) -> list[URIRef]:
        found = []
        for code in self.settings["dataset_themes"]:
            theme = self.typed(URIRef(f"{EU}data-theme/{code}"), SKOS.Concept)
            self.graph.add((theme, SKOS.prefLabel, Literal(THEMES.get(code, code), lang="en")))
            self.graph.add((theme, SKOS.inScheme, DATA_THEMES))
            found.append(theme)
        return found

    def common(self, node: URIRef) -> None:
        """What the dataset and its services both carry: licence, publisher, contact,
        themes."""
        add = self.graph.add
        add((node, DCT.license, self.license))
        add((node, DCT.publisher, self.publisher))
        add((node, DCT.creator, self.publisher))
        add((node, DCAT.contactPoint, self.contact))
        for theme in self.themes():
            add((node, DCAT.theme, theme))


def _void(graph: Graph, ds: URIRef, counts: DatasetCounts, facts: DataFacts,
          dumps: Sequence[DumpFile], root: str) -> None:
    add = graph.add
    add((ds, VOID.uriSpace, Literal(counts.base)))
    add((ds, VOID.sparqlEndpoint, URIRef(root + "sparql")))
    add((ds, VOID.triples, _integer(counts.triples)))
    add((ds, VOID.entities, _integer(counts.entities)))
    add((ds, VOID.distinctSubjects, _integer(counts.distinct_subjects)))
    add((ds, VOID.distinctObjects, _integer(counts.distinct_objects)))
    # partitions are named, not blank: every worker writes the same bytes (one strong ETag)
    for number, (cls, n) in enumerate(sorted(counts.classes.items()), 1):
        part = URIRef(f"{ds}#class-{number}")
        add((ds, VOID.classPartition, part))
        add((part, VOID["class"], URIRef(cls)))
        add((part, VOID.entities, _integer(n)))
    add((ds, VOID.classes, _integer(len(counts.classes))))
    for number, (prop, n) in enumerate(sorted(counts.properties.items()), 1):
        part = URIRef(f"{ds}#property-{number}")
        add((ds, VOID.propertyPartition, part))
        add((part, VOID.property, URIRef(prop)))
        add((part, VOID.triples, _integer(n)))
    add((ds, VOID.properties, _integer(len(counts.properties))))
    for namespace in vocabularies([*counts.classes, *counts.properties]):
        add((ds, VOID.vocabulary, URIRef(namespace)))
    if counts.example is not None:
        add((ds, VOID.exampleResource, URIRef(counts.example)))
    names = {d.name for d in dumps}
    data_dump = next((name for name in DATA_DUMP_PREFERENCE if name in names), None)
    if data_dump is not None:
        add((ds, VOID.dataDump, URIRef(root + "dumps/" + data_dump)))
    if facts.geonames_links:
        geonames, linkset = URIRef(f"{ds}#geonames"), URIRef(f"{ds}#geonames-links")
        add((geonames, RDF.type, VOID.Dataset))
        add((geonames, DCT.title, Literal("GeoNames", lang="en")))
        add((geonames, FOAF.homepage, URIRef("https://www.geonames.org/")))
        add((geonames, VOID.uriSpace, Literal(GEONAMES_SWS)))
        add((ds, VOID.subset, linkset))
        add((linkset, RDF.type, VOID.Linkset))
        add((linkset, DCT.title, Literal("The places' identity links to GeoNames", lang="en")))
        add((linkset, VOID.linkPredicate, OWL.sameAs))
        add((linkset, VOID.subjectsTarget, ds))
        add((linkset, VOID.objectsTarget, geonames))
        add((linkset, VOID.triples, _integer(facts.geonames_links)))


def vocabularies(terms: Sequence[str]) -> list[str]:
    """The namespaces of ``terms`` (classes and properties the data uses): the part up to
    a known prefix's namespace, or else up to the last ``#`` or ``/``.

    >>> vocabularies(["http://rdfs.org/ns/void#entities", "https://schema.org/name",
    ...               "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"])
    ['http://rdfs.org/ns/void#', 'http://www.w3.org/1999/02/22-rdf-syntax-ns#', 'https://schema.org/']
    """
    known = sorted({*PREFIXES.values(), str(VOID), str(DCAT)}, key=len, reverse=True)
    found = set()
    for term in terms:
        namespace = next((ns for ns in known if term.startswith(ns) and len(term) > len(ns)),
                         None)
        if namespace is None:
            cut = max(term.rfind("#"), term.rfind("/"))
            namespace = term[:cut + 1] if cut > term.find("://") + 2 else None
        if namespace:
            found.add(namespace)
    return sorted(found)


@dataclass(frozen=True)
class Service:
    """A service that serves the dataset (a ``dcat:DataService``), and the distribution
    through it (a dataset is reached through a service as one of its distributions)."""

    name: str  #: the node's fragment: ``<dataset>#<name>``, ``#<name>-distribution``
    path: str  #: its endpoint under the server's root
    description_path: str  #: what describes the endpoint, under the root
    title: str
    description: str
    standard: str  #: the specification it conforms to
    keywords: tuple[str, ...]
    distribution_title: str
    distribution_description: str
    file_type: str  #: the EU file-type code of what it answers


#: What the OAI-PMH data provider at ``/oai`` conforms to.
OAI_PMH = "http://www.openarchives.org/OAI/2.0/openarchivesprotocol.htm"
#: The services of every description: the SPARQL endpoint (also the catalogue's first
#: ``dcat:service``) and the OAI-PMH provider of the publications' records.
SERVICES = (
    Service("sparql", "sparql", "sparql", "SPARQL 1.1 endpoint",
            "A read-only SPARQL 1.1 Protocol endpoint over the dataset; a GET without a query "
            "describes the service (SPARQL 1.1 Service Description).",
            "https://www.w3.org/TR/sparql11-protocol/", ("SPARQL", "linked data"),
            "The dataset through its SPARQL endpoint",
            "Query the dataset with SPARQL 1.1: answers in JSON, XML, CSV, TSV, Turtle, "
            "JSON-LD, RDF/XML, N-Triples, N-Quads and TriG.", "SPARQLQ"),
    Service("oai-pmh", "oai", "oai?verb=Identify",
            "OAI-PMH 2.0 data provider (oai_dc, oai_openaire)",
            "The publications' records for the aggregators that harvest OAI-PMH: Dublin Core "
            "(oai_dc) and the OpenAIRE Guidelines for Literature Repositories (oai_openaire), "
            "incrementally by datestamp.",
            OAI_PMH, ("OAI-PMH", "metadata harvesting"),
            "The publications' records through OAI-PMH",
            "Harvest the publications' metadata records (XML) with OAI-PMH 2.0.", "XML"),
)


def _service(context: _Context, ds: URIRef, spec: Service) -> URIRef:
    graph, root = context.graph, context.root
    add = graph.add
    service = URIRef(f"{ds}#{spec.name}")
    add((service, RDF.type, DCAT.DataService))
    add((service, DCT.title, Literal(spec.title, lang="en")))
    add((service, DCT.description, Literal(spec.description, lang="en")))
    add((service, DCAT.endpointURL, URIRef(root + spec.path)))
    add((service, DCAT.endpointDescription, URIRef(root + spec.description_path)))
    add((service, DCT.conformsTo, context.typed(URIRef(spec.standard), DCT.Standard)))
    add((service, DCAT.servesDataset, ds))
    context.common(service)
    for keyword in spec.keywords:
        add((service, DCAT.keyword, Literal(keyword, lang="en")))
    dist = URIRef(f"{ds}#{spec.name}-distribution")
    add((ds, DCAT.distribution, dist))
    add((dist, RDF.type, DCAT.Distribution))
    add((dist, DCT.title, Literal(spec.distribution_title, lang="en")))
    add((dist, DCT.description, Literal(spec.distribution_description, lang="en")))
    add((dist, DCAT.accessURL, URIRef(root + spec.path)))
    add((dist, DCAT.accessService, service))
    add((dist, DCT["format"], context.typed(URIRef(f"{EU}file-type/{spec.file_type}"),
                                            DCT.MediaTypeOrExtent)))
    add((dist, DCT.license, context.license))
    _availability(context, dist)
    return service


def _distribution(context: _Context, ds: URIRef, dump: DumpFile) -> None:
    graph, root = context.graph, context.root
    add = graph.add
    url = URIRef(root + "dumps/" + dump.name)
    dist = URIRef(f"{ds}#dump-{dump.name.removeprefix('tipgraph.').replace('.', '-')}")
    add((ds, DCAT.distribution, dist))
    add((dist, RDF.type, DCAT.Distribution))
    add((dist, DCT.title, Literal(f"{dump.name}: the whole graph", lang="en")))
    words = "gzip-compressed " if dump.compression else ""
    add((dist, DCT.description, Literal(
        f"Every triple of the dataset in one {words}{dump.media_type} file.", lang="en")))
    add((dist, DCAT.downloadURL, url))
    add((dist, DCAT.accessURL, url))
    add((dist, DCAT.mediaType, context.typed(URIRef(IANA + dump.media_type), DCT.MediaType)))
    file_type = FILE_TYPES.get(dump.media_type)
    if file_type:
        add((dist, DCT["format"], context.typed(URIRef(f"{EU}file-type/{file_type}"),
                                                DCT.MediaTypeOrExtent)))
    if dump.compression:
        add((dist, DCAT.compressFormat, context.typed(URIRef(IANA + dump.compression),
                                                      DCT.MediaType)))
    add((dist, DCAT.byteSize, Literal(dump.byte_size, datatype=XSD.nonNegativeInteger)))
    add((dist, DCT.license, context.license))
    add((dist, DCT.modified, context.when))
    _availability(context, dist)


def _availability(context: _Context, dist: URIRef) -> None:
    """Stable: the URL always serves the build in service."""
    stable = context.typed(URIRef(EU + "planned-availability/STABLE"), SKOS.Concept)
    context.graph.add((stable, SKOS.prefLabel, Literal("stable", lang="en")))
    context.graph.add((dist, DCATAP.availability, stable))


def _integer(n: int) -> Literal:
    return Literal(n, datatype=XSD.integer)
