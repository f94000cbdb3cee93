"""Counts published as data: publications per country, region, year, organisation, category.

Counting 100,000 publications per facet value takes the store seconds on every
request; the build knows the answer already. So after reasoning it adds one
``tip:Statistic`` per facet value (its ``tip:count``
is how many publications have that value) and one per class (how many
instances it has), and the pages read those few nodes instead of counting::

    <https://w3id.org/tipgraph/dataset#statistic-region-west-and-central-africa>
        a tip:Statistic ; tip:facet "region" ;
        rdf:value <https://w3id.org/tipgraph/place/west-and-central-africa> ;
        tip:count 8276 .

The facets are those of the browse page, with the same meaning: a region
counts the publications that name it and those that name one of its countries
(the materialised ``dct:spatial``). The shipped queries read a few more
(:data:`CROSSED`): ``stated-region`` (the records that name the region itself),
and crossings of two values, a node with one ``rdf:value`` for each that counts
the publications having both: pairs of co-authoring organisations, (stated
country, stated region) pairs, and the first and last year of each country and
the last of each organisation::

    <https://w3id.org/tipgraph/dataset#statistic-country-last-year-ng~2020>
        a tip:Statistic ; tip:facet "country-last-year" ;
        rdf:value <https://w3id.org/tipgraph/place/ng>, "2020"^^xsd:gYear ;
        tip:count 31 .

Each is named in the dataset's document
(``<base>dataset#statistic-<facet>-<key>``) rather than by a blank node, which
every store copies as it is, and a rebuild of the same data names the same way.

The same pass gives each publication an integer that orders the publications by title
(:func:`title_order`), ``tip:sortKey``::

    <https://w3id.org/tipgraph/publication/a-guide-to-...> tip:sortKey 42991616 .

The keys are not contiguous: compare them, do not count them. A first build spaces
them :data:`KEY_GAP` apart; each later build keeps the key of every publication whose
title and URI it kept, and gives a new or retitled one a key between its neighbours'
(:func:`spaced_keys`), so that one record moved in title order changes one key, not
the keys of every publication after it (an incremental build then writes, loads,
validates and dumps a few lines rather than tens of thousands). A full build (``--full``
too) starts from the keys of the build in service as an incremental one does, so both
give the same keys: like the URIs the ledger mints, the keys depend on the builds before
(:meth:`Tally.sort_keys`, :func:`previous_keys`).

Oxigraph compares strings by decoding both of them from its string table, which
at 100,000 titles made a query's ``ORDER BY ?title`` cost a second or more;
integers are stored inside the triple, so ``ORDER BY ?key`` reads no string and
the shipped queries fetch the titles of one page only.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from tipgraph.graphs import Triple, ntriples_lines
from tipgraph.namespaces import DCT, RDF, SCHEMA, SKOS, TIP, XSD, term

#: The property holding the integer that orders publications by title.
SORT_KEY = TIP.sortKey
#: How far apart a build that numbers publications afresh puts their sort keys
#: (:func:`spaced_keys`): 20 publications can be put one after the other between the
#: same two before a few keys around them are numbered again; a million publications
#: numbered so reach 2**40, far inside a signed 64-bit integer.
KEY_GAP = 1 << 20

#: facet -> (the publication's property, the type its value has; None: a literal)
FACETS: dict[str, tuple[URIRef, URIRef | None]] = {
    "country": (DCT.spatial, TIP.Country),
    "region": (DCT.spatial, TIP.Region),
    "year": (DCT.issued, None),
    "organisation": (DCT.creator, SCHEMA.Organization),
    "category": (DCT.subject, SKOS.Concept),
}

#: The file a build keeps its :class:`Tally` in, for the next build.
TALLY_FILE = "statistics.pickle"
TALLY_FORMAT = "tipgraph tally 2"

#: Classes whose instances are counted (facet ``class``).
CLASSES = (TIP.Publication, TIP.Country, TIP.Region, SCHEMA.Organization, SCHEMA.Person)

#: Facets that cross two values (one ``rdf:value`` each): publications having both.
#: The shipped queries read them instead of counting (``queries/*.rq``). Of the
#: (country, year) and (organisation, year) cells only the first and the last year
#: with publications are published: what the queries ask, in a few hundred nodes
#: rather than one per cell.
CROSSED = ("stated-region", "organisation-pair", "country-stated-region",
           "country-first-year", "country-last-year", "organisation-last-year")

_Index = tuple[dict[Node, set[Node]], dict[Node, list[tuple[Node, Node]]]]

K = TypeVar("K", bound=str)


def title_key(title: str, uri: str) -> tuple[str, str]:
    """Where a publication stands in title order: its title casefolded, then its URI.

    The browse pages and ``tip:sortKey`` use this one order, so a page of a shipped
    query and a page of the browse view list publications alike.

    >>> sorted([("b", "u:1"), ("A", "u:3"), ("a", "u:2")], key=lambda t: title_key(*t))
    [('a', 'u:2'), ('A', 'u:3'), ('b', 'u:1')]
    """
    return title.casefold(), uri


def title_order(titles: Mapping[K, str]) -> list[K]:
    """The URIs of ``titles`` (URI -> title) in title order (:func:`title_key`).

    >>> title_order({"u:1": "beta", "u:2": "Alpha", "u:3": "alpha"})
    ['u:2', 'u:3', 'u:1']
    """
    return sorted(titles, key=lambda uri: title_key(titles[uri], uri))


def title_digest(title: str, uri: str) -> bytes:
    """What a build keeps of a publication's place in title order for the next build: its
    title casefolded and its URI (:func:`title_key`), in 16 bytes. The next build keeps
    the sort key of a publication whose digest it finds again.

    >>> title_digest("The Report", "u:1") == title_digest("the report", "u:1")
    True
    >>> title_digest("The Report", "u:1") == title_digest("The Report", "u:2")
    False
    """
    text = f"{title.casefold()}\n{uri}"  # a URI holds no line break: the split is certain
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def spaced_keys(keys: list[int | None], gap: int | None = None) -> list[int]:
    """Give each None of ``keys`` (the publications in title order: the key each kept
    from the previous build, strictly increasing, or None) an integer, so that the keys
    increase strictly; returns the places given one (in order).

    A run of new keys between two kept ones is spread evenly between them; before the
    first kept key or after the last, ``gap`` (:data:`KEY_GAP`) apart. When no integer is
    left between the two, a few kept keys around the run are numbered again with it: the
    window taking in the fewest kept keys that leaves room. The keys depend on nothing
    else, so a build given the same keys gives the same.

    >>> keys = [None, None, None]
    >>> spaced_keys(keys, 10), keys
    ([0, 1, 2], [10, 20, 30])
    >>> keys = [10, None, None, 20, None]
    >>> spaced_keys(keys, 10), keys
    ([1, 2, 4], [10, 13, 16, 20, 30])
    >>> keys = [None, 10, 11, None, 12, 30]
    >>> spaced_keys(keys, 10), keys
    ([0, 3, 4], [0, 10, 11, 17, 23, 30])
    """
    step = KEY_GAP if gap is None else gap
    n, given = len(keys), set[int]()
    i = 0
    while i < n:
        try:
            i = keys.index(None, i)
        except ValueError:
            break
        a, b = i - 1, i  # the window: the places between a and b (either may be outside)
        while b < n and keys[b] is None:
            b += 1
        if _room(keys, a, b) < 0:
            a, b = _window(keys, a, b)
        low, high = (keys[a] if a >= 0 else None), (keys[b] if b < n else None)
        m = b - a - 1
        for t in range(m):
            if low is None and high is None:
                key = (t + 1) * step
            elif low is None:
                key = high - (m - t) * step  # type: ignore[operator]
            elif high is None:
                key = low + (t + 1) * step
            else:
                key = low + (t + 1) * (high - low) // (m + 1)
            if keys[a + 1 + t] != key:
                keys[a + 1 + t] = key
                given.add(a + 1 + t)
        i = b
    return sorted(given)


def _window(keys: list[int | None], a: int, b: int) -> tuple[int, int]:
    """The bounds of the window around the places between ``a`` and ``b`` that takes in
    the fewest kept keys and leaves room (of those, the one leaving the most room; of
    those, the one reaching least far to the left)."""
    n = len(keys)
    rights = [b]  # the right bounds, a kept key further each (n: none, unbounded)
    wider = 0
    while True:
        best: tuple[float, int, int] | None = None
        for left in range(wider + 1):
            right = wider - left
            while len(rights) <= right and rights[-1] < n:
                c = rights[-1] + 1
                while c < n and keys[c] is None:
                    c += 1
                rights.append(c)
            if a - left < -1 or right >= len(rights):
                continue
            room = _room(keys, a - left, rights[right])
            if room >= 0 and (best is None or room > best[0]):
                best = (room, a - left, rights[right])
        if best is not None:
            return best[1], best[2]
        wider += 1


def _room(keys: list[int | None], a: int, b: int) -> float:
    """The integers the keys at ``a`` and ``b`` (either outside ``keys``: unbounded) leave
    between them beyond one for each place between (negative: too few)."""
    if a < 0 or b >= len(keys):
        return float("inf")
    return keys[b] - keys[a] - 1 - (b - a - 1)  # type: ignore[operator]


def _index(triples: Iterable[Triple]) -> _Index:
    """One pass over the triples: the members of each counted class, the uses of each
    counted property (and of ``dct:title``); the closure may be a list or a stream."""
    # the shared objects of the terms (namespaces.term): found by identity
    props = {term(p) for p in ({prop for prop, _ in FACETS.values()}
                                | {TIP.statedCountry, TIP.statedRegion, DCT.title})}
    kinds = {term(k) for k in {kind for _, kind in FACETS.values() if kind is not None}
             | set(CLASSES)}
    members: dict[Node, set[Node]] = {kind: set() for kind in kinds}
    uses: dict[Node, list[tuple[Node, Node]]] = {prop: [] for prop in props}
    rdf_type = str(RDF.type)
    for s, p, o in triples:  # str.__eq__: rdflib's == (and RDF.type) is a Python call each
        if str.__eq__(p, rdf_type):
            if o in members:
                members[o].add(s)
        elif p in uses:
            uses[p].append((s, o))
    return members, uses


def count(triples: Iterable[Triple]) -> dict[str, Counter]:
    """Publications per value for each facet, and instances per class (facet ``class``).

    A facet of :data:`CROSSED` counts tuples of values (sorted, for a pair of
    organisations); ``stated-region`` counts the publications whose record names
    a region itself (``tip:statedRegion``), not through one of its countries.
    """
    tally = Tally()
    tally.add(triples)
    return tally.counts()


class Tally:
    """The counts and title order of a closure taken in a part at a time (:meth:`add`):
    what is kept between parts is the counters, the title of each publication and the
    members of the counted classes, not the triples.

    Each part holds every triple about its publications (their values, their title, and
    the type of each value they name: the closure of whole publications, as the build
    cuts it). A node described in several parts is counted once.

    A build keeps its tally (:meth:`save`): the next build, made from it
    (:mod:`tipgraph.incremental`), counts again only the publications whose triples
    changed (:meth:`update`), and writes only the statistics that changed
    (:meth:`changed_triples`).
    """

    def __init__(self) -> None:
        kinds = {kind for _, kind in FACETS.values() if kind is not None} | set(CLASSES)
        self.members: dict[Node, set[Node]] = {kind: set() for kind in kinds}
        self._counts: dict[str, Counter] = {facet: Counter() for facet in (*FACETS, *CROSSED)}
        #: (value, year) -> publications, for the first and last years of each value
        self._cells: dict[str, Counter] = {"country": Counter(), "organisation": Counter()}
        #: publication -> its title (the least, were there two)
        self.titles: dict[Node, str] = {}
        #: the publications in title order, as :meth:`sort_keys` last gave them
        self.order: list[Node] = []
        #: the sort key of each of :attr:`order`
        self.keys: list[int] = []
        #: the :func:`title_digest` of each of :attr:`order`, 16 bytes each: with
        #: :attr:`keys`, what the next build keeps keys from (:func:`previous_keys`)
        self.digests = bytearray()
        #: the publications whose title :meth:`update` took again since
        self._retitled: set[Node] = set()
        #: the title each of them had before (None: it had none)
        self._was: dict[Node, str | None] = {}

    def add(self, triples: Iterable[Triple]) -> None:
        """Count a part's triples (the whole closure of its publications)."""
        members, uses = _index(triples)
        for kind, found in members.items():
            self.members[kind] |= found
        self._count(uses, 1)

    def _count(self, uses: dict[Node, list[tuple[Node, Node]]], sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) what the publications of ``uses`` count,
        their values' types being those of :attr:`members`; add their titles."""
        members = self.members
        publications = members[TIP.Publication]

        def values(prop: Node, kind: Node | None) -> dict[Node, list[Node]]:
            """Each publication's values of ``prop`` (of type ``kind``), without repeats."""
            wanted = members[kind] if kind is not None else None
            found: dict[Node, dict[Node, None]] = {}  # dicts as ordered sets
            for subject, value in uses[prop]:
                if subject in publications and (wanted is None or value in wanted):
                    found.setdefault(subject, {})[value] = None
            return {subject: list(vals) for subject, vals in found.items()}

        def bump(counter: Counter, keys: Iterable[Any]) -> None:
            if sign > 0:
                counter.update(keys)
            else:
                counter.subtract(keys)

        counts = self._counts
        per_facet = {facet: values(prop, kind) for facet, (prop, kind) in FACETS.items()}
        for facet, found in per_facet.items():
            for vals in found.values():
                bump(counts[facet], vals)
        stated_regions = values(TIP.statedRegion, TIP.Region)
        for regions in stated_regions.values():
            bump(counts["stated-region"], regions)
        years, organisations = per_facet["year"], per_facet["organisation"]
        for prefix, firsts in (("country", per_facet["country"]),
                               ("organisation", organisations)):
            bump(self._cells[prefix], ((value, year) for publication, vals in firsts.items()
                                       for value in vals for year in years.get(publication, ())))
        for orgs in organisations.values():
            ordered = sorted(orgs, key=str)
            bump(counts["organisation-pair"],
                 ((a, b) for n, a in enumerate(ordered) for b in ordered[n + 1:]))
        for publication, countries in values(TIP.statedCountry, TIP.Country).items():
            bump(counts["country-stated-region"],
                 ((country, region) for country in countries
                  for region in stated_regions.get(publication, ())))
        if sign > 0:
            titles = self.titles
            for subject, title in uses[DCT.title]:
                if subject in publications and (subject not in titles
                                                or str(title) < titles[subject]):
                    titles[subject] = str(title)

    def update(self, before: Iterable[Triple], after: Iterable[Triple],
               types_removed: Iterable[Triple], types_added: Iterable[Triple]) -> None:
        """Count again the publications whose triples changed: ``before`` holds every
        triple about them in the graph counted so far, ``after`` in the new graph (the
        closure of whole publications, as :meth:`add` takes; a publication removed has
        none after); ``types_removed`` and ``types_added`` are the ``rdf:type`` triples
        the whole graph lost and gained (a value's type is the graph's, not the
        publication's)."""
        _, uses = _index(before)
        self._count(uses, -1)
        for subject, _, kind in types_removed:
            if kind in self.members:
                self.members[kind].discard(subject)
        for subject, _, kind in types_added:
            if kind in self.members:
                self.members[kind].add(subject)
        for counter in (*self._counts.values(), *self._cells.values()):
            for key in [key for key, n in counter.items() if n <= 0]:
                del counter[key]
        gone = {subject for subject, _ in uses[DCT.title]}
        _, uses = _index(after)
        gone |= {subject for subject, _ in uses[DCT.title]}
        for subject in gone:
            title = self.titles.pop(subject, None)
            if subject not in self._retitled:
                self._was[subject] = title
        self._retitled |= gone
        self._count(uses, 1)

    def counts(self) -> dict[str, Counter]:
        """The counts of every part added so far (:func:`count`)."""
        counts = {facet: Counter(counter) for facet, counter in self._counts.items()}
        for prefix, cells in self._cells.items():
            spans: dict[Node, list[Node]] = {}
            for value, year in cells:
                spans.setdefault(value, []).append(year)
            for value, seen in spans.items():
                ordered = sorted(seen, key=str)  # years as written: "1998" < "2025"
                if prefix == "country":
                    counts["country-first-year"][value, ordered[0]] = cells[value, ordered[0]]
                counts[f"{prefix}-last-year"][value, ordered[-1]] = cells[value, ordered[-1]]
        counts["class"] = Counter({kind: len(self.members[kind]) for kind in CLASSES})
        return counts

    def sort_keys(self, previous: Mapping[bytes, int] | None = None) -> list[Triple]:
        """``<publication> tip:sortKey N``: integers increasing in title order
        (:func:`title_order`). A publication whose title (casefolded) and URI the
        previous build had keeps its key (``previous``: the previous build's keys by
        :func:`title_digest`, :func:`previous_keys`); the others are given keys between
        their neighbours' (:func:`spaced_keys`); all of them, without ``previous``.

        A publication has one title (the shapes require it); were there two, the least
        would count, as on the browse pages, whatever order the triples come in.
        """
        titles = self.titles
        self.order = title_order(titles)
        digests = [title_digest(titles[uri], uri) for uri in self.order]
        keys = [previous.get(digest) for digest in digests] if previous \
            else [None] * len(digests)
        spaced_keys(keys)
        self.keys = keys  # type: ignore[assignment]
        self.digests = bytearray(b"".join(digests))
        return [_sort_key(uri, n) for uri, n in zip(self.order, self.keys, strict=True)]

    def triples(self, base: str, previous: Mapping[bytes, int] | None = None
                ) -> list[Triple]:
        """The ``tip:Statistic`` nodes of the counts, named under ``base``, and each
        publication's ``tip:sortKey`` (:meth:`sort_keys`, from ``previous``)."""
        out: list[Triple] = self.sort_keys(previous)
        for facet, counter in self.counts().items():
            for value, n in sorted(counter.items(), key=lambda kv: str(kv[0])):
                out += _statistic(base, facet, value, n)
        return out

    def changed_lines(self, base: str, before: dict[str, Counter]
                      ) -> tuple[list[str], list[str]]:
        """The N-Triples lines of :meth:`triples` lost and gained since the counts were
        ``before`` (:meth:`counts`) and the keys :attr:`keys`: the statistics whose
        count changed, and the sort keys of the publications added, removed or given
        another key (those whose title changed, and, rarely, a few around them:
        :func:`spaced_keys`). The keys are those :meth:`sort_keys` gives from the
        previous build's."""
        retitled, titles, was = self._retitled, self.titles, self._was

        def was_key(uri: Node) -> tuple[str, str]:  # where it stood in :attr:`order`
            return title_key(was[uri] if uri in was else titles[uri], uri)  # type: ignore

        order, keys, digests = list(self.order), list(self.keys), bytearray(self.digests)
        old_keys: dict[Node, int] = {}  # of the publications retitled (or removed)
        places = []
        for uri in retitled:
            if was.get(uri) is not None:
                i = bisect_left(order, was_key(uri), key=was_key)
                if i < len(order) and order[i] == uri:
                    places.append(i)
                    old_keys[uri] = keys[i]
        for i in sorted(places, reverse=True):
            del order[i], keys[i], digests[16 * i:16 * i + 16]
        if len(order) + len(old_keys) != len(self.order):  # not where it was: look
            old_keys = {uri: key for uri, key in zip(self.order, self.keys, strict=True)
                        if uri in retitled}
            left = [n for n, uri in enumerate(self.order) if uri not in retitled]
            order = [self.order[n] for n in left]
            keys = [self.keys[n] for n in left]
            digests = bytearray(b"".join(self.digests[16 * n:16 * n + 16] for n in left))
        spaced: list[int | None] = keys  # type: ignore[assignment]
        moved = sorted((uri for uri in retitled if uri in titles),
                       key=lambda uri: title_key(titles[uri], uri))
        fresh = set()  # given a new key: its place may have changed (sort_keys)
        for uri in moved:
            i = bisect_left(order, title_key(titles[uri], uri),
                            key=lambda u: title_key(titles[u], u))
            order.insert(i, uri)
            digests[16 * i:16 * i] = title_digest(titles[uri], uri)
            title = was.get(uri)
            if title is not None and title.casefold() == titles[uri].casefold():
                spaced.insert(i, old_keys[uri])
            else:
                spaced.insert(i, None)
                fresh.add(uri)
        previous = list(spaced)
        given = spaced_keys(spaced)
        lost = [sort_key_line(order[i], previous[i]) for i in given  # type: ignore[arg-type]
                if previous[i] is not None]
        lost += [sort_key_line(uri, key) for uri, key in old_keys.items()
                 if uri in fresh or uri not in titles]
        gained = [sort_key_line(order[i], keys[i]) for i in given]
        self.order, self.keys, self.digests = order, keys, digests
        self._retitled, self._was = set(), {}
        after = self.counts()
        changed_statistics: tuple[list[Triple], list[Triple]] = ([], [])
        for facet, counter in after.items():
            was_counted = before.get(facet, Counter())
            for value in counter.keys() | was_counted.keys():
                if counter.get(value) != was_counted.get(value):
                    if value in was_counted:
                        changed_statistics[0].extend(
                            _statistic(base, facet, value, was_counted[value]))
                    if value in counter:
                        changed_statistics[1].extend(
                            _statistic(base, facet, value, counter[value]))
        return (lost + ntriples_lines(changed_statistics[0]),
                gained + ntriples_lines(changed_statistics[1]))

    def save(self, path: Path) -> None:
        """Keep the tally in ``path`` (whole or not at all), for the next build: first its
        :attr:`digests` and :attr:`keys` (what :func:`previous_keys` reads alone, as a
        string of bytes and an array: no object each), then the rest."""
        partial = path.with_name(f".{path.name}.partial")
        with partial.open("wb") as out:
            pickle.dump((TALLY_FORMAT, bytes(self.digests), array("q", self.keys)), out,
                        protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(self, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)

    def __getstate__(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items()
                if name not in ("digests", "keys")}

    def keep(self, folder: Path) -> str | None:
        """Keep the tally in ``folder`` for the next build (:meth:`update`); None, or why
        it was not kept (none is left then: that build counts every line again)."""
        try:
            self.save(folder / TALLY_FILE)
        except OSError as error:
            (folder / TALLY_FILE).unlink(missing_ok=True)
            return f"the statistics' tally was not kept ({error}): the next build counts " \
                "every line again"
        return None

    @staticmethod
    def load(path: Path) -> Tally | None:
        """The tally a build kept in ``path`` (:meth:`save`), or None."""
        try:
            with path.open("rb") as kept:
                head = _head(pickle.load(kept))
                found = pickle.load(kept)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError,
                TypeError):
            return None
        if head is None or not isinstance(found, Tally):
            return None
        found.digests, found.keys = bytearray(head[0]), head[1].tolist()
        return found


def previous_keys(build: Path | None) -> dict[bytes, int] | None:
    """The sort keys the tally of ``build`` kept, by :func:`title_digest`, read without the
    rest of it: what a full build numbers its publications from (:meth:`Tally.sort_keys`);
    None when there is no build or it kept none (an older build's: every key given
    afresh)."""
    if build is None:
        return None
    try:
        with (build / TALLY_FILE).open("rb") as kept:
            head = _head(pickle.load(kept))
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError,
            TypeError):
        return None
    if head is None:
        return None
    digests, keys = head
    return {digests[16 * n:16 * n + 16]: key for n, key in enumerate(keys)}


def _head(head: object) -> tuple[bytes, array] | None:
    """The digests and keys of a tally's first record (:meth:`Tally.save`), or None."""
    if not isinstance(head, tuple) or len(head) != 3 or head[0] != TALLY_FORMAT \
            or not isinstance(head[1], bytes) or not isinstance(head[2], array) \
            or len(head[1]) != 16 * len(head[2]):
        return None
    return head[1], head[2]


def _sort_key(uri: Node, n: int) -> Triple:
    # Literal(int) is typed xsd:integer, which Oxigraph stores inline (no string table)
    return uri, SORT_KEY, Literal(n)


def sort_key_line(uri: Node, n: int) -> str:
    """The N-Triples line of a sort key (:meth:`Tally.sort_keys`), written without making
    its terms: an incremental build writes one per publication given another key.

    >>> uri = URIRef("https://example.org/publication/a")
    >>> sort_key_line(uri, 41) == ntriples_lines([_sort_key(uri, 41)])[0]
    True
    """
    return f'<{uri}> <{SORT_KEY}> "{n}"^^<{XSD.integer}> .\n'


def _statistic(base: str, facet: str, value: Any, n: int) -> list[Triple]:
    """The triples of one ``tip:Statistic``: ``n`` publications have ``value`` (a node, or
    a tuple of nodes for a crossed facet) for ``facet``."""
    dataset = base.rstrip("/#") + "/dataset"
    if isinstance(value, tuple):  # one rdf:value each; '~' joins the escaped keys
        vals = value
        key = "~".join(quote(_key(v), safe="-._") for v in value)
    else:
        vals, key = (value,), quote(_key(value), safe="-._~")
    node = URIRef(f"{dataset}#statistic-{facet}-{key}")
    return [(node, RDF.type, TIP.Statistic), (node, TIP.facet, Literal(facet)),
            *((node, RDF.value, v) for v in vals),
            (node, TIP.count, Literal(n, datatype=XSD.integer))]


def _key(value: Node) -> str:
    return re.split(r"[/#]", str(value).rstrip("/"))[-1]


def statistics_triples(triples: Iterable[Triple], base: str) -> list[Triple]:
    """The ``tip:Statistic`` nodes describing the closure's counts, named under ``base``,
    and each publication's ``tip:sortKey`` (numbered afresh: :data:`KEY_GAP` apart).

    ``triples`` is the reasoned closure (``rdf:type`` triples included) as rdflib
    terms, in any iterable: the build hands over what it holds, not a Graph (or a part
    at a time, to a :class:`Tally`).
    """
    tally = Tally()
    tally.add(triples)
    return tally.triples(base)


def add_statistics(graph: Graph, base: str) -> int:
    """Add the statistics and sort keys to ``graph``; returns how many values were counted."""
    triples = statistics_triples(list(graph), base)
    for triple in triples:
        graph.add(triple)
    return sum(1 for _, p, _ in triples if p == TIP.facet)
