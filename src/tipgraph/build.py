"""Run the pipeline: read -> reconcile -> map -> reason -> validate -> write -> load.

:func:`run_build` writes a new build beside the current one and makes it
current only when it is complete and conforms to the shapes; a failed build
keeps its report (``DIR/failed/report.json``) and the previous build stays in
service.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph
from rdflib import Graph, URIRef

from tipgraph import __version__
from tipgraph.builds import BuildDir
from tipgraph.errors import BuildFailed, Problem
from tipgraph.formats import jsonld_context, rdf_format, write_rdf
from tipgraph.mapping import map_records
from tipgraph.namespaces import DEFAULT_BASE
from tipgraph.reasoning import infer, load_ontology
from tipgraph.reconcile import reconcile_records
from tipgraph.reference import load_reference
from tipgraph.sources import read_sources
from tipgraph.statistics import add_statistics
from tipgraph.store import load_store, open_store
from tipgraph.validation import ValidationReport, load_shapes, validate_graph

DEFAULT_SOURCES = (Path(__file__).resolve().parents[2] / "data" / "sources",)
PUBLISHED_FILE = "published.json"

Progress = Callable[[str], None]


@dataclass
class BuildReport:
    """What a build did; written as ``report.json``."""

    build_id: str
    base: str
    sources: list[str]
    records_read: int = 0
    records_built: int = 0
    rejected: list[Problem] = field(default_factory=list)
    repairs: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    shacl: ValidationReport | None = None
    triples: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: dict[str, float] = field(default_factory=dict)  # process peak after a stage
    status: str = "running"

    def as_dict(self) -> dict[str, object]:
        return {
            "build_id": self.build_id,
            "status": self.status,
            "tipgraph_version": __version__,
            "base": self.base,
            "sources": self.sources,
            "records_read": self.records_read,
            "records_built": self.records_built,
            "records_rejected": len(self.rejected),
            "rejected": [p.as_dict() for p in self.rejected],
            "repairs": [p.as_dict() for p in self.repairs],
            "warnings": [p.as_dict() for p in self.warnings],
            "shacl": self.shacl.as_dict() if self.shacl else None,
            "triples": self.triples,
            "timings_seconds": self.timings,
            "peak_memory_mb": self.peak_memory_mb,
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")


def run_build(sources: Sequence[Path] = DEFAULT_SOURCES, out: Path = Path("build"), *,
              base: str = DEFAULT_BASE, progress: Progress = lambda _: None) -> BuildReport:
    """Build the graph from ``sources`` into ``out`` and switch it in when it is valid.

    :raises BuildFailed: when the graph has SHACL violations (nothing is published)
    :raises TipgraphError: when a source cannot be read at all
    """
    build_dir = BuildDir(Path(out))
    target = build_dir.new_build()
    report = BuildReport(build_id=target.name, base=base,
                         sources=[Path(s).name for s in sources])
    try:
        graph, published = _make_graph(sources, base, build_dir, report, progress)
        if not report.shacl.conforms:
            raise BuildFailed(f"the graph breaks the shapes: {len(report.shacl.violations)} "
                              f"violation(s), first: {report.shacl.violations[0]}")
        _write_outputs(graph, target, report, progress)
        (target / PUBLISHED_FILE).write_text(json.dumps(published, indent=1, sort_keys=True),
                                             encoding="utf-8")
    except BaseException:
        report.status = "failed"
        report.write(target / "report.json")
        shutil.rmtree(target / "store", ignore_errors=True)
        build_dir.mark_failed(target)
        raise
    report.status = "published"
    report.write(target / "report.json")
    build_dir.publish(target)
    progress(f"build {target.name} is current: {report.records_built} publications, "
             f"{report.triples} triples")
    return report


def _make_graph(sources: Sequence[Path], base: str, build_dir: BuildDir, report: BuildReport,
                progress: Progress) -> tuple[Graph, dict[str, object]]:
    with _stage("read", report, progress):
        read = read_sources(sources)
        report.records_read = len(read.records) + len(read.rejected)
        report.rejected = read.rejected
    with _stage("reconcile", report, progress):
        reference = load_reference()
        reconciled = reconcile_records(read.records, reference)
        problems = read.problems + reconciled.problems
        report.repairs = [p for p in problems if p.severity == "repair"]
        report.warnings = [p for p in problems if p.severity != "repair"]
        report.records_built = len(reconciled.publications)
    with _stage("map", report, progress):
        previous = _previous_published(build_dir)
        mapped = map_records(reconciled.publications, reference, base=base,
                             published=previous.get("slugs", {}))
    with _stage("reason", report, progress):
        graph = infer(mapped.triples, load_ontology(), base=base)
        add_statistics(graph, base)  # counts per facet value, read by the pages (statistics.py)
    with _stage("validate", report, progress):
        report.shacl = validate_graph(graph, load_shapes(), mapped.provenance,
                                      workers=os.cpu_count() or 1)
    report.triples = len(graph)
    uris = {str(s) for s in graph.subjects() if isinstance(s, URIRef) and str(s).startswith(base)}
    published = {"slugs": {**previous.get("slugs", {}), **mapped.slugs},
                 "uris": sorted(uris | set(previous.get("uris", [])))}
    return graph, published


def _previous_published(build_dir: BuildDir) -> dict:
    current = build_dir.current()
    if current is None or not (current / PUBLISHED_FILE).exists():
        return {}
    return json.loads((current / PUBLISHED_FILE).read_text(encoding="utf-8"))


def _write_outputs(graph: Graph, target: Path, report: BuildReport, progress: Progress) -> None:
    """N-Triples from rdflib (sorted, so dumps diff well), then everything else from the
    loaded store: pyoxigraph writes Turtle and JSON-LD some 30 times faster than rdflib."""
    nt = target / "tipgraph.nt"
    with _stage("load", report, progress):
        lines = sorted(f"{s.n3()} {p.n3()} {o.n3()} .\n" for s, p, o in graph)
        nt.write_text("".join(lines), encoding="utf-8")
        load_store(nt, target / "store")
    with _stage("dumps", report, progress):
        store = open_store(target / "store")
        write_dumps(target, [quad.triple for quad in store])
        del store


def write_dumps(target: Path, triples: Sequence[pyoxigraph.Triple]) -> None:
    """Beside ``target/tipgraph.nt``, write its gzip, Turtle and JSON-LD (``triples``)."""
    nt = target / "tipgraph.nt"
    with nt.open("rb") as raw, gzip.GzipFile(target / "tipgraph.nt.gz", "wb", mtime=0) as gz:
        shutil.copyfileobj(raw, gz)
    context = jsonld_context()
    (target / "tipgraph.ttl").write_bytes(write_rdf(rdf_format("turtle"), triples, context))
    (target / "tipgraph.jsonld").write_bytes(write_rdf(rdf_format("jsonld"), triples, context))


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


class _stage:
    """Time a stage and tell ``progress`` when it starts and ends."""

    def __init__(self, name: str, report: BuildReport, progress: Progress) -> None:
        self.name, self.report, self.progress = name, report, progress

    def __enter__(self) -> None:
        self.started = time.perf_counter()
        self.progress(f"{self.name} ...")

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.started
        self.report.timings[self.name] = round(elapsed, 3)
        peak = peak_memory_mb()
        if peak is not None:
            self.report.peak_memory_mb[self.name] = peak
        if exc[0] is None:
            self.progress(f"{self.name} done in {elapsed:.2f} s")
