"""The raw record every reader produces: values with the file and line they stand on."""

from __future__ import annotations

from dataclasses import dataclass, field

from tipgraph.errors import Problem

#: The fields of a record, in the curated formats and after reading a listing.
FIELDS = ("id", "title", "description", "countries", "regions", "authors", "year", "category",
          "source_url")
LIST_FIELDS = frozenset({"countries", "regions", "authors"})

@dataclass(frozen=True)
class Value:
    """One value as the source gave it, and the line it stands on."""

    value: str
    line: int


@dataclass
class Record:
    """A record as read: raw values with provenance, not yet interpreted."""

    source: str  # the file's name (never its path: builds are published)
    line: int  # the line the record starts on
    id: Value | None = None  # the curator's identifier of the record (curated formats only)
    title: Value | None = None
    description: Value | None = None
    countries: list[Value] = field(default_factory=list)
    regions: list[Value] = field(default_factory=list)
    authors: list[Value] = field(default_factory=list)
    year: Value | None = None
    category: Value | None = None
    source_url: Value | None = None


@dataclass(frozen=True)
class SourceFile:
    """One file read and the line each of its records starts on, kept or rejected: what
    the report shows per file, so that a record lost on the way can be named."""

    file: str
    record_lines: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "records": len(self.record_lines),
                "record_lines": list(self.record_lines)}


#: What reading one line of JSON Lines gave (:class:`tipgraph.sources.SourceStream`): the
#: line's digest, whether a record was kept, and what reading and checking it said, or None
#: (nothing): (rejected, problems, rejected by checking, problems of checking, unknown fields)
LineSaid = tuple[list[Problem], list[Problem], list[Problem], list[Problem], tuple[str, ...]]
LineSeen = tuple[bytes, bool, LineSaid | None]


@dataclass
class ReadResult:
    """The records read from one or more files, and what was wrong with them."""

    records: list[Record] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[SourceFile] = field(default_factory=list)
    #: (file, line) -> what the line of JSON Lines gave, when asked to keep it
    lines: dict[tuple[str, int], LineSeen] = field(default_factory=dict)

    def extend(self, other: ReadResult) -> None:
        self.records.extend(other.records)
        self.rejected.extend(other.rejected)
        self.problems.extend(other.problems)
        self.files.extend(other.files)
