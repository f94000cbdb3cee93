"""Read curated records: JSON Lines and CSV with the fields of :data:`FIELDS`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from tipgraph.errors import Problem, TipgraphError
from tipgraph.sources.model import FIELDS, LIST_FIELDS, ReadResult, Record, Value
from tipgraph.sources.values import shorten

# -- curated input ---------------------------------------------------------------------------


def read_jsonl(text: str, name: str) -> ReadResult:
    """Read JSON Lines: one object per line with the fields of :data:`FIELDS`.

    Lines end at ``\n`` only (``\r\n`` too): U+2028, U+2029 or NEL inside a JSON string
    are characters of the value, not line breaks.
    """
    result = ReadResult()
    unknown = UnknownFields(name)
    for read in jsonl_records(text_lines(text), name, unknown):
        result.extend(read)
    result.problems.extend(unknown.problems())
    return result


def jsonl_records(lines: Iterable[str], name: str, unknown: UnknownFields
                  ) -> Iterator[ReadResult]:
    """What each line of a JSON Lines file holds (``lines``: its text split at ``\\n``), a
    line at a time: a record, or its rejection, and its problems; the unknown fields are
    told to ``unknown``."""
    for number, line in enumerate(lines, start=1):
        read = jsonl_line(line, number, name, unknown)
        if read is not None:
            yield read


def jsonl_line(line: str, number: int, name: str, unknown: UnknownFields
               ) -> ReadResult | None:
    """What the line ``number`` of a JSON Lines file holds (:func:`jsonl_records`), None
    for a blank line."""
    line = line.removesuffix("\r")
    if not line.strip():
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        why = f"not a JSON object: {error.msg} at column {error.colno}"
        return ReadResult(rejected=[Problem(name, number, None, why, "error")])
    except (RecursionError, ValueError) as error:  # nested too deep, a 5,000-digit number
        why = "JSON nested too deeply" if isinstance(error, RecursionError) else str(error)
        return ReadResult(rejected=[Problem(name, number, None, f"not a record: {why}",
                                            "error")])
    if not isinstance(data, dict):
        return ReadResult(rejected=[Problem(name, number, None,
                                            f"not a JSON object but a {type(data).__name__}",
                                            "error")])
    return _curated_record(name, number, data, unknown)


def text_lines(text: str) -> Iterator[str]:
    """``text.split("\\n")``, a line at a time: a catalogue of a million lines is not
    held twice.

    >>> list(text_lines("a\\nb\\n")) == "a\\nb\\n".split("\\n")
    True
    """
    start = 0
    while (end := text.find("\n", start)) != -1:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def chunk_lines(chunks: Iterable[str]) -> Iterator[str]:
    """The text of ``chunks`` put together, split at ``\\n``, a line at a time.

    >>> list(chunk_lines(["a\\nb", "c\\n", "", "d"])) == "a\\nbc\\nd".split("\\n")
    True
    """
    rest = ""
    for chunk in chunks:
        if not chunk:
            continue
        lines = (rest + chunk).split("\n")
        rest = lines.pop()
        yield from lines
    yield rest


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
    if "title" not in header:
        raise TipgraphError(f"{name}: the CSV header has no 'title' column, which every "
                            "record needs")
    unknown = UnknownFields(name, "column")
    for key in header:
        if key not in FIELDS:
            unknown.add(key, reader.line_num)  # named once, in the header
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
            result.extend(_curated_record(name, line, data, unknown))
        line = reader.line_num + 1
    result.problems.extend(unknown.problems())
    return result


class UnknownFields:
    """The unknown fields of one file, each reported once with the first line it is on."""

    def __init__(self, name: str, noun: str = "field") -> None:
        self.name, self.noun = name, noun
        self.first_line: dict[str, int] = {}

    def add(self, key: str, line: int) -> None:
        self.first_line.setdefault(key, line)

    def problems(self) -> list[Problem]:
        return [Problem(self.name, line, key,
                        f"unknown {self.noun} {shorten(key)} ignored in every record of the "
                        f"file (first on line {line})")
                for key, line in self.first_line.items()]


def _curated_record(name: str, line: int, data: dict[str, object],
                    unknown: UnknownFields) -> ReadResult:
    result = ReadResult()
    record = Record(source=name, line=line)
    for key, raw in data.items():
        if key not in FIELDS:
            unknown.add(key, line)
            continue
        if raw is None or raw == "" or raw == []:
            continue
        if key in LIST_FIELDS:
            items = raw if isinstance(raw, list) else str(raw).split(";")
            for item in items:
                if not isinstance(item, str | int) or isinstance(item, bool):
                    result.problems.append(Problem(name, line, key,
                                                   f"{_shown(item)} is not text: ignored"))
                elif str(item).strip():
                    getattr(record, key).append(Value(str(item).strip(), line))
        elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
            setattr(record, key, Value(str(raw).strip(), line))
        else:
            result.problems.append(Problem(name, line, key,
                                           f"{_shown(raw)} is not text: ignored"))
    if record.title is None or not record.title.value:
        result.rejected.append(Problem(name, line, "title", "record has no title: rejected",
                                       "error"))
    else:
        result.records.append(record)
    return result


def _shown(raw: object) -> str:
    """A JSON value as a report quotes it: its type and the start of its text."""
    try:
        text = json.dumps(raw, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = type(raw).__name__
    return f"{type(raw).__name__} {shorten(text)}"
