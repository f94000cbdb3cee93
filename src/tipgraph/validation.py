"""Validate: SHACL shapes over the reasoned graph.

A graph conforms when it has no ``sh:Violation``; ``sh:Warning`` results (a
missing year, place or author, common in real catalogues) keep the record and
are reported.

Two engines check the shapes. pyshacl is the reference. The fast engine
(:mod:`tipgraph.shacl_fast`) compiles the shapes into SPARQL queries that Oxigraph
answers over the store the build loads anyway, some 20 times faster; it refuses
shapes that use a SHACL construct outside the subset it supports
(:class:`UnsupportedShapes`), so it can never silently check less than pyshacl.
``tests/unit/test_shapes.py`` and ``tests/test_validation.py`` prove both engines
report the same results.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal as Choice

import pyoxigraph as ox
from rdflib import Graph
from rdflib.term import Node

from tipgraph import formats
from tipgraph.errors import TipgraphError
from tipgraph.namespaces import PROV, RDF, SHAPES_PATH, TIP
from tipgraph.shacl_fast import (
    SH,
    SUBCLASS,
    Result,
    Triple,
    UnsupportedShapes,
    compile_shapes,
    load_triples,
    local_name,
)
from tipgraph.spill import SpilledMap

__all__ = ["SHAPES_PATH", "ShapeResult", "UnsupportedShapes", "ValidationReport", "load_shapes",
           "report_of", "revalidate_store", "validate_graph", "validate_store",
           "validate_triples"]

Engine = Choice["fast", "pyshacl"]
#: publication URI -> (file, line), to point results at the source; a build's kept on disk
Provenance = dict[str, tuple[str, int]] | SpilledMap[str, tuple[str, int]]


@dataclass(frozen=True)
class ShapeResult:
    severity: str  # "Violation", "Warning" or "Info"
    focus: str
    path: str | None
    message: str
    value: str | None = None
    file: str | None = None  # where the focus node came from, when it is a publication
    line: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"severity": self.severity, "focus": self.focus, "path": self.path,
                "message": self.message, "value": self.value, "file": self.file,
                "line": self.line}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        path = f" {self.path}" if self.path else ""
        return f"{where}{self.severity}: <{self.focus}>{path}: {self.message}"


@dataclass
class ValidationReport:
    conforms: bool
    violations: list[ShapeResult] = field(default_factory=list)
    warnings: list[ShapeResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"conforms": self.conforms,
                "violations": [r.as_dict() for r in self.violations],
                "warnings": [r.as_dict() for r in self.warnings]}


def load_shapes(path: Path = SHAPES_PATH) -> Graph:
    return Graph().parse(path, format="turtle")


def read_graph_file(path: Path) -> Graph:
    """The triples of an RDF file, in the format its extension names (.ttl, .nt, .jsonld,
    .rdf ...), read by Oxigraph's parsers: their errors give the line and column.

    :raises TipgraphError: for an extension that names no RDF format, a file that cannot
        be read, that is not valid in its format or that holds no triples
    """
    fmt = formats.rdf_format(path.suffix) if path.suffix else None
    if fmt is None:
        known = ", ".join(f".{f.extension}" for f in formats.formats_of("rdf"))
        raise TipgraphError(f"{path.name}: the extension does not name an RDF format "
                            f"(one of {known})")
    try:
        triples = ox.serialize(ox.parse(path=str(path), format=fmt.oxigraph),
                               format=ox.RdfFormat.N_TRIPLES)
    except SyntaxError as error:
        message = " ".join(str(error.msg).split())
        name = (fmt.w3c or fmt.name).rsplit("/", 1)[-1].replace("_", "/")  # N-Triples, RDF/XML
        raise TipgraphError(f"{path.name} is not valid {name}: {message}") from error
    except (OSError, ValueError) as error:
        raise TipgraphError(f"{path.name} cannot be read: {error}") from error
    if not triples:
        raise TipgraphError(f"{path.name} holds no triples: there is nothing to validate")
    return Graph().parse(data=triples, format="nt")


def validate_store(store: ox.Store, shapes: Graph,
                   provenance: Provenance | None = None) -> ValidationReport:
    """Check the default graph of ``store`` (the reasoned graph) against ``shapes``, fast.

    The same results as :func:`validate_graph` with ``engine="pyshacl"`` on the same triples.

    :param provenance: publication URI -> (file, line), to point results at the source
    :raises UnsupportedShapes: when the shapes use a construct outside the supported subset
    """
    return _report(compile_shapes(shapes).run(store), provenance)


#: The most focus nodes :func:`revalidate_store` checks by name: each check then asks the
#: store with a list of them, which beyond a few thousand costs more than one scan of the
#: whole store (a title moved 54,675 places in title order changes as many sort keys).
REVALIDATE_AT_MOST = 5_000


def revalidate_store(store: ox.Store, shapes: Graph, previous: ValidationReport,
                     changed: Iterable[str],
                     provenance: Provenance | None = None
                     ) -> ValidationReport:
    """What :func:`validate_store` reports of ``store``, knowing ``previous``, its report
    before the N-Triples lines ``changed`` were added to it or removed from it: only the
    focus nodes the changes may touch are checked again (the changed nodes and those the
    shapes make depend on them: :meth:`~tipgraph.shacl_fast.CompiledShapes.depending`),
    the others keep their results. An incremental build checks its changes so.
    """
    checks = compile_shapes(shapes)
    focus = checks.depending(store, changed)
    if focus is None or len(focus) > REVALIDATE_AT_MOST:
        return _report(checks.run(store), provenance)
    kept = {(r.severity, r.focus, r.path, r.message, r.value)
            for r in (*previous.violations, *previous.warnings) if r.focus not in focus}
    return _report(kept | checks.run(store, focus), provenance)


def report_of(results: dict[str, object]) -> ValidationReport:
    """The :class:`ValidationReport` of its :meth:`~ValidationReport.as_dict`."""
    return ValidationReport(
        conforms=bool(results["conforms"]),
        violations=[ShapeResult(**r) for r in results["violations"]],  # type: ignore[union-attr]
        warnings=[ShapeResult(**r) for r in results["warnings"]])  # type: ignore[union-attr]


def validate_triples(triples: Iterable[Triple], shapes: Graph,
                     provenance: Provenance | None = None) -> ValidationReport:
    """Check rdflib triples with the fast engine, through an in-memory Oxigraph store.

    Triples with a literal subject are left out: RDF stores hold none, and the
    published closure has none (``reasoning.py``).

    :raises UnsupportedShapes: also when a literal subject is typed with a class the shapes
        target, since pyshacl would validate that literal as a focus node
    """
    checks = compile_shapes(shapes)
    store = ox.Store()
    typed = [t for t in load_triples(store, triples) if str(t[1]) in (str(RDF.type), SUBCLASS)]
    focusable = checks.focus_classes(store)
    for subject, predicate, obj in typed:
        if str(predicate) == SUBCLASS or str(obj) in focusable:
            raise UnsupportedShapes(f"the fast engine cannot validate the literal {subject.n3()} "
                                    f"as a focus node ({predicate.n3()} {obj.n3()}); use pyshacl")
    return _report(checks.run(store), provenance)


def validate_graph(graph: Graph, shapes: Graph,
                   provenance: Provenance | None = None, *,
                   workers: int = 1, chunk_size: int = 5000,
                   engine: Engine = "fast") -> ValidationReport:
    """Check ``graph`` (already reasoned) against ``shapes``.

    ``engine="fast"`` loads the graph into an in-memory Oxigraph store and runs
    :func:`validate_store`; ``workers`` and ``chunk_size`` are for pyshacl.

    With ``engine="pyshacl"``, ``workers`` > 1 and more than ``chunk_size``
    publications, the publications are split into chunks, each validated with the
    shared nodes (places, agents, concepts) in its own process; the results are the
    same as one run's (``tests/test_validation.py``).

    :param provenance: publication URI -> (file, line), to point results at the source
    :param engine: ``fast`` (compiled SPARQL over Oxigraph) or ``pyshacl`` (the reference)
    """
    if engine == "fast":
        return validate_triples(graph, shapes, provenance)
    if engine != "pyshacl":
        raise ValueError(f"unknown validation engine {engine!r}: use 'fast' or 'pyshacl'")
    chunks = _chunks(graph, chunk_size) if workers > 1 else []
    if len(chunks) > 1:
        global _WORK
        _WORK = (chunks, shapes)
        context = multiprocessing.get_context("fork")
        try:
            with context.Pool(min(workers, len(chunks))) as pool:
                found = set().union(*pool.map(_validate_chunk, range(len(chunks))))
        finally:
            _WORK = None
    else:
        found = _results(graph, shapes)
    return _report(found, provenance)


def _report(found: Iterable[Result],
            provenance: Provenance | None) -> ValidationReport:
    found = set(found)
    if isinstance(provenance, SpilledMap):  # a build's: read for the results' nodes only
        provenance = provenance.read({result[1] for result in found})
    provenance = provenance or {}
    report = ValidationReport(conforms=True)
    for severity, focus, path, message, value in found:
        file, line = provenance.get(focus, (None, None))
        item = ShapeResult(severity=severity, focus=focus, path=path, message=message,
                           value=value, file=file, line=line)
        if severity == "Violation":
            report.violations.append(item)
            report.conforms = False
        else:
            report.warnings.append(item)
    key = lambda r: (r.file or "", r.line or 0, r.focus, r.path or "", r.message,  # noqa: E731
                     r.value or "")
    report.violations.sort(key=key)
    report.warnings.sort(key=key)
    return report


# --------------------------------------------------------------------------- pyshacl

#: (chunks, shapes) for the forked workers of one validate_graph call.
_WORK: tuple[list[list], Graph] | None = None


def _results(graph: Graph, shapes: Graph) -> set[Result]:
    import pyshacl  # the reference engine, imported when used: it takes a while

    # inplace: with no inference pyshacl only reads the graph, so it need not copy it first
    _, results, _ = pyshacl.validate(graph, shacl_graph=shapes, inference="none",
                                     allow_warnings=True, advanced=True, inplace=True)
    found = set()
    for result in results.subjects(SH.resultSeverity, None):
        path = results.value(result, SH.resultPath)
        value = results.value(result, SH.value)
        found.add((local_name(results.value(result, SH.resultSeverity)),
                   str(results.value(result, SH.focusNode)),
                   str(path) if path is not None else None,
                   str(results.value(result, SH.resultMessage) or ""),
                   str(value) if value is not None else None))
    return found


def _chunks(graph: Graph, size: int) -> list[list]:
    """Publications (with their source records) in chunks, each with every shared node."""
    publications = sorted(graph.subjects(RDF.type, TIP.Publication))
    if len(publications) <= size:
        return []
    own: dict[Node, list] = {p: [] for p in publications}
    records = {o: p for p in publications for o in graph.objects(p, PROV.wasDerivedFrom)
               if (o, RDF.type, TIP.SourceRecord) in graph}
    shared = []
    for triple in graph:
        owner = own.get(triple[0])
        if owner is None and triple[0] in records:
            owner = own[records[triple[0]]]
        (owner if owner is not None else shared).append(triple)
    return [shared + [t for p in publications[i:i + size] for t in own[p]]
            for i in range(0, len(publications), size)]


def _validate_chunk(index: int) -> set[Result]:
    assert _WORK is not None
    chunks, shapes = _WORK
    graph = Graph()
    graph.addN((s, p, o, graph) for s, p, o in chunks[index])
    return _results(graph, shapes)
