"""Read-only views of the index file's large entries, read in place (memory-mapped).

A worker of a catalogue of a million publications cannot unpickle its indexes into
Python objects at start-up: a million IRIs, titles and (title, year, links) tuples
took 20 s and 2.5 GiB per worker. So the index file (:mod:`tipgraph.serving.indexes`)
keeps them as flat buffers, out of its pickle (pickle protocol 5's out-of-band
buffers), and a worker maps the file read-only: opening it costs what the small
entries cost, and the pages of the buffers it reads are the operating system's,
cached once for every worker.

Each view reads an item when asked (a string decoded from UTF-8 per item), has the
read API of what the build made (a list, a dict) and compares equal to it; it cannot
be changed: :func:`thawed` gives the list or dict an incremental build updates.

The buffers of a view are :class:`pickle.PickleBuffer` objects when it is packed
(:meth:`Strings.pack`, ...), memoryviews of the mapped file when it is read.
"""

from __future__ import annotations

import pickle
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from pickle import PickleBuffer
from typing import Any, TypeVar, overload

T = TypeVar("T")

#: no entry in a hash table's slot
_EMPTY = 0


def _buffer(values: array | bytes | bytearray) -> PickleBuffer:
    return PickleBuffer(values)


def _view(buffer: Any, code: str) -> memoryview:
    """``buffer`` (a :class:`PickleBuffer` when packing, a memoryview when read) as
    items of the :mod:`array` type ``code``."""
    view = memoryview(buffer)
    return view.cast("B").cast(code) if view.format != code else view


def _hash(key: bytes | memoryview) -> int:
    """A hash of ``key`` that is the same in every process (Python's ``hash`` of a
    string is not)."""
    return zlib.crc32(key)



def _hash_table(blob: bytearray, offsets: array) -> array:
    """The hash table of the distinct strings of ``blob`` (each ends at its offset): slot
    -> position + 1, or :data:`_EMPTY`, by linear probing."""
    count = len(offsets) - 1
    size = 1
    while size < 2 * count + 1:
        size *= 2
    table = array("I", bytes(4 * size))
    mask = size - 1
    with memoryview(blob) as data:
        for i in range(count):
            slot = _hash(data[offsets[i]:offsets[i + 1]]) & mask
            while table[slot] != _EMPTY:
                slot = (slot + 1) & mask
            table[slot] = i + 1
    return table


def _get(sequence: Strings | Shown | Spliced, i: int | slice) -> Any:
    """``sequence[i]`` for a view that makes its ``i``-th item with ``_item``: one item,
    or a list of them for a slice, as a list indexes."""
    if isinstance(i, slice):
        return [sequence._item(k) for k in range(*i.indices(len(sequence)))]
    size = len(sequence)
    if i < 0:
        i += size
    if not 0 <= i < size:
        raise IndexError("index out of range")
    return sequence._item(i)


class Strings(Sequence[str]):
    """A sequence of strings kept as one UTF-8 buffer and the offsets of its items; with
    a hash table of them (``hashed``), :meth:`index` and ``in`` take one look-up rather
    than a scan."""

    __slots__ = ("_blob", "_mask", "_offsets", "_table")

    def __init__(self, packed: dict[str, Any]) -> None:
        self._blob = memoryview(packed["blob"]).cast("B")
        self._offsets = _view(packed["offsets"], "Q")
        table = packed.get("table")
        self._table = None if table is None else _view(table, "I")
        self._mask = 0 if table is None else len(self._table) - 1  # type: ignore[arg-type]

    @staticmethod
    def pack(values: Iterable[str], *, hashed: bool = False) -> dict[str, Any]:
        """``values`` as buffers a :class:`Strings` reads (a hash table of them when
        ``hashed``: the values must then be distinct); of a :class:`Spliced` view of
        a :class:`Strings`, the bytes of the items it kept copied as they were."""
        blob = bytearray()
        offsets = array("Q", [0])
        pieces = values.pieces() if isinstance(values, Spliced) \
            and isinstance(values.base, Strings) else ((None, values),)
        for run, items in pieces:
            if run is not None:  # a run of the view's items: their bytes as they are
                base, (start, stop) = values.base, run  # type: ignore[union-attr]
                low = base._offsets[start]
                shift = len(blob) - low
                blob += base._blob[low:base._offsets[stop]]
                offsets.extend(o + shift for o in base._offsets[start + 1:stop + 1])
                continue
            for value in items:
                blob += value.encode("utf-8", "surrogatepass")
                offsets.append(len(blob))
        packed: dict[str, Any] = {"blob": _buffer(blob), "offsets": _buffer(offsets)}
        if hashed:
            packed["table"] = _buffer(_hash_table(blob, offsets))
        return packed

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _item(self, i: int) -> str:
        offsets = self._offsets
        return str(self._blob[offsets[i]:offsets[i + 1]], "utf-8", "surrogatepass")

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        return _get(self, i)

    def __iter__(self) -> Iterator[str]:
        blob, offsets = self._blob, self._offsets
        for i in range(len(self)):
            yield str(blob[offsets[i]:offsets[i + 1]], "utf-8", "surrogatepass")

    def find(self, value: str) -> int | None:
        """The position of ``value``, or None (with a hash table: one look-up)."""
        if self._table is None:
            for i, found in enumerate(self):
                if found == value:
                    return i
            return None
        data = value.encode("utf-8", "surrogatepass")
        table, mask, blob, offsets = self._table, self._mask, self._blob, self._offsets
        slot = _hash(data) & mask
        while True:
            entry = table[slot]
            if entry == _EMPTY:
                return None
            i = entry - 1
            if blob[offsets[i]:offsets[i + 1]] == data:
                return i
            slot = (slot + 1) & mask

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        i = self.find(value) if isinstance(value, str) else None
        if i is None or i < start or (stop is not None and i >= stop):
            raise ValueError(f"{value!r} is not in the sequence")
        return i

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and self.find(value) is not None

    def __eq__(self, other: object) -> bool:
        return _same_items(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} strings, read in place>"


def _same_items(view: Sequence[Any], other: object) -> bool:
    if not isinstance(other, Sequence) or isinstance(other, str):
        return NotImplemented
    return len(view) == len(other) and all(a == b for a, b in zip(view, other, strict=True))


class Shown(Sequence[tuple[str, "str | None", tuple[Any, ...]]]):
    """The catalogue's ``shown``: for each position, (title, year, links), the links
    :class:`~tipgraph.serving.catalogue.Link` objects of a table kept in the pickle."""

    __slots__ = ("_flat", "_links", "_starts", "_titles", "_year_codes", "_years")

    def __init__(self, packed: dict[str, Any]) -> None:
        self._titles = Strings(packed["titles"])
        self._years: list[str | None] = packed["years"]
        self._year_codes = _view(packed["year_codes"], "I")
        self._links: list[Any] = packed["links"]
        self._starts = _view(packed["starts"], "Q")
        self._flat = _view(packed["flat"], "I")

    @staticmethod
    def pack(shown: Iterable[tuple[str, str | None, tuple[Any, ...]]]) -> dict[str, Any]:
        """``shown`` as buffers a :class:`Shown` reads; of a :class:`Spliced` view of a
        :class:`Shown`, the entries it kept copied as they were (their years and links
        numbered as the view numbers them)."""
        years: dict[str | None, int] = {}
        links: dict[Any, int] = {}
        year_codes, starts, flat = array("I"), array("Q", [0]), array("I")
        titles: list[str] | Spliced[str] = []
        pieces = list(shown.pieces()) if isinstance(shown, Spliced) \
            and isinstance(shown.base, Shown) else [(None, shown)]
        if isinstance(shown, Spliced) and isinstance(shown.base, Shown):
            base = shown.base
            years = {year: code for code, year in enumerate(base._years)}
            links = {link: number for number, link in enumerate(base._links)}
            titles = Spliced(base._titles, pieces=[
                run if run is not None else [title for title, _, _ in items]
                for run, items in pieces])
        for run, items in pieces:
            if run is not None:  # a run of the view's entries: copied as they are
                start, stop = run
                year_codes.frombytes(base._year_codes[start:stop].tobytes())
                low = base._starts[start]
                shift = len(flat) - low
                flat.frombytes(base._flat[low:base._starts[stop]].tobytes())
                starts.extend(s + shift for s in base._starts[start + 1:stop + 1])
                continue
            for title, year, linked in items:
                if isinstance(titles, list):
                    titles.append(title)
                code = years.get(year)
                if code is None:
                    code = years[year] = len(years)
                year_codes.append(code)
                for link in linked:
                    number = links.get(link)
                    if number is None:
                        number = links[link] = len(links)
                    flat.append(number)
                starts.append(len(flat))
        return {"titles": Strings.pack(titles), "years": list(years),
                "year_codes": _buffer(year_codes), "links": list(links),
                "starts": _buffer(starts), "flat": _buffer(flat)}

    def __len__(self) -> int:
        return len(self._year_codes)

    def _item(self, i: int) -> tuple[str, str | None, tuple[Any, ...]]:
        links, flat = self._links, self._flat
        return (self._titles._item(i), self._years[self._year_codes[i]],
                tuple(links[k] for k in flat[self._starts[i]:self._starts[i + 1]]))

    @overload
    def __getitem__(self, i: int) -> tuple[str, str | None, tuple[Any, ...]]: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, str | None, tuple[Any, ...]]]: ...

    def __getitem__(self, i: int | slice) -> Any:
        return _get(self, i)

    def __iter__(self) -> Iterator[tuple[str, str | None, tuple[Any, ...]]]:
        for i in range(len(self)):
            yield self._item(i)

    def __eq__(self, other: object) -> bool:
        return _same_items(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} shown entries, read in place>"


class StringMap(Mapping[str, tuple[str, "str | None", "str | None"]]):
    """IRI -> (text, language, datatype): the labels' titles, a key looked up in a hash
    table (:class:`Strings`)."""

    __slots__ = ("_keys", "_kind_codes", "_kinds", "_texts")

    def __init__(self, packed: dict[str, Any]) -> None:
        self._keys = Strings(packed["keys"])
        self._texts = Strings(packed["texts"])
        self._kinds: list[tuple[str | None, str | None]] = packed["kinds"]
        self._kind_codes = _view(packed["kind_codes"], "I")

    @staticmethod
    def pack(values: Mapping[str, tuple[str, str | None, str | None]]) -> dict[str, Any]:
        """``values`` as buffers a :class:`StringMap` reads; of a :class:`ChangedMap`,
        the entries it did not change copied as they were."""
        kinds: dict[tuple[str | None, str | None], int] = {}
        codes = array("I")
        keys: Iterable[str] = values
        texts: Iterable[str] = (text for text, _, _ in values.values())
        new: Iterable[tuple[str, str | None, str | None]] = values.values()
        if isinstance(values, ChangedMap):
            base = values.previous
            kinds = {kind: code for code, kind in enumerate(base._kinds)}
            gone = sorted(i for key in values.changed
                          if (i := base._keys.find(key)) is not None)
            added = {key: value for key, value in values.changed.items()
                     if value is not None}
            keys = Spliced(base._keys, gone).extend(added)
            texts = Spliced(base._texts, gone).extend(text for text, _, _ in added.values())
            for start, stop in Spliced(base._kind_codes, gone).runs():
                codes.frombytes(base._kind_codes[start:stop].tobytes())
            new = added.values()
        for _, language, datatype in new:
            code = kinds.get((language, datatype))
            if code is None:
                code = kinds[language, datatype] = len(kinds)
            codes.append(code)
        return {"keys": Strings.pack(keys, hashed=True), "texts": Strings.pack(texts),
                "kinds": list(kinds), "kind_codes": _buffer(codes)}

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def _value(self, i: int) -> tuple[str, str | None, str | None]:
        return (self._texts._item(i), *self._kinds[self._kind_codes[i]])

    def __getitem__(self, key: str) -> tuple[str, str | None, str | None]:
        i = self._keys.find(key) if isinstance(key, str) else None
        if i is None:
            raise KeyError(key)
        return self._value(i)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        i = self._keys.find(key) if isinstance(key, str) else None
        return default if i is None else self._value(i)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def items(self) -> Any:
        return zip(self._keys, (self._value(i) for i in range(len(self))), strict=True)

    def __repr__(self) -> str:
        return f"<{len(self)} labels, read in place>"


class Rows(Mapping[Any, Any]):
    """key -> a row of plain data (a dict), each row a pickle of its own in one buffer,
    unpickled when asked for; the keys (a few thousand at most) in the index file's
    pickle."""

    __slots__ = ("_blob", "_index", "_offsets")

    def __init__(self, packed: dict[str, Any]) -> None:
        self._index: dict[Any, int] = packed["index"]
        self._blob = memoryview(packed["blob"]).cast("B")
        self._offsets = _view(packed["offsets"], "Q")

    @staticmethod
    def pack(rows: Mapping[Any, Any]) -> dict[str, Any]:
        """``rows`` as buffers a :class:`Rows` reads (the rows a :class:`ChangedRows`
        did not change copied as they were, not unpickled and pickled again)."""
        index: dict[Any, int] = {}
        blob, offsets = bytearray(), array("Q", [0])
        kept = rows.previous if isinstance(rows, ChangedRows) \
            and isinstance(rows.previous, Rows) else None
        changed = rows.changed if isinstance(rows, ChangedRows) else {}
        for key in rows:
            index[key] = len(index)
            if kept is not None and key not in changed:
                blob += kept._raw(key)
            else:
                blob += pickle.dumps(rows[key], protocol=pickle.HIGHEST_PROTOCOL)
            offsets.append(len(blob))
        return {"index": index, "blob": _buffer(blob), "offsets": _buffer(offsets)}

    def _raw(self, key: Any) -> memoryview:
        i = self._index[key]
        return self._blob[self._offsets[i]:self._offsets[i + 1]]

    def __getitem__(self, key: Any) -> Any:
        return pickle.loads(self._raw(key))

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __repr__(self) -> str:
        return f"<{len(self)} rows, read in place>"


class ChangedRows(Mapping[Any, Any]):
    """The rows of a :class:`Rows` read in place with some changed: an incremental
    build's (only the rows it changed unpickled; :meth:`Rows.pack` copies the others).

    :param changed: key -> its new row, or None for a row taken out
    """

    __slots__ = ("changed", "previous")

    def __init__(self, previous: Rows, changed: dict[Any, Any]) -> None:
        if isinstance(previous, ChangedRows):  # changed twice: one layer
            changed = {**previous.changed, **changed}
            previous = previous.previous
        self.previous = previous
        self.changed = changed

    def __getitem__(self, key: Any) -> Any:
        return _overlaid(self.changed, self.previous, key)

    def __iter__(self) -> Iterator[Any]:
        changed = self.changed
        yield from (key for key in self.previous
                    if key not in changed or changed[key] is not None)
        yield from (key for key, row in changed.items()
                    if row is not None and key not in self.previous)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        if key in self.changed:
            return self.changed[key] is not None
        return key in self.previous

    def __repr__(self) -> str:
        return f"<{len(self)} rows, {len(self.changed)} of them changed>"


class Spliced(Sequence[T]):
    """A sequence read in place (:class:`Strings`, :class:`Shown`) with items taken out
    and others put in: what an incremental build makes of it, without a list of every
    item. Its pieces are runs of the view's items and lists of new ones;
    :meth:`Strings.pack` and :meth:`Shown.pack` copy the view's bytes of each run."""

    __slots__ = ("_pieces", "_starts", "base")

    def __init__(self, base: Sequence[T], removed: Iterable[int] = (), *,
                 pieces: list[tuple[int, int] | list[T]] | None = None) -> None:
        """:param removed: the positions of the items of ``base`` taken out
        :param pieces: the pieces themselves: (start, stop) of ``base``, or new items"""
        self.base = base
        if pieces is None:
            pieces, at = [], 0
            for gone in sorted(set(removed)):
                if gone > at:
                    pieces.append((at, gone))
                at = gone + 1
            if at < len(base):
                pieces.append((at, len(base)))
        self._pieces = pieces
        self._starts: list[int] = []
        self._count()

    def _count(self) -> None:
        starts, at = [], 0
        for piece in self._pieces:
            starts.append(at)
            at += piece[1] - piece[0] if isinstance(piece, tuple) else len(piece)
        starts.append(at)
        self._starts = starts

    def pieces(self) -> Iterator[tuple[tuple[int, int] | None, Sequence[T]]]:
        """Each piece: ((start, stop), ()) for a run of the view's items, (None, items)
        for new ones."""
        for piece in self._pieces:
            yield (piece, ()) if isinstance(piece, tuple) else (None, piece)

    def runs(self) -> Iterator[tuple[int, int]]:
        """The runs of the view's items kept: (start, stop)."""
        return (piece for piece in self._pieces if isinstance(piece, tuple))

    def without(self, removed: Iterable[int]) -> Spliced[T]:
        """A new sequence of these items but those at the positions ``removed``."""
        copy = Spliced(self.base, pieces=[p if isinstance(p, tuple) else list(p)
                                          for p in self._pieces])
        for i in sorted(set(removed), reverse=True):
            del copy[i]
        return copy

    def extend(self, items: Iterable[T]) -> Spliced[T]:
        """Put ``items`` in at the end (returns this)."""
        self._pieces.append(list(items))
        self._count()
        return self

    def _locate(self, i: int) -> tuple[int, int]:
        k = bisect_right(self._starts, i) - 1
        while k < len(self._pieces) and self._starts[k + 1] == self._starts[k]:
            k += 1  # an empty piece
        return k, i - self._starts[k]

    def __len__(self) -> int:
        return self._starts[-1]

    def _item(self, i: int) -> T:
        k, offset = self._locate(i)
        piece = self._pieces[k]
        return self.base[piece[0] + offset] if isinstance(piece, tuple) else piece[offset]

    def __getitem__(self, i: int | slice) -> Any:
        return _get(self, i)  # type: ignore[arg-type]

    def __setitem__(self, i: int, item: T) -> None:
        if i < 0:
            i += len(self)
        del self[i]
        self.insert(i, item)

    def __delitem__(self, i: int) -> None:
        if not 0 <= i < len(self):
            raise IndexError("index out of range")
        k, offset = self._locate(i)
        piece = self._pieces[k]
        if isinstance(piece, tuple):
            start, stop = piece
            self._pieces[k:k + 1] = [p for p in ((start, start + offset),
                                                 (start + offset + 1, stop)) if p[1] > p[0]]
        else:
            del piece[offset]
        self._count()

    def insert(self, i: int, item: T) -> None:
        """Put ``item`` in at position ``i`` (as a list inserts)."""
        i = max(0, min(i, len(self)))
        if i == len(self):
            if self._pieces and isinstance(self._pieces[-1], list):
                self._pieces[-1].append(item)
            else:
                self._pieces.append([item])
        else:
            k, offset = self._locate(i)
            piece = self._pieces[k]
            if isinstance(piece, list):
                piece.insert(offset, item)
            elif offset == 0 and k > 0 and isinstance(self._pieces[k - 1], list):
                self._pieces[k - 1].append(item)  # type: ignore[union-attr]
            else:
                start, stop = piece
                self._pieces[k:k + 1] = [p for p in ((start, start + offset), [item],
                                                     (start + offset, stop))
                                         if not isinstance(p, tuple) or p[1] > p[0]]
        self._count()

    def __iter__(self) -> Iterator[T]:
        base = self.base
        item = base._item if isinstance(base, Strings | Shown) else base.__getitem__
        for piece in self._pieces:
            if isinstance(piece, tuple):
                for i in range(*piece):
                    yield item(i)  # type: ignore[misc]
            else:
                yield from piece

    def find(self, value: Any) -> int | None:
        """The position of ``value`` (one look-up when the view has a hash table)."""
        if isinstance(self.base, Strings) and self.base._table is not None:
            at = self.base.find(value)
            for k, piece in enumerate(self._pieces):
                if isinstance(piece, tuple):
                    if at is not None and piece[0] <= at < piece[1]:
                        return self._starts[k] + at - piece[0]
                elif value in piece:
                    return self._starts[k] + piece.index(value)
            return None
        for i, found in enumerate(self):
            if found == value:
                return i
        return None

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        i = self.find(value)
        if i is None or i < start or (stop is not None and i >= stop):
            raise ValueError(f"{value!r} is not in the sequence")
        return i

    def __contains__(self, value: object) -> bool:
        return self.find(value) is not None

    def __eq__(self, other: object) -> bool:
        return _same_items(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} items, {len(self._pieces)} pieces spliced>"


class ChangedMap(MutableMapping[str, Any]):
    """A :class:`StringMap` read in place with some entries changed (set, or taken out):
    what an incremental build changes of the labels, without a dict of every entry;
    :meth:`StringMap.pack` copies the others as the view has them. It lists the entries
    left as they were, in the view's order, then those changed."""

    __slots__ = ("changed", "previous")

    def __init__(self, previous: StringMap) -> None:
        self.previous = previous
        #: key -> its new value, or None: taken out
        self.changed: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return _overlaid(self.changed, self.previous, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.changed.pop(key, None)  # set again: among the last
        self.changed[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.changed[key] = None

    def __contains__(self, key: object) -> bool:
        if key in self.changed:
            return self.changed[key] is not None
        return key in self.previous

    def __iter__(self) -> Iterator[str]:
        changed = self.changed
        yield from (key for key in self.previous if key not in changed)
        yield from (key for key, value in changed.items() if value is not None)

    def __len__(self) -> int:
        changed, previous = self.changed, self.previous
        return len(previous) - sum(1 for key in changed if key in previous) \
            + sum(1 for value in changed.values() if value is not None)

    def __repr__(self) -> str:
        return f"<{len(self.previous)} entries read in place, {len(self.changed)} changed>"


def spliced(value: T) -> T:
    """``value`` as an incremental build changes it, when it is a view read in place: a
    :class:`Spliced` of a sequence, a :class:`ChangedMap` of a map (their pack copies what
    they did not change); anything else as it is."""
    if isinstance(value, (Strings, Shown)):
        return Spliced(value)  # type: ignore[return-value]
    if isinstance(value, StringMap):
        return ChangedMap(value)  # type: ignore[return-value]
    return value


def thawed(value: T) -> T:
    """``value`` as the build makes it (a list, a dict), when it is a view read in place:
    what an incremental build changes; anything else as it is."""
    if isinstance(value, (Strings, Shown)):
        return list(value)  # type: ignore[return-value]
    if isinstance(value, StringMap):
        return dict(value.items())  # type: ignore[return-value]
    return value


def _overlaid(changed: Mapping[Any, Any], previous: Any, key: Any) -> Any:
    """``key``'s value in ``changed`` laid over ``previous`` (None in ``changed``: taken
    out), for :class:`ChangedRows` and :class:`ChangedMap`."""
    if key in changed:
        value = changed[key]
        if value is None:
            raise KeyError(key)
        return value
    return previous[key]
