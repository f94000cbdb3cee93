"""Run the pipeline: read -> reconcile -> plan -> (map -> reason -> sorted run) per part of
the catalogue -> statistics -> merge into tipgraph.nt -> indexes -> load -> validate -> dumps.

The graph is made a part of a few thousand publications at a time (:mod:`tipgraph.parts`,
:data:`PART_PUBLICATIONS`): each part's triples are counted, grouped for the web app's
per-build indexes (:mod:`tipgraph.serving.indexes`) and written as a sorted run of
N-Triples, then let go; the whole closure is never one set.

:func:`run_build` takes the build directory's lock, writes a new build beside
the current one and makes it current only when it is complete, conforms to the
shapes and would not lose the catalogue (:func:`tipgraph.build_dir.shrink_refusal`);
a failed or refused build keeps its report (with its ``reason``) and the previous
build stays in service.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import json
import multiprocessing
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import pyoxigraph

from tipgraph import __version__
from tipgraph.build_dir import (
    INDEX_FILE,
    BuildDir,
    BuildRefused,
    disk_full,
    put_published,
    remove_build,
    shrink_refusal,
    write_published,
)
from tipgraph.children import die_with_parent
from tipgraph.datestamps import RECORDS_FILE, forget_written
from tipgraph.dumps import DUMP_JOBS, NTRIPLES
from tipgraph.errors import BuildFailed, Problem, TipgraphError
from tipgraph.graphs import SortedRuns, Triple
from tipgraph.identity import Duplicate, record_identity
from tipgraph.incremental import Kept, StateWriter, dump_lines, fingerprint, run_incremental
from tipgraph.mapping import Mapped, MappingPlan, Triples
from tipgraph.namespaces import DEFAULT_BASE
from tipgraph.parts import PartMaker, Shared
from tipgraph.progress import Display, Meter
from tipgraph.reasoning import load_ontology
from tipgraph.reconcile import Publication, Reconciled
from tipgraph.reconcile import reconciled as reconciled_publications
from tipgraph.reference import Reference, load_reference
from tipgraph.serving.indexes import (
    BuildIndexes,
    LineCounts,
    PartsSource,
    make_indexes,
    write_indexes,
)
from tipgraph.serving.oai_records import write_build_records
from tipgraph.shipped import shipped
from tipgraph.sources import Record, SourceFile, SourceStream
from tipgraph.sources.values import MAX_FIELD_CHARS
from tipgraph.spill import BATCH as SPILL_BATCH
from tipgraph.spill import Spill, SpilledMap
from tipgraph.statistics import Tally, previous_keys
from tipgraph.store import load_store
from tipgraph.store.embedded import open_read_only
from tipgraph.validation import ValidationReport, load_shapes, validate_store

DEFAULT_SOURCES = (shipped("data", "sources"),)

Progress = Callable[[str], None]


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
    #: a full build's kept on disk (:class:`~tipgraph.spill.Spill`) until the report is written
    repairs: Sequence[Problem] = field(default_factory=list)
    warnings: Sequence[Problem] = field(default_factory=list)
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
        return self._entries(lambda problems: [p.as_dict() for p in problems])

    def _entries(self, problems: Callable[[Sequence[Problem]], object]) -> dict[str, object]:
        """:meth:`as_dict`, each list of problems given by ``problems``."""
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
            "rejected": problems(self.rejected),
            "records_duplicate": len(self.duplicates),
            "duplicates": [d.as_dict() for d in self.duplicates],
            "repairs": problems(self.repairs),
            "warnings": problems(self.warnings),
            "shacl": self.shacl.as_dict() if self.shacl else None,
            "triples": self.triples,
            "timings_seconds": self.timings,
            "cpu_seconds": self.cpu,
            "peak_memory_mb": self.peak_memory_mb,
        }

    def write(self, path: Path) -> None:
        path.write_text(json_lines(self._entries(_problems_json)) + "\n", encoding="utf-8")


class _Encoded(str):
    """A value's JSON text as :func:`json_lines` writes it (at an entry of the top level)."""

    __slots__ = ()


def _problems_json(problems: Sequence[Problem]) -> _Encoded:
    """What :func:`json_lines` writes of the problems' :meth:`~Problem.as_dict` at an entry
    of the top level, each text encoded once (a report has 100,000s of problems and a few
    hundred distinct texts: twice as fast)."""
    if not problems:
        return _Encoded("[]")
    texts: dict[str | int | None, str] = {None: "null"}
    known = texts.get

    def text(value: str | int | None) -> str:
        encoded = texts[value] = _encoded(value)
        return encoded

    items = [f'{{"file": {known(p.file) or text(p.file)}, '
             f'"line": {known(p.line) or text(p.line)}, '
             f'"field": {known(p.field) or text(p.field)}, '
             f'"why": {known(p.why) or text(p.why)}, '
             f'"severity": {known(p.severity) or text(p.severity)}}}' for p in problems]
    return _Encoded("[\n    " + ",\n    ".join(items) + "\n  ]")


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
    next build starts from (:class:`~tipgraph.incremental.StateWriter`: what the full
    build reconciled and planned, kept as it goes)."""
    report = None if full else run_incremental(sys.modules[__name__], sources, build_dir,
                                               target, base, progress, max_field_chars,
                                               display)
    if report is None:
        state = StateWriter(target, fingerprint(base, max_field_chars))
        try:
            report = _run_build(sources, build_dir, target, base, progress, max_field_chars,
                                display, state)
        except BaseException:
            state.discard()
            raise
        state.close(progress)  # the build is made: it never fails for want of its state
    return report


def _switch(build_dir: BuildDir, target: Path, report: BuildReport, progress: Progress, *,
            allow_shrink: bool, max_shrink: float, min_shrink: int) -> BuildReport:
    """Make the complete build ``target`` current, unless it would lose the catalogue."""
    # what the refusal reads of the report, not the whole of it (100,000s of repairs)
    said = {"base": report.base, "records_read": report.records_read,
            "rejected": [p.as_dict() for p in report.rejected[:1]]}
    refusal = None if allow_shrink else shrink_refusal(
        target, said, build_dir.current(), max_shrink=max_shrink, min_shrink=min_shrink)
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
        build_dir.publish(target, report_published=True)
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
               display: Display | None = None, state: StateWriter | None = None
               ) -> BuildReport:
    """Make the build ``target``, complete and valid; it is not switched in yet. ``state``
    is told each record reconciled and each publication's slug (for the next build, an
    incremental one)."""
    report = BuildReport(build_id=target.name, base=base,
                         sources=[Path(s).name for s in sources])
    processes: list[multiprocessing.Process] = []  # the loader and the dump writers
    # the abstracts kept on disk for the indexes, beside tipgraph.nt (removed when made)
    source = PartsSource(target / ".abstracts.pickle")
    loading: _Loading | None = None
    try:
        # the dumps are written from tipgraph.nt by processes of their own, niced, beside
        # the index makers: forked now, while this process's heap is small, and set going
        # once tipgraph.nt is written
        writing = multiprocessing.get_context("fork").Event()
        processes += [_start(job, target, writing) for job in DUMP_JOBS]
        # the store is loaded by a process of its own from the sorted runs of tipgraph.nt
        # as they are written: on the core the reading process leaves free while this one
        # maps and reasons, and while it merges the runs
        loading = _Loading(target / "store", target)
        processes.append(loading.process)
        with contextlib.closing(source):  # the abstracts' file removed, also on failure
            nt, mapped, uris, hashes = _make_graph(sources, base, build_dir, target, report,
                                                   progress, max_field_chars, display, state,
                                                   source, on_run=loading.add)
            loading.end()  # every run is handed: the loader finishes the store
            writing.set()
            # what the build publishes, written now and let go of (put in place once
            # valid): not held beside the index makers
            write_published(target, uris, mapped.slugs, aside=True)
            del uris
            mapped.slugs = {}
            with _stage("indexes", report, progress, display):
                _write_indexes(source, target, base, hashes)
        del hashes, source  # what the index makers read (a gigabyte at a million)
        forget_written()  # the OAI records: read again from their file by the switch
        release_memory()  # what the index makers took
        with _stage("load", report, progress, display) as meter:
            store = loading.wait(nt.stat().st_size, meter)
        with _stage("validate", report, progress, display):
            # beside the dump writers, when they are not done yet
            report.shacl = validate_store(store, load_shapes(), mapped.provenance)
        del store
        if not report.shacl.conforms:
            raise BuildFailed(f"the graph breaks the shapes: {len(report.shacl.violations)} "
                              f"violation(s), first: {report.shacl.violations[0]}")
        with _stage("dumps", report, progress, display):
            for process in processes:
                process.join()
                if process.exitcode == DISK_FULL_EXIT:  # said as a full disk is (abandon)
                    raise OSError(errno.ENOSPC, f"writing the dumps ({process.name}): "
                                  "no space left on device")
                if process.exitcode != 0:
                    raise TipgraphError(f"writing the dumps failed ({process.name}: exit code "
                                        f"{process.exitcode})")
        put_published(target)
    except BaseException as error:
        if loading is not None:
            loading.close()
        abandon(error, build_dir, target, report, processes)
        raise
    return report


#: Bytes of N-Triples the build's loader takes at a time
#: (:data:`tipgraph.store.embedded.LOAD_PIECE_BYTES`): it runs beside the index makers,
#: so in pieces of 8 MiB (a loader's peak of about 140 MiB at 100,000 publications, 220
#: in pieces of 16 MiB, 580 in pieces of 64 MiB, for about the same CPU time).
BUILD_LOAD_PIECE_BYTES = 8 << 20


class _Loading:
    """The store of a build loaded (:func:`load_store`) by a process of its own, spawned
    when this is made, niced (:data:`LOAD_NICENESS`), from the sorted runs of the build's
    ``tipgraph.nt`` as they are written (:meth:`add`); :meth:`end` when the last is
    handed, :meth:`wait` for the store.

    Each run is linked into ``folder`` (a hidden directory made there) for the loader,
    which removes the link once loaded: the merge removes the run itself.
    """

    def __init__(self, store_path: Path, folder: Path) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.store_path = store_path
        self.links = Path(tempfile.mkdtemp(prefix=".load-", dir=folder))
        self.loaded = spawn.RawValue("q", 0)  # bytes loaded so far, for the meter
        self.answer, send = spawn.Pipe(duplex=False)
        handed, self.runs = spawn.Pipe(duplex=False)
        self.process = spawn.Process(target=_load_apart, name="load", daemon=True,
                                     args=(handed, store_path, self.loaded, send))
        self.process.start()
        send.close()
        handed.close()

    def add(self, run: Path) -> None:
        """Have the loader load the sorted run ``run``."""
        link = self.links / run.name
        try:
            os.link(run, link)
        except OSError:  # a file system without hard links
            shutil.copyfile(run, link)
        with contextlib.suppress(OSError):  # the loader is gone: :meth:`wait` says why
            self.runs.send_bytes(os.fsencode(link))

    def end(self) -> None:
        """Every run is handed: the loader loads what it held and writes the store."""
        self.runs.close()

    def wait(self, size: int, meter: Meter) -> pyoxigraph.Store:
        """Wait for the store to be loaded (``meter`` counts the bytes, of ``size``);
        returns it open, read-only.

        :raises: what loading it raised
        """
        self.end()
        meter.step("loading", total=size, unit="bytes")
        try:
            while not self.answer.poll(0.25):
                meter.done = self.loaded.value
                if meter.done >= size and meter.step_name == "loading":
                    meter.step("writing")
            error = self.answer.recv()
        except EOFError:
            error = TipgraphError(f"loading the store stopped (exit code "
                                  f"{self.process.exitcode})")
        finally:
            self.answer.close()
        self.process.join()  # the store closed, its lock let go
        shutil.rmtree(self.links, ignore_errors=True)  # every link taken, unless it failed
        if error is not None:
            raise error
        return open_read_only(self.store_path)

    def close(self) -> None:
        """Stop the loader and remove the links it has not taken (a build that failed)."""
        self.end()
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        shutil.rmtree(self.links, ignore_errors=True)


#: How much nicer than the build the store's loader runs: beside the reading process,
#: which the build waits for, while the build maps and reasons.
LOAD_NICENESS = 5


def _load_apart(handed: Connection, store_path: Path, loaded: Any, send: Connection) -> None:
    """The loading process of :class:`_Loading`: loads the runs ``handed`` names until it
    is closed, then sends None once the store is loaded and closed, or the error that
    stopped it."""
    die_with_parent()
    with contextlib.suppress(OSError, AttributeError):
        os.nice(LOAD_NICENESS)
    try:
        load_store(_runs_handed(handed), store_path, _Told(loaded), BUILD_LOAD_PIECE_BYTES)
    except BaseException as error:  # raised again by the build
        _send_error(send, error)
    else:
        send.send(None)
    finally:
        send.close()
        handed.close()


def _runs_handed(handed: Connection) -> Iterator[Path]:
    """The runs' files named through ``handed``, until it is closed; each removed once
    the next is asked for (loaded)."""
    while True:
        try:
            run = Path(os.fsdecode(handed.recv_bytes()))
        except EOFError:
            return
        yield run
        run.unlink(missing_ok=True)


def _send_error(send: Connection, error: BaseException, *before: object) -> None:
    """Send ``error`` (after ``before``, in one tuple when given) to the build process,
    which raises it; as a :class:`TipgraphError` saying the same when it does not pickle."""
    for told in (error, TipgraphError(str(error) or type(error).__name__)):
        try:
            send.send((*before, told) if before else told)
            return
        except Exception:  # the error does not pickle: say it as text
            continue


class _Told(Meter):
    """A :class:`Meter` that tells ``shared`` (a shared integer) what it has counted, for
    another process's meter: every MiB or so, and all of it when a step ends."""

    def __init__(self, shared: Any) -> None:
        super().__init__()
        self.shared, self.told = shared, 0

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.done - self.told >= 1 << 20:  # not once a line: millions of them
            self.shared.value = self.told = self.done

    def step(self, name: str, total: int | None = None, unit: str | None = None) -> None:
        self.shared.value = self.done
        super().step(name, total, unit)
        self.told = 0


def abandon(error: BaseException, build_dir: BuildDir, target: Path, report: BuildReport,
            processes: Sequence[multiprocessing.Process]) -> None:
    """Leave the build ``target`` that ``error`` stopped: its processes killed, and either
    removed (a full disk: :class:`BuildFailed` is raised) or kept, failed, with its report."""
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()  # gone before its files are removed
    if isinstance(error, Exception) and disk_full(error, target):
        remove_build(target)
        raise BuildFailed(f"the disk holding {build_dir.root} is full: build {target.name} "
                          "was removed and the previous build is still current") from error
    report.status, report.reason = "failed", str(error) or type(error).__name__
    put_published(target, keep=False)
    with contextlib.suppress(OSError):  # its report is a courtesy; the error is the news
        report.write(target / "report.json")
    shutil.rmtree(target / "store", ignore_errors=True)
    build_dir.finish(target)
    build_dir.mark_failed(target)


#: Publications mapped and reasoned at a time (:mod:`tipgraph.parts`): what the build holds
#: of the graph at once, apart from its compact accumulations (about 125,000 triples).
PART_PUBLICATIONS = 5000


def _make_graph(sources: Sequence[Path], base: str, build_dir: BuildDir, target: Path,
                report: BuildReport, progress: Progress, max_field_chars: int,
                display: Display | None, state: StateWriter | None, source: PartsSource,
                on_run: Callable[[Path], None] | None = None
                ) -> tuple[Path, Mapped, list[str], SpilledMap[str, str]]:
    """Read the catalogue a record at a time, make its graph a part of
    :data:`PART_PUBLICATIONS` at a time (:mod:`tipgraph.parts`: records reconciled,
    planned, mapped and reasoned), and write ``tipgraph.nt``; returns it, the slugs and
    provenance of the publications, the URIs under ``base`` the graph describes and the
    content hash of each publication's record (by its URI: what dates its OAI-PMH record).
    ``source`` takes what the index makers read of the graph; ``on_run`` is told each
    sorted run written (:class:`~tipgraph.graphs.SortedRuns`).

    What is held between parts is compact: per publication its identity, slug,
    provenance, content hash and title, the counters of the statistics, what the index
    makers read (titles, abstracts, labels, links), and the triples of the nodes parts
    share (:class:`~tipgraph.parts.Shared`). Each part's triples are counted
    (:class:`~tipgraph.statistics.Tally`), kept as far as the web indexes read them
    (:class:`~tipgraph.serving.indexes.PartsSource`) and written as a sorted run of
    N-Triples, then let go; the runs are merged into ``tipgraph.nt``.
    """
    with _stage("read", report, progress, display) as meter:
        # decoded, not parsed yet; what each line gave kept for the next build
        stream = SourceStream(sources, max_field_chars, meter, keep_lines=state is not None)
    reference = load_reference()
    plan = MappingPlan(base, build_dir.ledger.slugs())  # slugs never minted twice, ever
    # what dates the OAI-PMH records: the content hash of each publication's record; and
    # where each publication is in the sources, for the validation's results: read once
    # each, at the end (a quarter of a gigabyte each at a million publications)
    hashes: SpilledMap[str, str] = SpilledMap(target)
    nt = target / NTRIPLES
    mapped = Mapped(Triples(), plan.uri.base, slugs=plan.slugs,  # one dict of them, not two
                    provenance=SpilledMap(target))
    tally = Tally()
    reconciled = Reconciled()
    with SortedRuns(nt, on_run) as runs:
        with _stage("publications", report, progress, display) as meter:
            maker = PartMaker(plan, reference, load_ontology(), base)
            shared = Shared()
            meter.step("", total=stream.expected, unit="records")
            # each record read, checked, reconciled, planned, mapped and reasoned a part at
            # a time: neither the records nor the publications are ever all held
            # the problems written to files by the reading process: what the report
            # writes at the end, not held until then
            report.repairs, report.warnings = problems = Spill(target), Spill(target)
            publications = _reconciled_apart(
                stream, reference, reconciled, meter, problems,
                each=state.record if state is not None else None,
                lines_to=state.lines_file if state is not None else None)
            with contextlib.closing(publications):  # its process ended, also on failure
                for count, made, own in _parts(publications, plan, maker, mapped, hashes,
                                               state):
                    report.records_built += count
                    _take_part(shared.new(made, own), runs, tally, source)
                    del made
            # the agents, as the last record to name each describes it
            _take_part(shared.new(maker.agents(), set()), runs, tally, source)
            del shared, maker, plan
            read = stream.read
            del stream
            if state is not None:
                state.lines_written()
            report.files = read.files
            report.rejected = read.rejected
            report.duplicates = reconciled.duplicates
            report.records_read = (report.records_built + len(report.duplicates)
                                   + len(read.rejected))
            del read, problems, reconciled
        with _stage("statistics", report, progress, display) as meter:
            # counts per facet value, read by the pages and the counting queries
            # (statistics.py), and the keys ordering publications by title, those of the
            # build in service kept where they can be (as an incremental build keeps them)
            added = tally.triples(base, previous_keys(build_dir.current()))
            _keep_tally(tally, target, progress)
            del tally
            _take_part(added, runs, None, source)
            del added
        with _stage("write", report, progress, display) as meter:
            # the dataset's counts and the URIs it describes, from the lines as they go
            source.counted = counted = LineCounts(base)
            report.triples = runs.merge(meter=meter, each=counted.add)
            counted.close()
    return nt, mapped, counted.in_space, hashes


def _parts(publications: Iterator[Publication], plan: MappingPlan, maker: PartMaker,
           mapped: Mapped, hashes: SpilledMap[str, str], state: StateWriter | None
           ) -> Iterator[tuple[int, set[Triple], set[str]]]:
    """Each part of :data:`PART_PUBLICATIONS` of ``publications`` (catalogue order), planned
    (``state`` told each slug, ``hashes`` each content hash), mapped and reasoned: (how
    many publications it has, their closure, the URIs of the part's own publications and
    records)."""
    while part := list(islice(publications, PART_PUBLICATIONS)):
        keys = [record_identity(p) for p in part]
        part_hashes: dict[str, str] = {}
        for publication, key in zip(part, keys, strict=True):
            plan.add(publication, key)
            if state is not None:
                state.built(publication, plan.slugs[key])
            if publication.content_hash:
                uri = plan.uri("publication", plan.slugs[key])
                part_hashes[str.__str__(uri)] = publication.content_hash
        hashes.update(part_hashes)
        own: set[str] = set()
        made = maker.triples(part, keys, mapped, own, agents_described=False)
        if state is not None:
            state.flush()
        count = len(part)
        del part, keys
        yield count, made, own


#: Records the reading process reconciles and hands to the build at a time.
HANDED_RECORDS = 250


def _reconciled_apart(stream: SourceStream, reference: Reference, reconciled: Reconciled,
                      meter: Meter, problems_to: tuple[Spill[Problem], Spill[Problem]],
                      each: Callable[[Kept, list[Problem], str], None]
                      | None = None, lines_to: Path | None = None) -> Iterator[Publication]:
    """The publications of ``stream``'s records in catalogue order, as
    :func:`tipgraph.reconcile.reconciled` gives them (``each``, ``reconciled``: the same,
    but ``each`` is given each publication as the state keeps it, :class:`Kept`, pickled
    once by the reading process for both),
    but read, checked and reconciled in a process of its own, forked: on a second core, it
    reconciles the next records while this one maps and reasons. ``meter`` counts the
    records; once the last publication is taken, ``stream.read`` says what reading found,
    but for what each line gave (``lines``): that the reading process writes to
    ``lines_to`` (:func:`~tipgraph.incremental.dump_lines`), when given, rather than send it;
    and for the problems, which it writes to ``problems_to`` (the repairs, then the
    warnings and errors, each in the order of ``read.problems``, the reference's problems
    and ``reconciled.problems``), not to ``stream.read`` and ``reconciled``.

    The reading process runs at most a pipe's worth of records ahead (what it sends
    waits for this one to take it). It is killed when this generator is left early.
    """
    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)
    reader = fork.Process(target=_reconcile_into,
                          args=(send, stream, reference, problems_to, lines_to),
                          name="reconcile", daemon=True)
    reader.start()
    send.close()
    try:
        while True:
            kind, counted, body = receive.recv()
            meter.advance(counted)
            if kind == "error":
                raise body
            if kind == "end":
                stream.read, duplicates, *told = body
                reconciled.duplicates.extend(duplicates)
                for spill, written in zip(problems_to, told, strict=True):
                    spill.take(written)
                break
            for pickled, problems, identity, kept in body:
                if each is not None:  # the state keeps the publication as it came
                    each(pickled, problems, identity)
                if kept:
                    yield pickled.whole()
        reader.join()
    except EOFError:
        raise TipgraphError(f"reading the sources stopped (exit code {reader.exitcode})"
                            ) from None
    finally:
        if reader.is_alive():
            reader.kill()
            reader.join()
        receive.close()


def _reconcile_into(send: Connection, stream: SourceStream, reference: Reference,
                    problems_to: tuple[Spill[Problem], Spill[Problem]],
                    lines_to: Path | None = None) -> None:
    """The reading process of :func:`_reconciled_apart`: sends ("records", records read,
    [(publication, problems, identity, kept)]) for every :data:`HANDED_RECORDS` records,
    then ("end", 0, (what reading found but its problems, duplicates, what it wrote to each
    of ``problems_to``)), or ("error", 0, error); what each line gave written to
    ``lines_to`` first, when given."""
    die_with_parent()
    ahead = _SentAhead(send)
    try:
        counted = 0
        told: list[list] = []

        def counting(records: Iterable[Record]) -> Iterator[Record]:
            nonlocal counted
            for record in records:
                counted += 1
                yield record

        def tell(publication: Publication, problems: list[Problem], identity: str) -> None:
            # pickled once, here: what the build maps, and what its state keeps as it is
            told.append([Kept.of(publication), problems, identity, False])

        reconciled = Reconciled()
        repairs, others = problems_to
        # what reconciling found, written as it comes (a gigabyte at a million records)
        found_so_far: Spill[Problem] = Spill(repairs.directory)
        for _ in reconciled_publications(counting(stream.records()), reference, reconciled,
                                         each=tell):
            told[-1][3] = True  # the record told last is the one kept
            if len(told) >= HANDED_RECORDS:
                ahead.send(("records", counted, told))
                told, counted = [], 0
                if len(reconciled.problems) >= SPILL_BATCH:
                    _share_texts(reconciled.problems)
                    found_so_far.extend(reconciled.problems)
                    reconciled.problems.clear()
        ahead.send(("records", counted, told))
        _share_texts(reconciled.problems)
        found_so_far.extend(reconciled.problems)
        if lines_to is not None:  # a dict of a million lines: not through the pipe
            dump_lines(stream.read.lines, lines_to)
            stream.read.lines = {}
        found = (stream.read.problems, list(reference.problems), found_so_far)
        _share_texts(stream.read.problems, stream.read.rejected)
        for problems in found:  # written to the build's files, not sent
            repairs.extend(p for p in problems if p.severity == "repair")
            others.extend(p for p in problems if p.severity != "repair")
        stream.read.problems = reconciled.problems = []
        ahead.send(("end", 0, (stream.read, reconciled.duplicates, repairs.told(),
                               others.told())))
        ahead.close()
    except BaseException as error:  # told to the build, which raises it
        ahead.close()
        _send_error(send, error, "error", 0)
    finally:
        send.close()


def _share_texts(*problems: list[Problem]) -> None:
    """Make the problems that say the same thing hold one string for it (a million
    records' repairs say a few hundred things: the reading process holds them until it
    ends, and pickles each text once per batch it writes). What is said does not change."""
    texts: dict[str, str] = {}
    for problem in (p for found in problems for p in found):
        # frozen, and only ever read: the same text, another string of it
        object.__setattr__(problem, "why", texts.setdefault(problem.why, problem.why))


#: Handed batches the reading process may have made and not yet sent (about two parts of
#: :data:`PART_PUBLICATIONS`): it reads on while the build maps and reasons a part.
AHEAD_BATCHES = 2 * PART_PUBLICATIONS // HANDED_RECORDS


class _SentAhead:
    """What a process sends through ``send``, pickled by it and written by a thread of its
    own, up to :data:`AHEAD_BATCHES` messages ahead of the reader at the other end: the
    process goes on while its messages wait (a pipe holds 64 KiB, a message of
    :data:`HANDED_RECORDS` records several times that). The other end reads them with
    ``Connection.recv``."""

    def __init__(self, send: Connection) -> None:
        self.connection = send
        self.waiting: queue.Queue[bytes | None] = queue.Queue(AHEAD_BATCHES)
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def send(self, message: object) -> None:
        self.waiting.put(bytes(ForkingPickler.dumps(message)))

    def close(self) -> None:
        """Wait for every message to be written (or dropped, when writing failed)."""
        if self.thread.is_alive():
            self.waiting.put(None)
            self.thread.join()

    def _write(self) -> None:
        failed = False
        while (message := self.waiting.get()) is not None:
            if not failed:
                try:
                    self.connection.send_bytes(message)
                except OSError:  # the build is gone: what is left is dropped
                    failed = True


def _keep_tally(tally: Tally, target: Path, progress: Progress) -> None:
    """Keep the statistics' tally for the next build (:meth:`Tally.keep`)."""
    if (why := tally.keep(target)) is not None:
        progress(why)


def _take_part(triples: list[Triple], runs: SortedRuns, tally: Tally | None,
               source: PartsSource) -> None:
    """Count a part's triples, keep what the indexes read of them, write them as a run."""
    if tally is not None:
        tally.add(triples)
    source.add(triples)
    runs.add(triples)


def _start(job: Callable[[Path], None], target: Path, go: Any) -> multiprocessing.Process:
    """Run ``job(target)`` in a forked process of its own, niced (:data:`DUMPS_NICENESS`),
    once ``go`` (a :class:`multiprocessing.Event` of the fork context) is set.

    Forked before the build's heap grows: a fork keeps the pages of this heap that this
    process changes while the job runs (forked later, it would keep what the indexes take
    and free). Started before the store's loader, so that it does not hold the pipe the
    loader is handed the runs through."""
    process = multiprocessing.get_context("fork").Process(
        target=_niced, args=(job, target, go), name=job.__name__, daemon=True)
    process.start()
    return process


#: How much nicer than the build the dump writers run: they run beside the loader, the
#: index makers and the validation, which the build waits for first.
DUMPS_NICENESS = 5


#: The exit code of a dump writer that found the disk full: the build then says so, and
#: removes itself, as when it finds the disk full itself (:func:`abandon`).
DISK_FULL_EXIT = 28


def _niced(job: Callable[[Path], None], target: Path, go: Any) -> None:
    die_with_parent()
    with contextlib.suppress(OSError, AttributeError):
        os.nice(DUMPS_NICENESS)
    go.wait()
    try:
        job(target)
    except OSError as error:
        if not disk_full(error, target):
            raise
        sys.exit(DISK_FULL_EXIT)  # no traceback: the build says it in one sentence


def _write_indexes(source: PartsSource, target: Path, base: str,
                   hashes: Mapping[str, str] | SpilledMap[str, str],
                   make: Callable[[str, Path], BuildIndexes] | None = None,
                   previous: Path | None = None, rehashed: Iterable[str] = ()) -> None:
    """Make the web indexes of the triples ``source`` holds and write them to
    ``target/indexes.pickle``, with what OAI-PMH lists and dates (``hashes``: publication
    URI -> its content hash).

    :param make: ``(base, directory)`` -> the indexes, made otherwise than from
        ``source`` (an incremental build's, updated from the previous build's)
    :param previous: that previous build, whose OAI-PMH records of the publications left
        as they were are copied (:func:`~tipgraph.serving.oai_records.write_build_records`;
        ``rehashed``: the publications whose record changed)
    """
    # the entries in files of their own (the text index) are made in the build's directory,
    # apart: linked into place when written, not copied
    work = Path(tempfile.mkdtemp(prefix=".indexes-", dir=target))
    try:
        base = base if base.endswith(("/", "#")) else base + "/"
        indexes = make(base, work) if make is not None else make_indexes(source, base, work)
        write_indexes(indexes, target / INDEX_FILE)
        catalogue = indexes.catalogue
        del indexes  # written: what is left of them let go before the hashes are read
        if isinstance(hashes, SpilledMap):
            hashes = hashes.read()
        # what OAI-PMH lists and dates, for the switch and the read side (tipgraph.datestamps)
        write_build_records(catalogue, hashes, target / RECORDS_FILE,
                            None if previous is None else previous / RECORDS_FILE, rehashed)
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
    if type(value) is _Encoded:
        return value
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = (f"{inner}{json.dumps(key)}: {json_lines(item, inner)}"
                 for key, item in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value:
        items = (inner + _encoded(item) for item in value)
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def _no_default(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: ``json.dumps(value, ensure_ascii=False)``, in half the time for a small value: the C
#: encoder made once, not for every value (a report holds 100,000s of them)
_c_encoder = json.encoder.c_make_encoder  # type: ignore[attr-defined]
if _c_encoder is not None:
    _encoder = _c_encoder(None, _no_default, json.encoder.encode_basestring,  # type: ignore
                          None, ": ", ", ", False, False, True)

    def _encoded(value: object) -> str:
        return "".join(_encoder(value, 0))
else:  # pragma: no cover - CPython has the C encoder
    def _encoded(value: object) -> str:
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
    gc.collect()  # the build runs with the collector off: what the indexes left in cycles
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
