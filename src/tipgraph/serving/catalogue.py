"""The publications of a build as an in-memory index, for browsing, searching and charts.

Browsing filters every publication by facets and words and counts the facets
of what is left, so the index is made once per build (the first time a build is
browsed) and kept while that build is in service. Its shape keeps a request
independent of the catalogue's size:

- the publications' IRIs in the order pages show them (title, then IRI), and
  for each its title, year and links (shared :class:`Link` objects), but not its
  abstract, which a page reads from the store for the 20 entries it shows;
- one bitmap per facet value (a Python ``int``, bit *i* for entry *i*), so a
  filter is an ``&`` and a facet count under it a ``bit_count``;
- a search asks the build's text index (:mod:`tipgraph.serving.textindex`), which
  ``tip:matches`` asks too. Without one (a remote store), one posting per word of the
  titles and abstracts (a bitmap for common words, a sorted array for rare ones),
  made on the first search: a search word matches the words it begins (``traffick``
  finds *trafficking*); every word of the query must match.

The build makes it from the triples it holds (:mod:`tipgraph.serving.indexes`) and
writes it beside the store; a web worker reads that file when it opens the build.
For a build without the file (made before, or served from a remote store) the
worker makes it from the store in the background on the build's first page
(:meth:`tipgraph.serving.service.Build.warm`). Both go through :func:`index_catalogue`
over a :class:`Source` (and the store's word index through :func:`index_words`); an
incremental build updates the previous build's (:func:`update_catalogue`) with the
same per-triple functions. Its cost is measured by ``benchmarks/pages.py``; a request
then takes a few bitmap operations whatever the catalogue's size.
"""

from __future__ import annotations

import re
import threading
from array import array
from bisect import bisect_left
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations_with_replacement as pairs_of
from itertools import repeat
from operator import call
from typing import Any, Protocol

import pyoxigraph

from tipgraph.namespaces import DCT, RDF, SCHEMA, SKOS, TIP
from tipgraph.serving.packed import ChangedRows, Spliced
from tipgraph.serving.textindex import TextIndex, fts_query
from tipgraph.statistics import FACETS as PUBLISHED_FACETS
from tipgraph.statistics import title_key, title_order
from tipgraph.store import GraphStore

#: Facets of the browse page: URL parameter -> heading.
FACETS: dict[str, str] = {"country": "Country", "region": "Region", "year": "Year",
                          "organisation": "Organisation", "person": "Person",
                          "category": "Category"}
_WORD = re.compile(r"\w+")
#: How many selections' facet counts a catalogue remembers (:meth:`Catalogue.counts`): a
#: selection of a million publications is 125 KB.
REMEMBERED_SELECTIONS = 32


@dataclass(frozen=True, slots=True)
class Link:
    """A node a publication links to: its URI, its label and its facet key (URI's last step)."""

    uri: str
    label: str

    @property
    def key(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


_NONE: tuple[Link, ...] = ()


@dataclass(slots=True)
class Entry:
    uri: str
    title: str
    year: str | None = None
    countries: tuple[Link, ...] = _NONE
    regions: tuple[Link, ...] = _NONE
    organisations: tuple[Link, ...] = _NONE
    persons: tuple[Link, ...] = _NONE
    categories: tuple[Link, ...] = _NONE
    abstract: str = ""  # only on the entries of a page (see Catalogue.page)

    def keys(self, facet: str) -> set[str]:
        """The values this entry has for ``facet`` (as URL parameters spell them)."""
        if facet == "year":
            return {self.year} if self.year else set()
        links = {"country": self.countries, "region": self.regions,
                 "organisation": self.organisations, "person": self.persons,
                 "category": self.categories}[facet]
        return {link.key for link in links}


def words(text: str) -> list[str]:
    """The words of ``text`` as the index has them (case-folded ``\\w+`` runs).

    >>> words("Labour-exploitation, in 2020")
    ['labour', 'exploitation', 'in', '2020']
    """
    return _WORD.findall(text.casefold())


@dataclass
class Selection:
    """The entries a query selects: a bitmap over the catalogue's positions."""

    bits: int
    catalogue: Catalogue
    #: (facet, key) when the selection is the entries having that one facet value
    value: tuple[str, str] | None = None

    def __len__(self) -> int:
        return self.bits.bit_count()

    def page(self, start: int, count: int) -> list[Entry]:
        """``count`` entries from the ``start``-th selected one (0-based), read for showing."""
        return self.catalogue.read(_set_bits(self.bits, start, count))

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.page(0, len(self)))


@dataclass
class Moved:
    """Where the entries of a catalogue went when it was updated (:func:`update_catalogue`):
    what is kept by position can be copied by runs."""

    #: how many entries it had
    size: int
    #: (from, count, to): runs of consecutive entries kept, and where they went
    runs: list[tuple[int, int, int]]
    #: the places of the entries put in (made again or new), in order
    placed: list[int]


@dataclass
class Catalogue:
    #: publication IRIs in the order pages show them (title, then IRI)
    uris: list[str]
    #: facet -> key -> label
    labels: dict[str, dict[str, str]]
    #: facet -> key -> bitmap of the positions having it
    postings: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the nodes publications link to (places, agents, categories): IRI -> (slot, link)
    nodes: dict[str, tuple[str, Link]] = field(default_factory=dict)
    #: what a page shows of each entry but its abstract: (title, year, links), by position
    shown: list[tuple[str, str | None, tuple[Link, ...]]] = field(default_factory=list)
    #: reads the abstracts of a page's entries from the store: uris -> uri -> abstract
    read_abstracts: Callable[[list[str]], dict[str, str]] | None = None
    #: makes the word index of a catalogue without a text index (a remote store's), on the
    #: first search or ahead of it (:meth:`word_index`)
    index_words: Callable[[], dict[str, int | array]] | None = None
    #: the build's text index, when it has one: searches ask it rather than the word
    #: index, so the page finds what ``tip:matches`` finds (:mod:`tipgraph.serving.textindex`)
    text_index: TextIndex | None = None
    _words: tuple[dict[str, int | array], list[str]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: facet -> key -> publications having it (counted once: :meth:`counts` of everything)
    _totals: dict[str, dict[str, int]] | None = None
    #: the facet counts of the selections counted last (:data:`REMEMBERED_SELECTIONS`)
    _counted: OrderedDict[int, dict[str, Counter[str]]] = field(default_factory=OrderedDict)
    #: (facet, key) -> facet -> key -> how many entries have both (read from the index
    #: file: :meth:`counts` of one facet value's entries, a node's page, without counting)
    pairs: Mapping[tuple[str, str], dict[str, dict[str, int]]] | None = None
    #: the publications the text index found for the queries asked last
    _found: OrderedDict[str, int] = field(default_factory=OrderedDict)
    _counting: threading.Lock = field(default_factory=threading.Lock)
    #: an incremental build's: where the entries of the catalogue it was updated from
    #: went (:func:`update_catalogue`)
    moved: Moved | None = field(default=None, compare=False)

    def reading(self, store: GraphStore, text_index: TextIndex | None = None) -> Catalogue:
        """This catalogue, reading the abstracts of the entries it shows from ``store``,
        searching with ``text_index`` (the build's) when it is given."""
        self.read_abstracts = _abstract_reader(store)
        self.text_index = text_index
        return self

    def indexed(self) -> tuple[Any, ...]:
        """What the index holds (no readers, no locks): what a file of it keeps, and what
        two indexes of the same build agree on."""
        return (self.uris, self.labels, self.postings, self.nodes, self.shown)

    @classmethod
    def from_indexed(cls, indexed: tuple[Any, ...],
                     word_index: dict[str, int | array] | None = None) -> Catalogue:
        """The catalogue :meth:`indexed` gave, with its word index when it was made."""
        catalogue = cls(*indexed)
        if word_index is not None:
            catalogue._words = (word_index, sorted(word_index))
        return catalogue

    def word_index(self) -> tuple[dict[str, int | array], list[str]]:
        """word -> bitmap (common words) or sorted positions (rare ones), and the words
        in order; made once, apart from the rest, so browsing need not wait for it."""
        if self._words is None:
            with self._lock:
                if self._words is None:
                    found = self.index_words() if self.index_words else {}
                    self._words = (found, sorted(found))
        return self._words

    @property
    def everything(self) -> int:
        return (1 << len(self.uris)) - 1

    @property
    def entries(self) -> Selection:
        return Selection(self.everything, self)

    def select(self, query: str = "", facets: Mapping[str, Iterable[str]] | None = None
               ) -> Selection:
        """Entries matching the search ``query`` and having every value chosen for each
        facet. With the build's text index, ``query`` is in its search language
        (:func:`tipgraph.serving.textindex.fts_query`: words as beginnings, phrases, AND, OR,
        NOT); without one, each word of it must begin a word of the entry.

        :raises TextQueryError: when the text index cannot read ``query``
        """
        bits = self.everything
        values = {(name, value) for name, chosen in (facets or {}).items() for value in chosen}
        for name, value in values:
            bits &= self.postings.get(name, {}).get(value, 0)
        if self.text_index is not None and bits:
            # a query of operators alone (``AND``) searches them as words, as the word
            # index would have: the text index is the build's only one
            text = next((q for q in (query, query.casefold()) if fts_query(q)), None)
            if text is not None:
                return Selection(bits & self._searched(self.text_index, text), self)
        searched = list(dict.fromkeys(words(query)))
        for word in searched:
            if not bits:
                break
            bits &= self._matching(word)
        one = next(iter(values)) if len(values) == 1 and not searched else None
        return Selection(bits, self, one)

    def _matching(self, word: str) -> int:
        """The entries having a word that begins with ``word``."""
        bits = 0
        size = len(self.uris)
        index, vocabulary = self.word_index()
        i = bisect_left(vocabulary, word)
        while i < len(vocabulary) and vocabulary[i].startswith(word):
            posting = index[vocabulary[i]]
            bits |= posting if isinstance(posting, int) else _bitmap(posting, size)
            i += 1
        return bits

    def counts(self, entries: Selection | Iterable[Entry], facets: Iterable[str] = FACETS
               ) -> dict[str, list[tuple[str, str, int]]]:
        """For each of ``facets``, ``(key, label, count)`` over ``entries``, most frequent
        first."""
        result = {}
        if isinstance(entries, Selection):
            selected = entries.bits
            row = self.pairs.get(entries.value) if entries.value and self.pairs else None
            if selected == self.everything:
                totals = self.totals()
                counters = {facet: Counter(totals.get(facet, {})) for facet in facets}
            elif row is not None:
                counters = {facet: Counter(row.get(facet, {})) for facet in facets}
            else:
                counters = self._selection_counts(selected, facets)
        else:
            entries = list(entries)
            counters = {facet: Counter(key for e in entries for key in e.keys(facet))
                        for facet in facets}
        for facet, counter in counters.items():
            order = (sorted(counter.items(), reverse=True) if facet == "year"
                     else sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
            result[facet] = [(key, self.labels[facet].get(key, key), n) for key, n in order]
        return result

    def _searched(self, text_index: TextIndex, query: str) -> int:
        """The bitmap of the publications the text index finds for ``query``; remembered
        for the last queries asked (the search's own query costs a row per publication
        found: a second page of it, or the same search again, asks none)."""
        with self._counting:
            found = self._found.get(query)
            if found is not None:
                self._found.move_to_end(query)
                return found
        found = _bitmap(text_index.publication_positions(query), len(self.uris))
        with self._counting:
            self._found[query] = found
            while len(self._found) > REMEMBERED_SELECTIONS:
                self._found.popitem(last=False)
        return found

    def _selection_counts(self, selected: int, facets: Iterable[str]
                          ) -> dict[str, Counter[str]]:
        """facet -> key -> how many of ``selected`` have it; remembered for the last
        selections counted (a node's page, a facet value browsed: the same selection
        again), since counting costs a bit count of the whole catalogue per facet value
        (a fraction of a millisecond each at a million publications, times a thousand)."""
        with self._counting:
            found = self._counted.get(selected)
            if found is not None:
                self._counted.move_to_end(selected)
        if found is None:
            found = {}
        for facet in facets:
            if facet not in found:
                found[facet] = Counter({key: n for key, bits in
                                        self.postings.get(facet, {}).items()
                                        if (n := (bits & selected).bit_count())})
        with self._counting:
            self._counted[selected] = found
            self._counted.move_to_end(selected)
            while len(self._counted) > REMEMBERED_SELECTIONS:
                self._counted.popitem(last=False)
        return {facet: found[facet] for facet in facets}

    def totals(self) -> dict[str, dict[str, int]]:
        """facet -> key -> how many publications have it (a bit count of a million
        positions takes a fraction of a millisecond: counted once, not per page)."""
        if self._totals is None:
            self._totals = {facet: {key: n for key, bits in values.items()
                                    if (n := bits.bit_count())}
                            for facet, values in self.postings.items()}
        return self._totals

    def per_year(self) -> list[tuple[str, int]]:
        return sorted(self.totals().get("year", {}).items())

    def value_pairs(self) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
        """(facet, key) -> facet -> key -> how many entries have both (itself: how many
        have it): what :meth:`counts` counts of one facet value's entries, for every value
        at once, in one pass over the entries (the index file keeps it: :attr:`pairs`)."""
        values, together = _pair_counts(self.shown, self.nodes)
        rows: dict[tuple[str, str], dict[str, dict[str, int]]] = {v: {} for v in values}
        _add_pairs(rows.__getitem__, values, together)
        return rows

    def per_region(self) -> list[tuple[Link, int]]:
        """Publications per region, counting those inferred through their countries."""
        regions = {link.key: link for slot, link in self.nodes.values() if slot == "regions"}
        counted = [(regions[key], n) for key, n in self.totals().get("region", {}).items()]
        return sorted(counted, key=lambda kv: (-kv[1], kv[0].label))

    def read(self, positions: list[int]) -> list[Entry]:
        """The entries at ``positions`` with what a page shows of them (abstracts from the
        store: the index does not keep them)."""
        uris = [self.uris[i] for i in positions]
        abstracts = self.read_abstracts(uris) if self.read_abstracts else {}
        entries = []
        for i, uri in zip(positions, uris, strict=True):
            title, year, links = self.shown[i]
            slots: dict[str, list[Link]] = {}
            for link in links:
                slots.setdefault(self.nodes[link.uri][0], []).append(link)
            entries.append(Entry(uri, title, year, abstract=abstracts.get(uri, ""),
                                 **{slot: tuple(found) for slot, found in slots.items()}))
        return entries


def _pair_counts(shown: Iterable[Shown], nodes: dict[str, tuple[str, Link]]
                 ) -> tuple[list[tuple[str, str]], Counter[tuple[int, int]]]:
    """The facet values of the entries ``shown`` (numbered in the order first met), and
    for each two of them (a value with itself too: how many have it) how many of the
    entries have both: what :meth:`Catalogue.value_pairs` and its update count."""
    ids: dict[tuple[str, str], int] = {}
    of_link: dict[int, int | None] = {}  # id(link) -> its value's id (the links are shared)
    together: Counter[tuple[int, int]] = Counter()
    for _, year, links in shown:
        found = set()
        for link in links:
            value = of_link.get(id(link), -1)
            if value == -1:
                facet = _FACET_OF.get(nodes[link.uri][0])
                value = of_link[id(link)] = None if facet is None \
                    else ids.setdefault((facet, link.key), len(ids))
            if value is not None:
                found.add(value)
        if year is not None:
            found.add(ids.setdefault(("year", year), len(ids)))
        together.update(pairs_of(sorted(found), 2))  # each pair once, (a, a) too
    return list(ids), together


def _add_pairs(row: Callable[[tuple[str, str]], dict[str, dict[str, int]]],
               values: list[tuple[str, str]], together: Counter[tuple[int, int]],
               sign: int = 1) -> None:
    """Add (``sign`` 1) or take away (-1) the counts :func:`_pair_counts` counted to the
    rows of :meth:`Catalogue.value_pairs` (``row``: a value's row); a count that falls to
    nothing is taken out, and a facet without counts left."""
    for (a, b), n in together.items():
        for one, other in ((a, b), (b, a)) if a != b else ((a, b),):
            facet, key = values[other]
            counts = row(values[one]).setdefault(facet, {})
            left = counts.get(key, 0) + sign * n
            if left:
                counts[key] = left
            else:
                counts.pop(key, None)
                if not counts:
                    del row(values[one])[facet]


def _update_pairs(catalogue: Catalogue, out: tuple[list[tuple[str, str]], Counter[Any]],
                  added: tuple[list[tuple[str, str]], Counter[Any]]) -> None:
    """Make ``catalogue``'s value rows and totals (as the index file kept them) those of
    the entries that are left when the entries counted in ``out`` (:func:`_pair_counts`)
    are taken out and those of ``added`` put in, changing only the rows of their values."""
    previous = catalogue.pairs
    assert previous is not None
    changed: dict[tuple[str, str], dict[str, dict[str, int]]] = {}

    def row(value: tuple[str, str]) -> dict[str, dict[str, int]]:
        found = changed.get(value)
        if found is None:
            found = changed[value] = ({facet: dict(counts) for facet, counts
                                       in previous[value].items()}
                                      if value in previous else {})
        return found

    totals = catalogue._totals
    for (values, together), sign in ((out, -1), (added, 1)):
        _add_pairs(row, values, together, sign)
        if totals is not None:
            for (a, b), n in together.items():
                if a == b:
                    facet, key = values[a]
                    left = totals.setdefault(facet, {}).get(key, 0) + sign * n
                    if left:
                        totals[facet][key] = left
                    else:
                        totals[facet].pop(key, None)
    catalogue.pairs = ChangedRows(previous, {value: found if found else None
                                             for value, found in changed.items()})


def _bitmap(positions: Iterable[int], size: int) -> int:
    data = bytearray((size + 7) // 8)
    for i in positions:
        data[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(data, "little")


def _set_bits(bits: int, start: int, count: int) -> list[int]:
    """Positions of the ``start``-th to ``start + count - 1``-th set bits of ``bits``."""
    if start >= bits.bit_count() or count <= 0:
        return []
    low, high = 0, bits.bit_length()  # the least m with `start` set bits below it
    while low < high:
        middle = (low + high) // 2
        if (bits & ((1 << middle) - 1)).bit_count() > start:
            high = middle
        else:
            low = middle + 1
    rest = bits >> (low - 1) if low else bits
    offset = low - 1 if low else 0
    found = []
    while rest and len(found) < count:
        lowest = rest & -rest
        position = lowest.bit_length() - 1
        found.append(offset + position)
        rest >>= position + 1
        offset += position + 1
    return found


# -- the source the index is made from ---------------------------------------------------

class Source(Protocol):
    """A build's triples, one property at a time: what every per-build index is made from.

    Two kinds feed it: the store (:class:`StoreSource`, for a remote store and for builds
    made before the build wrote its indexes) and the triples the build holds in memory
    (:class:`tipgraph.serving.indexes.TriplesSource`). Subjects are IRIs: blank nodes are left
    out on both sides, since the store renames them and the two could not agree on them.
    A source may repeat a pair (two rdflib literals that the store holds as one): what is
    made from it does not change.
    """

    def pairs(self, prop: str, value: str | None = None) -> Iterable[tuple[str, str]]:
        """(subject, object) of the ``prop`` triples, the object as text (an IRI or a
        literal's lexical form); only those whose object is the IRI ``value`` if given."""
        ...

    def literals(self, prop: str) -> Iterable[tuple[str, str, str | None, str | None]]:
        """(subject, text, language, datatype) of the ``prop`` triples whose object is a
        literal; the datatype is None for a plain or language-tagged string."""
        ...

    def properties(self) -> set[str]:
        """Every property of the build's triples, whatever their subject."""
        ...


_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


class StoreSource:
    """A :class:`Source` reading a store, through :meth:`GraphStore.triples` (the embedded
    store's indexes, a remote store's SPARQL)."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store

    def pairs(self, prop: str, value: str | None = None) -> Iterator[tuple[str, str]]:
        triples = self.store.triples(None, pyoxigraph.NamedNode(prop),
                                     None if value is None else pyoxigraph.NamedNode(value))
        return ((t.subject.value, t.object.value) for t in triples
                if type(t.subject) is pyoxigraph.NamedNode
                and type(t.object) is not pyoxigraph.BlankNode)

    def literals(self, prop: str) -> Iterator[tuple[str, str, str | None, str | None]]:
        for t in self.store.triples(None, pyoxigraph.NamedNode(prop)):
            value = t.object
            if type(t.subject) is not pyoxigraph.NamedNode \
                    or not isinstance(value, pyoxigraph.Literal):
                continue
            language = value.language
            datatype = None if language or value.datatype.value == _XSD_STRING \
                else value.datatype.value
            yield t.subject.value, value.value, language, datatype

    def properties(self) -> set[str]:
        # a GROUP BY decodes no object: 0.2 s at 10,000 publications, where a
        # FILTER(isIRI(?o)) takes ten times as long
        rows = self.store.query("SELECT ?p WHERE { ?s ?p ?o } GROUP BY ?p")
        return {row["p"].value for row in rows}  # type: ignore[union-attr]


def _abstract_reader(store: GraphStore) -> Callable[[list[str]], dict[str, str]]:
    abstract = pyoxigraph.NamedNode(str(DCT.abstract))

    def read(uris: list[str]) -> dict[str, str]:
        found = {}
        for uri in uris:
            triple = next(store.triples(pyoxigraph.NamedNode(uri), abstract, limit=1), None)
            if triple is not None:
                found[uri] = triple.object.value
        return found

    return read


def best_label(labels: Iterable[tuple[str, str, str | None]]) -> str | None:
    """The label pages show for a node among ``(property, text, language)``: an English
    ``skos:prefLabel``, else any, else ``schema:name`` (alphabetically first of a kind)."""
    found = sorted(labels, key=lambda lbl: (lbl[0] != str(SKOS.prefLabel),
                                            lbl[2] not in ("en", None), lbl[1]))
    return found[0][1] if found else None


def load_catalogue(store: GraphStore) -> Catalogue:
    """Read every publication with its facets from ``store`` and index them (the word
    index on the first search, or ahead of it: :meth:`Catalogue.word_index`)."""
    catalogue = index_catalogue(StoreSource(store)).reading(store)
    uris, titles = catalogue.uris, [title for title, _, _ in catalogue.shown]
    catalogue.index_words = lambda: index_words(StoreSource(store), uris, titles)
    return catalogue


#: the classes of the nodes publications link to -> the slot of :class:`Entry` they fill
_SLOTS = {str(TIP.Country): "countries", str(TIP.Region): "regions",
          str(SCHEMA.Organization): "organisations", str(SCHEMA.Person): "persons",
          str(SKOS.Concept): "categories"}
#: slot -> the facet it is counted in
_FACET_OF = {"countries": "country", "regions": "region", "organisations": "organisation",
             "persons": "person", "categories": "category"}
#: the linking properties, and the slots of the nodes each may link to
_LINKING = ((str(DCT.spatial), ("countries", "regions")),
            (str(DCT.creator), ("organisations", "persons")),
            (str(DCT.subject), ("categories",)))
#: what an entry is made of: its publication's triples of these properties, and the
#: types and names of the nodes it links to (:func:`update_catalogue`)
ENTRY_PROPERTIES = (str(RDF.type), str(DCT.title), str(DCT.issued), str(DCT.abstract),
                    *(prop for prop, _ in _LINKING))
NODE_PROPERTIES = (str(RDF.type), str(SKOS.prefLabel), str(SCHEMA.name))

Shown = tuple[str, "str | None", tuple[Link, ...]]


def _titles(source: Source) -> dict[str, str]:
    """Each publication's title (the least, were there two; one without is left out)."""
    publications = {s for s, _ in source.pairs(str(RDF.type), str(TIP.Publication))}
    titles: dict[str, str] = {}
    for s, title in source.pairs(str(DCT.title)):
        if s in publications and (s not in titles or title < titles[s]):
            titles[s] = title
    return titles


def _nodes(source: Source) -> dict[str, tuple[str, Link]]:
    """The nodes publications may link to: IRI -> (slot, link with its label)."""
    kind_of: dict[str, str] = {}
    for kind, slot in _SLOTS.items():
        for s, _ in source.pairs(str(RDF.type), kind):
            kind_of.setdefault(s, slot)
    names: dict[str, set[tuple[str, str, str | None]]] = {}
    for prop in (str(SKOS.prefLabel), str(SCHEMA.name)):
        for s, text, language, _ in source.literals(prop):
            if s in kind_of:
                names.setdefault(s, set()).add((prop, text, language))
    return {uri: (slot, Link(uri, best_label(names.get(uri, ())) or uri))
            for uri, slot in kind_of.items()}


def _shown(source: Source, uris: list[str], titles: dict[str, str],
           nodes: dict[str, tuple[str, Link]]) -> list[Shown]:
    """What a page shows of each of ``uris`` but its abstract: (title, year, links)."""
    position = {uri: i for i, uri in enumerate(uris)}
    size = len(uris)
    links: list[list[Link] | None] = [None] * size
    for prop, allowed in _LINKING:
        for s, o in source.pairs(prop):
            i = position.get(s)
            slot, link = nodes.get(o, (None, None))
            if i is None or slot not in allowed:
                continue
            found = links[i]
            if found is None:
                links[i] = [link]
            else:  # repeats dropped below, at once: a test per link is quadratic
                found.append(link)
    years: list[str | None] = [None] * size
    same: dict[str, str] = {}  # one string per year, not one per publication
    for s, year in source.pairs(str(DCT.issued)):
        i = position.get(s)
        if i is not None and (years[i] is None or year < years[i]):  # type: ignore[operator]
            years[i] = same.setdefault(year, year)
    position.clear()
    order = lambda link: (link.label, link.uri)  # noqa: E731
    return [(titles[uri], years[i],
             tuple(sorted(dict.fromkeys(found), key=order)) if found else _NONE)
            for i, (uri, found) in enumerate(zip(uris, links, strict=True))]


def _facet_keys(shown: Shown, nodes: dict[str, tuple[str, Link]]
                ) -> Iterator[tuple[str, str, str]]:
    """(facet, key, label) of each facet value of an entry."""
    for link in shown[2]:
        facet = _FACET_OF.get(nodes[link.uri][0])
        if facet:
            yield facet, link.key, link.label
    if shown[1] is not None:
        yield "year", shown[1], shown[1]


def index_catalogue(source: Source) -> Catalogue:
    """Every publication of ``source`` with its facets, indexed (without its word index,
    :func:`index_words`, and without a reader of abstracts: :meth:`Catalogue.reading`).

    Where a publication has two titles or two years (the shapes allow one), the least is
    the one shown, whatever order the source gives them in. A facet value's label is
    that of the first entry having it.
    """
    titles = _titles(source)
    uris = title_order(titles)  # the order of tip:sortKey and the shipped queries
    nodes = _nodes(source)
    shown = _shown(source, uris, titles, nodes)
    titles.clear()
    # 4 bytes a position (not a Python int)
    positions: dict[str, dict[str, array]] = {facet: {} for facet in FACETS}
    labels: dict[str, dict[str, str]] = {facet: {} for facet in FACETS}
    for i, entry in enumerate(shown):
        for facet, key, label in _facet_keys(entry, nodes):
            found = positions[facet].get(key)
            if found is None:
                positions[facet][key] = found = array("I")
                labels[facet][key] = label
            found.append(i)
    size = len(uris)
    postings = {facet: {key: _bitmap(found, size) for key, found in values.items()}
                for facet, values in positions.items()}
    del positions
    return Catalogue(uris, labels, postings, nodes, shown)


def index_words(source: Source, uris: list[str], titles: list[str]) -> dict[str, int | array]:
    """word -> entries having it in their title or abstract: a bitmap for a common word,
    sorted positions for a rare one (texts read one at a time: nothing but the postings
    is held)."""
    found: dict[str, array] = {}  # 4 bytes a position, not a Python int
    #: each word's ``found[word].append``: a text's positions are appended by C loops
    #: (millions of words), not a Python statement a word
    appends: dict[str, Callable[[int], None]] = {}
    size = len(uris)

    def add(i: int, text: str) -> None:
        distinct = set(words(text))
        if new := distinct.difference(appends):  # (a dict: looked up, not iterated)
            for word in distinct:  # in the text's order, as the postings are made
                if word in new:
                    found[word] = postings = array("I")
                    appends[word] = postings.append
        deque(map(call, map(appends.__getitem__, distinct), repeat(i)), 0)

    for i, title in enumerate(titles):
        add(i, title)
    position = {uri: i for i, uri in enumerate(uris)}
    for s, abstract in source.pairs(str(DCT.abstract)):
        i = position.get(s)
        if i is not None:
            add(i, abstract)
    del position
    common = _common(size)
    index: dict[str, int | array] = {}
    for word, where in found.items():
        distinct = sorted(set(where))  # a source may give an abstract twice
        index[word] = _bitmap(distinct, size) if len(distinct) >= common \
            else array("I", distinct)
    return index


def _common(size: int) -> int:
    """How many entries a word is in from which its posting is a bitmap (smaller than
    32-bit positions from there on)."""
    return max(1, size // 32)


# -- updating the catalogue from what changed in the graph -------------------------------

class Change(Protocol):
    """What changed in a build's graph (:class:`tipgraph.incremental.GraphChange`)."""

    def subjects(self, properties: Iterable[Any] | None = None) -> set[str]: ...

    def view(self, subjects: Iterable[str]) -> tuple[list[Any], list[Any]]: ...

    def naming(self, nodes: Iterable[str], properties: Iterable[Any]) -> set[str]: ...


def update_catalogue(catalogue: Catalogue, change: Change,
                     make_source: Callable[[list[Any]], Source]) -> Catalogue:
    """The catalogue of the graph ``change`` made of the one ``catalogue`` indexed, as
    :func:`index_catalogue` would make it (``catalogue`` is changed, and given back).

    The entries of the publications whose triples changed, or that link to a node whose
    type or label changed, are taken out and made again (:func:`_shown`, of their
    triples: ``make_source`` makes a :class:`Source` of them); the others keep their
    order, their bitmaps moving with them.
    """
    nodes = catalogue.nodes
    touched_nodes = change.subjects(NODE_PROPERTIES)
    _, after = change.view(touched_nodes)
    fresh = _nodes(make_source(after))
    relinked = {uri for uri in touched_nodes if fresh.get(uri) != nodes.get(uri)}
    touched = change.subjects(ENTRY_PROPERTIES)
    if relinked:
        touched |= change.naming(relinked, (prop for prop, _ in _LINKING))
    old_uris, old_shown = catalogue.uris, catalogue.shown
    if isinstance(old_uris, list):
        where = {uri: i for i, uri in enumerate(old_uris)}
        removed = sorted(where[uri] for uri in touched if uri in where)
        del where
    else:  # read in place (Spliced, of the index file): each looked up in its hash table
        removed = sorted(i for uri in touched if (i := old_uris.find(uri)) is not None)
    # the facet values of the entries taken out, as they were made
    keys_out = {i: list(_facet_keys(old_shown[i], nodes)) for i in removed}
    # the value rows and totals the file kept (when it did): changed by what is taken out
    # and put in, not counted again
    counted = catalogue.pairs is not None
    pairs_out = _pair_counts((old_shown[i] for i in removed), nodes) if counted else None
    for uri in relinked:
        if uri in fresh:
            nodes[uri] = fresh[uri]
        else:
            del nodes[uri]
    _, after = change.view(touched)
    source = make_source(after)
    titles = _titles(source)
    made = title_order(titles)
    shown = _shown(source, made, titles, nodes)
    # the entries left, in their order; the new ones put in their places
    gone = set(removed)
    if isinstance(old_uris, Spliced) and isinstance(old_shown, Spliced):
        # read in place: the entries left are runs of the file's, not lists made of them
        uris, kept = old_uris.without(removed), old_shown.without(removed)
    else:
        uris = [uri for i, uri in enumerate(old_uris) if i not in gone] if gone else old_uris
        kept = [entry for i, entry in enumerate(old_shown) if i not in gone] if gone \
            else old_shown
    placed: list[int] = []
    for uri, entry in zip(made, shown, strict=True):
        i = bisect_left(range(len(uris)), title_key(entry[0], uri),
                        key=lambda n: title_key(kept[n][0], uris[n]))
        uris.insert(i, uri)
        kept.insert(i, entry)
        placed.append(i)
    runs = _runs(len(old_uris), removed, placed)
    shifted = any(p != q for p, _, q in runs)
    # the facets: every bitmap moved when entries moved, else only those of the entries out
    postings, labels = catalogue.postings, catalogue.labels
    keys: set[tuple[str, str]] = set()
    if shifted:
        for values in postings.values():
            for key, bits in values.items():
                values[key] = _remap_bitmap(bits, runs)
    for i in removed:
        for facet, key, _ in keys_out[i]:
            keys.add((facet, key))
            if not shifted:
                postings[facet][key] &= ~(1 << i)
    for i in placed:
        for facet, key, _ in _facet_keys(kept[i], nodes):
            keys.add((facet, key))
            postings[facet][key] = postings[facet].get(key, 0) | (1 << i)
    for facet, key in keys:
        if not postings[facet].get(key):
            postings[facet].pop(key, None)
            labels[facet].pop(key, None)
        else:
            labels[facet][key] = _first_label(postings[facet][key], facet, key, kept, nodes)
    updated = Catalogue.from_indexed((uris, labels, postings, nodes, kept))
    updated.moved = Moved(len(old_uris), runs, placed)
    if pairs_out is not None:
        _update_pairs(catalogue, pairs_out, _pair_counts((kept[i] for i in placed), nodes))
        updated._totals, updated.pairs = catalogue._totals, catalogue.pairs
    return updated


def _first_label(bits: int, facet: str, key: str, shown: list[Shown],
                 nodes: dict[str, tuple[str, Link]]) -> str:
    """The label of the facet value ``key``: that of the first entry having it."""
    if facet == "year":
        return key
    i = (bits & -bits).bit_length() - 1
    for found, found_key, label in _facet_keys(shown[i], nodes):
        if found == facet and found_key == key:
            return label
    return key


def _runs(size: int, removed: list[int], placed: list[int]) -> list[tuple[int, int, int]]:
    """How the entries left move when those at ``removed`` (of ``size``) are taken out and
    new ones put at ``placed`` (their places at the end, in order): (from, count, to)
    runs of consecutive entries."""
    runs: list[tuple[int, int, int]] = []
    left = size - len(removed)
    p = q = k = r = f = 0
    while k < left:
        while r < len(removed) and removed[r] == p:
            p, r = p + 1, r + 1
        while f < len(placed) and placed[f] == q:
            q, f = q + 1, f + 1
        length = left - k
        if r < len(removed):
            length = min(length, removed[r] - p)
        if f < len(placed):
            length = min(length, placed[f] - q)
        runs.append((p, length, q))
        p, q, k = p + length, q + length, k + length
    return runs


def _remap_bitmap(bits: int, runs: list[tuple[int, int, int]]) -> int:
    moved = 0
    for p, length, q in runs:
        moved |= ((bits >> p) & ((1 << length) - 1)) << q
    return moved


@dataclass(frozen=True)
class Statistics:
    """The counts a build published as data (``tip:Statistic``, see tipgraph.statistics)."""

    #: facet -> ``(key, label, count)``, ordered as :meth:`Catalogue.counts` orders them,
    #: for the facets the build publishes counts of (not persons: the catalogue counts them)
    counts: dict[str, list[tuple[str, str, int]]]
    #: class URI -> number of instances
    classes: dict[str, int]
    #: facet key -> the URI it stands for (for links)
    uris: dict[str, str]

    def per_year(self) -> list[tuple[str, int]]:
        return sorted((key, n) for key, _, n in self.counts["year"])

    def per_region(self) -> list[tuple[Link, int]]:
        """As :meth:`Catalogue.per_region`: most publications first, then by label."""
        links = [(Link(self.uris[key], label), n) for key, label, n in self.counts["region"]]
        return sorted(links, key=lambda kv: (-kv[1], kv[0].label))


def load_statistics(store: GraphStore) -> Statistics | None:
    """The build's published counts, or None for a build made before they were published."""
    rows = store.query(f"""
        SELECT ?s ?facet ?value ?n ?lp ?l WHERE {{
          ?s a <{TIP.Statistic}> ; <{TIP.facet}> ?facet ; <{RDF.value}> ?value ;
             <{TIP.count}> ?n .
          OPTIONAL {{ ?value ?lp ?l VALUES ?lp {{ <{SKOS.prefLabel}> <{SCHEMA.name}> }} }}
        }}""")
    found: dict[str, tuple[str, str, int]] = {}  # statistic -> (facet, value, n)
    names: dict[str, list[tuple[str, str, str | None]]] = {}
    for row in rows:
        facet = row["facet"].value
        if facet != "class" and facet not in PUBLISHED_FACETS:
            continue  # a crossed statistic: not the browse page's
        value = row["value"].value
        found[row["s"].value] = (facet, value, int(row["n"].value))
        if row["l"] is not None:
            names.setdefault(value, []).append(
                (row["lp"].value, row["l"].value, getattr(row["l"], "language", None)))
    if not found:
        return None
    counters: dict[str, Counter[str]] = {facet: Counter() for facet in PUBLISHED_FACETS}
    labels: dict[str, str] = {}
    uris: dict[str, str] = {}
    classes: dict[str, int] = {}
    for facet, value, n in found.values():
        if facet == "class":
            classes[value] = n
            continue
        key = value if facet == "year" else Link(value, "").key
        counters[facet][key] += n
        labels[key] = value if facet == "year" else (best_label(names.get(value, ())) or value)
        uris[key] = value
    counts = {}
    for facet, counter in counters.items():
        order = (sorted(counter.items(), reverse=True) if facet == "year"
                 else sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
        counts[facet] = [(key, labels[key], n) for key, n in order]
    return Statistics(counts, classes, uris)
