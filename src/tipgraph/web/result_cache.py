"""Answers of ``/sparql`` kept for the build in service, shared by every web worker.

A build's data never changes, so the same query asked of the same build in the
same format has the same answer: the first request pays for it, the next ones
open a file. The answers are files in one directory (in shared memory,
``/dev/shm``, unless the setting ``result_cache_dir`` names another), so an
answer computed by one gunicorn worker is served by the others too, and is sent
with ``sendfile`` without being read into Python at all. The query processes
write each answer straight into the directory's ``spool/``
(:func:`tipgraph.sparql_engine.write_answer_file`); keeping it is a ``rename``.

The name of a kept answer is a digest of the whole :class:`QueryJob` (query
text, dataset, negotiated formats, limits) under a directory named after the
build; when a new build is switched in, the old build's directory is removed.
All workers together stay within ``result_cache_mb``: the bytes kept are
counted in a small file under a lock, and when they pass the budget the least
recently used answers (by modification time, set on every hit) are removed
until a tenth of the budget is free. 0 turns the cache off.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from flask import Flask, current_app

from tipgraph.sparql_engine import QueryAnswer, QueryJob, open_answer_file, write_answer_file

#: What an entry costs besides its file: the directory entry and the look-up.
_OVERHEAD = 512
_SHARED_MEMORY = Path("/dev/shm")


def answers_directory() -> str:
    """A new directory for answers: in shared memory where there is one."""
    where = _SHARED_MEMORY if os.access(_SHARED_MEMORY, os.W_OK) else None
    return tempfile.mkdtemp(prefix="tipgraph-answers-", dir=where)


class ResultCache:
    """An LRU map from (build, job) to answer files, bounded by the bytes all workers keep.

    :param budget: bytes the kept answers may take, all processes together
    :param directory: the directory shared with the other workers; None: a new one,
        removed when this object goes

    >>> cache = ResultCache(budget=4000)
    >>> job = QueryJob("ASK {}", "json", None, 10)
    >>> cache.put("b1", job, QueryAnswer("ASK", "json", b"x" * 900, 1, False))[1].read(1)
    b'x'
    >>> answer, file = cache.get("b1", job)
    >>> answer.format, file.read(3), cache.get("b2", job)
    ('json', b'xxx', None)
    >>> file.close()
    """

    def __init__(self, budget: int, directory: str | None = None) -> None:
        self.budget = budget
        if directory is None:
            directory = answers_directory()
            weakref.finalize(self, shutil.rmtree, directory, True)
        self.root = Path(directory)
        self.spool = self.root / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # flock excludes other processes, not other threads
        self._lock_file = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        weakref.finalize(self, os.close, self._lock_file)
        self.hits = self.misses = self.evictions = 0  # this process's

    @staticmethod
    def key(job: QueryJob) -> str:
        return hashlib.sha256(repr(job).encode("utf-8")).hexdigest()[:40]

    def get(self, build: str, job: QueryJob) -> tuple[QueryAnswer, BinaryIO] | None:
        """The answer kept for ``job`` on ``build`` and its file at the body, or None."""
        try:
            answer, file = open_answer_file(str(self.root / build / self.key(job)))
        except OSError:
            self.misses += 1
            return None
        with contextlib.suppress(OSError):
            os.utime(file.fileno())  # recently used: evicted last
        self.hits += 1
        return answer, file

    def put(self, build: str, job: QueryJob, answer: QueryAnswer
            ) -> tuple[QueryAnswer, BinaryIO]:
        """Keep ``answer`` (its spool file, or its body) when it fits the budget.

        Returns the answer and its file at the body, to serve it from; an answer that
        is not kept is served from a file already removed from the directory.
        """
        if answer.path is None:
            answer = write_answer_file(str(self.spool), answer)
        assert answer.path is not None
        kept, file = open_answer_file(answer.path)
        cost = os.fstat(file.fileno()).st_size + _OVERHEAD
        if cost > self.budget:  # larger than the whole budget: never kept
            os.unlink(answer.path)
            return kept, file
        final = self.root / build / self.key(job)
        with self._locked():
            size = self._size()
            if not final.parent.is_dir():  # a new build: the old answers can never be asked for
                for old in self.root.iterdir():
                    if old.is_dir() and old.name != "spool":
                        shutil.rmtree(old, ignore_errors=True)
                final.parent.mkdir()
                size = 0
            if final.exists():  # another worker kept it meanwhile
                os.unlink(answer.path)
            else:
                os.rename(answer.path, final)
                size += cost
                if size > self.budget:
                    size = self._evict(final.parent, int(self.budget * 0.9))
            self._set_size(size)
        return replace(kept, path=str(final)), file

    def discard(self, answer: QueryAnswer) -> tuple[QueryAnswer, BinaryIO]:
        """Open an answer that is not to be kept, and remove its spool file."""
        assert answer.path is not None
        kept, file = open_answer_file(answer.path)
        os.unlink(answer.path)
        return kept, file

    def statistics(self) -> dict[str, Any]:
        """What ``/health`` reports: entries and bytes kept (all workers), budget, and this
        worker's hits, misses and evictions."""
        entries = [entry for directory in self._builds() for entry in os.scandir(directory)]
        size = sum(entry.stat().st_size + _OVERHEAD for entry in entries)
        return {"entries": len(entries), "bytes": size, "budget": self.budget,
                "hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "shared": True}

    # -- the count of bytes kept, under the lock -------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _size(self) -> int:
        data = os.pread(self._lock_file, 20, 0)
        return int(data) if data.strip() else 0

    def _set_size(self, size: int) -> None:
        os.pwrite(self._lock_file, str(size).rjust(20).encode(), 0)

    def _builds(self) -> list[Path]:
        return [entry for entry in self.root.iterdir() if entry.is_dir() and entry.name != "spool"]

    def _evict(self, directory: Path, target: int) -> int:
        """Remove the least recently used answers until at most ``target`` bytes are kept;
        returns the bytes kept (counted afresh, so a miscount heals here)."""
        entries = []
        for entry in os.scandir(directory):
            with contextlib.suppress(OSError):
                stat = entry.stat()
                entries.append((stat.st_mtime_ns, stat.st_size + _OVERHEAD, entry.path))
        entries.sort()
        size = sum(cost for _, cost, _ in entries)
        for _, cost, path in entries:
            if size <= target:
                break
            with contextlib.suppress(OSError):
                os.unlink(path)
                size -= cost
                self.evictions += 1
        return size


def init_app(app: Flask) -> None:
    """Make this worker's handle on the cache (the setting ``result_cache_dir``, shared
    with the other workers of ``tipgraph serve``, or a directory of its own)."""
    config = app.config["TIPGRAPH"]
    megabytes = float(config["result_cache_mb"])
    if megabytes > 0:
        app.extensions["tipgraph.result_cache"] = ResultCache(
            int(megabytes * 1024 * 1024), config["result_cache_dir"] or None)


def get_result_cache() -> ResultCache | None:
    """The cache, or None when the setting turns it off."""
    return current_app.extensions.get("tipgraph.result_cache")
