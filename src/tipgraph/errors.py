"""Errors that stop a run, and problems that are reported but do not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "repair"]


class TipgraphError(Exception):
    """A failure that stops a command; the CLI shows its message without a traceback."""


class BuildFailed(TipgraphError):
    """The build produced a graph that breaks the shapes (or could not finish)."""


@dataclass(frozen=True)
class Problem:
    """Something a stage noticed about one record: where it is and why it matters.

    ``severity`` is ``error`` (the record or value was kept out), ``warning``
    (kept, but something is missing or was replaced) or ``repair`` (kept, and
    changed into what the source meant).
    """

    file: str
    line: int | None
    field: str | None
    why: str
    severity: Severity = "warning"

    def as_dict(self) -> dict[str, object]:
        # not dataclasses.asdict, which copies each value deeply: a report has 100,000s
        return {"file": self.file, "line": self.line, "field": self.field, "why": self.why,
                "severity": self.severity}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.why}"
