"""The ledger: what the build directory has ever published, and when, whatever build is current.

It lives at ``DIR/ledger.sqlite``, beside ``builds/`` and outside it, so no rollback
(``tipgraph builds use``) and no prune can lose it. It holds

- every **switch**: which build became current, when, and how (``build`` or ``use``);
  switch times only ever increase (whole seconds, each later than the one before), so
  ``Last-Modified``, ETags and OAI-PMH datestamps taken from them never go back;
- every **URI** ever published under the base, with when it was first published and,
  while the current build lacks it, since when it is retired (``410 Gone``);
- the **slug** of each publication identity (the string the mapping uses as a record's
  identity key), so a rolled-back or later build never mints another.

Why SQLite and not JSON: a switch updates hundreds of thousands of rows in one
transaction that a killed or out-of-space build cannot leave half-written; web workers
look one URI up through an index without loading the whole list; and the OAI-PMH and
incremental builds ask for ranges of datestamps. It is in the standard library, and
readers never block the one writer (write-ahead log).

Tables (``PRAGMA user_version`` is the format version, 1)::

    switches(seq INTEGER PRIMARY KEY, build_id TEXT, switched_at TEXT, how TEXT)
    uris(uri TEXT PRIMARY KEY, first_published TEXT, retired TEXT NULL)
    slugs(identity TEXT PRIMARY KEY, slug TEXT, first_build TEXT)

Times are ISO 8601 UTC strings (``2026-12-02T20:10:03Z``), which sort as they compare.
Only the build holding the build directory's lock writes (see :mod:`tipgraph.build_dir`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

LEDGER_FILE = "ledger.sqlite"
_readers = threading.local()
FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS switches (seq INTEGER PRIMARY KEY, build_id TEXT NOT NULL,
                                     switched_at TEXT NOT NULL, how TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uris (uri TEXT PRIMARY KEY, first_published TEXT NOT NULL,
                                 retired TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS slugs (identity TEXT PRIMARY KEY, slug TEXT NOT NULL,
                                  first_build TEXT NOT NULL) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Switch:
    """One switch of ``current``: ``how`` is ``build`` (a new build) or ``use`` (a rollback)."""

    seq: int
    build_id: str
    switched_at: datetime
    how: str


@dataclass(frozen=True)
class UriRecord:
    uri: str
    first_published: datetime
    retired: datetime | None  # None while the current build publishes it


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ledger:
    """The ledger of the build directory ``root`` (``root/ledger.sqlite``).

    Reading never creates the file: a directory that never published has an empty ledger.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LEDGER_FILE

    # -- reading ---------------------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection | None]:
        """A read-only connection, kept per thread and file (opening one costs ~2 ms, a
        lookup ~10 us); each statement sees the last committed switch."""
        try:
            inode = self.path.stat().st_ino
        except OSError:
            yield None
            return
        cache = _readers.__dict__.setdefault("connections", {})
        key = (str(self.path), inode)
        db = cache.get(key)
        if db is None:
            if len(cache) >= 8:  # ledgers gone or replaced (tests make many): let them go
                for old in cache.values():
                    old.close()
                cache.clear()
            db = cache[key] = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        yield db

    def switches(self) -> list[Switch]:
        """Every switch, oldest first."""
        with self._reader() as db:
            rows = db.execute("SELECT seq, build_id, switched_at, how FROM switches "
                              "ORDER BY seq").fetchall() if db else []
        return [Switch(seq, build, _time(at), how) for seq, build, at, how in rows]

    def last_switch(self) -> Switch | None:
        with self._reader() as db:
            row = db.execute("SELECT seq, build_id, switched_at, how FROM switches "
                             "ORDER BY seq DESC LIMIT 1").fetchone() if db else None
        return Switch(row[0], row[1], _time(row[2]), row[3]) if row else None

    def uri(self, uri: str) -> UriRecord | None:
        """When ``uri`` was first published and whether it is retired; None: never published."""
        with self._reader() as db:
            row = db.execute("SELECT uri, first_published, retired FROM uris WHERE uri = ?",
                             (uri,)).fetchone() if db else None
        return UriRecord(row[0], _time(row[1]), _time(row[2]) if row[2] else None) \
            if row else None

    def ever_published(self, uri: str, *, fragments: bool = False) -> bool:
        """Whether ``uri`` (or, with ``fragments``, a ``uri#...``) was ever published."""
        with self._reader() as db:
            if db is None:
                return False
            found = db.execute("SELECT 1 FROM uris WHERE uri = ?", (uri,)).fetchone()
            if found is None and fragments:  # '$' follows '#': the range of uri#...
                found = db.execute("SELECT 1 FROM uris WHERE uri >= ? AND uri < ? LIMIT 1",
                                   (uri + "#", uri + "$")).fetchone()
        return found is not None

    def uris(self, *, since: datetime | None = None) -> list[UriRecord]:
        """Every URI ever published (first published or retired at or after ``since``)."""
        query, args = "SELECT uri, first_published, retired FROM uris", ()
        if since is not None:
            query += " WHERE first_published >= ? OR retired >= ?"
            args = (_text(since),) * 2
        with self._reader() as db:
            rows = db.execute(query + " ORDER BY uri", args).fetchall() if db else []
        return [UriRecord(u, _time(f), _time(r) if r else None) for u, f, r in rows]

    def slugs(self) -> dict[str, str]:
        """The slug of every publication identity ever published."""
        with self._reader() as db:
            rows = db.execute("SELECT identity, slug FROM slugs").fetchall() if db else []
        return dict(rows)

    # -- writing (by the holder of the build directory's lock) ------------------------------

    @contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def record_switch(self, build_id: str, uris: Iterable[str], slugs: Mapping[str, str],
                      *, how: str = "build", now: datetime | None = None) -> Switch:
        """Record that ``build_id``, publishing ``uris`` and ``slugs``, became current.

        URIs it lacks are retired from now; URIs it has again are no longer retired; new
        slugs are kept (a known identity keeps its first slug). One transaction: either
        all of it is recorded or nothing.
        """
        with self._writer() as db:
            live = {uri for (uri,) in db.execute("SELECT uri FROM uris WHERE retired IS NULL")}
            now_live = set(uris)
            known = {identity for (identity,) in db.execute("SELECT identity FROM slugs")}
            return self._record(db, build_id, now_live - live, live - now_live,
                                {i: slug for i, slug in slugs.items() if i not in known},
                                how=how, now=now)

    def record_change(self, build_id: str, since: str, came: Iterable[str],
                      went: Iterable[str], slugs: Mapping[str, str], *, how: str = "build",
                      now: datetime | None = None) -> Switch | None:
        """:meth:`record_switch`, told what ``build_id`` publishes as what it has and lacks
        (``came``, ``went``) of what the build ``since`` published: only what changed is
        read and written (a build changing a few records of 100,000s, a few rows).
        ``slugs``: at least those ``since`` lacked.

        :returns: None (nothing recorded) when the last switch was not to ``since``: what
            is published then is not what ``since`` published
        """
        with self._writer() as db:
            last = db.execute("SELECT build_id FROM switches ORDER BY seq DESC LIMIT 1"
                              ).fetchone()
            if last is None or last[0] != since:
                return None
            return self._record(db, build_id, set(came), set(went), slugs, how=how, now=now)

    @staticmethod
    def _record(db: sqlite3.Connection, build_id: str, came: set[str], went: set[str],
                slugs: Mapping[str, str], *, how: str, now: datetime | None) -> Switch:
        """Write the switch to ``build_id``: ``came`` published (again), ``went`` retired,
        ``slugs`` kept unless their identities have one."""
        last = db.execute("SELECT max(switched_at) FROM switches").fetchone()[0]
        moment = (now or datetime.now(UTC)).replace(microsecond=0)
        if last is not None and moment <= _time(last):
            moment = _time(last) + timedelta(seconds=1)  # never back, never the same
        at = _text(moment)
        db.executemany("UPDATE uris SET retired = ? WHERE uri = ?",
                       ((at, uri) for uri in sorted(went)))
        # what came back was retired; the rest is new (a first build: every URI, no row)
        retired = {uri for (uri,) in db.execute("SELECT uri FROM uris WHERE retired IS NOT NULL")}
        db.executemany("UPDATE uris SET retired = NULL WHERE uri = ?",
                       ((uri,) for uri in sorted(came & retired)))
        db.executemany("INSERT OR IGNORE INTO uris (uri, first_published) VALUES (?, ?)",
                       ((uri, at) for uri in sorted(came - retired)))
        db.executemany("INSERT OR IGNORE INTO slugs VALUES (?, ?, ?)",
                       ((identity, slug, build_id) for identity, slug in slugs.items()))
        cursor = db.execute("INSERT INTO switches (build_id, switched_at, how) "
                            "VALUES (?, ?, ?)", (build_id, at, how))
        return Switch(int(cursor.lastrowid or 0), build_id, moment, how)

    def import_history(self, uris: Iterable[str], slugs: Mapping[str, str],
                       published: datetime) -> None:
        """Take in what an older build directory kept in its current ``published.json``
        (URIs and slugs, first published at ``published``), before the first switch."""
        at = _text(published)
        with self._writer() as db:
            db.executemany("INSERT OR IGNORE INTO uris (uri, first_published) VALUES (?, ?)",
                           ((u, at) for u in uris))
            db.executemany("INSERT OR IGNORE INTO slugs VALUES (?, ?, '')", slugs.items())


def changed_lines(before: Path, after: Path) -> tuple[set[bytes], set[bytes]] | None:
    """The lines of the file ``before`` that ``after`` lacks, and those of ``after`` that
    ``before`` lacks, as bytes: two builds' lists of 100,000s of entries, one a line, no
    line twice in one file (``uris.txt``, ``slugs.json``, ``oai-records.json``). Only the
    lines between the bytes they begin and end with alike are split and compared: a
    build changing a few records, a few lines. None when one of them cannot be read."""
    try:
        old, new = before.read_bytes(), after.read_bytes()
    except OSError:
        return None
    same = _common_prefix(old, new)
    start = old.rfind(b"\n", 0, same) + 1  # the first line not whole in the prefix
    tail = _common_suffix(old, new, len(old) - same, len(new) - same)
    # the lines wholly in the common end: from the first line break in it
    end = old.find(b"\n", len(old) - tail) + 1 if tail else 0
    if end == 0:
        end = len(old)
    end_new = end - len(old) + len(new)
    old_lines, new_lines = set(old[start:end].split(b"\n")), set(new[start:end_new].split(b"\n"))
    return old_lines - new_lines, new_lines - old_lines


_BLOCK = 1 << 16


def _common_prefix(a: bytes, b: bytes) -> int:
    """How many bytes ``a`` and ``b`` begin with alike."""
    size, at = min(len(a), len(b)), 0
    while at < size and a[at:at + _BLOCK] == b[at:at + _BLOCK]:
        at += _BLOCK
    at = min(at, size)
    while at < size and a[at] == b[at]:
        at += 1
    return at


def _common_suffix(a: bytes, b: bytes, a_limit: int, b_limit: int) -> int:
    """How many bytes ``a`` and ``b`` end with alike, at most ``a_limit`` of ``a`` and
    ``b_limit`` of ``b``."""
    size, at = min(a_limit, b_limit), 0
    while at + _BLOCK <= size and a[len(a) - at - _BLOCK:len(a) - at] \
            == b[len(b) - at - _BLOCK:len(b) - at]:
        at += _BLOCK
    while at < size and a[len(a) - at - 1] == b[len(b) - at - 1]:
        at += 1
    return at
