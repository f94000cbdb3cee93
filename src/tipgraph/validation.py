"""Validate: SHACL shapes over the reasoned graph with pyshacl.

A graph conforms when it has no ``sh:Violation``; ``sh:Warning`` results (a
missing year, place or author, common in real catalogues) keep the record and
are reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyshacl
from rdflib import Graph, Namespace
from rdflib.term import Node

SH = Namespace("http://www.w3.org/ns/shacl#")
SHAPES_PATH = Path(__file__).resolve().parents[2] / "shapes" / "tipgraph.ttl"


@dataclass(frozen=True)
class ShapeResult:
    severity: str  # "Violation", "Warning" or "Info"
    focus: str
    path: str | None
    message: str
    value: str | None = None
    file: str | None = None  # where the focus node came from, when it is a publication
    line: int | None = None

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
                "violations": [asdict(r) for r in self.violations],
                "warnings": [asdict(r) for r in self.warnings]}


def load_shapes(path: Path = SHAPES_PATH) -> Graph:
    return Graph().parse(path, format="turtle")


def validate_graph(graph: Graph, shapes: Graph,
                   provenance: dict[str, tuple[str, int]] | None = None) -> ValidationReport:
    """Check ``graph`` (already reasoned) against ``shapes``.

    :param provenance: publication URI -> (file, line), to point results at the source
    """
    _, results, _ = pyshacl.validate(graph, shacl_graph=shapes, inference="none",
                                     allow_warnings=True, advanced=True)
    provenance = provenance or {}
    report = ValidationReport(conforms=True)
    for result in results.subjects(SH.resultSeverity, None):
        severity = _local(results.value(result, SH.resultSeverity))
        focus = str(results.value(result, SH.focusNode))
        path = results.value(result, SH.resultPath)
        value = results.value(result, SH.value)
        file, line = provenance.get(focus, (None, None))
        item = ShapeResult(severity=severity, focus=focus,
                           path=str(path) if path is not None else None,
                           message=str(results.value(result, SH.resultMessage) or ""),
                           value=str(value) if value is not None else None,
                           file=file, line=line)
        if severity == "Violation":
            report.violations.append(item)
            report.conforms = False
        else:
            report.warnings.append(item)
    key = lambda r: (r.file or "", r.line or 0, r.focus, r.path or "", r.message)  # noqa: E731
    report.violations.sort(key=key)
    report.warnings.sort(key=key)
    return report


def _local(node: Node | None) -> str:
    return str(node).rsplit("#", 1)[-1] if node is not None else "Violation"
