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
  ``rdf:value`` is the resource, with its ``void:entities``: the total) is
  carried whole on every page, so a page states the total it does not list;
- when there is more than one page, how to walk them: the document names its
  next page (``<resource> rdfs:seeAlso <next>``, and Hydra's ``hydra:next``,
  ``hydra:previous``, ``hydra:first`` on the page itself).

Pages follow the order of the store's own index (stable within a build). The
embedded store is read with ``quads_for_pattern`` directly: a document costs a
few index look-ups and no query parsing, no rdflib and no per-request
conversion; the labels come from a per-build :class:`Labels` map, and a busy
node's incoming properties from :class:`Linking`, both read from the file the
build wrote beside its store (:mod:`tipgraph.web.indexes`), or made from the
store for a build without one. A remote store is asked with
a few SPARQL queries instead, its pages ordered by IRI.

The ontology, the shapes and the dataset description are documents too (from
a file, or made by the app), so every document is a :class:`Document`: plain
pyoxigraph triples that pyoxigraph serialises; JSON-LD is compacted with the
shipped context by :mod:`tipgraph.jsonld`. No Flask here: the views pass the store in.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from pathlib import Path
from urllib.parse import quote

import pyoxigraph
from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Triple

from tipgraph.formats import jsonld_context
from tipgraph.graphs import sparql_term
from tipgraph.jsonld import compact
from tipgraph.namespaces import DCT, FOAF, GN, PREFIXES, RDF, RDFS, SCHEMA, SKOS, TIP
from tipgraph.store import GraphStore, OxigraphStore
from tipgraph.web.catalogue import Source, StoreSource

Term = NamedNode | BlankNode | Literal
Subject = NamedNode | BlankNode

#: Properties that name a node, best first: what a page shows for a link.
LABELS: tuple[NamedNode, ...] = tuple(NamedNode(str(p)) for p in (
    SKOS.prefLabel, DCT.title, GN.name, FOAF.name, SCHEMA.name, RDFS.label))
HYDRA = "http://www.w3.org/ns/hydra/core#"
#: Prefixes of the Turtle and JSON-LD documents.
DOCUMENT_PREFIXES: dict[str, str] = {**PREFIXES, "hydra": HYDRA,
                                     "void": "http://rdfs.org/ns/void#"}
RDF_TYPE = NamedNode(str(RDF.type))
RDF_VALUE = NamedNode(str(RDF.value))
SEE_ALSO = NamedNode(str(RDFS.seeAlso))
PRIMARY_TOPIC = NamedNode(str(FOAF.primaryTopic))
SOURCE_FILE = NamedNode(str(TIP.sourceFile))
TITLE = NamedNode(str(DCT.title))
STATISTIC = NamedNode(str(TIP.Statistic))
_DEFAULT = DefaultGraph()
_VALUES_LABELS = " ".join(str(p) for p in LABELS)


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

    def with_paging(self, url: Callable[[int], str]) -> Document:
        """This page with the links to its neighbours (``url(page)``: a page's own URL)."""
        if not self.paged:
            return self
        here = NamedNode(url(self.page))
        extra = [Triple(here, PRIMARY_TOPIC, self.node),
                 Triple(here, NamedNode(HYDRA + "first"), NamedNode(url(1)))]
        if self.page > 1:
            extra.append(Triple(here, NamedNode(HYDRA + "previous"), NamedNode(url(self.page - 1))))
        if self.more:
            following = NamedNode(url(self.page + 1))
            extra += [Triple(here, NamedNode(HYDRA + "next"), following),
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

    def __init__(self, store: pyoxigraph.Store, index: LabelIndex | None = None) -> None:
        self.store = store
        self.index = index or index_labels(StoreSource(OxigraphStore(store)))

    def of(self, node: Term) -> list[Triple]:
        if isinstance(node, BlankNode):
            return [q.triple for prop in LABELS
                    for q in self.store.quads_for_pattern(node, prop, None, _DEFAULT)]
        if not isinstance(node, NamedNode):
            return []
        found = [Triple(node, LABELS[rank], _literal(text, language, datatype))
                 for rank, text, language, datatype in self.index.others.get(node.value, ())]
        title = self.index.titles.get(node.value)
        if title is not None:
            found.append(Triple(node, TITLE, _literal(*title)))
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

    def __init__(self, store: pyoxigraph.Store, properties: Iterable[str] | None = None) -> None:
        self.store = store
        if properties is None:
            properties = StoreSource(OxigraphStore(store)).properties()
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
                     if _first(self.store.quads_for_pattern(None, p, node, _DEFAULT))]
            if len(self._into) >= self.REMEMBERED:
                self._into = {}
            self._into[node] = found
        return found


class PerBuild:
    """One value per build in service, made on first use (older builds are dropped)."""

    def __init__(self, make: Callable[[pyoxigraph.Store], object]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._by_build: dict[str, object] = {}

    def get(self, build_id: str, store: pyoxigraph.Store) -> object:
        value = self._by_build.get(build_id)
        if value is None:
            with self._lock:
                value = self._by_build.get(build_id)
                if value is None:
                    value = self._make(store)
                    self._by_build = {build_id: value}
        return value

    def put(self, build_id: str, value: object) -> None:
        """Serve ``value`` for ``build_id`` (made elsewhere: read from the build's file)."""
        with self._lock:
            self._by_build = {build_id: value}


_labels = PerBuild(Labels)
_linking = PerBuild(Linking)


def warm_documents(build_id: str, store: GraphStore) -> None:
    """Make the per-build maps documents read (embedded store only) ahead of requests."""
    if isinstance(store, OxigraphStore):
        _labels.get(build_id, store.store)
        _linking.get(build_id, store.store)


def serve_documents(build_id: str, store: GraphStore, labels: LabelIndex,
                    properties: Iterable[str]) -> None:
    """Serve the documents of ``build_id`` with the labels and properties the build wrote
    (embedded store only: a remote store's documents are read by SPARQL)."""
    if isinstance(store, OxigraphStore):
        _labels.put(build_id, Labels(store.store, labels))
        _linking.put(build_id, Linking(store.store, properties))


def exists(store: GraphStore, uri: str, *, fragments: bool = False) -> bool:
    """Whether the graph says anything about ``uri`` (as subject or object; for a source
    file, whether it has records)."""
    node = NamedNode(_checked(uri))
    if isinstance(store, OxigraphStore):
        st = store.store
        if fragments:
            return _first(st.quads_for_pattern(None, SOURCE_FILE, _file_of(uri), _DEFAULT))
        return (_first(st.quads_for_pattern(node, None, None, _DEFAULT))
                or _first(st.quads_for_pattern(None, None, node, _DEFAULT)))
    if fragments:
        return bool(store.query(f"ASK {{ ?r <{SOURCE_FILE.value}> {_file_of(uri)} }}"))
    return bool(store.query(f"ASK {{ {{ {node} ?p ?o }} UNION {{ ?s ?p {node} }} }}"))


def describe(store: GraphStore, uri: str, *, base: str, build_id: str, page: int = 1,
             limit: int = 50, fragments: bool = False) -> Document:
    """Page ``page`` of the document of ``uri`` (see the module docstring for its bounds).

    :param fragments: ``uri`` is a source file: describe its records (``#line-N``)
    :param limit: most subjects per incoming property (and records per page of a file)
    """
    _checked(uri)
    limit = max(1, limit)
    offset = (page - 1) * limit
    if isinstance(store, OxigraphStore):
        reader: _Reader = _Embedded(store.store, build_id)
    else:
        reader = _Remote(store)
    node = NamedNode(uri)
    triples: list[Triple] = []
    more = False
    if fragments:
        records = reader.subjects(SOURCE_FILE, _file_of(uri), offset, limit + 1)
        more = len(records) > limit
        for record in records[:limit]:
            triples += reader.outgoing(record)
    else:
        triples += reader.outgoing(node)
        incoming, more = reader.incoming(node, offset, limit)
        triples += incoming
        # the counts the build published about the node, on every page: they state totals
        names = statistic_names(base, uri)
        if names:
            triples += reader.statistics(node, names)
    linked = {t.object for t in triples if isinstance(t.object, NamedNode)}
    linked |= {t.subject for t in triples if t.object == node}
    linked.discard(node)
    triples += reader.labels(linked)
    return Document(uri, triples, page, more)


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


def _first(quads: Iterator[pyoxigraph.Quad]) -> bool:
    return next(quads, None) is not None


class _Reader:
    def outgoing(self, node: Subject) -> list[Triple]:
        raise NotImplementedError

    def incoming(self, node: NamedNode, offset: int, limit: int) -> tuple[list[Triple], bool]:
        raise NotImplementedError

    def subjects(self, prop: NamedNode, value: Term, offset: int, count: int) -> list[Subject]:
        raise NotImplementedError

    def statistics(self, node: NamedNode, names: list[NamedNode]) -> list[Triple]:
        raise NotImplementedError

    def labels(self, nodes: Iterable[Term]) -> list[Triple]:
        raise NotImplementedError


class _Embedded(_Reader):
    """Index look-ups on the embedded store."""

    def __init__(self, store: pyoxigraph.Store, build_id: str) -> None:
        self.store, self.build_id = store, build_id

    def outgoing(self, node: Subject) -> list[Triple]:
        return [q.triple for q in self.store.quads_for_pattern(node, None, None, _DEFAULT)]

    def incoming(self, node: NamedNode, offset: int, limit: int) -> tuple[list[Triple], bool]:
        linking: Linking = _linking.get(self.build_id, self.store)  # type: ignore[assignment]
        triples: list[Triple] = []
        more = False
        if not linking.busy(node):
            # most resources have a few incoming links: one look-up finds them all
            few = list(islice(self.store.quads_for_pattern(None, None, node, _DEFAULT),
                              limit + 1))
            if len(few) <= limit:
                return ([q.triple for q in few] if offset == 0 else []), False
        for prop in linking.into(node):
            quads = list(islice(self.store.quads_for_pattern(None, prop, node, _DEFAULT),
                                offset, offset + limit + 1))
            more = more or len(quads) > limit
            triples += (q.triple for q in quads[:limit])
        return triples, more

    def statistics(self, node: NamedNode, names: list[NamedNode]) -> list[Triple]:
        found = []
        for name in names:
            if _first(self.store.quads_for_pattern(name, RDF_VALUE, node, _DEFAULT)):
                found += self.outgoing(name)
        return found

    def subjects(self, prop: NamedNode, value: Term, offset: int, count: int) -> list[Subject]:
        quads = self.store.quads_for_pattern(None, prop, value, _DEFAULT)
        return [q.subject for q in islice(quads, offset, offset + count)]

    def labels(self, nodes: Iterable[Term]) -> list[Triple]:
        labels: Labels = _labels.get(self.build_id, self.store)  # type: ignore[assignment]
        return [t for n in nodes for t in labels.of(n)]


class _Remote(_Reader):
    """A few SPARQL queries to a remote store; pages ordered by IRI."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store

    def _construct(self, query: str) -> list[Triple]:
        return list(self.store.query(query))  # type: ignore[arg-type]

    def outgoing(self, node: Subject) -> list[Triple]:
        return self._construct(f"CONSTRUCT WHERE {{ {node} ?p ?o }}")

    def incoming(self, node: NamedNode, offset: int, limit: int) -> tuple[list[Triple], bool]:
        rows = self.store.query(f"SELECT DISTINCT ?p WHERE {{ ?s ?p {node} }}")
        triples: list[Triple] = []
        more = False
        for row in rows:
            prop = sparql_term(row["p"])
            found = self._construct(
                f"CONSTRUCT {{ ?s {prop} {node} }} WHERE {{ {{ SELECT ?s WHERE {{ "
                f"?s {prop} {node} }} ORDER BY ?s LIMIT {limit + 1} OFFSET {offset} }} }}")
            subjects = sorted({t.subject.value for t in found})
            more = more or len(subjects) > limit
            keep = set(subjects[:limit])
            triples += (t for t in found if t.subject.value in keep)
        return triples, more

    def statistics(self, node: NamedNode, names: list[NamedNode]) -> list[Triple]:
        values = " ".join(sparql_term(n) for n in names)
        return self._construct(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ VALUES ?s {{ {values} }} "
                               f"?s {RDF_VALUE} {node} ; ?p ?o }}")

    def subjects(self, prop: NamedNode, value: Term, offset: int, count: int) -> list[Subject]:
        rows = self.store.query(f"SELECT ?s WHERE {{ ?s {prop} {value} }} ORDER BY ?s "
                                f"LIMIT {count} OFFSET {offset}")
        return [row["s"] for row in rows]

    def labels(self, nodes: Iterable[Term]) -> list[Triple]:
        iris = " ".join(sparql_term(n) for n in nodes if isinstance(n, NamedNode))
        if not iris:
            return []
        return self._construct(f"CONSTRUCT {{ ?n ?p ?l }} WHERE {{ VALUES ?n {{ {iris} }} "
                               f"VALUES ?p {{ {_VALUES_LABELS} }} ?n ?p ?l }}")


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
    return compact(expanded, {**jsonld_context(), "hydra": HYDRA})


def labels_of(doc: Document, nodes: Iterable[Term]) -> Mapping[Term, str]:
    """Labels of ``nodes`` that ``doc`` carries."""
    return {n: label for n in nodes if (label := label_of(doc, n)) is not None}
