"""Map: reconciled publications -> RDF triples under stable, readable URIs.

URIs follow DESIGN.md's vocabulary contract. A publication's slug comes from
its title; when two records share a slug, the later one gets a short suffix
from a hash of its identity, and a record keeps the slug an earlier build gave
it (``published``), so URIs do not move when records are added.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import quote

from pyoxigraph import NamedNode
from rdflib import Graph, Literal, URIRef

from tipgraph.graphs import add_all, integer_literal, text_literal
from tipgraph.identity import record_identity
from tipgraph.namespaces import (
    DCT,
    FOAF,
    GEONAMES_SWS,
    GN,
    GN_AREA,
    GN_PCLH,
    GN_PCLI,
    GN_RGN,
    KINDS,
    OWL,
    PROV,
    RDF,
    SCHEMA,
    SKOS,
    TIP,
    XSD,
    bind_prefixes,
    term,
)
from tipgraph.progress import Meter
from tipgraph.reconcile import Agent, Publication, Volume
from tipgraph.reference import Reference, slugify
from tipgraph.spill import SpilledMap

CATEGORY_SCHEME = "categories"

#: The terms written for every publication, as plain URIRefs: a namespace attribute costs
#: a call and makes a new URIRef on every access, millions of times in a large build.
TYPE = term(RDF.type)
PUBLICATION = term(TIP.Publication)
TITLE = term(DCT.title)
IDENTIFIER = term(DCT.identifier)
ABSTRACT = term(DCT.abstract)
ISSUED = term(DCT.issued)
GYEAR = term(XSD.gYear)
STATED_COUNTRY = term(TIP.statedCountry)
STATED_REGION = term(TIP.statedRegion)
CREATOR = term(DCT.creator)
SUBJECT = term(DCT.subject)
CITATION = term(DCT.bibliographicCitation)
PART_OF = term(DCT.isPartOf)
DERIVED_FROM = term(PROV.wasDerivedFrom)
SOURCE_RECORD = term(TIP.SourceRecord)
SOURCE_FILE = term(TIP.sourceFile)
SOURCE_LINE = term(TIP.sourceLine)
URL = term(SCHEMA.url)


@dataclass
class UriMinter:
    """Mints instance URIs under ``base``."""

    base: str
    _made: dict[tuple[str, str], URIRef] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.base.endswith(("/", "#")):
            self.base += "/"
        iri(self.base)

    def __call__(self, kind: str, slug: str) -> URIRef:
        """The node's URI; one object per node, shared by every triple that names it."""
        made = self._made.get((kind, slug))
        if made is None:
            made = self._made[kind, slug] = iri(f"{self.base}{KINDS[kind]}/{slug}")
        return made

    def source_record(self, file: str, line: int) -> URIRef:
        """The record's node: the file's name percent-encoded (it may hold any character)."""
        return iri(f"{self.base}source/{quote(file, safe='')}#line-{int(line)}")


class Triples(list):
    """The mapped triples, in the order made; ``add`` as on a graph, without its cost."""

    add = list.append


@dataclass
class Mapped:
    triples: Triples
    base: str
    #: identity key of each publication -> its slug, carried to the next build
    slugs: dict[str, str] = field(default_factory=dict)
    #: publication URI -> (file, line), so shape results can point at the source (a
    #: build's kept on disk: :class:`~tipgraph.spill.SpilledMap`, read for the results)
    provenance: dict[str, tuple[str, int]] | SpilledMap[str, tuple[str, int]] = field(
        default_factory=dict)

    @cached_property
    def graph(self) -> Graph:
        """The triples as an rdflib graph (made on first use: the build does not need it)."""
        return add_all(bind_prefixes(Graph(), self.base), self.triples)


@functools.lru_cache(maxsize=1 << 12)
def year_literal(year: int) -> Literal:
    """A year as an ``xsd:gYear`` literal: one object per year (a catalogue has a few
    hundred; rdflib makes one in 4 us)."""
    return Literal(str(year), datatype=GYEAR)


def iri(text: str) -> URIRef:
    """``text`` as an IRI term, checked: absolute and valid per RFC 3987 (pyoxigraph's parser
    decides), so that :func:`tipgraph.graphs.ntriples_lines` may write it as it is.

    :raises ValueError: when ``text`` is no such IRI (a value from a source is checked,
        and dropped with a warning, before it gets here: :mod:`tipgraph.sources.values`)

    >>> iri("https://example.org/a%20b")
    rdflib.term.URIRef('https://example.org/a%20b')
    >>> iri("https://example.org/x> <https://example.org/y")
    Traceback (most recent call last):
    ValueError: not an IRI: 'https://example.org/x> <https://example.org/y' (Invalid IRI ...
    """
    try:
        NamedNode(text)
    except ValueError as error:
        raise ValueError(f"not an IRI: {text!r} ({error})") from None
    if not _SCHEME.match(text):
        raise ValueError(f"not an absolute IRI: {text!r}")
    return URIRef(text)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def map_records(publications: Iterable[Publication], reference: Reference, *, base: str,
                published: Mapping[str, str] | None = None,
                meter: Meter | None = None) -> Mapped:
    """Turn reconciled publications into a graph; places and agents become shared nodes.

    ``meter`` counts the publications mapped (:mod:`tipgraph.progress`). The same triples
    as :func:`plan_mapping` of them all and :func:`map_publications` of any cut of them
    into parts, put together (what the build does, a part at a time).
    """
    publications = list(publications)
    keys = [record_identity(p) for p in publications]  # once each: it folds the title
    plan = plan_mapping(publications, keys, published or {}, base=base)
    mapped = Mapped(Triples(), plan.uri.base)
    if meter is not None:
        meter.step("", total=len(publications))
    map_publications(meter.count(publications) if meter else publications, keys, plan,
                     reference, mapped)
    return mapped


class MappingPlan:
    """What mapping a publication needs to know of the catalogue before it: the slug of
    every identity (a newcomer's depends on the titles before it); and what the whole
    catalogue says of each agent (the last record to name a node describes it). Filled
    a publication at a time, in catalogue order (:meth:`add`), before it is mapped."""

    def __init__(self, base: str, published: Mapping[str, str]) -> None:
        self.uri = UriMinter(base)
        self._slug = SlugMinter(published)
        #: identity key -> slug, for every publication added
        self.slugs: dict[str, str] = {}
        #: (kind, slug) -> the agent that node is described as
        self.agents: dict[tuple[str, str], Agent] = {}

    def add(self, publication: Publication, key: str) -> None:
        """Plan ``publication`` (``key``: its identity key), after those before it."""
        self.slugs[key] = self._slug(publication, key)
        agents = self.agents
        for agent in named_agents(publication):
            agents[agent.kind, agent.slug] = agent

    def agent(self, agent: Agent) -> Agent:
        return self.agents.get((agent.kind, agent.slug), agent)


def named_agents(publication: Publication) -> list[Agent]:
    """The agents ``publication`` names, in the order the mapping names them (the last
    of them describes a node named twice)."""
    volume = publication.part_of
    if volume is None:
        return publication.creators
    named = [*publication.creators, *volume.editors]
    if volume.publisher:
        named.append(volume.publisher)
    return named


def plan_mapping(publications: Iterable[Publication], keys: list[str],
                 published: Mapping[str, str], *, base: str) -> MappingPlan:
    """The :class:`MappingPlan` of the whole catalogue ``publications`` (``keys``: their
    identity keys, in the same order), its URIs minted under ``base``."""
    plan = MappingPlan(base, published)
    for publication, key in zip(publications, keys, strict=True):
        plan.add(publication, key)
    return plan


def map_publications(publications: Iterable[Publication], keys: Iterable[str],
                     plan: MappingPlan, reference: Reference, mapped: Mapped, *,
                     agents_described: bool = True) -> Mapped:
    """Add the triples of ``publications`` (``keys``: their identity keys) to ``mapped``:
    theirs, and those of the places, agents, volumes and categories they name (each once
    in this part; another part names them again), with their slugs and provenance.

    :param agents_described: False: of the agents named, only their types (what the
        node's URI says already), for a part mapped before the plan has seen the whole
        catalogue; :func:`map_agents` describes them all once it has
    """
    uri, graph = plan.uri, mapped.triples
    slugs = plan.slugs
    countries: set[str] = set()
    regions: set[str] = set()
    agents: dict[URIRef, Agent] = {}
    categories: set[str] = set()
    add = graph.add
    for publication, key in zip(publications, keys, strict=True):
        subject = uri("publication", slugs[key])
        mapped.slugs[key] = slugs[key]
        mapped.provenance[str(subject)] = (publication.source, publication.line)
        add((subject, TYPE, PUBLICATION))
        add((subject, TITLE, text_literal(publication.title, "en")))
        add((subject, IDENTIFIER, text_literal(slugs[key])))
        if publication.description:
            add((subject, ABSTRACT, text_literal(publication.description, "en")))
        if publication.year is not None:
            add((subject, ISSUED, year_literal(publication.year)))
        for code in publication.countries:
            add((subject, STATED_COUNTRY, uri("place", code.lower())))
            countries.add(code)
        for slug in publication.regions:
            add((subject, STATED_REGION, uri("place", slug)))
            regions.add(slug)
        for agent in publication.creators:
            node = uri(agent.kind, agent.slug)
            add((subject, CREATOR, node))
            agents[node] = plan.agent(agent)
        for label in publication.categories:
            add((subject, SUBJECT, uri("concept", slugify(label))))
            categories.add(label)
        if publication.citation:
            add((subject, CITATION, text_literal(publication.citation)))
        if publication.part_of:
            add((subject, PART_OF, _map_volume(graph, uri, publication.part_of, agents, plan)))
        record = uri.source_record(publication.source, publication.line)
        add((subject, DERIVED_FROM, record))
        add((record, TYPE, SOURCE_RECORD))
        add((record, SOURCE_FILE, text_literal(publication.source)))
        add((record, SOURCE_LINE, integer_literal(publication.line)))
        if publication.source_url:
            link = iri(publication.source_url)
            add((subject, DERIVED_FROM, link))
            add((subject, URL, link))
    for code in sorted(countries):
        _map_country(graph, uri, reference, code)
        regions.add(reference.countries[code].region)
    for slug in sorted(regions):
        _map_region(graph, uri, reference, slug)
    for node, agent in agents.items():
        if agents_described:
            _map_agent(graph, node, agent)
        else:
            graph.add((node, RDF.type, _AGENT_TYPES[agent.kind]))
    _map_categories(graph, uri, sorted(categories))
    return mapped


def map_agents(plan: MappingPlan, mapped: Mapped) -> Mapped:
    """Add the description of every agent the catalogue named (as the plan has it once
    every publication is added) to ``mapped``."""
    for (kind, slug), agent in plan.agents.items():
        _map_agent(mapped.triples, plan.uri(kind, slug), agent)
    return mapped


def _publication_slugs(publications: list[Publication], keys: list[str],
                       published: Mapping[str, str]) -> dict[str, str]:
    """One slug per identity key: the published one if any, else from the title."""
    minter = SlugMinter(published)
    return {key: minter(publication, key)
            for publication, key in zip(publications, keys, strict=True)}


class SlugMinter:
    """Gives each publication its slug, in catalogue order (:meth:`__call__`): the one
    published for its identity key if any, else one from its title that no publication
    before it took and no build ever published."""

    def __init__(self, published: Mapping[str, str]) -> None:
        self.published = published
        # every slug ever published is taken, its record here or not: a retired URI is
        # never given to another publication, and newcomers never take a published one
        self.taken: set[str] = set(published.values())

    def __call__(self, publication: Publication, key: str) -> str:
        slug = self.published.get(key)
        if slug is not None:
            return slug
        slug = plain = slugify(publication.title)
        salt = ""
        while slug in self.taken:  # a digest may be taken too (a slug cut short by many titles)
            digest = hashlib.sha1(f"{key}|{publication.description or ''}{salt}".encode()
                                  ).hexdigest()
            slug, salt = f"{plain}-{digest[:6]}", salt + "|"
        self.taken.add(slug)
        return slug


def _map_country(graph: Triples, uri: UriMinter, reference: Reference, code: str) -> None:
    country = reference.countries[code]
    node = uri("place", code.lower())
    graph.add((node, TYPE, term(GN.Feature)))
    graph.add((node, TYPE, term(TIP.Country)))
    graph.add((node, term(GN.name), Literal(country.name)))
    graph.add((node, term(SKOS.prefLabel), Literal(country.name, lang="en")))
    for label in country.alt_labels:
        graph.add((node, term(SKOS.altLabel), Literal(label, lang="en")))
    graph.add((node, term(GN.countryCode), Literal(code)))
    graph.add((node, term(GN.featureCode), GN_PCLH if country.historical else GN_PCLI))
    graph.add((node, term(GN.parentFeature), uri("place", country.region)))
    graph.add((node, term(OWL.sameAs), iri(f"{GEONAMES_SWS}{int(country.geonames_id)}/")))


def _map_region(graph: Triples, uri: UriMinter, reference: Reference, slug: str) -> None:
    region = reference.regions[slug]
    node = uri("place", slug)
    graph.add((node, TYPE, term(GN.Feature)))
    graph.add((node, TYPE, term(TIP.Region)))
    graph.add((node, term(GN.name), Literal(region.name)))
    graph.add((node, term(SKOS.prefLabel), Literal(region.name, lang="en")))
    for label in dict.fromkeys((*region.fragments, *region.alt_labels)):
        if label != region.name:
            graph.add((node, term(SKOS.altLabel), Literal(label, lang="en")))
    is_world = region.geonames_id is not None
    graph.add((node, term(GN.featureCode), GN_AREA if is_world else GN_RGN))
    if is_world:
        graph.add((node, term(OWL.sameAs), iri(f"{GEONAMES_SWS}{int(region.geonames_id)}/")))


_AGENT_TYPES = {"person": term(SCHEMA.Person), "organisation": term(SCHEMA.Organization)}


def _map_agent(graph: Triples, node: URIRef, agent: Agent) -> None:
    if agent.kind == "person":
        graph.add((node, TYPE, term(SCHEMA.Person)))
        graph.add((node, term(FOAF.name), Literal(agent.name)))
        graph.add((node, term(SCHEMA.name), Literal(agent.name)))
    else:
        graph.add((node, TYPE, term(SCHEMA.Organization)))
        graph.add((node, term(SKOS.prefLabel), Literal(agent.name, lang="en")))
        for label in agent.alt_labels:
            graph.add((node, term(SKOS.altLabel), Literal(label, lang="en")))


def _map_volume(graph: Triples, uri: UriMinter, volume: Volume,
                agents: dict[URIRef, Agent], plan: MappingPlan) -> URIRef:
    node = uri("volume", volume.slug)
    graph.add((node, TYPE, term(TIP.EditedVolume)))
    graph.add((node, term(DCT.title), Literal(volume.title, lang="en")))
    if volume.year is not None:
        graph.add((node, term(DCT.issued), year_literal(volume.year)))
    for editor in volume.editors:
        agents[uri(editor.kind, editor.slug)] = plan.agent(editor)
        graph.add((node, term(SCHEMA.editor), uri(editor.kind, editor.slug)))
    if volume.publisher:
        agents[uri(volume.publisher.kind, volume.publisher.slug)] = plan.agent(volume.publisher)
        graph.add((node, term(DCT.publisher), uri(volume.publisher.kind, volume.publisher.slug)))
    return node


def _map_categories(graph: Triples, uri: UriMinter, labels: list[str]) -> None:
    scheme = uri("scheme", CATEGORY_SCHEME)
    graph.add((scheme, TYPE, term(SKOS.ConceptScheme)))
    graph.add((scheme, term(SKOS.prefLabel),
               Literal("Categories of the tipgraph catalogue", lang="en")))
    for label in labels:
        node = uri("concept", slugify(label))
        graph.add((node, TYPE, term(SKOS.Concept)))
        graph.add((node, term(SKOS.prefLabel), Literal(label, lang="en")))
        graph.add((node, term(SKOS.inScheme), scheme))
        graph.add((scheme, term(SKOS.hasTopConcept), node))
