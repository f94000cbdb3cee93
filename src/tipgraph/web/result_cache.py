"""Answers of ``/sparql`` kept for the build in service, shared by every web worker.

A build's data never changes, so the same query asked of the same build in the
same format has the same answer: the first request pays for it, the next ones
open a file. The answers are files in one directory (in shared memory,
``/dev/shm``, unless the setting ``result_cache_dir`` names another), so an
answer computed by one gunicorn worker is served by the others too, and is sent
with ``sendfile`` without being read into Python at all. The query processes
write each large answer straight into the directory's ``spool/``
(:func:`tipgraph.sparql_engine.write_answer_file`); keeping it is a ``rename``.
A small answer comes back through the pipe, is sent from memory, and is written
and renamed once it has been sent (:meth:`ResultCache.keep`).

The name of a kept answer is a digest of the whole :class:`QueryJob` (query
text, dataset, negotiated formats, limits) under a directory named after the
build; when a new build is switched in, the old build's directory is removed.
All workers together stay within ``result_cache_mb``: the bytes kept are
counted in a small file under a lock, and when they pass the budget the least
recently used answers (by modification time, set on every hit) are removed
until a tenth of the budget is free. 0 turns the cache off.

A request a worker has already answered from a kept file, byte for byte the
same (method, URL, body, and the headers the answer depends on: ``Accept``,
``Origin``, ``Host``), is answered again by :class:`Replay` before Flask routes
it: the same headers, the same file, no parsing, negotiation or look-up of the
query (measured: a third of the time of a hit through the whole app). Anything
else, or a conditional request, or a new build, takes the whole way.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from werkzeug.http import http_date
from werkzeug.wsgi import wrap_file

from tipgraph.sparql_engine import (
    QueryAnswer,
    QueryJob,
    job_tag,
    open_answer_file,
    write_answer_file,
)
from tipgraph.web.protocol import CONDITIONAL, WSGIApp

#: Runs what is left of a keep elsewhere (a thread pool's ``submit``): ``keep(later=...)``.
Later = Callable[[Callable[[], object]], object]
#: What an entry costs besides its file: the directory entry and the look-up.
_OVERHEAD = 512
_SHARED_MEMORY = Path("/dev/shm")


def answers_directory() -> str:
    """A new directory for answers: in shared memory where there is one.

    Its name carries this process's id; the directories of processes that are gone
    (killed before they could remove theirs) are removed first, so shared memory
    does not fill up with them.
    """
    where = _SHARED_MEMORY if os.access(_SHARED_MEMORY, os.W_OK) else Path(tempfile.gettempdir())
    for old in where.glob("tipgraph-answers-*-*"):
        owner = old.name.split("-")[2]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"tipgraph-answers-{os.getpid()}-", dir=where)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@functools.lru_cache(maxsize=32)
def _key(job: QueryJob) -> str:
    """A job's name in the cache (asked three times for a new answer: look-up, place,
    keep; the job's ``repr`` is the costly part)."""
    return hashlib.sha256(job_tag(job).encode("utf-8")).hexdigest()[:40]


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
        self._root = str(directory)  # joined as a string on every look-up: pathlib costs
        self.spool = self.root / "spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # flock excludes other processes, not other threads
        self._lock_file = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        weakref.finalize(self, os.close, self._lock_file)
        self.hits = self.misses = self.evictions = 0  # this process's

    @staticmethod
    def key(job: QueryJob) -> str:
        return _key(job)

    def get(self, build: str, job: QueryJob) -> tuple[QueryAnswer, BinaryIO] | None:
        """The answer kept for ``job`` on ``build`` and its file at the body, or None."""
        try:
            answer, file = open_answer_file(self.path_of(build, job))
        except OSError:
            self.misses += 1
            return None
        with contextlib.suppress(OSError):
            os.utime(file.fileno())  # recently used: evicted last
        self.hits += 1
        return answer, file

    def path_of(self, build: str, job: QueryJob) -> str:
        """Where the answer to ``job`` on ``build`` is kept (when it is): a string, since
        it is joined on every look-up and pathlib costs there."""
        return os.path.join(self._root, build, self.key(job))

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
        final = self._keep(build, job, answer.path, os.fstat(file.fileno()).st_size)
        return replace(kept, path=str(final) if final else None), file

    def keep(self, build: str, job: QueryJob, answer: QueryAnswer, *,
             later: Later | None = None) -> None:
        """Keep ``answer``, already sent from its body, when it fits the budget.

        :param later: given (e.g. a thread pool's ``submit``), nothing here waits: when
            another thread or worker holds the cache's lock, or answers are to be removed
            (an eviction, a new build), the rest is handed to ``later``. An asyncio loop
            keeps its answers itself this way: handing every keep to a thread cost a small
            query a third more CPU (the two threads taking Python's lock in turns), where
            the keep itself costs 40-70 us.
        """
        assert answer.path is None
        spooled = write_answer_file(str(self.spool), answer)
        assert spooled.path is not None
        self._keep(build, job, spooled.path, os.stat(spooled.path).st_size, later)

    def _keep(self, build: str, job: QueryJob, path: str, length: int,
              later: Later | None = None) -> Path | None:
        """Move the spool file ``path`` (``length`` bytes) to its place; None when it
        does not fit at all (or, with ``later``, when it is handed to ``later``)."""
        cost = length + _OVERHEAD
        if cost > self.budget:  # larger than the whole budget: never kept
            os.unlink(path)
            return None
        final = self.path_of(build, job)  # strings, not paths: this is on every new answer
        directory = os.path.dirname(final)
        with self._locked(wait=later is None) as locked:
            size = self._size() if locked else 0
            new_build = locked and not os.path.isdir(directory)
            if later is not None and (not locked or new_build or size + cost > self.budget):
                later(functools.partial(self._keep, build, job, path, length))
                return None  # the lock held elsewhere, or files to remove: in ``later``
            if new_build:  # a new build: the old answers can never be
                for old in self.root.iterdir():  # asked for
                    if old.is_dir() and old.name != "spool":
                        shutil.rmtree(old, ignore_errors=True)
                os.mkdir(directory)
                size = 0
            if os.path.exists(final):  # another worker kept it meanwhile
                os.unlink(path)
            else:
                os.rename(path, final)
                size += cost
                if size > self.budget:
                    size = self._evict(Path(directory), int(self.budget * 0.9))
            self._set_size(size)
        return Path(final)

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
    def _locked(self, wait: bool = True) -> Iterator[bool]:
        """The cache's lock (this process's threads, then the other workers) for the
        block; whether it was taken: without ``wait``, not when another holds it."""
        if not self._lock.acquire(blocking=wait):
            yield False
            return
        try:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        finally:
            self._lock.release()

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
        self._sweep_spool()
        size = sum(cost for _, cost, _ in entries)
        for _, cost, path in entries:
            if size <= target:
                break
            with contextlib.suppress(OSError):
                os.unlink(path)
                size -= cost
                self.evictions += 1
        return size

    def _sweep_spool(self, age: float = 600.0) -> None:
        """Remove spool files left by query processes stopped while writing (old ones only:
        a file being written now is young)."""
        now = time.time()
        for entry in os.scandir(self.spool):
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > age:
                    os.unlink(entry.path)


# -- answering a repeated request before Flask routes it --------------------------------------

#: What selects an answer besides the method, path, query string and body.
_KEY_HEADERS = ("CONTENT_TYPE", "HTTP_ACCEPT", "HTTP_ORIGIN", "HTTP_HOST", "SERVER_NAME",
                "SERVER_PORT", "SCRIPT_NAME", "wsgi.url_scheme")
#: Set by the endpoint on a response served from a kept file: (build id, file).
REPLAYABLE = "tipgraph.replayable"


class Replay:
    """WSGI middleware: a request this worker answered from a kept file, answered again.

    :param app: the Flask app's ``wsgi_app``
    :param current_build: the id of the build in service (a ``readlink``)
    :param entries: how many requests to remember
    """

    def __init__(self, app: WSGIApp, cache: ResultCache, current_build: Callable[[], str],
                 *, path: str = "/sparql", max_body: int = 1_000_000,
                 entries: int = 4096) -> None:
        self.app, self.cache, self.current_build = app, cache, current_build
        self.path, self.max_body, self.entries = path, max_body, entries
        self._seen: OrderedDict[bytes, tuple[str, str, int, list[tuple[str, str]]]] = \
            OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        key = self.key(environ)
        if key is None:
            return self.app(environ, start_response)
        replayed = self.replayed(key)
        if replayed is not None:
            file, headers = replayed
            start_response("200 OK", [*headers, ("Date", http_date())])
            return wrap_file(environ, file, 65536)  # gunicorn's: sent with sendfile
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            captured[:] = [status, headers]
            return start_response(status, headers, *rest)

        body = self.app(environ, capture)
        replayable = environ.get(REPLAYABLE)
        if replayable and captured:
            self.remember(key, replayable, *captured)
        return body

    def replayed(self, key: bytes) -> tuple[BinaryIO, list[tuple[str, str]]] | None:
        """The kept file (at the body) and headers (but ``Date``) of the request ``key``
        names, when this worker answered it from a file that is still the build's answer;
        else None."""
        with self._lock:
            seen = self._seen.get(key)
        if seen is None:
            return None
        build, path, length, headers = seen
        try:
            if build != self.current_build():
                raise OSError("a new build")
            file = open_answer_file(path)[1]
            if os.fstat(file.fileno()).st_size - file.tell() != length:
                file.close()  # kept again meanwhile, differently
                raise OSError("another answer")
        except Exception:  # evicted, a new build, no build: the whole way
            with self._lock:
                self._seen.pop(key, None)
            return None
        with contextlib.suppress(OSError):
            os.utime(file.fileno())
        self.cache.hits += 1
        return file, headers

    def remember(self, key: bytes, replayable: tuple[str, str], status: str,
                 headers: list[tuple[str, str]]) -> None:
        """Remember that the request ``key`` was answered (``status``, ``headers``) from
        the kept file ``replayable`` names (build id, path); only a 200 is replayed."""
        if not status.startswith("200 "):
            return
        headers = [(name, "hit" if name == "X-Cache" else value)
                   for name, value in headers if name != "Date"]
        length = int(dict(headers).get("Content-Length", -1))
        with self._lock:
            self._seen[key] = (*replayable, length, headers)
            while len(self._seen) > self.entries:
                self._seen.popitem(last=False)

    def key(self, environ: dict[str, Any]) -> bytes | None:
        """A digest of all that selects the answer, or None for a request not to replay
        (another path or method, conditional, or a body too long to read here)."""
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") != self.path or method not in ("GET", "POST") or any(
                name in environ for name in CONDITIONAL):
            return None
        digest = hashlib.sha256()
        for name in ("REQUEST_METHOD", "QUERY_STRING", *_KEY_HEADERS):
            digest.update(str(environ.get(name, "")).encode("utf-8", "surrogateescape") + b"\0")
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return None
            if length > self.max_body or environ.get("HTTP_TRANSFER_ENCODING"):
                return None
            data = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(data)  # read again by the app
            digest.update(data)
        return digest.digest()
