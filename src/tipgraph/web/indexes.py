"""The per-build indexes of the web app, made by the build and read by each worker.

A web worker serves a build with three indexes: the browse and search catalogue
and its word index (:mod:`tipgraph.web.catalogue`), and the labels and linking
properties documents read (:mod:`tipgraph.web.documents`). Made from the store,
they cost a worker seconds of CPU (at 100,000 publications: 12 s, 6 s and 2 s)
on a build's first requests, in every worker at once. So the build makes them
once, in a process of its own, from the triples it holds in memory
(:class:`TriplesSource`), and writes them beside the store
(``builds/<id>/indexes.pickle``, :data:`INDEX_FILE`); a worker reads that file
when it opens the build, in a fraction of a second.

The same functions make them from either source (:func:`make_indexes` over a
:class:`~tipgraph.web.catalogue.Source`), so what the file holds is what the
worker would have made from the store; the store stays the source for a build
made before the file existed and for a remote store (``serve --store URL``).

The file is a pickle: only the build writes the build directory, and the app
trusts that directory already (it serves its store and dumps as they are). It
starts with a line naming its format (:data:`FORMAT`): a file of another format
is ignored, with a warning, and the indexes are made from the store.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rdflib import BNode, Literal, URIRef
from rdflib.namespace import XSD
from rdflib.term import Node

from tipgraph.web.catalogue import Catalogue, Source, index_catalogue, index_words
from tipgraph.web.documents import LabelIndex, index_labels

#: The file a build writes its web indexes to, beside its store.
INDEX_FILE = "indexes.pickle"
#: The first line of the file: what it holds and in which version of the format (bump it
#: whenever what :func:`write_indexes` pickles changes shape).
FORMAT = b"tipgraph web indexes 2\n"

Triple = tuple[Node, Node, Node]
log = logging.getLogger(__name__)


@dataclass
class BuildIndexes:
    """Everything a worker indexes per build."""

    #: the browse and search index, with its word index made
    catalogue: Catalogue
    #: the labels documents carry for the nodes they link to
    labels: LabelIndex
    #: every property of the build (a busy node's incoming links are looked for in these)
    properties: list[str]

    def word_index(self) -> dict[str, int | array]:
        return self.catalogue.word_index()[0]


def make_indexes(source: Source) -> BuildIndexes:
    """The web indexes of the build ``source`` reads."""
    catalogue = index_catalogue(source)
    titles = [title for title, _, _ in catalogue.shown]
    words = index_words(source, catalogue.uris, titles)
    labels = index_labels(source)
    # one string for a title that both indexes hold: a worker keeps it once
    for uri, title in zip(catalogue.uris, titles, strict=True):
        label = labels.titles.get(uri)
        if label is not None and label[0] == title:
            labels.titles[uri] = (title, *label[1:])
    return BuildIndexes(Catalogue.from_indexed(catalogue.indexed(), words), labels,
                        sorted(source.properties()))


def write_indexes(indexes: BuildIndexes, path: Path) -> None:
    """Write ``indexes`` to ``path`` whole or not at all (a temporary file, then renamed)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    payload = {"catalogue": indexes.catalogue.indexed(), "words": _packed(indexes.word_index()),
               "titles": indexes.labels.titles, "others": indexes.labels.others,
               "properties": indexes.properties}
    try:
        with partial.open("wb") as out:
            out.write(FORMAT)
            # one dump: the Link objects the catalogue shares stay shared once read
            pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def read_indexes(path: Path) -> BuildIndexes | None:
    """The indexes written to ``path``; None when there is no such file, or (with a
    warning) when it is of another format or cannot be read."""
    try:
        with path.open("rb") as source:
            found = source.readline(len(FORMAT))
            if found != FORMAT:
                log.warning("ignoring %s: its format is %r, not %r; the indexes are made "
                            "from the store", path.name, found.strip()[:60], FORMAT.strip())
                return None
            collecting = gc.isenabled()
            gc.disable()  # a million new objects, no garbage: collections would halve the pace
            try:
                payload = pickle.load(source)
                return BuildIndexes(Catalogue.from_indexed(payload["catalogue"],
                                                           _unpacked(payload["words"])),
                                    LabelIndex(payload["titles"], payload["others"]),
                                    payload["properties"])
            finally:
                if collecting:
                    gc.enable()
    except FileNotFoundError:
        return None
    except Exception as error:  # a truncated or foreign file: the store is still there
        log.warning("ignoring %s (%s); the indexes are made from the store", path.name,
                    str(error) or type(error).__name__)
        return None


def _packed(index: dict[str, int | array]) -> tuple[dict[str, int], list[str], array, array]:
    """A word index as its bitmaps, and its rare words' positions in one array (with where
    each word's begin): a hundred thousand arrays are slow to unpickle one by one."""
    bitmaps = {word: where for word, where in index.items() if isinstance(where, int)}
    rare = [word for word, where in index.items() if not isinstance(where, int)]
    flat, starts = array("I"), array("Q", [0])
    for word in rare:
        flat.extend(index[word])  # type: ignore[arg-type]
        starts.append(len(flat))
    return bitmaps, rare, flat, starts


def _unpacked(packed: tuple[dict[str, int], list[str], array, array]
              ) -> dict[str, int | array]:
    bitmaps, rare, flat, starts = packed
    index: dict[str, int | array] = dict(bitmaps)
    for word, start, end in zip(rare, starts[:-1], starts[1:], strict=True):
        index[word] = flat[start:end]
    return index


_NOT_BLANK = (URIRef, Literal)


class TriplesSource:
    """A :class:`~tipgraph.web.catalogue.Source` over the triples a build holds: rdflib
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
