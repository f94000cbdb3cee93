"""Read: catalogue files -> raw records, every value with its file and line.

Three formats, chosen by the file's extension:

- ``.txt``: a listing page scraped from IOM's resource catalogue: a page
  heading (the category), then per record a title line, a description and
  labelled blocks (``Country``, ``Region``, ``Authors``, ``Year``,
  ``Category``) with one value per line.
- ``.jsonl``: one JSON object per line, the curated fields of :data:`FIELDS`;
  lists are JSON arrays.
- ``.csv``: a header row naming the same fields; lists are ``;``-separated.

Nothing here interprets values; that is :mod:`tipgraph.reconcile`'s job.

>>> text = "Trafficking\\n\\nA title\\n\\nAbout it.\\nCountry\\nNigeria\\nYear\\n2020\\n"
>>> batch = read_text(text, "x.txt")
>>> [(r.title.value, r.title.line, [c.value for c in r.countries]) for r in batch.records]
[('A title', 3, ['Nigeria'])]
>>> batch.records[0].category.value
'Trafficking'
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tipgraph.errors import Problem, TipgraphError

#: The fields of a record, in the curated formats and after reading a listing.
FIELDS = ("title", "description", "countries", "regions", "authors", "year", "category",
          "source_url")
LIST_FIELDS = frozenset({"countries", "regions", "authors"})

#: Listing labels and the record field each one fills.
LABELS = {"Country": "countries", "Region": "regions", "Authors": "authors", "Author": "authors",
          "Year": "year", "Category": "category"}

#: Page furniture a scraped listing carries that is not data.
PAGE_CHROME = frozenset({"Skip to main content"})

SUFFIXES = (".txt", ".jsonl", ".csv")


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
    title: Value | None = None
    description: Value | None = None
    countries: list[Value] = field(default_factory=list)
    regions: list[Value] = field(default_factory=list)
    authors: list[Value] = field(default_factory=list)
    year: Value | None = None
    category: Value | None = None
    source_url: Value | None = None


@dataclass
class ReadResult:
    """The records read from one or more files, and what was wrong with them."""

    records: list[Record] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        self.records.extend(other.records)
        self.rejected.extend(other.rejected)
        self.problems.extend(other.problems)


def read_sources(paths: Iterable[Path]) -> ReadResult:
    """Read every catalogue file in ``paths`` (directories are read file by file).

    :raises TipgraphError: when a path does not exist or has no readable format.
    """
    result = ReadResult()
    for path in _expand(paths):
        result.extend(read_file(path))
    return result


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not files:
                raise TipgraphError(f"{path.name}/ holds no catalogue file ({', '.join(SUFFIXES)})")
            yield from files
        elif path.is_file():
            if path.suffix not in SUFFIXES:
                raise TipgraphError(
                    f"{path.name}: unknown source format {path.suffix!r}; "
                    f"use one of {', '.join(SUFFIXES)}")
            yield path
        else:
            raise TipgraphError(f"source {path.name} does not exist")


def read_file(path: Path) -> ReadResult:
    """Read one file, by its extension."""
    text, problems = decode(path.read_bytes(), path.name)
    reader = {".txt": read_text, ".jsonl": read_jsonl, ".csv": read_csv}[path.suffix]
    result = reader(text, path.name)
    result.problems[:0] = problems
    return result


def decode(data: bytes, name: str) -> tuple[str, list[Problem]]:
    """Decode UTF-8, replacing each invalid byte with U+FFFD and warning with its line."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    lines, problems = [], []
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            lines.append(raw.decode("utf-8", errors="replace"))
            problems.append(Problem(name, number, None,
                                    f"invalid UTF-8 byte {raw[error.start]:#04x} at column "
                                    f"{error.start + 1} replaced with U+FFFD"))
    return "".join(lines).removeprefix("\ufeff"), problems


# -- the scraped listing -------------------------------------------------------------------


def _blocks(text: str) -> list[list[Value]]:
    """Split text into blocks of non-blank lines, each line numbered from 1."""
    blocks: list[list[Value]] = []
    current: list[Value] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped:
            current.append(Value(stripped, number))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def read_text(text: str, name: str) -> ReadResult:
    """Read a scraped listing page.

    A block that holds a label line is a record's body; the block before it is
    the record's title (and any further blocks between them, description
    paragraphs). Blocks before the first record are the page heading, whose
    last line names the category.
    """
    result = ReadResult()
    blocks = [b for b in _blocks(text) if not (len(b) == 1 and b[0].value in PAGE_CHROME)]
    is_body = [any(v.value in LABELS for v in b) for b in blocks]
    heading: Value | None = None
    pending: list[list[Value]] = []  # non-body blocks since the last body
    seen_record = False
    for block, body in zip(blocks, is_body, strict=True):
        if not body:
            pending.append(block)
            continue
        if not seen_record:
            # The page heading stands before the first record's title.
            if len(pending) >= 2:
                heading = pending[-2][-1]
                pending = pending[-1:]
            seen_record = True
        result.extend(_listing_record(name, pending, block, heading))
        pending = []
    if pending:
        if not seen_record and len(pending) >= 2:
            heading = pending[0][-1]
            pending = pending[1:]
        # A title (and perhaps a description) with no labelled fields after it:
        # the listing was cut off. Keep what there is, and say so.
        result.extend(_listing_record(name, pending, [], heading, truncated=True))
    return result


def _listing_record(name: str, head: list[list[Value]], body: list[Value],
                    heading: Value | None, truncated: bool = False) -> ReadResult:
    result = ReadResult()
    first_line = head[0][0].line if head else body[0].line
    record = Record(source=name, line=first_line)
    description: list[Value] = []
    if head:
        record.title = head[0][0]
        description = [*head[0][1:], *(v for block in head[1:] for v in block)]
    label: str | None = None
    for value in body:
        if value.value in LABELS:
            label = LABELS[value.value]
            continue
        if label is None:
            description.append(value)
        elif label in LIST_FIELDS:
            getattr(record, label).append(value)
        elif getattr(record, label) is None:
            setattr(record, label, value)
        else:
            kept = getattr(record, label).value
            result.problems.append(Problem(name, value.line, label,
                                           f"second {label} {value.value!r} ignored; "
                                           f"the record already has {kept!r}"))
    if description:
        record.description = Value(" ".join(v.value for v in description), description[0].line)
    if record.category is None and heading is not None:
        record.category = heading
    if truncated:
        result.problems.append(Problem(name, first_line, None,
                                       "record is cut off: no labelled fields follow its title"))
    if record.title is None:
        result.rejected.append(Problem(name, first_line, "title",
                                       "record has no title: rejected", "error"))
    else:
        result.records.append(record)
    return result


# -- curated input ---------------------------------------------------------------------------


def read_jsonl(text: str, name: str) -> ReadResult:
    """Read JSON Lines: one object per line with the fields of :data:`FIELDS`."""
    result = ReadResult()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            why = f"not a JSON object: {error.msg} at column {error.colno}"
            result.rejected.append(Problem(name, number, None, why, "error"))
            continue
        if not isinstance(data, dict):
            result.rejected.append(Problem(name, number, None,
                                           f"not a JSON object but a {type(data).__name__}",
                                           "error"))
            continue
        result.extend(_curated_record(name, number, data))
    return result


def read_csv(text: str, name: str) -> ReadResult:
    """Read CSV with a header row naming the fields; lists are ``;``-separated."""
    result = ReadResult()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return result
    except csv.Error as error:
        raise TipgraphError(f"{name}:1: cannot read the CSV header: {error}") from error
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            result.rejected.append(Problem(name, line, None, f"cannot parse CSV row: {error}",
                                           "error"))
            line = reader.line_num + 1
            continue
        if any(cell.strip() for cell in row):
            if reader.line_num > line:
                # Quoted line breaks are legal, but an unclosed quote swallows the rows
                # after it into one cell: name the lines so a curator can check.
                result.problems.append(Problem(name, line, None,
                                               f"record spans lines {line}-{reader.line_num} "
                                               "(a quoted cell holds line breaks; check for "
                                               "an unclosed quote)"))
            if len(row) > len(header):
                result.problems.append(Problem(name, line, None,
                                               f"{len(row) - len(header)} cell(s) beyond the "
                                               "header's columns ignored"))
            data: dict[str, object] = {}
            for key, cell in zip(header, row, strict=False):
                data[key] = [p.strip() for p in cell.split(";")] if key in LIST_FIELDS else cell
            result.extend(_curated_record(name, line, data))
        line = reader.line_num + 1
    return result


def _curated_record(name: str, line: int, data: dict[str, object]) -> ReadResult:
    result = ReadResult()
    record = Record(source=name, line=line)
    for key, raw in data.items():
        if key not in FIELDS:
            result.problems.append(Problem(name, line, key, f"unknown field {key!r} ignored"))
            continue
        if raw is None or raw == "" or raw == []:
            continue
        if key in LIST_FIELDS:
            items = raw if isinstance(raw, list) else str(raw).split(";")
            for item in items:
                if not isinstance(item, str | int):
                    result.problems.append(Problem(name, line, key,
                                                   f"{item!r} is not text: ignored"))
                elif str(item).strip():
                    getattr(record, key).append(Value(str(item).strip(), line))
        elif isinstance(raw, str | int | float):
            setattr(record, key, Value(str(raw).strip(), line))
        else:
            result.problems.append(Problem(name, line, key, f"{raw!r} is not text: ignored"))
    if record.title is None or not record.title.value:
        result.rejected.append(Problem(name, line, "title", "record has no title: rejected",
                                       "error"))
    else:
        result.records.append(record)
    return result
