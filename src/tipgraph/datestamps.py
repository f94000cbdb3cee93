"""Datestamps that mean something: when a record's change became visible (OAI-PMH).

A record's datestamp is the switch time of the first build in which its content hash
differs from the build in service before it; a record the new build lacks is deleted
from that switch on, for ever (until a build publishes it again: then it changed). The
switch may be a new build or a rollback (``tipgraph builds use``): a rollback changes
the records it changes *at its own switch time*, so no datestamp ever goes back.

What a build publishes for OAI-PMH (:class:`BuildRecords`: each publication's content
hash, :func:`tipgraph.identity.content_hash`, and its sets) is written by the build beside
its store, in ``builds/<id>/oai-records.json`` (:data:`RECORDS_FILE`, made from the browse
index by :mod:`tipgraph.serving.oai_records`): a file of its own, like ``uris.txt`` and
``slugs.json`` that the ledger takes at a switch, because the switch reads it (from
:mod:`tipgraph.build_dir`, which the read side imports, so it cannot import the read
side's index file: the import walls) and needs a tenth of what that file holds. The
web workers read it too, for the records they list. The datestamps live in
``DIR/oai.sqlite`` (:data:`DATESTAMPS_FILE`), beside the ledger and outside ``builds/``,
so that no prune or rollback loses them. Only the holder of the build directory's lock
writes them, once per switch (:func:`switched`, called by
:meth:`tipgraph.build_dir.BuildDir.publish` for a new build and for ``builds use``),
after ``current`` names the new build, at the switch's time (:func:`switch_time`: the
ledger's, or the link's when later): a harvest answered before that saw the old build
and has a ``responseDate`` no later than the datestamps the switch writes, so its next
incremental harvest (``from`` = that ``responseDate``) gets every record the switch
changed.

Between the switch of ``current`` and the write (or for a build directory that never
wrote the file), the read side (:mod:`tipgraph.serving.oai`) applies the same step in
memory (:func:`served_state`) with the time of the switch of ``current``: what it serves
is what the file will say.

Table (``PRAGMA user_version`` 1)::

    records(uri TEXT PRIMARY KEY, hash TEXT, datestamp INTEGER, deleted INTEGER,
            sets TEXT)           -- datestamp: seconds since the epoch, UTC
    applied(build_id TEXT, switched_at INTEGER)   -- the last switch written
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from tipgraph.ledger import Ledger, changed_lines

log = logging.getLogger(__name__)

DATESTAMPS_FILE = "oai.sqlite"
#: The file a build writes beside its store.
RECORDS_FILE = "oai-records.json"
#: What that file holds and in which version (bump it when its shape changes).
RECORDS_FORMAT = "tipgraph oai records 1"
FORMAT_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (uri TEXT PRIMARY KEY, hash TEXT NOT NULL,
    datestamp INTEGER NOT NULL, deleted INTEGER NOT NULL, sets TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS applied (build_id TEXT NOT NULL, switched_at INTEGER NOT NULL);
"""
_SEPARATOR = " "  # setSpecs hold no space


@dataclass
class BuildRecords:
    """The publications of one build as OAI-PMH sees them."""

    #: publication URI -> (content hash, setSpecs)
    records: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    #: setSpec -> set name
    sets: dict[str, str] = field(default_factory=dict)


#: The records this process wrote last, by the file it wrote (:func:`_file_id`): the
#: switch that follows a build takes them from here, not from the file it just wrote
_written: tuple[tuple[int, ...], BuildRecords] | None = None


def _file_id(path: Path) -> tuple[int, ...]:
    found = path.stat()
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


def write_records(records: BuildRecords, path: Path) -> None:
    """Write ``records`` to ``path`` whole or not at all."""
    global _written
    write_record_lines(path, records.sets, [
        record_line(uri, digest, sets).encode("utf-8", "surrogatepass")
        for uri, (digest, sets) in records.records.items()])
    _written = (_file_id(path), records)


def forget_written() -> None:
    """Let go of the records this process wrote last (:func:`write_records`): a full build
    writes them with its indexes, then loads, dumps and validates its graph before its
    switch, and would hold them all that time (a third of a gigabyte at a million
    publications); its switch reads the file instead."""
    global _written
    _written = None


def record_line(uri: str, digest: str, sets: Iterable[str]) -> str:
    """The line of one record in the file :func:`write_records` writes."""
    return f"{_encoded(uri)}:{_encoded([digest, list(sets)])}"


def write_record_lines(path: Path, sets: dict[str, str], lines: list[bytes]) -> None:
    """Write the records of a build, a line each (:func:`record_line`), and the names of
    its sets to ``path``, whole or not at all: a record a line, so that a switch compares
    two builds' records line by line (:func:`changed_records`) and an incremental build
    copies the lines of the records it did not change (:mod:`tipgraph.serving.oai_records`).
    """
    global _written
    _written = None
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    head = json.dumps({"format": RECORDS_FORMAT, "sets": sets}, ensure_ascii=False,
                      separators=(",", ":"))
    try:
        with partial.open("wb") as out:
            out.write(f'{head[:-1]},"records":{{\n'.encode("utf-8", "surrogatepass"))
            out.write(b",\n".join(lines))
            out.write(b"\n}}\n")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def record_lines(path: Path) -> list[bytes] | None:
    """The lines of the records in the file ``path`` (:func:`write_record_lines`), in
    order, as bytes; None when it is not written so."""
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError:
        return None
    if len(lines) < 3 or lines[-2:] != [b"}}", b""] \
            or not lines[0].startswith(b'{"format":"%s"' % RECORDS_FORMAT.encode()):
        return None
    del lines[-2:], lines[0]
    if lines == [b""]:  # no record
        return []
    if lines:
        lines[-1] += b","
    return [line[:-1] for line in lines]


_encoded = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def changed_records(before: Path, after: Path) -> tuple[set[str], BuildRecords] | None:
    """What differs between the records two builds wrote (:func:`write_records`): the URIs
    whose record one of them lacks or has otherwise, and the records ``after`` has of
    them; read line by line, only the changed lines decoded. None when one of them
    cannot be read so."""
    lines = changed_lines(before / RECORDS_FILE, after / RECORDS_FILE)
    if lines is None:
        return None
    touched: set[str] = set()
    found = BuildRecords()
    try:
        for which, changed in enumerate(lines):
            for line in changed:
                if not line.startswith(b'"'):  # the head, or the end
                    if line.startswith(b"{") and which == 1:
                        head = json.loads(line + b"}}")
                        if head["format"] != RECORDS_FORMAT:
                            return None
                    continue
                ((uri, (digest, sets)),) = json.loads(b"{" + line.rstrip(b",") + b"}").items()
                touched.add(uri)
                if which == 1:
                    found.records[uri] = (digest, tuple(sets))
    except (ValueError, TypeError, KeyError):  # not written so
        return None
    return touched, found


def read_records(build: Path) -> BuildRecords | None:
    """The records the build in ``build`` wrote, or None for a build without them (made
    before they were written, or of another format)."""
    global _written
    if _written is not None:  # those this process wrote last, once, if that is the file
        written, _written = _written, None
        with contextlib.suppress(OSError):
            if _file_id(build / RECORDS_FILE) == written[0]:
                return written[1]
    try:
        payload = json.loads((build / RECORDS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("format") != RECORDS_FORMAT:
        return None
    return BuildRecords({uri: (h, tuple(s)) for uri, (h, s) in payload["records"].items()},
                        payload["sets"])


def publication_hashes(publications: Iterable[Any],
                       uri_of: Mapping[tuple[str, int], str]) -> dict[str, str]:
    """Publication URI -> its content hash (what its record says, never its file or line).

    :param publications: reconciled publications (:class:`tipgraph.reconcile.Publication`)
    :param uri_of: (source file, line) -> the URI the mapping minted for that record
    """
    hashes = {}
    for publication in publications:
        uri = uri_of.get((publication.source, publication.line))
        if uri is not None and publication.content_hash:
            hashes[uri] = publication.content_hash
    return hashes


class Stamp(NamedTuple):
    """What the datestamps say of one record (a tuple: a worker makes 100,000 of them)."""

    hash: str
    datestamp: int  # seconds since the epoch, UTC
    deleted: bool
    sets: tuple[str, ...]


@dataclass
class State:
    """Every record ever published, as of the switch to ``build_id`` (None: no switch)."""

    stamps: dict[str, Stamp]
    build_id: str | None = None
    switched_at: int | None = None


def switch_second(state: State, at: int) -> int:
    """The time a switch at ``at`` is recorded with: ``at``, or a second after the switch
    before it when that is later. Switch times only ever increase, so a record changed by
    a switch has a datestamp later than every datestamp before it (what a list resumed
    across a switch relies on: :mod:`tipgraph.web.oai_protocol`).

    >>> switch_second(State({}, "a", 100), 100), switch_second(State({}, "a", 100), 250)
    (101, 250)
    """
    return at if state.switched_at is None else max(at, state.switched_at + 1)


def advance(state: State, records: BuildRecords, at: int) -> dict[str, Stamp]:
    """The stamps that change when a build with ``records`` becomes current at ``at``
    (seconds since the epoch, from :func:`switch_second`): new or changed records,
    records deleted now, records published again."""
    changed: dict[str, Stamp] = {}
    stamps = state.stamps
    for uri, (digest, sets) in records.records.items():
        old = stamps.get(uri)
        if old is None or old.deleted or old.hash != digest:
            changed[uri] = Stamp(digest, at, False, sets)
        elif old.sets != sets:  # the same record in other sets (a region renamed): no change
            changed[uri] = Stamp(old.hash, old.datestamp, False, sets)
    for uri, old in stamps.items():
        if not old.deleted and uri not in records.records:
            changed[uri] = Stamp(old.hash, at, True, old.sets)
    return changed


class Datestamps:
    """The datestamps of the build directory ``root`` (``root/oai.sqlite``)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / DATESTAMPS_FILE

    def version(self) -> tuple[int, int] | None:
        """Changes whenever a switch is written (for caches); None without the file."""
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size

    def state(self, uris: Iterable[str] | None = None) -> State:
        """Every record's stamp as of the last switch written (empty without the file);
        those of ``uris`` only, when given."""
        if not self.path.is_file():
            return State({})
        query = "SELECT uri, hash, datestamp, deleted, sets FROM records"
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
            if uris is None:
                rows: Iterable[tuple[Any, ...]] = db.execute(query)
            else:
                wanted, rows = sorted(uris), []
                for start in range(0, len(wanted), 500):
                    part = wanted[start:start + 500]
                    rows += db.execute(f"{query} WHERE uri IN ({','.join('?' * len(part))})",
                                       part).fetchall()
            stamps = {uri: Stamp(digest, stamp, bool(deleted),
                                 tuple(sets.split(_SEPARATOR)) if sets else ())
                      for uri, digest, stamp, deleted, sets in rows}
            applied = db.execute("SELECT build_id, switched_at FROM applied").fetchone()
        return State(stamps, *(applied or (None, None)))

    def last_switch_second(self) -> int | None:
        """The second the last switch written is dated with (None without one)."""
        if not self.path.is_file():
            return None
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
            applied = db.execute("SELECT switched_at FROM applied").fetchone()
        return applied[0] if applied else None

    def record_switch(self, build_id: str, records: BuildRecords, at: int, *,
                      since: tuple[str, set[str]] | None = None) -> State | None:
        """Write what the switch to ``build_id`` at ``at`` changes, in one transaction.

        :param since: (a build, the URIs whose records differ between it and
            ``build_id``): ``records`` then holds only those ``build_id`` has of them, and
            only their stamps are read (a build changing a few records, a few rows);
            nothing is written when the last switch written was not to that build
        :return: the state after it (the stamps of the URIs ``since`` names only, with
            it); None when nothing was written
        """
        state = self.state(None if since is None else since[1])
        if since is not None and state.build_id != since[0]:
            return None
        switched = switch_second(state, at)
        changed = advance(state, records, switched)
        with closing(sqlite3.connect(self.path, isolation_level=None)) as db:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
                               ((uri, s.hash, s.datestamp, int(s.deleted),
                                 _SEPARATOR.join(s.sets)) for uri, s in changed.items()))
                db.execute("DELETE FROM applied")
                db.execute("INSERT INTO applied VALUES (?, ?)", (build_id, switched))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        state.stamps.update(changed)
        return State(state.stamps, build_id, switched)


def served_state(state: State, build_id: str, records: BuildRecords, switched_at: int
                 ) -> State:
    """The state to serve ``build_id`` with: ``state`` itself when its last switch written
    is that build's, else ``state`` advanced in memory to it at ``switched_at``."""
    if state.build_id == build_id:
        return state
    stamps: Mapping[str, Stamp] = state.stamps
    at = switch_second(state, switched_at)
    return State({**stamps, **advance(state, records, at)}, build_id, at)


def switched(root: Path, build: Path, since: Path | None = None) -> State | None:
    """Record the switch of ``root``'s ``current`` to ``build``: called by whoever switched
    it (holding the build directory's lock), once ``current`` names it. Nothing for a build
    without OAI records; a failure to write is logged, not raised (the build is current
    already, and the read side serves the datestamps as they would have been written).

    :param since: the build ``current`` named before: when the last switch written was to
        it, only the records that differ from its are read and written
        (:func:`changed_records`)
    """
    try:
        datestamps, at = Datestamps(root), switch_time(root, build.name)
        changed = changed_records(since, build) if since is not None else None
        if changed is not None:
            touched, records = changed
            state = datestamps.record_switch(build.name, records, at,
                                             since=(since.name, touched))  # type: ignore
            if state is not None:
                return state
        records = read_records(build)
        if records is None:
            return None
        return datestamps.record_switch(build.name, records, at)
    except (OSError, sqlite3.Error) as error:
        log.warning("the OAI-PMH datestamps of the switch to %s were not written (%s)",
                    build.name, error)
        return None


def wait_past_last_switch(root: Path) -> None:
    """Sleep until the clock is past the second of the last switch (under a second, and
    only for switches in the same second). A switch is then dated with the time it
    happens, never :func:`switch_second`'s second after the last: no datestamp is ahead of
    the clock, so a harvest's ``from`` taken from a ``responseDate`` never finds a record
    twice."""
    try:
        last = Datestamps(root).last_switch_second()
    except sqlite3.Error:
        return
    if last is not None and (wait := last + 1 - time.time()) > 0:
        time.sleep(min(wait, 2.0))


def switch_time(root: Path, build_id: str) -> int:
    """When ``build_id`` became current in ``root``, in whole seconds: the ledger's time of
    the switch, or the time the ``current`` link was replaced, whichever is later (the
    ledger is written just before the link: a harvest answered from the build before has
    a ``responseDate`` no later than this, and ``from`` is inclusive, to the second)."""
    linked = int((Path(root) / "current").lstat().st_mtime)
    last = Ledger(root).last_switch()
    if last is not None and last.build_id == build_id:
        return max(linked, int(last.switched_at.timestamp()))
    return linked
