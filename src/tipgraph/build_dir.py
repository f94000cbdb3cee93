"""The build directory: builds side by side, one of them current, switched atomically.

Layout of ``DIR`` (default ``build/``)::

    builds/<id>/            one build: tipgraph.ttl, .nt, .nt.gz, .jsonld, report.json,
                            store/, uris.txt (the URIs it publishes), slugs.json
                            (identity -> slug of its publications), indexes.pickle (the
                            read side's), oai-records.json (content hash and sets of
                            each publication: :mod:`tipgraph.datestamps`), .tipgraph-build (the
                            marker: nothing without it is ever deleted), .partial (while
                            it is being made: a build killed before the end keeps it)
    current -> builds/<id>  the build in service (a symlink, replaced atomically)
    failed -> builds/<id>   the last failed build, whose report is kept
    ledger.sqlite           every switch, every URI ever published, slugs by identity
                            (:mod:`tipgraph.ledger`; no rollback or prune touches it)
    oai.sqlite              every OAI-PMH record ever published, with its datestamp
                            (:mod:`tipgraph.datestamps`; written after each switch)
    lock                    held (``flock``) by the one build, switch or prune at work
    tipgraph.ttl, tipgraph.nt, tipgraph.nt.gz, tipgraph.jsonld, report.json, store
                            -> current/<name>: always the current build's files

Readers resolve ``current`` once per use (a ``readlink``), so they see either
the old build or the new one, never a half-written one. Whoever holds the lock
may delete partial builds: none of them is being made.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tipgraph.datestamps import switched, wait_past_last_switch
from tipgraph.errors import BuildFailed, TipgraphError
from tipgraph.ledger import Ledger, Switch, changed_lines
from tipgraph.namespaces import KINDS

#: The files of a build that ``DIR`` itself names, through ``current``.
BUILD_FILES = ("tipgraph.ttl", "tipgraph.nt", "tipgraph.nt.gz", "tipgraph.jsonld",
               "report.json", "store")
MARKER = ".tipgraph-build"
PARTIAL = ".partial"
URIS_FILE = "uris.txt"
SLUGS_FILE = "slugs.json"
LOCK_FILE = "lock"
#: Where builds made before the ledger kept the URIs and slugs published so far.
LEGACY_PUBLISHED = "published.json"

#: The per-build indexes the read side loads when it opens the build
#: (:mod:`tipgraph.serving.indexes` documents its schema).
INDEX_FILE = "indexes.pickle"

#: How many builds a switch keeps besides the current one and the one before it.
KEEP_PREVIOUS = 2


class BuildLocked(TipgraphError):
    """Another build, switch or prune holds the build directory (and we would not wait)."""


class BuildRefused(BuildFailed):
    """A complete, valid build that the switch refused (it would lose publications)."""


@dataclass(frozen=True)
class BuildInfo:
    """One build as ``tipgraph builds`` lists it."""

    id: str
    path: Path
    time: datetime | None
    status: str  # published, refused, failed or partial
    publications: int | None
    triples: int | None
    reason: str | None
    current: bool


@dataclass(frozen=True)
class BuildDir:
    root: Path

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.root)

    def current(self) -> Path | None:
        """The directory of the build in service, or None when there is none."""
        link = self.root / "current"
        try:
            target = os.readlink(link)
        except OSError:
            return None
        path = (self.root / target).resolve()
        return path if path.is_dir() else None

    def current_switch(self) -> tuple[Path, int] | None:
        """The current build's directory and the identity of the switch that made it
        current (the ``current`` link's inode: every switch makes a new link), so that a
        switch back to a build served before is seen as a switch; None: no build."""
        try:
            inode = os.lstat(self.root / "current").st_ino
        except OSError:
            return None
        current = self.current()
        return (current, inode) if current else None

    def current_id(self) -> str | None:
        current = self.current()
        return current.name if current else None

    # -- one at a time -----------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, doing: str, *, wait: bool = True,
               progress: Callable[[str], None] = lambda _: None) -> Iterator[_Lock]:
        """Hold the build directory's lock while the block runs.

        ``flock`` on ``DIR/lock``: the kernel drops it when its holder dies, SIGKILL
        included. The file says who holds it, for the one who waits.

        :raises BuildLocked: when it is held and ``wait`` is False
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() \
                    or "another process"
                if not wait:
                    raise BuildLocked(f"{self.root} is in use by {holder}; try again "
                                      "when it is done (or leave out --no-wait)") from None
                progress(f"waiting for {holder}, which holds {self.root / LOCK_FILE}")
                fcntl.flock(fd, fcntl.LOCK_EX)
            lock = _Lock(fd)
            lock.say(doing)
            yield lock
        finally:
            os.close(fd)  # releases the lock

    # -- making a build ----------------------------------------------------------------------

    def new_build(self) -> Path:
        """Make an empty directory for a new build, marked ours and partial."""
        self.builds.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.builds / stamp
        path.mkdir()
        (path / MARKER).write_text("tipgraph build directory\n", encoding="utf-8")
        (path / PARTIAL).touch()
        return path

    @staticmethod
    def finish(build: Path) -> None:
        """The build is whole (published, refused or failed with its report): not debris."""
        (build / PARTIAL).unlink(missing_ok=True)

    def clean_debris(self) -> list[str]:
        """Remove partial builds and half-made links: only the lock holder may.

        :returns: the ids of the builds removed
        """
        removed = []
        for info in self.list():
            if info.status == "partial" and not info.current:
                remove_build(info.path)
                removed.append(info.id)
        for link in self.root.glob(".*.*"):  # temporary links of a switch cut short
            if link.is_symlink() and link.name.split(".")[1] in ("current", "failed"):
                link.unlink(missing_ok=True)
        return removed

    # -- switching ---------------------------------------------------------------------------

    def publish(self, build: Path, *, how: str = "build", report_published: bool = False
                ) -> Switch:
        """Make ``build`` the current build in one atomic step, record it, then tidy up.

        The ledger is written first: a reader that sees the new ``current`` finds its
        switch there.

        :param report_published: the build's report says it is published already (the
            build wrote it so): not read again
        """
        wait_past_last_switch(self.root)  # OAI-PMH: a switch dated when it happens
        since = self.current()
        switch = self._record_change(build, since, how) \
            if since is not None and since != build.resolve() else None
        if switch is None:
            switch = self.ledger.record_switch(build.name, read_uris(build),
                                               _read_json(build / SLUGS_FILE) or {}, how=how)
        report = {"status": "published"} if report_published else \
            _read_json(build / "report.json") or {}
        if report.get("status") != "published":
            report.update(status="published", reason=None)
            _write_json(build / "report.json", report)
        self.finish(build)
        self._link("current", build)
        for name in BUILD_FILES:
            link = self.root / name
            if not link.is_symlink():
                if link.exists():  # a file left by hand where our link belongs
                    shutil.rmtree(link) if link.is_dir() else link.unlink()
                link.symlink_to(Path("current") / name)
        # OAI-PMH: the records this switch changes are dated, once `current` names the build
        switched(self.root, build, since)
        keep = {build}
        if (failed := self.failed()) is not None:
            keep.add(failed)
        self.prune(KEEP_PREVIOUS, also_keep=keep)
        return switch

    def _record_change(self, build: Path, since: Path, how: str) -> Switch | None:
        """Record the switch to ``build`` in the ledger as what it publishes otherwise than
        the build ``since``, when the ledger's last switch was to that build
        (:meth:`Ledger.record_change`: a build changing a few records, a few rows); None:
        not recorded."""
        uris = changed_lines(since / URIS_FILE, build / URIS_FILE)
        slugs = changed_lines(since / SLUGS_FILE, build / SLUGS_FILE)
        if uris is None or slugs is None:
            return None
        went, came = ({line.decode("utf-8", "surrogatepass") for line in lines if line}
                      for lines in uris)
        new_slugs: dict[str, str] = {}
        for line in slugs[1]:
            entry = line.strip().rstrip(b",")
            if entry.startswith(b'"'):  # "identity": "slug", a line each (_write_json)
                try:
                    new_slugs.update(json.loads(b"{" + entry + b"}"))
                except ValueError:
                    return None
            elif entry not in (b"{", b"}", b""):
                return None  # not written so
        return self.ledger.record_change(build.name, since.name, came, went, new_slugs,
                                         how=how)

    def adopt_published_json(self) -> None:
        """Start the ledger from the current build's ``published.json`` (what a build made
        before the ledger carried forward), when the ledger does not exist yet."""
        current = self.current()
        if self.ledger.path.exists() or current is None:
            return
        legacy = _read_json(current / LEGACY_PUBLISHED)
        if isinstance(legacy, dict):
            published = datetime.fromtimestamp(current.stat().st_mtime, UTC)
            self.ledger.import_history(legacy.get("uris", []), legacy.get("slugs", {}),
                                       published)
            if not (current / URIS_FILE).exists():  # what it published itself is unknown:
                (current / URIS_FILE).write_text(  # count the carried ones as its own
                    "".join(u + "\n" for u in legacy.get("uris", [])), encoding="utf-8")

    def mark_failed(self, build: Path) -> None:
        self._link("failed", build)

    def failed(self) -> Path | None:
        link = self.root / "failed"
        return link.resolve() if link.is_symlink() else None

    def _link(self, name: str, build: Path) -> None:
        temporary = self.root / f".{name}.{os.getpid()}"
        if temporary.is_symlink():
            temporary.unlink()
        temporary.symlink_to(build.relative_to(self.root))
        os.replace(temporary, self.root / name)

    # -- history -----------------------------------------------------------------------------

    def list(self) -> list[BuildInfo]:
        """Every build of ours, oldest first."""
        if not self.builds.is_dir():
            return []
        current = self.current()
        found = []
        for path in sorted(self.builds.iterdir()):
            path = path.resolve()  # as current() gives it, whatever way root was written
            if not path.is_dir() or not is_ours(path):
                continue
            report = report_summary(path / "report.json")
            status = "partial" if (path / PARTIAL).exists() else str(report.get("status")
                                                                       or "partial")
            found.append(BuildInfo(
                id=path.name, path=path, time=_id_time(path.name), status=status,
                publications=report.get("records_built"), triples=report.get("triples"),
                reason=report.get("reason"), current=path == current))
        return found

    def find(self, build_id: str) -> BuildInfo:
        """The build ``build_id`` (a unique prefix will do).

        :raises TipgraphError: when there is none, or more than one
        """
        matches = [b for b in self.list() if b.id.startswith(build_id)]
        exact = [b for b in matches if b.id == build_id]
        if exact or len(matches) == 1:
            return (exact or matches)[0]
        if not matches:
            raise TipgraphError(f"no build {build_id} in {self.builds}; see `tipgraph builds`")
        raise TipgraphError(f"{build_id} names {len(matches)} builds; give more of its id")

    def previous(self) -> Path | None:
        """The build that was current before the current one (or the newest complete
        build besides it, when the ledger does not say)."""
        current = self.current_id()
        complete = {b.id: b.path for b in self.list()
                    if b.status in ("published", "refused") and b.id != current}
        for switch in reversed(self.ledger.switches()):
            if switch.build_id in complete:
                return complete[switch.build_id]
        return complete[max(complete)] if complete else None

    def prune(self, keep: int, *, also_keep: set[Path] = frozenset()) -> list[str]:
        """Remove all but the ``keep`` newest builds besides the current one and the one
        before it (and partial ones: the caller holds the lock). Only builds carrying
        the marker are touched.

        :returns: the ids of the builds removed
        """
        removed = self.clean_debris()
        protected = {p.resolve() for p in (self.current(), self.previous(), *also_keep) if p}
        others = [b for b in reversed(self.list()) if b.path not in protected]
        for info in others[keep:]:
            remove_build(info.path)
            removed.append(info.id)
        if self.failed() is not None and not self.failed().exists():
            (self.root / "failed").unlink(missing_ok=True)
        return removed


class _Lock:
    """The held lock: what it says about its holder can be changed (a build, once named)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def say(self, doing: str) -> None:
        text = f"{doing} (pid {os.getpid()})".encode()
        with contextlib.suppress(OSError):  # only a courtesy to whoever waits
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, text, 0)


def is_ours(path: Path) -> bool:
    """Whether ``path`` is a build tipgraph made: it has the marker, or (a build made
    before the marker) a report naming it."""
    if (path / MARKER).is_file():
        return True
    report = _read_json(path / "report.json")
    return isinstance(report, dict) and report.get("build_id") == path.name


def remove_build(path: Path) -> None:
    """Delete a build of ours; anything without the marker is left alone."""
    if path.is_dir() and not path.is_symlink() and is_ours(path):
        shutil.rmtree(path, ignore_errors=True)


def read_uris(build: Path) -> list[str]:
    """The URIs ``build`` publishes (``uris.txt``); empty for a build without the file."""
    try:
        return (build / URIS_FILE).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return []


def write_published(build: Path, uris: list[str], slugs: dict[str, str], *,
                    aside: bool = False) -> None:
    """Write what ``build`` publishes: its URIs and the slugs of its publications.

    :param aside: under names of their own, put in place by :func:`put_published` once
        the build is known to be good: a build writes them as soon as it knows them and
        lets go of them (a million URIs and slugs: half a gigabyte)
    """
    names = [_aside(name) if aside else name for name in (URIS_FILE, SLUGS_FILE)]
    (build / names[0]).write_text("".join(u + "\n" for u in sorted(uris)), encoding="utf-8")
    _write_json(build / names[1], slugs)


def put_published(build: Path, *, keep: bool = True) -> None:
    """Put in place what :func:`write_published` wrote ``aside`` in ``build`` (``keep``
    False: remove it, the build failed)."""
    for name in (URIS_FILE, SLUGS_FILE):
        if keep:
            os.replace(build / _aside(name), build / name)
        else:
            (build / _aside(name)).unlink(missing_ok=True)


def _aside(name: str) -> str:
    return f".{name}.aside"


def shrink_refusal(build: Path, report: dict, in_service: Path | None, *, max_shrink: float,
                   min_shrink: int) -> str | None:
    """Why switching to ``build`` would lose the catalogue, in one sentence; None: it would not.

    Refused: a build without a publication (no record, or every record rejected), and one
    that would make more than ``max_shrink`` (a fraction) of the publications in service
    *and* more than ``min_shrink`` of them vanish.
    """
    base = str(report.get("base", ""))
    # counted in the lines of uris.txt as bytes: not 100,000s of strings made twice
    prefix = f"{base}{KINDS['publication']}/".encode()
    try:
        built = (build / URIS_FILE).read_bytes()
    except FileNotFoundError:
        built = b""
    new = _count_prefixed(built, prefix)
    if not new:
        read, rejected = int(report.get("records_read", 0)), report.get("rejected") or []
        if read == 0:
            return f"build {build.name} has no publication: its sources hold no record"
        first = rejected[0] if rejected else {}
        why = f" (first: {first.get('file')}:{first.get('line')}: {first.get('why')})" \
            if first else ""
        return (f"build {build.name} has no publication: every one of the {read} records "
                f"read was rejected{why}")
    if in_service is None or in_service == build:
        return None
    changed = changed_lines(in_service / URIS_FILE, build / URIS_FILE)
    went = changed[0] if changed is not None else set()
    old = _count_prefixed((in_service / URIS_FILE).read_bytes(), prefix) \
        if changed is not None else 0
    vanish = sum(1 for line in went if line.startswith(prefix))
    if old and vanish > max_shrink * old and vanish > min_shrink:
        return (f"build {build.name} would remove {vanish} of the {old} publications in "
                f"service ({vanish / old:.0%}; the limits are max_shrink "
                f"{max_shrink:.0%} and min_shrink {min_shrink})")
    return None


def _count_prefixed(lines: bytes, prefix: bytes) -> int:
    """How many of ``lines`` (one a line) begin with ``prefix``."""
    return (b"\n" + lines).count(b"\n" + prefix)


def disk_full(error: BaseException, where: Path) -> bool:
    """Whether ``error`` (or its cause) is a full disk, or the disk at ``where`` is full."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen) or "database or disk is full" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        stat = os.statvfs(where)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < (1 << 20)


def _id_time(build_id: str) -> datetime | None:
    try:
        return datetime.strptime(build_id, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


#: What :meth:`BuildDir.list` reads of a build's report
SUMMARY_KEYS = ("build_id", "status", "reason", "records_built", "triples")


def report_summary(path: Path, keys: Iterable[str] = SUMMARY_KEYS) -> dict[str, Any]:
    """The entries ``keys`` (one-line entries, :data:`SUMMARY_KEYS` by default) of the
    report ``path`` (empty without one): found
    by their lines (:func:`report_entries`) in its first and last 64 KiB, where both
    writers put them, not in the whole report (tens of MB at 100,000 records, read again
    at each switch); in the whole report when they are not there."""
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            head = file.read(_SUMMARY_BYTES)
            file.seek(max(len(head), size - _SUMMARY_BYTES))
            parts = (head, file.read())
    except OSError:
        return {}
    found: dict[str, Any] = {}
    for key in keys:
        marker = f'\n  "{key}": '.encode()
        for data in parts:
            start = data.find(marker)
            end = data.find(b"\n", start + len(marker)) if start != -1 else -1
            if end != -1:  # its line whole
                try:
                    found[key] = json.loads(data[start + len(marker):end].rstrip(b","))
                except ValueError:
                    continue
                break
        else:
            return report_entries(path, keys)
    return found


#: How much of the beginning and of the end of a report :func:`report_summary` reads
_SUMMARY_BYTES = 1 << 16


def report_entries(path: Path, keys: Iterable[str]) -> dict[str, Any]:
    """The entries ``keys`` of the top level of the report ``path`` (empty without one;
    the whole report when one of them is not found so).

    Found by their lines, not by parsing the whole report: both writers of a report put
    each entry of its top level on a line of its own, indented by two spaces, and nothing
    deeper at that indent (a line break in a text is written ``\\n``); an entry's value
    runs to the next such line. A report written otherwise is parsed whole.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    found: dict[str, Any] = {}
    for key in keys:
        start = data.find(f'\n  "{key}": '.encode())
        if start == -1:
            break
        start += len(key) + 7
        end = data.find(b'\n  "', start)
        if end == -1:
            end = data.rfind(b"\n}")
        try:
            found[key] = json.loads(data[start:end if end > start else len(data)].rstrip(b","))
        except ValueError:
            break
    else:
        return found
    report = _read_json(path)
    return report if isinstance(report, dict) else {}


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, value: object) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
