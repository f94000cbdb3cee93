"""What a build holds until its end only to write it once, kept on disk instead.

A million publications make half a gigabyte of repairs and warnings, a quarter of a
gigabyte of provenance (publication URI -> file and line) and as much of content hashes;
held in memory they would sit beside every later stage (the indexes, the validation) and
pin the heap's pages between them. A :class:`Spill` keeps items in an unlinked temporary
file, pickled a batch at a time, and reads them back in order when they are wanted.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Generic, TypeVar, overload

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

#: Items pickled at a time: the pickle's memo of what it wrote (one string said by many
#: problems is written once per batch) stays small.
BATCH = 10_000


class Spill(Generic[T]):
    """A sequence of items kept in an unlinked temporary file (in ``directory``: the build's
    own, not a ``/tmp`` that may be memory), appended a batch at a time (:meth:`extend`)
    and read back in order (iterated, or indexed, ``len``).

    A forked process may append to it for its parent: the file is shared, the count is
    not; the child gives its :meth:`told`, the parent :meth:`take` s it.

    >>> spill = Spill()
    >>> spill.extend(["a", "b"]); spill.extend(iter(["c"]))
    >>> len(spill), list(spill), spill[1:], spill[-1]
    (3, ['a', 'b', 'c'], ['b', 'c'], 'c')
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        # open as long as the spill is: closed by close(), or with it
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
        self._count = 0
        self._end = 0

    def extend(self, items: Iterable[T]) -> None:
        it = iter(items)
        while batch := list(islice(it, BATCH)):
            self._file.seek(self._end)
            pickle.dump(batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._end = self._file.tell()
            self._count += len(batch)

    def told(self) -> tuple[int, int]:
        """What a forked process that appended tells its parent (:meth:`take`)."""
        self._file.flush()
        return self._count, self._end

    def take(self, told: tuple[int, int]) -> None:
        """Count what a forked process appended (``told``: its :meth:`told`)."""
        self._count, self._end = told

    def _batches(self) -> Iterator[list[T]]:
        self._file.flush()
        offset = 0
        fd = self._file.fileno()
        while offset < self._end:
            with open(os.dup(fd), "rb") as reading:  # its own offset: appending goes on
                reading.seek(offset)
                batch = pickle.load(reading)
                offset = reading.tell()
            yield batch

    def __iter__(self) -> Iterator[T]:
        for batch in self._batches():
            yield from batch

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            return list(islice(self, start, stop, step))
        position = index + self._count if index < 0 else index
        if not 0 <= position < self._count:
            raise IndexError("spill index out of range")
        return next(islice(self, position, None))

    def close(self) -> None:
        self._file.close()


class SpilledMap(Spill[tuple[K, V]], Generic[K, V]):
    """A mapping written to a :class:`Spill` as it is filled (:meth:`update`), read back
    whole or for some keys only (:meth:`read`); a key given again takes its last value.

    >>> found = SpilledMap(); found.update({"a": 1, "b": 2}); found.update({"a": 3})
    >>> found.read(), found.read({"b", "c"})
    ({'a': 3, 'b': 2}, {'b': 2})
    """

    def update(self, mapping: Mapping[K, V]) -> None:
        self.extend(mapping.items())

    def read(self, keys: Collection[K] | None = None) -> dict[K, V]:
        """The mapping (``keys``: only the entries of these)."""
        if keys is None:
            return dict(self)
        return {key: value for key, value in self if key in keys}
