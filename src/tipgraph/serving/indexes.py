"""The per-build indexes: one versioned file the build writes and the read side loads once.

A worker serves a build with indexes that cost seconds of CPU to make from the
store (at 100,000 publications: the catalogue 12 s, the labels 6 s, the linking
properties 2 s, the dataset's counts 15 s and its pages 7 s of SPARQL), on a
build's first requests, in every worker at once. So the build makes them once,
from the triples it gathers a part of the catalogue at a time
(:class:`TriplesSource`), and writes them beside the store (``builds/<id>/``
:data:`~tipgraph.build_dir.INDEX_FILE`); :class:`~tipgraph.serving.service.Build`
loads that file when it opens the build, in a fraction of a second.

**One registry.** Every entry of the file is made by one :class:`IndexMaker` of
:data:`INDEX_MAKERS`, in registration order (a maker may use what the makers
before it made). A new index (record pages, text search, incremental builds) is
one :func:`register` call, not a file and a loader of its own; the read side
reaches it as ``indexes[name]``. An incremental build updates each entry from the
previous build's and the lines that changed (:attr:`IndexMaker.update`,
:func:`update_indexes`) rather than making it from every triple; ``make`` is the
reference the update is tested against (``tests/test_incremental.py``). (What OAI-PMH
lists and dates is a file of its own, ``oai-records.json``, because the switch reads it
too: :mod:`tipgraph.datestamps`.)

**The file's schema** (version :data:`VERSION`)::

    line 1   b"tipgraph indexes <VERSION>\n"          (:data:`FORMAT`)
    then     the pickle's length, the number n of buffers out of it (two uint64,
             little-endian); n times a buffer's place: offset from the file's start,
             length (two uint64)
    then     one pickle (protocol 5) of a dict, its large arrays out of band:
               "makers"     [name, ...]                the entries, in making order
               "catalogue"  the browse and search index (:mod:`.catalogue`): its facet
                            labels, postings and nodes; its IRIs and what pages show of
                            each (:class:`.packed.Strings`, :class:`.packed.Shown`); each
                            facet value's count (:meth:`~.catalogue.Catalogue.totals`) and
                            the counts of the values its publications have
                            (:meth:`~.catalogue.Catalogue.value_pairs`, a row each:
                            :class:`.packed.Rows`)
               "labels"     (titles, others)           :class:`~.documents.LabelIndex`, the
                            titles a :class:`.packed.StringMap`
               "properties" [property IRI, ...]        sorted: where busy nodes' links are
               "dataset"    {"counts": DatasetCounts as a dict, "pages": "a.html\nb.html"
                            as UTF-8}  the VoID counts and the sitemap's resource pages
               "text"       {"publications": n, "nodes": m}
                            the text index (:mod:`.textindex`): its SQLite database is
                            the file ``text.sqlite`` beside this one
               <name>       whatever a maker registered later packs
    then     the n buffers, each at a multiple of 8 bytes

**Read in place.** A worker maps the file read-only (:func:`read_indexes`): the pickle
holds what is small (facets, nodes, counts); the buffers (a million IRIs and titles
at a million publications) are read an item at a time by the views of
:mod:`tipgraph.serving.packed`, from pages the operating system caches once for every
worker. Opening a build costs what the pickle costs, whatever the catalogue's size. A
maker's ``pack`` puts an array out of band by giving a :class:`pickle.PickleBuffer`;
its ``unpack`` gets a memoryview of the file in its place. An incremental build
updates what :attr:`IndexMaker.thaw` gives: the publications, what pages show and the
labels' titles spliced (:class:`.packed.Spliced`, :class:`.packed.ChangedMap`: the
entries taken out, put in or set, the others runs of the file's), the value rows of the
facet values its entries touched (:class:`.packed.ChangedRows`); packing them copies
the bytes of the entries left as they were.

**An entry in a file of its own.** An index that workers read in place rather than
load, a database whose pages the operating system caches once for all of them (the
text index, a SQLite FTS5 database), names its file (:attr:`IndexMaker.file`): its
maker writes it into the build's directory (:attr:`BuildIndexes.directory`), the index
file keeps what :attr:`IndexMaker.pack` says of it, and :attr:`IndexMaker.unpack` opens
it from beside the index file.

Bump :data:`VERSION` whenever an entry changes shape. A file of another version,
one without an entry a maker of this version registered, or one that cannot be
read, is ignored with a warning, and the read models are made from the store, as
they are for a build made before the file existed and for a remote store
(``serve --store URL``). The same functions make them from either source (a
:class:`~tipgraph.serving.catalogue.Source`), so what the file holds is what the
worker would have made from the store.

The file is a pickle: only the build writes the build directory, and the app
trusts that directory already (it serves its store and dumps as they are).
"""

from __future__ import annotations

import gc
import logging
import mmap
import os
import pickle
import shutil
import struct
import sys
import tempfile
import weakref
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from rdflib import BNode, Literal, URIRef
from rdflib.term import Node

from tipgraph.graphs import Triple
from tipgraph.namespaces import DCT, FOAF, GN, RDF, RDFS, SCHEMA, SKOS, TIP, XSD
from tipgraph.namespaces import term as shared_term
from tipgraph.serving.catalogue import (
    Catalogue,
    Change,
    index_catalogue,
    update_catalogue,
)
from tipgraph.serving.documents import LABELS, LabelIndex, index_labels
from tipgraph.serving.packed import Rows, Shown, Spliced, StringMap, Strings, spliced
from tipgraph.serving.textindex import (
    BODY_PROPERTIES,
    FACT_PROPERTIES,
    TEXT_FILE,
    TITLE_PROPERTIES,
    TextIndex,
    update_text_index,
)

#: The version of the file's schema (the module docstring): bump it on any change of shape.
VERSION = 10
#: The first line of the file: what it holds and in which version.
FORMAT = f"tipgraph indexes {VERSION}\n".encode()

log = logging.getLogger(__name__)


@dataclass
class DatasetCounts:
    """What the dataset's VoID description counts (:mod:`tipgraph.serving.dataset`): made
    by the build from its triples (:meth:`TriplesSource.dataset_counts`), or by SPARQL
    counts over a store without the file; the same counts either way."""

    #: the URI space the entities are counted in (the build's base)
    base: str
    #: void:triples
    triples: int
    #: void:entities: the distinct IRI subjects in the URI space
    entities: int
    #: void:distinctSubjects and void:distinctObjects
    distinct_subjects: int
    distinct_objects: int
    #: class IRI -> its distinct instances (the class partitions)
    classes: dict[str, int]
    #: property IRI -> its triples (the property partitions)
    properties: dict[str, int]
    #: the first tip:Publication IRI in code-point order (void:exampleResource)
    example: str | None


class DatasetIndex:
    """The ``dataset`` entry: the description's counts and the sitemap's resource pages.

    :param pages: the resource pages (``place/ng.html``), sorted, one per line: one
        string, or its UTF-8 bytes read in place (decoded when asked for: the sitemap)
    """

    def __init__(self, counts: DatasetCounts, pages: str | memoryview) -> None:
        self.counts = counts
        self._pages = pages

    @property
    def pages(self) -> str:
        pages = self._pages
        return pages if isinstance(pages, str) else str(pages, "utf-8", "surrogatepass")

    def page_paths(self) -> list[str]:
        pages = self.pages
        return pages.split("\n") if pages else []

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DatasetIndex):
            return NotImplemented
        return (self.counts, self.pages) == (other.counts, other.pages)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"DatasetIndex({self.counts!r}, {len(self._pages)} characters of pages)"


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class IndexMaker:
    """How one entry of the index file is made by the build and kept in the file.

    :param make: ``(source, base, made)`` -> the entry; ``made`` holds the entries of
        the makers registered before this one
    :param pack: the entry as the file keeps it (plain data; default: as it is)
    :param unpack: the entry from what the file keeps (and the path of its own file, when
        it has one)
    :param file: the name of the entry's own file, beside the index file, for an entry
        read in place rather than loaded (the module docstring): ``make`` writes it into
        ``made.directory``
    :param update: ``(previous, change, base, made)`` -> the entry of a graph changed
        since the build whose entry was ``previous`` (:class:`IndexChange`), equal to what
        ``make`` makes of the whole new graph; None: an incremental build makes every
        entry with ``make``
    :param thaw: what ``update`` changes of the entry as the file gave it (views read
        in place: :mod:`tipgraph.serving.packed`): a sequence or map that reads, and
        changes, as what ``make`` makes (default: the entry as it is)
    """

    name: str
    make: Callable[[TriplesSource, str, BuildIndexes], Any]
    pack: Callable[[Any], Any] = _same
    unpack: Callable[..., Any] = _same
    file: str | None = None
    update: Callable[[Any, IndexChange, str, BuildIndexes], Any] | None = None
    thaw: Callable[[Any], Any] = _same


#: Every entry of the index file, in making order.
INDEX_MAKERS: list[IndexMaker] = []


def register(maker: IndexMaker) -> IndexMaker:
    """Add ``maker``'s entry to the index file (a later build writes it, a worker loads it).

    :raises ValueError: when an entry of that name is registered already
    """
    if any(m.name == maker.name for m in INDEX_MAKERS):
        raise ValueError(f"an index named {maker.name!r} is registered already")
    INDEX_MAKERS.append(maker)
    return maker


class BuildIndexes(dict[str, Any]):
    """The entries of one build's index file, by maker name (typed views of the first ones)."""

    #: where the entries kept in files of their own are (:attr:`IndexMaker.file`)
    directory: Path

    @property
    def catalogue(self) -> Catalogue:
        return self["catalogue"]

    @property
    def labels(self) -> LabelIndex:
        return self["labels"]

    @property
    def properties(self) -> list[str]:
        return self["properties"]

    @property
    def counts(self) -> DatasetCounts:
        return self["dataset"].counts

    @property
    def pages(self) -> str:
        return self["dataset"].pages

    @property
    def text(self) -> TextIndex:
        return self["text"]

    def page_paths(self) -> list[str]:
        return self["dataset"].page_paths()


def make_indexes(source: TriplesSource, base: str, directory: Path | None = None
                 ) -> BuildIndexes:
    """Every registered index of the build ``source`` holds, its URIs minted under ``base``.

    :param directory: where the entries kept in files of their own are made (the build's
        directory); when None, a temporary directory removed with the indexes
    """
    made = BuildIndexes()
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="tipgraph-indexes-"))
        weakref.finalize(made, shutil.rmtree, directory, ignore_errors=True)
    made.directory = directory
    for maker in INDEX_MAKERS:
        made[maker.name] = maker.make(source, base, made)
    return made


@dataclass
class IndexChange:
    """What the entries of an incremental build are updated from (:attr:`IndexMaker.update`).
    """

    #: the entries of the build the graph changed since
    previous: BuildIndexes
    #: the lines lost and gained, and the previous store
    #: (:class:`tipgraph.incremental.GraphChange`)
    change: Change
    #: the counts of the new graph's lines
    counted: LineCounts

    def sources(self, subjects: Iterable[str]) -> tuple[TriplesSource, TriplesSource]:
        """Every triple about ``subjects`` before and after the change, as sources."""
        before, after = self.change.view(subjects)
        return TriplesSource(before), TriplesSource(after)


def updatable() -> bool:
    """Whether every registered index can be updated (:attr:`IndexMaker.update`)."""
    return all(maker.update is not None for maker in INDEX_MAKERS)


def update_indexes(change: IndexChange, base: str, directory: Path) -> BuildIndexes:
    """Every registered index of the changed graph, updated from the previous build's
    (:attr:`IndexMaker.update`): what :func:`make_indexes` makes of the whole graph."""
    made = BuildIndexes()
    made.directory = directory
    for maker in INDEX_MAKERS:
        assert maker.update is not None, f"the index {maker.name} cannot be updated"
        made[maker.name] = maker.update(maker.thaw(change.previous[maker.name]), change,
                                        base, made)
    return made


def write_indexes(indexes: BuildIndexes, path: Path) -> None:
    """Write ``indexes`` to ``path`` whole or not at all (a temporary file, then renamed),
    the files of their own beside it (linked, or copied, there when they were made
    elsewhere)."""
    for maker in INDEX_MAKERS:
        if maker.file is not None and indexes.directory.resolve() != path.parent.resolve():
            made = indexes.directory / maker.file
            copy = path.with_name(f".{maker.file}.{os.getpid()}")
            copy.unlink(missing_ok=True)
            try:
                try:
                    os.link(made, copy)
                except OSError:  # another file system
                    shutil.copyfile(made, copy)
                os.replace(copy, path.with_name(maker.file))
            finally:
                copy.unlink(missing_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    payload: dict[str, Any] = {"makers": [m.name for m in INDEX_MAKERS]}
    payload.update((m.name, m.pack(indexes[m.name])) for m in INDEX_MAKERS)
    buffers: list[pickle.PickleBuffer] = []
    # one dump: the objects the entries share (titles, links) stay shared once read; the
    # large arrays out of it, to be read in place
    pickled = pickle.dumps(payload, protocol=5, buffer_callback=buffers.append)
    del payload
    sizes = [memoryview(buffer).nbytes for buffer in buffers]
    at = _aligned(len(FORMAT) + _HEAD.size + _PLACE.size * len(buffers) + len(pickled))
    places = []
    for size in sizes:
        places.append((at, size))
        at = _aligned(at + size)
    try:
        with partial.open("wb") as out:
            out.write(FORMAT)
            out.write(_HEAD.pack(len(pickled), len(buffers)))
            for place in places:
                out.write(_PLACE.pack(*place))
            out.write(pickled)
            for (start, _), buffer in zip(places, buffers, strict=True):
                out.write(bytes(start - out.tell()))
                out.write(buffer.raw())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


#: after :data:`FORMAT`: the pickle's length and how many buffers are out of it; then
#: each buffer's place (offset from the file's start, length); then the pickle; then the
#: buffers, each at a multiple of 8 bytes
_HEAD = struct.Struct("<QQ")
_PLACE = struct.Struct("<QQ")


def _aligned(offset: int) -> int:
    return (offset + 7) & ~7


def read_indexes(path: Path, *, mutable: bool = False) -> BuildIndexes | None:
    """The indexes written to ``path``; None when there is no such file, or (with a
    warning) when it is of another version, lacks an entry, or cannot be read.

    The file is mapped read-only: its large entries are views read in place, shared with
    every process reading the same file (:mod:`tipgraph.serving.packed`).

    :param mutable: give each entry as an update changes it (:attr:`IndexMaker.thaw`)
        rather than views of the file
    """
    try:
        with path.open("rb") as source:
            found = source.readline(len(FORMAT))
            if found != FORMAT:
                log.warning("ignoring %s: its format is %r, not %r; the indexes are made "
                            "from the store", path.name, found.strip()[:60], FORMAT.strip())
                return None
            pickled, count = _HEAD.unpack(source.read(_HEAD.size))
            places = [_PLACE.unpack(source.read(_PLACE.size)) for _ in range(count)]
            # read, not mapped: what it unpickles into is this process's own memory, and
            # its pages would be counted twice
            data = source.read(pickled)
            if len(data) != pickled:
                raise ValueError("the file is cut short")
            mapped = mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)
        whole = memoryview(mapped)
        buffers = []
        for start, size in places:
            if start + size > len(whole):
                raise ValueError("the file is cut short")
            buffers.append(whole[start:start + size])
        collecting = gc.isenabled()
        gc.disable()  # many new objects, no garbage: collections would slow the reading
        try:
            payload = pickle.loads(data, buffers=buffers)
        finally:
            if collecting:
                gc.enable()
        del data
        missing = [m.name for m in INDEX_MAKERS if m.name not in payload]
        if missing:
            log.warning("ignoring %s: it has no %s; the indexes are made from the store",
                        path.name, ", ".join(missing))
            return None
        read = BuildIndexes((m.name, m.unpack(payload[m.name]) if m.file is None
                             else m.unpack(payload[m.name], path.with_name(m.file)))
                            for m in INDEX_MAKERS)
        if mutable:
            for maker in INDEX_MAKERS:
                read[maker.name] = maker.thaw(read[maker.name])
        read.directory = path.parent
        return read
    except FileNotFoundError:
        return None
    except Exception as error:  # a truncated or foreign file: the store is still there
        log.warning("ignoring %s (%s); the indexes are made from the store", path.name,
                    str(error) or type(error).__name__)
        return None


# -- the makers of this version ------------------------------------------------------------

def _make_catalogue(source: TriplesSource, base: str, made: dict[str, Any]) -> Catalogue:
    # no word index: the build's text index answers every search (Catalogue.select)
    return index_catalogue(source)


def _pack_catalogue(catalogue: Catalogue) -> dict[str, Any]:
    uris, labels, postings, nodes, shown = catalogue.indexed()
    return {"uris": Strings.pack(uris, hashed=True), "labels": labels, "postings": postings,
            "nodes": nodes, "shown": Shown.pack(shown), "totals": catalogue.totals(),
            "pairs": Rows.pack(catalogue.value_pairs() if catalogue.pairs is None
                               else catalogue.pairs)}


def _unpack_catalogue(packed: dict[str, Any]) -> Catalogue:
    """The catalogue of the file: its publications and what pages show of them read in
    place."""
    catalogue = Catalogue.from_indexed((Strings(packed["uris"]), packed["labels"],
                                        packed["postings"], packed["nodes"],
                                        Shown(packed["shown"])))
    catalogue._totals = packed["totals"]
    catalogue.pairs = Rows(packed["pairs"])
    return catalogue


def _thaw_catalogue(catalogue: Catalogue) -> Catalogue:
    if not isinstance(catalogue.uris, Strings) and not isinstance(catalogue.shown, Shown):
        return catalogue
    uris, labels, postings, nodes, shown = catalogue.indexed()
    # the publications and what pages show of them stay read in place, spliced (the
    # entries an update takes out and puts in), and are packed so: the bytes of the
    # entries left as they were copied, not 100,000s of items made and encoded again
    thawn = Catalogue.from_indexed((spliced(uris), labels, postings, nodes, spliced(shown)))
    # the value rows stay read in place: an update changes the rows of its values
    # (:func:`~.catalogue.update_catalogue`)
    thawn._totals, thawn.pairs = catalogue._totals, catalogue.pairs
    return thawn


def _update_catalogue(previous: Catalogue, change: IndexChange, base: str,
                      made: dict[str, Any]) -> Catalogue:
    return update_catalogue(previous, change.change, TriplesSource)


def _make_labels(source: TriplesSource, base: str, made: dict[str, Any]) -> LabelIndex:
    labels = index_labels(source)
    _share_titles(labels, made["catalogue"], labels.titles)
    return labels


def _update_labels(previous: LabelIndex, change: IndexChange, base: str,
                   made: dict[str, Any]) -> LabelIndex:
    touched = change.change.subjects(label.value for label in LABELS)
    _, after = change.sources(touched)
    labels = index_labels(after)
    for subject in touched:
        previous.titles.pop(subject, None)
        previous.others.pop(subject, None)
    previous.titles.update(labels.titles)
    previous.others.update(labels.others)
    _share_titles(previous, made["catalogue"], labels.titles)
    return previous


def _share_titles(labels: LabelIndex, catalogue: Catalogue, titles: Iterable[str]) -> None:
    """One string for a title that both indexes hold (of ``titles``): a worker keeps it
    once."""
    wanted = set(titles)
    uris, shown = catalogue.uris, catalogue.shown
    if isinstance(uris, Spliced):  # an incremental build's: the few titles it changed
        found = ((uri, shown[i]) for uri in wanted if (i := uris.find(uri)) is not None)
    else:
        found = ((uri, entry) for uri, entry in zip(uris, shown, strict=True)
                 if uri in wanted)
    for uri, (title, _, _) in found:
        label = labels.titles.get(uri)
        if label is not None and label[0] == title:
            labels.titles[uri] = (title, *label[1:])


def _make_dataset(source: TriplesSource, base: str, made: dict[str, Any]) -> DatasetIndex:
    counts, pages = source.dataset_counts(base)
    return DatasetIndex(counts, "\n".join(pages))


def _update_dataset(previous: DatasetIndex, change: IndexChange, base: str,
                    made: dict[str, Any]) -> DatasetIndex:
    counts, pages = change.counted.dataset_counts(base)
    return DatasetIndex(counts, "\n".join(pages))


def _update_text(previous: TextIndex, change: IndexChange, base: str,
                 made: BuildIndexes) -> TextIndex:
    touched = change.change.subjects((*TITLE_PROPERTIES, *BODY_PROPERTIES, *FACT_PROPERTIES,
                                      RDF.type))
    before, after = change.sources(touched)
    path = made.directory / TEXT_FILE
    update_text_index(previous.path, path, before, after, touched, made.catalogue.uris,
                      made.catalogue.moved)
    return TextIndex(path)


register(IndexMaker("catalogue", _make_catalogue, pack=_pack_catalogue,
                    unpack=_unpack_catalogue, update=_update_catalogue,
                    thaw=_thaw_catalogue))
register(IndexMaker("labels", _make_labels,
                    pack=lambda lb: (StringMap.pack(lb.titles), lb.others),
                    unpack=lambda p: LabelIndex(StringMap(p[0]), p[1]),
                    update=_update_labels,
                    thaw=lambda lb: LabelIndex(spliced(lb.titles), lb.others)))
register(IndexMaker("properties", lambda source, base, made: sorted(source.properties()),
                    update=lambda previous, change, base, made: sorted(
                        change.counted.properties)))
register(IndexMaker(
    "dataset", _make_dataset,
    pack=lambda d: {"counts": asdict(d.counts),
                    "pages": pickle.PickleBuffer(d.pages.encode("utf-8", "surrogatepass"))},
    unpack=lambda p: DatasetIndex(DatasetCounts(**p["counts"]), p["pages"]),
    update=_update_dataset))
register(IndexMaker(
    "text", lambda source, base, made: TextIndex.write(source, made.catalogue.uris,
                                                       made.directory / TEXT_FILE),
    pack=lambda index: {"publications": index.publications, "nodes": index.nodes},
    unpack=lambda packed, path: TextIndex.open_expecting(path, **packed), file=TEXT_FILE,
    update=_update_text))


_NOT_BLANK = (URIRef, Literal)


class TriplesSource:
    """A :class:`~tipgraph.serving.catalogue.Source` over the triples a build holds: rdflib
    terms, as the build's reasoned closure has them, grouped by property once.

    What the store makes of them is what is compared: text as N-Triples writes it
    (``str.__str__``, not rdflib's normalisation), and a literal typed ``xsd:string``
    as a plain one.
    """

    def __init__(self, triples: Iterable[Triple] = ()) -> None:
        self._by_property: dict[Node, list[Triple]] = {}
        self._by_object: dict[str, dict[str, list[str]]] = {}
        self.add(triples)

    def add(self, triples: Iterable[Triple]) -> None:
        by_property = self._by_property
        for triple in triples:
            found = by_property.get(triple[1])
            if found is None:
                by_property[triple[1]] = found = []
            found.append(triple)  # the triple itself: no new tuple per pair
        self._by_object.clear()

    def _triples(self, prop: str) -> list[Triple]:
        return self._by_property.get(URIRef(prop), [])

    def pairs(self, prop: str, value: str | None = None) -> Iterator[tuple[str, str]]:
        if value is not None:  # rdf:type, asked once per class: grouped by class once
            return ((s, value) for s in self._subjects(prop).get(value, ()))
        return self._pairs(prop)

    def _pairs(self, prop: str) -> Iterator[tuple[str, str]]:
        text = str.__str__
        for s, _, o in self._triples(prop):
            # the exact classes first: isinstance goes through rdflib's ABCs, 10 times slower
            if (type(s) is URIRef or isinstance(s, URIRef)) and type(o) is not BNode \
                    and (type(o) in _NOT_BLANK or not isinstance(o, BNode)):
                yield text(s), text(o)

    def _subjects(self, prop: str) -> dict[str, list[str]]:
        """object IRI -> the subjects having it (``prop`` triples between IRIs)."""
        found = self._by_object.get(prop)
        if found is None:
            found = self._by_object[prop] = {}
            text = str.__str__
            for s, _, o in self._triples(prop):
                if (type(s) is URIRef or isinstance(s, URIRef)) and (type(o) is URIRef
                                                              or isinstance(o, URIRef)):
                    found.setdefault(text(o), []).append(text(s))
        return found

    def literals(self, prop: str) -> Iterator[tuple[str, str, str | None, str | None]]:
        text = str.__str__
        for s, _, o in self._triples(prop):
            if not (type(s) is URIRef or isinstance(s, URIRef)) \
                    or not (type(o) is Literal or isinstance(o, Literal)):
                continue
            language = o.language  # type: ignore[union-attr]
            datatype = o.datatype  # type: ignore[union-attr]
            yield (text(s), text(o), language,
                   None if language or datatype is None or datatype == XSD.string
                   else text(datatype))

    def properties(self) -> set[str]:
        return {str.__str__(p) for p in self._by_property}  # type: ignore[arg-type]

    def dataset_counts(self, base: str) -> tuple[DatasetCounts, list[str]]:
        """The counts of the dataset's description, and the resource pages of the
        sitemap, of the triples held, as the store holds them once loaded.

        Terms are compared as the store compares them: IRIs and blank nodes by their
        text (a blank node's label cannot be an absolute IRI), literals by (text,
        language in lower case, datatype; none for ``xsd:string``). Mostly C-level
        passes: 5.5 CPU-s for the 2.5 million triples of 100,000 publications.
        """
        text = str.__str__
        subjects: set[str] = set()
        objects: set[str | tuple[str, str | None, str | None]] = set()
        properties: dict[str, int] = {}
        for prop, triples in self._by_property.items():
            subject_texts = list(map(text, map(_SUBJECT, triples)))
            subjects.update(subject_texts)
            found = list(map(_OBJECT, triples))
            if set(map(type, found)) <= _IRI_OR_BLANK:
                objects.update(map(text, found))
                # rdflib terms of a set, the same terms in the store: no triple repeats
                properties[text(prop)] = len(triples)  # type: ignore[arg-type]
            else:  # the store may hold two rdflib literals as one
                keys = list(map(_object_key, found))
                objects.update(keys)
                pairs = set(zip(subject_texts, keys, strict=True))
                properties[text(prop)] = len(pairs)  # type: ignore[arg-type]
        instances: dict[str, set[str]] = {}
        for s, _, o in self._by_property.get(RDF.type, ()):
            if type(o) is URIRef or (isinstance(o, URIRef)):
                instances.setdefault(text(o), set()).add(text(s))
        publications = instances.get(_PUBLICATION, set())
        in_space = [s for s in subjects if s.startswith(base)]
        pages = resource_pages(in_space, base)
        counts = DatasetCounts(
            base=base, triples=sum(properties.values()), entities=len(in_space),
            distinct_subjects=len(subjects), distinct_objects=len(objects),
            classes={c: len(members) for c, members in sorted(instances.items())},
            properties=dict(sorted(properties.items())),
            example=min((s for s in publications if ":" in s), default=None))
        return counts, pages


#: The properties whose triples the index makers read (``pairs``, ``literals``); the
#: classes whose members they ask for. What a :class:`PartsSource` keeps.
READ_PROPERTIES = frozenset(shared_term(p) for p in (
    str(RDF.type), str(DCT.title), str(DCT.abstract), str(DCT.issued), str(DCT.spatial),
    str(DCT.creator), str(DCT.subject), str(SKOS.prefLabel), str(SKOS.altLabel), str(GN.name),
    str(FOAF.name), str(SCHEMA.name), str(RDFS.label), *FACT_PROPERTIES))
READ_CLASSES = frozenset(shared_term(c) for c in (
    TIP.Publication, TIP.Country, TIP.Region, SCHEMA.Organization, SCHEMA.Person,
    SKOS.Concept))


class PartsSource(TriplesSource):
    """A :class:`TriplesSource` a build fills a part of its graph at a time
    (:meth:`add`), keeping only what the index makers read (:data:`READ_PROPERTIES`,
    the ``rdf:type`` triples of :data:`READ_CLASSES`, IRI subjects, no blank object) as
    the text they read it as; the dataset's counts and its properties come from the
    sorted N-Triples lines of the whole graph instead (:class:`LineCounts`, given as
    ``counted`` before the indexes are made).

    The texts are kept once each: an IRI as one interned string (:func:`sys.intern`), the
    same object for every triple naming it and every index holding it (the catalogue, the
    labels, the text index's rows, the build's list of URIs), not an rdflib term per
    part and a copy per maker; a literal as its text, its language and the datatype
    :meth:`literals` gives, in columns, not a term with its value held twice.
    """

    def __init__(self, spill: Path | None = None) -> None:
        """:param spill: a file to keep the abstracts in (the largest texts the makers
            read, read twice): written as the parts come, read again when asked for;
            None: kept in memory"""
        self.counted: LineCounts | None = None
        self._spill = spill
        self._spilled = spill.open("wb") if spill is not None else None
        #: property IRI -> the columns of its triples: not a tuple per triple (64 bytes;
        #: ten million of them at a million publications)
        self._columns: dict[str, _Columns] = {}
        super().__init__()

    def add(self, triples: Iterable[Triple]) -> None:
        kept, classes, rdf_type, abstract = READ_PROPERTIES, READ_CLASSES, _RDF_TYPE, _ABSTRACT
        text, intern, columns, spilled = str.__str__, sys.intern, self._columns, []
        spilling = self._spilled is not None
        for s, p, o in triples:
            if p not in kept or (str.__eq__(p, rdf_type) and o not in classes) \
                    or not (type(s) is URIRef or isinstance(s, URIRef)):
                continue  # what no maker reads (a blank subject: the store renames it)
            if type(o) is URIRef or isinstance(o, URIRef):
                literal, obj, language, datatype = False, intern(text(o)), None, None
            elif type(o) is Literal or isinstance(o, Literal):
                literal, obj, language = True, text(o), o.language  # type: ignore[union-attr]
                datatype = o.datatype  # type: ignore[union-attr]
                datatype = None if language or datatype is None or datatype == XSD.string \
                    else intern(text(datatype))
                language = None if language is None else intern(language)
                if spilling and str.__eq__(p, abstract):
                    spilled.append((intern(text(s)), obj, language, datatype))
                    continue
            else:
                continue  # a blank object: neither a pair nor a literal
            prop = intern(text(p))
            found = columns.get(prop)
            if found is None:
                columns[prop] = found = _Columns()
            found.add(intern(text(s)), obj, literal, language, datatype)
        self._by_object.clear()
        if spilled:
            pickle.dump(spilled, self._spilled, protocol=pickle.HIGHEST_PROTOCOL)

    def _columns_of(self, prop: str) -> _Columns:
        if URIRef(prop) not in READ_PROPERTIES:
            raise KeyError(f"{prop} is not kept for the indexes (READ_PROPERTIES)")
        return self._columns.get(prop) or _Columns()

    def _pairs(self, prop: str) -> Iterator[tuple[str, str]]:
        columns = self._columns_of(prop)
        yield from zip(columns.subjects, columns.objects, strict=True)
        if self._spill is not None and prop == _ABSTRACT:
            for s, o, _, _ in self._read_spilled():
                yield s, o

    def _subjects(self, prop: str) -> dict[str, list[str]]:
        """object IRI -> the subjects having it (``prop`` triples between IRIs)."""
        found = self._by_object.get(prop)
        if found is None:
            found = self._by_object[prop] = {}
            columns = self._columns_of(prop)
            for s, o, literal in zip(columns.subjects, columns.objects, columns.literal,
                                         strict=True):
                if not literal:
                    found.setdefault(o, []).append(s)
        return found

    def literals(self, prop: str) -> Iterator[tuple[str, str, str | None, str | None]]:
        columns = self._columns_of(prop)
        if columns.languages is not None and columns.datatypes is not None:
            for s, o, literal, language, datatype in zip(
                    columns.subjects, columns.objects, columns.literal, columns.languages,
                    columns.datatypes, strict=True):
                if literal:
                    yield s, o, language, datatype
        if self._spill is not None and prop == _ABSTRACT:
            yield from self._read_spilled()

    def _read_spilled(self) -> Iterator[tuple[str, str, str | None, str | None]]:
        assert self._spill is not None and self._spilled is not None
        self._spilled.flush()
        with self._spill.open("rb") as spilled:
            while True:
                try:
                    part = pickle.load(spilled)
                except EOFError:
                    return
                yield from part

    def close(self) -> None:
        """Remove the file of the abstracts."""
        if self._spilled is not None and self._spill is not None:
            self._spilled.close()
            self._spill.unlink(missing_ok=True)
            self._spilled = None

    def properties(self) -> set[str]:
        assert self.counted is not None, "the lines are not counted yet"
        return set(self.counted.properties)

    def dataset_counts(self, base: str) -> tuple[DatasetCounts, list[str]]:
        assert self.counted is not None, "the lines are not counted yet"
        return self.counted.dataset_counts(base)


class _Columns:
    """The triples of one property a :class:`PartsSource` keeps, a column per part of them:
    subjects and objects (IRI or literal text), whether each object is a literal, and
    the literals' languages and datatypes (None until a literal comes)."""

    __slots__ = ("datatypes", "languages", "literal", "objects", "subjects")

    def __init__(self) -> None:
        self.subjects: list[str] = []
        self.objects: list[str] = []
        self.literal = bytearray()
        self.languages: list[str | None] | None = None
        self.datatypes: list[str | None] | None = None

    def add(self, subject: str, obj: str, literal: bool, language: str | None,
            datatype: str | None) -> None:
        self.subjects.append(subject)
        self.objects.append(obj)
        self.literal.append(literal)
        if self.languages is None or self.datatypes is None:
            if not literal:
                return
            self.languages, self.datatypes = [None] * (len(self.objects) - 1), \
                [None] * (len(self.objects) - 1)
        self.languages.append(language)
        self.datatypes.append(datatype)


class LineCounts:
    """The dataset's counts (:class:`DatasetCounts`) from the sorted N-Triples lines of a
    build's graph, taken one at a time (:meth:`add`) as they are merged into
    ``tipgraph.nt``: what :meth:`TriplesSource.dataset_counts` counts of the triples,
    without holding them.

    The lines of a subject are together (the lines are sorted), so subjects and each
    subject's (property, object) pairs are told apart exactly; the distinct objects are
    told apart by a 64-bit hash of each (as the store compares them), kept in arrays by
    its first bits and counted a bucket at a time.
    """

    BUCKETS = 256  # a power of two (:meth:`add` takes a hash's last bits)

    def __init__(self, base: str) -> None:
        self.base = base
        self.subjects = 0
        self.in_space: list[str] = []
        self.properties: dict[str, int] = {}
        self.classes: dict[str, int] = {}
        self.example: str | None = None
        self._hashes = [array("q") for _ in range(self.BUCKETS)]
        self._subject: str | None = None
        self._pairs: set[tuple[str, str]] = set()
        #: distinct objects counted apart from the hashes, and the resource pages
        #: (:meth:`updated`)
        self.objects: int | None = None
        self.pages: list[str] | None = None

    def add(self, lines: Iterable[str]) -> None:
        """Count ``lines``, the next of the sorted lines (each line once); a batch at a
        time, the build's millions of lines without a call each."""
        current, pairs, in_space = self._subject, self._pairs, self.in_space
        properties, classes, hashes = self.properties, self.classes, self._hashes
        base, intern = self.base, sys.intern
        subjects = 0
        for line in lines:
            subject, predicate, obj = line[:-3].split(" ", 2)  # "<s> <p> o .\n"
            if subject != current:
                current = subject
                pairs.clear()
                subjects += 1
                if subject[0] == "<":
                    text = subject[1:-1]
                    if text.startswith(base):  # the string the indexes hold, if they do
                        in_space.append(intern(text))
            if obj[0] == '"':
                # two literals the store holds as one (xsd:string, a language tag's case):
                # the pair counted once; the other lines are each a triple of their own
                obj = _literal_key(obj)
                pair = (predicate, obj)
                if pair in pairs:
                    continue
                pairs.add(pair)
            prop = predicate[1:-1]
            properties[prop] = properties.get(prop, 0) + 1
            key = hash(obj)
            hashes[key & 255].append(key)  # 255: BUCKETS - 1
            if prop == _RDF_TYPE and obj[0] == "<":
                cls = obj[1:-1]
                classes[cls] = classes.get(cls, 0) + 1
                if cls == _PUBLICATION:
                    self._example(subject)
        self._subject = current
        self.subjects += subjects

    def close(self) -> None:
        """Count the distinct objects of the lines added and let go of their hashes (a
        quarter of a gigabyte at a million publications), once the last line is added."""
        objects = self.objects if self.objects is not None else 0
        for bucket in self._hashes:
            objects += len(set(bucket))
        self.objects, self._hashes = objects, []
        self._pairs.clear()

    @classmethod
    def updated(cls, previous: DatasetIndex, in_space: list[str], removed: Iterable[str],
                added: Iterable[str], occurrences: Callable[[str, int, int], int],
                instances: Callable[[str], Iterable[str]]) -> LineCounts:
        """The counts of a graph that is the one ``previous`` counted (and ``in_space``, the
        IRIs it describes under its base, sorted), less the lines ``removed`` (each one
        of its lines), plus the lines ``added`` (none of its lines): what :meth:`add`
        would count of every line of it, the unchanged lines unread.

        :param occurrences: ``(line, place, limit)`` -> how many triples of the counted
            graph have the subject (``place`` 0) or the object (2) of ``line``, counted up
            to ``limit``: asked when a term loses every line the change names of it
        :param instances: a class (``<IRI>``) -> the subjects of the counted graph having
            it (``<IRI>``): asked when the example publication is removed
        :raises ValueError: when a changed line has a blank node (the store names it its
            own way): count every line instead
        """
        counts = previous.counts
        self = cls(counts.base)
        self.subjects = counts.distinct_subjects
        self.objects = counts.distinct_objects
        self.properties = dict(counts.properties)
        self.classes = dict(counts.classes)
        self.example = counts.example
        space = in_space
        moved: set[str] = set()  # in the URI space: the subjects that came or went
        keyed: list[dict[tuple[str, str, str], str]] = [{}, {}]
        for lines, into in ((removed, keyed[0]), (added, keyed[1])):
            for line in lines:
                subject, predicate, obj = line[:-3].split(" ", 2)
                if subject.startswith("_") or obj.startswith("_"):
                    raise ValueError(f"a changed line has a blank node: {line.strip()}")
                into[subject, predicate, _literal_key(obj) if obj.startswith('"') else obj] \
                    = line
        gone, came = keyed
        for key in gone.keys() & came.keys():  # the same triple written two ways
            del gone[key], came[key]
        tallies: list[tuple[dict[str, list[int]], dict[str, str]]] = [({}, {}), ({}, {})]
        for sign, found in ((-1, gone), (1, came)):
            for (subject, predicate, obj), line in found.items():
                prop = predicate[1:-1]
                self.properties[prop] = self.properties.get(prop, 0) + sign
                if prop == _RDF_TYPE and obj.startswith("<"):
                    cls_ = obj[1:-1]
                    self.classes[cls_] = self.classes.get(cls_, 0) + sign
                for place, term in ((0, subject), (1, obj)):
                    changes, where = tallies[place]
                    changes.setdefault(term, [0, 0])[sign > 0] += 1
                    where.setdefault(term, line)
        self.properties = {p: n for p, n in self.properties.items() if n > 0}
        self.classes = {c: n for c, n in self.classes.items() if n > 0}
        for place, (changes, where) in enumerate(tallies):
            for term, (lost, gained) in changes.items():
                if lost and gained:
                    continue
                if gained:  # new, unless the graph had it already
                    step = 0 if occurrences(where[term], 2 * place, 1) else 1
                else:  # gone, when the graph had no other line of it
                    step = -1 if occurrences(where[term], 2 * place, lost + 1) == lost else 0
                if place == 0:
                    self.subjects += step
                    text = term[1:-1]
                    if step and text.startswith(self.base):
                        moved.add(text)
                        at = bisect_left(space, text)
                        if step > 0:
                            space.insert(at, text)
                        elif at < len(space) and space[at] == text:
                            del space[at]
                else:
                    self.objects += step
        self.in_space = space
        pages = previous.page_paths()
        for page in {_page_of(text, self.base) for text in moved} - {None}:
            at = bisect_left(pages, page)
            listed = at < len(pages) and pages[at] == page
            if _has_page(space, self.base, page) != listed:
                if listed:
                    del pages[at]
                else:
                    pages.insert(at, page)
        self.pages = pages
        publication = f"<{_PUBLICATION}>"
        untyped = {s for s, p, o in gone if p[1:-1] == _RDF_TYPE and o == publication}
        if any(s[1:-1] == self.example for s in untyped):
            self.example = None  # the least left: every publication asked again
            for subject in instances(publication):
                if subject not in untyped:
                    self._example(subject)
        for subject, predicate, obj in came:
            if predicate[1:-1] == _RDF_TYPE and obj == publication:
                self._example(subject)
        return self

    def _example(self, subject: str) -> None:
        if subject.startswith("<") and ":" in subject:
            text = subject[1:-1]
            if self.example is None or text < self.example:
                self.example = text

    def dataset_counts(self, base: str) -> tuple[DatasetCounts, list[str]]:
        objects = self.objects if self.objects is not None else 0
        for bucket in self._hashes:
            objects += len(set(bucket))
        counts = DatasetCounts(
            base=base, triples=sum(self.properties.values()), entities=len(self.in_space),
            distinct_subjects=self.subjects, distinct_objects=objects,
            classes=dict(sorted(self.classes.items())),
            properties=dict(sorted(self.properties.items())), example=self.example)
        if self.pages is not None:
            return counts, self.pages
        return counts, resource_pages(self.in_space, base)


def _literal_key(obj: str) -> str:
    """A literal's N-Triples text as the store tells it from others: its language tag in
    lower case, ``xsd:string`` as no datatype."""
    if obj.endswith(_XSD_STRING_SUFFIX):
        return obj[:-len(_XSD_STRING_SUFFIX)]
    end = obj.rfind('"')
    if obj[end + 1:end + 2] == "@":
        return obj[:end + 1] + obj[end + 1:].lower()
    return obj


def resource_pages(subjects: Iterable[str], base: str) -> list[str]:
    """The HTML pages (``place/ng.html``) of the resources ``subjects`` name under
    ``base``, sorted: a ``#`` IRI is on its document's page, and an IRI without a kind
    step (the dataset's own) is a site page, listed apart."""
    return sorted({page for s in subjects if (page := _page_of(s, base)) is not None})


def _page_of(subject: str, base: str) -> str | None:
    """The resource page of the IRI ``subject`` (:func:`resource_pages`), or None."""
    if not subject.startswith(base):
        return None
    path = subject[len(base):].split("#", 1)[0]
    return path + ".html" if "/" in path else None


def _has_page(subjects: list[str], base: str, page: str) -> bool:
    """Whether one of ``subjects`` (sorted) is on ``page`` (:func:`resource_pages`)."""
    prefix = base + page[:-len(".html")]
    at = bisect_left(subjects, prefix)
    while at < len(subjects) and subjects[at].startswith(prefix):
        if subjects[at] == prefix or subjects[at][len(prefix)] == "#":
            return True
        at += 1
    return False


_SUBJECT, _OBJECT = itemgetter(0), itemgetter(2)
_IRI_OR_BLANK = {URIRef, BNode}
_PUBLICATION = str(TIP.Publication)
_XSD_STRING = str(XSD.string)
_XSD_STRING_SUFFIX = f"^^<{_XSD_STRING}>"
_RDF_TYPE = str(RDF.type)
_ABSTRACT = str(DCT.abstract)


def _object_key(node: Node) -> str | tuple[str, str | None, str | None]:
    """An object as the store tells it from others (see :meth:`TriplesSource.dataset_counts`)."""
    if not (type(node) is Literal or isinstance(node, Literal)):
        return str.__str__(node)
    language = node.language
    if language:
        return (str.__str__(node), language.lower(), None)
    datatype = node.datatype
    if datatype is None:
        return (str.__str__(node), None, None)
    datatype = str.__str__(datatype)
    return (str.__str__(node), None, None if datatype == _XSD_STRING else datatype)
