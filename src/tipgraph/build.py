"""Run the pipeline: read -> reconcile -> map -> reason -> validate -> write -> load.

Beside the store, the build writes the web app's per-build indexes
(:mod:`tipgraph.serving.indexes`), made in a process of its own from the closure.

:func:`run_build` takes the build directory's lock, writes a new build beside
the current one and makes it current only when it is complete, conforms to the
shapes and would not lose the catalogue (:func:`tipgraph.build_dir.shrink_refusal`);
a failed or refused build keeps its report (with its ``reason``) and the previous
build stays in service.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

from rdflib import URIRef

from tipgraph import __version__
from tipgraph.build_dir import (
    INDEX_FILE,
    BuildDir,
    BuildRefused,
    disk_full,
    remove_build,
    shrink_refusal,
    write_published,
)
from tipgraph.datestamps import RECORDS_FILE, publication_hashes, write_records
from tipgraph.dumps import DUMP_JOBS, NTRIPLES
from tipgraph.errors import BuildFailed, Problem, TipgraphError
from tipgraph.graphs import Triple, write_sorted_ntriples
from tipgraph.identity import Duplicate
from tipgraph.incremental import remember_build, run_incremental
from tipgraph.mapping import Mapped, map_records
from tipgraph.namespaces import DEFAULT_BASE
from tipgraph.progress import Display, Meter
from tipgraph.reasoning import closure, load_ontology
from tipgraph.reconcile import reconcile_records
from tipgraph.reference import load_reference
from tipgraph.serving.indexes import TriplesSource, make_indexes, write_indexes
from tipgraph.serving.oai_records import build_records
from tipgraph.shipped import shipped
from tipgraph.sources import SourceFile, read_sources
from tipgraph.sources.values import MAX_FIELD_CHARS
from tipgraph.statistics import statistics_triples
from tipgraph.store import load_store
from tipgraph.validation import ValidationReport, load_shapes, validate_store

DEFAULT_SOURCES = (shipped("data", "sources"),)

Progress = Callable[[str], None]
T = TypeVar("T")


@dataclass
class BuildReport:
    """What a build did; written as ``report.json``."""

    build_id: str
    base: str
    sources: list[str]
    records_read: int = 0
    records_built: int = 0
    files: list[SourceFile] = field(default_factory=list)  # the records each file holds
    rejected: list[Problem] = field(default_factory=list)
    #: records left out for an earlier record's identity: read = built + rejected + duplicates
    duplicates: list[Duplicate] = field(default_factory=list)
    repairs: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    shacl: ValidationReport | None = None
    triples: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: dict[str, float] = field(default_factory=dict)  # process peak after a stage
    #: CPU seconds per stage (this process and its finished children): on a shared
    #: machine the wall time says little, the CPU time what the stage costs
    cpu: dict[str, float] = field(default_factory=dict)
    status: str = "running"
    #: why a build was refused or failed, in one sentence (None when it was published)
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "build_id": self.build_id,
            "status": self.status,
            "reason": self.reason,
            "tipgraph_version": __version__,
            "base": self.base,
            "sources": self.sources,
            "records_read": self.records_read,
            "records_built": self.records_built,
            "records_rejected": len(self.rejected),
            "files": [f.as_dict() for f in self.files],
            "rejected": [p.as_dict() for p in self.rejected],
            "records_duplicate": len(self.duplicates),
            "duplicates": [d.as_dict() for d in self.duplicates],
            "repairs": [p.as_dict() for p in self.repairs],
            "warnings": [p.as_dict() for p in self.warnings],
            "shacl": self.shacl.as_dict() if self.shacl else None,
            "triples": self.triples,
            "timings_seconds": self.timings,
            "cpu_seconds": self.cpu,
            "peak_memory_mb": self.peak_memory_mb,
        }

    def write(self, path: Path) -> None:
        path.write_text(json_lines(self.as_dict()) + "\n", encoding="utf-8")


def run_build(sources: Sequence[Path] = DEFAULT_SOURCES, out: Path = Path("build"), *,
              base: str = DEFAULT_BASE, progress: Progress = lambda _: None,
              allow_shrink: bool = False, max_shrink: float = 0.1, min_shrink: int = 10,
              wait: bool = True, on_wait: Progress | None = None,
              max_field_chars: int = MAX_FIELD_CHARS,
              display: Display | None = None, full: bool = False) -> BuildReport:
    """Build the graph from ``sources`` into ``out`` and switch it in when it is valid
    and loses no more than ``max_shrink`` (a fraction) and ``min_shrink`` of the
    publications in service (``allow_shrink``: whatever it loses).

    One build at a time: it waits for the lock of ``out`` (``wait``; ``on_wait`` is told
    who holds it, by default ``progress``) and reads the sources only once it holds it,
    so the last build to take it is the current one. ``display`` draws each long stage's
    progress (:mod:`tipgraph.progress`: on a terminal only).

    The build is made from the build in service and what changed since
    (:mod:`tipgraph.incremental`) when that build kept what it takes; ``full``: from the
    sources alone, whatever the build in service kept.

    :raises BuildRefused: when the switch is refused (the build is kept, complete)
    :raises BuildFailed: when the graph has SHACL violations or the disk is full
        (nothing is published)
    :raises BuildLocked: when another build holds ``out`` and ``wait`` is False
    :raises TipgraphError: when a source cannot be read at all
    """
    build_dir = BuildDir(Path(out))
    gc.disable()  # millions of triples, no cycles: the collector would walk them again and again
    try:
        with build_dir.locked("a build", wait=wait, progress=on_wait or progress) as lock:
            for removed in build_dir.clean_debris():
                progress(f"removed {removed}, a build that never finished")
            build_dir.adopt_published_json()
            try:
                target = build_dir.new_build()
            except OSError as error:
                if disk_full(error, build_dir.root):
                    raise BuildFailed(f"the disk holding {build_dir.root} is full; the "
                                      "previous build is still current") from error
                raise
            lock.say(f"build {target.name}")
            report = _make_build(sources, build_dir, target, base, progress, max_field_chars,
                                 display, full=full)
            return _switch(build_dir, target, report, progress, allow_shrink=allow_shrink,
                           max_shrink=max_shrink, min_shrink=min_shrink)
    finally:
        gc.enable()


def _make_build(sources: Sequence[Path], build_dir: BuildDir, target: Path, base: str,
                progress: Progress, max_field_chars: int, display: Display | None, *,
                full: bool) -> BuildReport:
    """Make ``target``: incrementally (:mod:`tipgraph.incremental`) unless ``full`` or the
    build in service kept no state to start from, else in full, then keep the state the
    next build starts from."""
    report = None if full else run_incremental(sys.modules[__name__], sources, build_dir,
                                               target, base, progress, max_field_chars,
                                               display)
    if report is None:
        report = _run_build(sources, build_dir, target, base, progress, max_field_chars,
                            display)
        with _stage("remember", report, progress):
            remember_build(sources, target, base, max_field_chars, progress, load_reference())
    return report


def _switch(build_dir: BuildDir, target: Path, report: BuildReport, progress: Progress, *,
            allow_shrink: bool, max_shrink: float, min_shrink: int) -> BuildReport:
    """Make the complete build ``target`` current, unless it would lose the catalogue."""
    refusal = None if allow_shrink else shrink_refusal(
        target, report.as_dict(), build_dir.current(), max_shrink=max_shrink,
        min_shrink=min_shrink)
    if refusal:
        report.status, report.reason = "refused", refusal
        report.write(target / "report.json")
        build_dir.finish(target)
        raise BuildRefused(f"{refusal}; it is kept, and `tipgraph builds use {target.name} "
                           "--allow-shrink` publishes it anyway")
    report.status = "published"
    report.write(target / "report.json")
    try:
        build_dir.finish(target)
        build_dir.publish(target)
    except OSError as error:
        if not disk_full(error, build_dir.root):
            raise
        remove_build(target)
        raise BuildFailed(f"the disk holding {build_dir.root} is full: build {target.name} "
                          "was removed and the previous build is still current") from error
    progress(f"build {target.name} is current: {report.records_built} publications, "
             f"{report.triples} triples")
    return report


def _run_build(sources: Sequence[Path], build_dir: BuildDir, target: Path, base: str,
               progress: Progress, max_field_chars: int,
               display: Display | None = None) -> BuildReport:
    """Make the build ``target``, complete and valid; it is not switched in yet."""
    report = BuildReport(build_id=target.name, base=base,
                         sources=[Path(s).name for s in sources])
    dumps: list[multiprocessing.Process] = []
    indexes = _IndexWriter(target, base)
    try:
        triples, mapped, uris = _make_triples(sources, base, build_dir, report, progress,
                                              indexes, max_field_chars, display)
        with _stage("write", report, progress, display) as meter:
            nt = _write_ntriples(triples, target, report, meter)
            del triples  # tipgraph.nt holds them now
            release_memory()
            # the dumps are written from tipgraph.nt by other processes (in little memory)
            # while the indexes are finished, the store is loaded and the shapes are checked
            # (discarded with the build if it fails)
            dumps = [_start(job, target) for job in DUMP_JOBS]
        # made while this process counted and wrote N-Triples. Joined before the store is
        # loaded, the index writer gives its memory back before the loader takes its own:
        # the whole tree's peak is the larger of the two, not their sum
        with _stage("indexes", report, progress, display):
            indexes.join()
        with _stage("load", report, progress, display) as meter:
            store = load_store(nt, target / "store", meter)
        with _stage("validate", report, progress, display):
            report.shacl = validate_store(store, load_shapes(), mapped.provenance)
        del store  # release the store's write lock before readers open it
        if not report.shacl.conforms:
            raise BuildFailed(f"the graph breaks the shapes: {len(report.shacl.violations)} "
                              f"violation(s), first: {report.shacl.violations[0]}")
        # what is left of the dumps once validation is done
        with _stage("dumps", report, progress, display):
            for process in dumps:
                process.join()
                if process.exitcode != 0:
                    raise TipgraphError(f"writing the dumps failed ({process.name}: exit code "
                                        f"{process.exitcode})")
        write_published(target, uris, mapped.slugs)
    except BaseException as error:
        abandon(error, build_dir, target, report, [*dumps, *indexes.processes])
        raise
    return report


def abandon(error: BaseException, build_dir: BuildDir, target: Path, report: BuildReport,
            processes: Sequence[multiprocessing.Process]) -> None:
    """Leave the build ``target`` that ``error`` stopped: its processes killed, and either
    removed (a full disk: :class:`BuildFailed` is raised) or kept, failed, with its report."""
    for process in processes:
        if process.is_alive():
            process.kill()
    if isinstance(error, Exception) and disk_full(error, target):
        remove_build(target)
        raise BuildFailed(f"the disk holding {build_dir.root} is full: build {target.name} "
                          "was removed and the previous build is still current") from error
    report.status, report.reason = "failed", str(error) or type(error).__name__
    with contextlib.suppress(OSError):  # its report is a courtesy; the error is the news
        report.write(target / "report.json")
    shutil.rmtree(target / "store", ignore_errors=True)
    build_dir.finish(target)
    build_dir.mark_failed(target)


def _make_triples(sources: Sequence[Path], base: str, build_dir: BuildDir, report: BuildReport,
                  progress: Progress, indexes: _IndexWriter,
                  max_field_chars: int, display: Display | None = None
                  ) -> tuple[set[Triple], Mapped, list[str]]:
    """Read, reconcile, map and reason: the triples to publish, as a plain set, and the
    URIs under ``base`` they describe.

    The web indexes are made from them by ``indexes``, a process forked with the closure
    as soon as it exists and sent what the statistics add to it.
    """
    with _stage("read", report, progress, display) as meter:
        read = read_sources(sources, max_field_chars, meter)
        report.records_read = len(read.records) + len(read.rejected)
        report.files = read.files
        report.rejected = read.rejected
    with _stage("reconcile", report, progress, display) as meter:
        reference = load_reference()
        meter.step("", total=len(read.records))
        # each record let go once reconciled: records and publications are not all held
        reconciled = reconcile_records(meter.count(_handed_over(read.records)), reference)
        problems = read.problems + list(reference.problems) + reconciled.problems
        report.repairs = [p for p in problems if p.severity == "repair"]
        report.warnings = [p for p in problems if p.severity != "repair"]
        report.records_built = len(reconciled.publications)
        report.duplicates = reconciled.duplicates
        del read
    with _stage("map", report, progress, display) as meter:
        # slugs by identity from every build ever published, so that none is minted twice
        mapped = map_records(reconciled.publications, reference, base=base,
                             published=build_dir.ledger.slugs(), meter=meter)
        # what dates the OAI-PMH records: the content hash of each publication's record
        hashes = publication_hashes(reconciled.publications,
                                    {where: uri for uri, where in mapped.provenance.items()})
        del reconciled
    with _stage("reason", report, progress, display) as meter:
        triples = closure(mapped.triples, load_ontology(), base=base, meter=meter)
        mapped.triples.clear()
    # the second core is idle while this process counts and writes N-Triples
    indexes.start(triples, hashes)
    with _stage("statistics", report, progress, display) as meter:
        # counts per facet value, read by the pages and the counting queries (statistics.py)
        meter.step("counting", total=len(triples), unit="triples")
        added = list(statistics_triples(meter.count(triples), base))
        meter.step("adding")
        triples.update(added)
        indexes.send(added)
        subjects = {s for s, _, _ in triples}
        uris = [str(s) for s in subjects if type(s) is URIRef and str.startswith(s, base)]
    return triples, mapped, uris


def _handed_over(items: list[T]) -> Iterator[T]:
    """``items`` one by one, each dropped from the list as it is taken (the list is left
    empty): what the consumer does not keep is freed at once."""
    for index in range(len(items)):
        item, items[index] = items[index], None  # type: ignore[call-overload]
        yield item
    items.clear()


def _drained(items: set[T]) -> Iterator[T]:
    """The members of ``items``, each removed from it as it is taken."""
    while items:
        yield items.pop()


def _write_ntriples(triples: set[Triple], target: Path, report: BuildReport,
                    meter: Meter) -> Path:
    """Write ``tipgraph.nt``, sorted so that the dumps of two builds diff well.

    ``triples`` is emptied as its lines are made, each triple let go once it has its line,
    and the lines are sorted a run at a time and merged from disk
    (:func:`~tipgraph.graphs.write_sorted_ntriples`): the lines and the triples are not all
    held together, nor the lines all at once (the index writer has its own triples).
    """
    meter.step("N-Triples", total=len(triples), unit="triples")
    nt = target / NTRIPLES
    report.triples = write_sorted_ntriples(meter.count(_drained(triples)), nt, meter=meter)
    return nt


def _start(job: Callable[[Path], None], target: Path) -> multiprocessing.Process:
    process = multiprocessing.get_context("fork").Process(target=job, args=(target,),
                                                          name=job.__name__, daemon=True)
    process.start()
    return process


class _IndexWriter:
    """The process that makes the web indexes (:mod:`tipgraph.serving.indexes`) and writes them
    into the build, beside its store.

    Forked with the reasoned closure (a plain set the child reads as it was at the fork),
    it groups the triples by property while this process computes the statistics, then
    is sent the triples those add (down a pipe, written by a thread of this process and
    read by a thread of the child, so that neither waits for the other). A child that
    fails, or is left without a parent, writes nothing; :meth:`join` turns a failure
    into a :class:`TipgraphError`.
    """

    def __init__(self, target: Path, base: str) -> None:
        self.target = target
        self.base = base
        self.processes: list[multiprocessing.Process] = []
        self._send: Connection | None = None
        self._sender: threading.Thread | None = None

    def start(self, closure: set[Triple], hashes: dict[str, str]) -> None:
        """:param hashes: publication URI -> its content hash (what dates OAI-PMH records)"""
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_write_indexes, name="indexes", daemon=True,
                                  args=(closure, receive, send, self.target, self.base,
                                        os.getpid(), hashes))
        process.start()
        receive.close()
        self.processes.append(process)
        self._send = send

    def send(self, added: list[Triple]) -> None:
        """Send the triples added to the closure since the fork (all of them, in one go),
        from a thread: a pipe holds 64 KiB, and this process must not wait for the child
        to read the rest when the machine is busy."""
        connection = self._send
        assert connection is not None

        def run() -> None:
            try:
                connection.send(added)
            except OSError:  # the child is gone: join() says how it ended
                pass
            finally:
                connection.close()

        self._sender = threading.Thread(target=run, name="send-added", daemon=True)
        self._sender.start()

    def join(self) -> None:
        """Wait for the indexes.

        :raises TipgraphError: when the process making them failed
        """
        if self._sender is not None:
            self._sender.join()
        for process in self.processes:
            process.join()
            if process.exitcode != 0:
                raise TipgraphError(f"making the web indexes failed ({process.name}: exit code "
                                    f"{process.exitcode}); see the messages above")


def _write_indexes(closure: set[Triple], receive: Connection, send: Connection, target: Path,
                   base: str, parent: int, hashes: dict[str, str] | None = None) -> None:
    """In the child: group ``closure`` by property, take in the triples the parent added,
    make the indexes and write them to ``target/indexes.pickle``."""
    send.close()  # the parent's end: without it here, a parent gone would not end recv()
    added: list[list[Triple]] = []

    def take() -> None:
        with contextlib.suppress(EOFError):  # the parent died before it sent them
            added.append(receive.recv())

    taker = threading.Thread(target=take, name="receive-added", daemon=True)
    taker.start()
    source = TriplesSource(closure)
    taker.join()
    if not added:
        raise SystemExit("the build stopped before the statistics were made: no indexes")
    # the triples the closure has already are not added twice: the counts count the set
    source.add(t for t in dict.fromkeys(added[0]) if t not in closure)
    # the entries in files of their own (the text index) are made in the build's directory,
    # apart: linked into place when written, not copied
    work = Path(tempfile.mkdtemp(prefix=".indexes-", dir=target))
    try:
        indexes = make_indexes(source, base if base.endswith(("/", "#")) else base + "/", work)
        if os.getppid() != parent:
            raise SystemExit("the build is gone: its indexes are not written")
        write_indexes(indexes, target / INDEX_FILE)
        # what OAI-PMH lists and dates, for the switch and the read side (tipgraph.datestamps)
        write_records(build_records(indexes.catalogue, hashes or {}), target / RECORDS_FILE)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def json_lines(value: object, indent: str = "") -> str:
    """``value`` as JSON, objects indented and one list item per line.

    As readable as ``json.dumps(indent=2)`` for a report of 100,000 records' repairs, and
    written by the C encoder (which ``indent`` turns off) in a tenth of the time.

    >>> print(json_lines({"a": 1, "b": [{"x": 1}, {"x": 2}], "c": {"d": []}}))
    {
      "a": 1,
      "b": [
        {"x": 1},
        {"x": 2}
      ],
      "c": {
        "d": []
      }
    }
    """
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = (f"{inner}{json.dumps(key)}: {json_lines(item, inner)}"
                 for key, item in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value:
        items = (inner + json.dumps(item, ensure_ascii=False) for item in value)
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def peak_memory_mb() -> float | None:
    """This process's peak resident memory so far (Linux ``VmHWM``), or None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def release_memory() -> None:
    """Give the memory freed by Python back to the system (glibc's ``malloc_trim``), so that
    the processes forked next, and the store's loader, do not add to a heap held in vain.
    Nothing happens where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class _stage:
    """Time a stage, tell ``progress`` when it starts and ends, and have ``display`` draw
    the :class:`Meter` the stage counts its work on (``with _stage(...) as meter``)."""

    def __init__(self, name: str, report: BuildReport, progress: Progress,
                 display: Display | None = None) -> None:
        self.name, self.report, self.progress, self.display = name, report, progress, display

    def __enter__(self) -> Meter:
        self.started, self.cpu_started = time.perf_counter(), _cpu_seconds()
        self.progress(f"{self.name} ...")
        meter = Meter()
        self.drawing = self.display.run(self.name, meter) if self.display else None
        return meter

    def __exit__(self, *exc: object) -> None:
        if self.drawing is not None:
            self.drawing.stop()
        elapsed = time.perf_counter() - self.started
        self.report.timings[self.name] = round(elapsed, 3)
        self.report.cpu[self.name] = round(_cpu_seconds() - self.cpu_started, 3)
        peak = peak_memory_mb()
        if peak is not None:
            self.report.peak_memory_mb[self.name] = peak
        if exc[0] is None:
            self.progress(f"{self.name} done in {elapsed:.2f} s")
