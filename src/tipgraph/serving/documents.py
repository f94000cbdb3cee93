"""What the graph says about one resource: the triples its document carries, bounded.

A document is a faithful description of its resource, and its size does not
grow with the catalogue. It carries:

- every triple about the resource (for a source file, a hash namespace, every
  triple about its ``#line-N`` records, found by ``tip:sourceFile``);
- the labels of the nodes it links to;
- the triples pointing at it, **at most** ``limit`` subjects per property
  (setting ``document_links``), with the labels of those subjects. A region
  has tens of thousands of publications at 100,000 records: the rest are on
  the next pages of the same document (``place/x.ttl?page=2``), and the
  statistic the build published about the resource (a ``tip:Statistic`` whose
  ``rdf:value`` is the resource, with its ``tip:count``: the total) is
  carried whole on every page, so a page states the total it does not list;
- when there is more than one page, how to walk them: the document names its
  next page (``<resource> rdfs:seeAlso <next>``, and Hydra's ``hydra:next``,
  ``hydra:previous``, ``hydra:first`` on the page itself).

Pages follow the order of :meth:`GraphStore.triples` (the embedded store's own
index, stable within a build; a remote store's ``ORDER BY``). On the embedded
store a document costs a few index look-ups and no query parsing, no rdflib and
no per-request conversion; the labels come from a per-build :class:`Labels` map,
and a busy node's incoming properties from :class:`Linking`, both read from the
file the build wrote beside its store (:mod:`tipgraph.serving.indexes`), or made
from the store for a build without one; the build in service owns them
(:class:`tipgraph.serving.service.Build`).

The ontology, the shapes and the dataset description are documents too (from
a file, or made by the app), so every document is a :class:`Document`: plain
pyoxigraph triples that pyoxigraph serialises; JSON-LD is compacted with the
shipped context by :mod:`tipgraph.jsonld`. No Flask here: the views pass the build's
store and maps in.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import quote

import pyoxigraph
from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Triple

from tipgraph.formats import jsonld_context
from tipgraph.jsonld import compact
from tipgraph.namespaces import (
    DCT,
    FOAF,
    GN,
    HYDRA,
    OWL,
    PREFIXES,
    RDF,
    RDFS,
    SCHEMA,
    SKOS,
    TIP,
    VOID,
)
from tipgraph.serving.catalogue import Source, StoreSource
from tipgraph.store import GraphStore

Term = NamedNode | BlankNode | Literal
Subject = NamedNode | BlankNode

#: The terms that pages and their JSON-LD look up in a document, as store nodes by name
#: (the views and :mod:`tipgraph.schema_org` add their own).
NODES: dict[str, NamedNode] = {name: NamedNode(str(term)) for name, term in {
    "type": RDF.type, "value": RDF.value, "abstract": DCT.abstract, "issued": DCT.issued,
    "creator": DCT.creator, "spatial": DCT.spatial, "subject": DCT.subject,
    "isPartOf": DCT.isPartOf, "url": SCHEMA.url, "altLabel": SKOS.altLabel,
    "sameAs": OWL.sameAs, "parentFeature": GN.parentFeature, "Publication": TIP.Publication,
    "Country": TIP.Country, "Region": TIP.Region, "Feature": GN.Feature,
    "Organization": SCHEMA.Organization, "Person": SCHEMA.Person,
    "EditedVolume": TIP.EditedVolume}.items()}

#: Properties that name a node, best first: what a page shows for a link.
LABELS: tuple[NamedNode, ...] = tuple(NamedNode(str(p)) for p in (
    SKOS.prefLabel, DCT.title, GN.name, FOAF.name, SCHEMA.name, RDFS.label))
#: Prefixes of the Turtle and JSON-LD documents.
DOCUMENT_PREFIXES: dict[str, str] = {**PREFIXES, "hydra": str(HYDRA), "void": str(VOID)}
RDF_TYPE = NamedNode(str(RDF.type))
RDF_VALUE = NamedNode(str(RDF.value))
SEE_ALSO = NamedNode(str(RDFS.seeAlso))
PRIMARY_TOPIC = NamedNode(str(FOAF.primaryTopic))
IN_DATASET = NamedNode("http://rdfs.org/ns/void#inDataset")
LICENSE = NamedNode(str(DCT.license))
SOURCE_FILE = NamedNode(str(TIP.sourceFile))
TITLE = NamedNode(str(DCT.title))
STATISTIC = NamedNode(str(TIP.Statistic))
_DEFAULT = DefaultGraph()


@dataclass
class Document:
    """The triples of one page of a resource's document, indexed for the HTML page.

    :param more: whether a next page exists
    """

    uri: str
    triples: list[Triple]
    page: int = 1
    more: bool = False
    _index: tuple[dict[Term, dict[NamedNode, list[Term]]],
                  dict[Term, list[tuple[Subject, NamedNode]]]] | None = field(default=None,
                                                                              repr=False)

    def __post_init__(self) -> None:
        self.triples = list(dict.fromkeys(self.triples))  # no triple twice, order kept

    @property
    def _out(self) -> dict[Term, dict[NamedNode, list[Term]]]:
        return self._indexed()[0]

    @property
    def _in(self) -> dict[Term, list[tuple[Subject, NamedNode]]]:
        return self._indexed()[1]

    def _indexed(self) -> tuple[dict[Term, dict[NamedNode, list[Term]]],
                                dict[Term, list[tuple[Subject, NamedNode]]]]:
        """By subject and by object, made when a page asks (serialising needs neither)."""
        if self._index is None:
            out: dict[Term, dict[NamedNode, list[Term]]] = {}
            into: dict[Term, list[tuple[Subject, NamedNode]]] = {}
            for t in self.triples:
                out.setdefault(t.subject, {}).setdefault(t.predicate, []).append(t.object)
                into.setdefault(t.object, []).append((t.subject, t.predicate))
            self._index = (out, into)
        return self._index

    @property
    def node(self) -> NamedNode:
        return NamedNode(self.uri)

    @property
    def paged(self) -> bool:
        return self.more or self.page > 1

    def subjects(self) -> list[Subject]:
        return list(self._out)  # type: ignore[arg-type]

    def describes(self, node: Term) -> bool:
        return node in self._out

    def predicates(self, node: Term) -> list[NamedNode]:
        return list(self._out.get(node, {}))

    def objects(self, node: Term, prop: NamedNode) -> list[Term]:
        return self._out.get(node, {}).get(prop, [])

    def value(self, node: Term, prop: NamedNode) -> Term | None:
        values = self.objects(node, prop)
        return values[0] if values else None

    def incoming(self, node: Term) -> list[tuple[Subject, NamedNode]]:
        return self._in.get(node, [])

    def in_dataset(self, url: str, dataset: str, license: str) -> Document:
        """This document saying what it is (VoID's guide, "Discovery via links in the
        dataset's documents"): ``<url> void:inDataset <dataset>``, its licence and its
        topic, the resource."""
        here = NamedNode(url)
        extra = [Triple(here, PRIMARY_TOPIC, self.node),
                 Triple(here, IN_DATASET, NamedNode(dataset)),
                 Triple(here, LICENSE, NamedNode(license))]
        return Document(self.uri, self.triples + extra, self.page, self.more)

    def with_paging(self, url: Callable[[int], str]) -> Document:
        """This page with the links to its neighbours (``url(page)``: a page's own URL)."""
        if not self.paged:
            return self
        here = NamedNode(url(self.page))
        extra = [Triple(here, PRIMARY_TOPIC, self.node),
                 Triple(here, NamedNode(HYDRA.first), NamedNode(url(1)))]
        if self.page > 1:
            extra.append(Triple(here, NamedNode(HYDRA.previous), NamedNode(url(self.page - 1))))
        if self.more:
            following = NamedNode(url(self.page + 1))
            extra += [Triple(here, NamedNode(HYDRA.next), following),
                      Triple(self.node, SEE_ALSO, following)]
        return Document(self.uri, self.triples + extra, self.page, self.more)


def label_of(doc: Document, node: Term) -> str | None:
    """The best label ``doc`` has for ``node`` (English first), or None."""
    for prop in LABELS:
        values = doc.objects(node, prop)
        if values:
            english = [v for v in values if isinstance(v, Literal) and v.language in ("en", None)]
            return sorted(v.value for v in (english or values))[0]  # type: ignore[union-attr]
    return None


# -- the embedded store ---------------------------------------------------------------------

#: A label as a :class:`LabelIndex` keeps it: (property's place in :data:`LABELS`, text,
#: language, datatype; both None for a plain string).
Label = tuple[int, str, str | None, str | None]


@dataclass
class LabelIndex:
    """The labels of a build's named nodes, as strings: what :class:`Labels` serves.

    Titles (``dct:title``) are most of a catalogue's labels, one per publication:
    as pyoxigraph triples they would take 200 MiB at 100,000 publications, so they
    are kept as strings and made triples again for the few dozen a document carries.
    """

    #: IRI -> its (least) title: text, language, datatype
    titles: dict[str, tuple[str, str | None, str | None]]
    #: IRI -> its other labels (names of places, agents, categories; a second title)
    others: dict[str, tuple[Label, ...]]


def index_labels(source: Source) -> LabelIndex:
    """The labels of the named nodes of ``source``, in an order of their own (so that the
    build and the store agree, whatever order each gives them in)."""
    found: dict[str, set[Label]] = {}
    for rank, prop in enumerate(LABELS):
        for subject, text, language, datatype in source.literals(prop.value):
            found.setdefault(subject, set()).add(
                (rank, text, sys.intern(language) if language else None,
                 sys.intern(datatype) if datatype else None))
    title_rank = LABELS.index(TITLE)
    titles: dict[str, tuple[str, str | None, str | None]] = {}
    others: dict[str, tuple[Label, ...]] = {}
    for subject, labels in found.items():
        ordered = sorted(labels, key=lambda label: (label[0], label[1], label[2] or "",
                                                    label[3] or ""))
        title = next((label for label in ordered if label[0] == title_rank), None)
        if title is not None:
            titles[subject] = title[1:]
            ordered.remove(title)
        if ordered:
            others[subject] = tuple(ordered)
    return LabelIndex(titles, others)


def _literal(text: str, language: str | None, datatype: str | None) -> Literal:
    return (Literal(text, language=language) if language else
            Literal(text, datatype=NamedNode(datatype)) if datatype else Literal(text))


class Labels:
    """The labels of a build's nodes by subject, made once per build, so that a document
    with a hundred incoming links needs no index look-up per link.

    Kept as strings (:class:`LabelIndex`, read from the file the build wrote, or made
    from ``store``) and made triples for the few dozen a document carries. A blank
    node's labels (the store names blank nodes its own way) are looked up in ``store``.
    """

    #: Nodes whose label triples are kept made (the places, agents and categories that
    #: most documents link to); past it, the memory starts again.
    REMEMBERED = 10_000

    def __init__(self, store: GraphStore, index: LabelIndex | None = None) -> None:
        self.store = store
        self.index = index or index_labels(StoreSource(store))
        self._made: dict[str, tuple[Triple, ...]] = {}

    def of(self, node: Term) -> tuple[Triple, ...]:
        if isinstance(node, BlankNode):
            return tuple(t for prop in LABELS for t in self.store.triples(node, prop))
        if not isinstance(node, NamedNode):
            return ()
        found = self._made.get(node.value)
        if found is None:
            made = [Triple(node, LABELS[rank], _literal(text, language, datatype))
                    for rank, text, language, datatype in self.index.others.get(node.value, ())]
            title = self.index.titles.get(node.value)
            if title is not None:
                made.append(Triple(node, TITLE, _literal(*title)))
            if len(self._made) >= self.REMEMBERED:
                self._made = {}
            found = self._made[node.value] = tuple(made)
        return found


class Linking:
    """Which properties link into a node, per build.

    The build's properties are listed once (from the file the build wrote, or a
    ``GROUP BY`` of the store: :meth:`StoreSource.properties`); for a node with many
    incoming links, the properties that have any are found by one look-up each the
    first time and remembered (a few thousand such nodes at most: the places,
    agents and categories publications name).
    """

    #: Nodes remembered per build; past it, the memory starts again.
    REMEMBERED = 10_000

    def __init__(self, store: GraphStore, properties: Iterable[str] | None = None) -> None:
        self.store = store
        if properties is None:
            properties = StoreSource(store).properties()
        self.properties: list[NamedNode] = [NamedNode(p) for p in sorted(properties)]
        self._into: dict[NamedNode, list[NamedNode]] = {}

    def busy(self, node: NamedNode) -> bool:
        """Whether ``node`` was found to have more incoming links than a page carries."""
        return node in self._into

    def into(self, node: NamedNode) -> list[NamedNode]:
        """The properties of some triple whose object is ``node``."""
        found = self._into.get(node)
        if found is None:
            found = [p for p in self.properties
                     if _first(self.store.triples(None, p, node, limit=1))]
            if len(self._into) >= self.REMEMBERED:
                self._into = {}
            self._into[node] = found
        return found


def exists(store: GraphStore, uri: str, *, fragments: bool = False) -> bool:
    """Whether the graph says anything about ``uri`` (as subject or object; for a source
    file, whether it has records)."""
    node = NamedNode(_checked(uri))
    if fragments:
        return _first(store.triples(None, SOURCE_FILE, _file_of(uri), limit=1))
    return (_first(store.triples(node, limit=1))
            or _first(store.triples(None, None, node, limit=1)))


def describe(store: GraphStore, uri: str, *, base: str, labels: Labels, linking: Linking,
             page: int = 1, limit: int = 50, fragments: bool = False) -> Document:
    """Page ``page`` of the document of ``uri`` (see the module docstring for its bounds).

    :param labels: the build's labels, :param linking: its linking properties
    :param fragments: ``uri`` is a source file: describe its records (``#line-N``)
    :param limit: most subjects per incoming property (and records per page of a file)
    """
    _checked(uri)
    limit = max(1, limit)
    offset = (page - 1) * limit
    node = NamedNode(uri)
    triples: list[Triple] = []
    more = False
    if fragments:
        records = [t.subject for t in store.triples(None, SOURCE_FILE, _file_of(uri),
                                                    offset=offset, limit=limit + 1)]
        more = len(records) > limit
        for record in records[:limit]:
            triples += store.triples(record)
    else:
        triples += store.triples(node)
        incoming, more = _incoming(store, linking, node, offset, limit)
        triples += incoming
        # the counts the build published about the node, on every page: they state totals
        for name in statistic_names(base, uri):
            if _first(store.triples(name, RDF_VALUE, node, limit=1)):
                triples += store.triples(name)
    linked = {t.object for t in triples if isinstance(t.object, NamedNode)}
    linked |= {t.subject for t in triples if t.object == node}
    linked.discard(node)
    triples += (t for n in linked for t in labels.of(n))
    return Document(uri, triples, page, more)


def _incoming(store: GraphStore, linking: Linking, node: NamedNode, offset: int, limit: int
              ) -> tuple[list[Triple], bool]:
    """Page ``offset // limit`` of the triples into ``node``: at most ``limit`` subjects per
    property, and whether there are more."""
    if not linking.busy(node):
        # most resources have a few incoming links: one look-up finds them all
        few = list(store.triples(None, None, node, limit=limit + 1))
        if len(few) <= limit:
            return (few if offset == 0 else []), False
    triples: list[Triple] = []
    more = False
    for prop in linking.into(node):
        found = list(store.triples(None, prop, node, offset=offset, limit=limit + 1))
        more = more or len(found) > limit
        triples += found[:limit]
    return triples, more


def statistic_names(base: str, uri: str) -> list[NamedNode]:
    """The ``tip:Statistic`` nodes that would count the publications of ``uri``, as
    :mod:`tipgraph.statistics` names them (``<base>dataset#statistic-<facet>-<key>``)."""
    kind = uri[len(base):].split("/", 1)[0] if uri.startswith(base) else ""
    dataset = base.rstrip("/#") + "/dataset"
    key = quote(re.split(r"[/#]", uri.rstrip("/"))[-1], safe="-._~")
    return [NamedNode(f"{dataset}#statistic-{facet}-{key}")
            for facet in _COUNTED.get(kind, ())]


#: The facets whose statistics can count a resource, by the path its URI is minted under.
_COUNTED = {"place": ("country", "region"), "organisation": ("organisation",),
            "concept": ("category",)}


_NOT_IN_IRI = re.compile(r'[<>"{}|^`\\\x00-\x20]')


def _checked(uri: str) -> str:
    """``uri`` if it is an IRI a query could hold between ``<...>``; ValueError otherwise."""
    if _NOT_IN_IRI.search(uri):
        raise ValueError(f"not an IRI: {uri!r}")
    NamedNode(uri)  # ValueError for the rest
    return uri


def _file_of(uri: str) -> Literal:
    """The ``tip:sourceFile`` of the records of the source file ``uri`` (``<base>source/F``)."""
    return Literal(uri.split("/source/", 1)[-1])


def _first(triples: Iterator[Triple]) -> bool:
    return next(triples, None) is not None


# -- documents from files and from rdflib ---------------------------------------------------

@cache
def file_document(path: Path, uri: str) -> Document:
    """A Turtle file we publish as is (the ontology, the shapes), read once."""
    triples = [q.triple for q in pyoxigraph.parse(path=str(path),
                                                  format=pyoxigraph.RdfFormat.TURTLE)]
    return Document(uri, triples)


def from_rdflib(graph: object, uri: str) -> Document:
    """A document made with rdflib (the dataset description), as pyoxigraph triples."""
    data = graph.serialize(format="nt", encoding="utf-8")  # type: ignore[attr-defined]
    triples = [q.triple for q in pyoxigraph.parse(data, format=pyoxigraph.RdfFormat.N_TRIPLES)]
    return Document(uri, triples)


# -- serialisation --------------------------------------------------------------------------

def serialize(doc: Document, fmt: pyoxigraph.RdfFormat | None) -> bytes:
    """``doc`` in an RDF format; ``None`` is JSON-LD compacted with the shipped context."""
    if fmt is None or fmt == pyoxigraph.RdfFormat.JSON_LD:
        return to_jsonld(doc.triples)
    prefixes = DOCUMENT_PREFIXES if fmt in (pyoxigraph.RdfFormat.TURTLE,
                                            pyoxigraph.RdfFormat.RDF_XML) else None
    return pyoxigraph.serialize(doc.triples, format=fmt, prefixes=prefixes)


def to_jsonld(triples: Iterable[Triple]) -> bytes:
    """JSON-LD with the shipped context (and ``hydra:``) inline, IRIs compacted by
    :func:`tipgraph.jsonld.compact`, the one compaction every JSON-LD we write goes through."""
    expanded = pyoxigraph.serialize(triples, format=pyoxigraph.RdfFormat.JSON_LD)
    return compact(expanded, {**jsonld_context(), "hydra": str(HYDRA)})


def labels_of(doc: Document, nodes: Iterable[Term]) -> Mapping[Term, str]:
    """Labels of ``nodes`` that ``doc`` carries."""
    return {n: label for n in nodes if (label := label_of(doc, n)) is not None}
