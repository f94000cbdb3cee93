"""Read: catalogue files -> raw records, every value with its file and line.

Three formats, chosen by the file's extension:

- ``.txt``: a listing page scraped from IOM's resource catalogue: a page
  heading (the category), then per record a title line, a description and
  zero or more labelled blocks (``Country``, ``Region``, ``Authors``, ``Year``,
  ``Category``) with one value per line (:mod:`tipgraph.sources.listing`).
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

import codecs
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from tipgraph.errors import Problem, TipgraphError
from tipgraph.progress import Meter
from tipgraph.sources.curated import (
    UnknownFields,
    chunk_lines,
    jsonl_line,
    read_csv,
    read_jsonl,
    text_lines,
)
from tipgraph.sources.listing import read_text, write_listing
from tipgraph.sources.model import (
    FIELDS,
    LIST_FIELDS,
    LineSeen,
    ReadResult,
    Record,
    SourceFile,
    Value,
)
from tipgraph.sources.values import MAX_FIELD_CHARS, check_record

SUFFIXES = (".txt", ".jsonl", ".csv")


def read_sources(paths: Iterable[Path], max_field_chars: int = MAX_FIELD_CHARS,
                 meter: Meter | None = None) -> ReadResult:
    """Read every catalogue file in ``paths`` (directories are read file by file).

    ``meter`` counts the bytes of the files read (:mod:`tipgraph.progress`).

    :raises TipgraphError: when a path does not exist or has no readable format.
    """
    stream = SourceStream(paths, max_field_chars, meter)
    records = list(stream.records())
    stream.read.records = records
    return stream.read


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


def read_file(path: Path, max_field_chars: int = MAX_FIELD_CHARS) -> ReadResult:
    """Read one file, by its extension, every value checked (:mod:`.values`), and note the
    line each of its records starts on."""
    stream = SourceStream([path], max_field_chars)
    records = list(stream.records())
    stream.read.records = records
    return stream.read


class Known(NamedTuple):
    """A record whose line of JSON Lines is the one the build in service read there
    (:class:`SourceStream`'s ``seen``): neither parsed nor checked again."""

    source: str
    line: int


def line_digest(line: str) -> bytes:
    """What tells a line of JSON Lines from the one read there before."""
    return hashlib.blake2b(line.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class SourceStream:
    """The catalogue files of ``paths``, decoded when it is made (``meter`` counts their
    bytes), their records read a record at a time (:meth:`records`): a catalogue of a
    million records is never held whole as records (JSON Lines; a CSV or listing file is
    read whole, then handed on a record at a time).

    Once :meth:`records` is exhausted, :attr:`read` holds what :func:`read_sources` says
    of the files (rejected records, problems, files) but no record.

    A line of JSON Lines is read once: with ``keep_lines``, :attr:`read` keeps what each
    gave (``lines``: (file, line) -> :data:`~tipgraph.sources.model.LineSeen`); handed
    such a mapping of an earlier read (``seen``), a line that did not change gives
    :class:`Known` instead of its record, and the problems it gave then. Files of the
    same name (in different directories) are read line by line.
    """

    def __init__(self, paths: Iterable[Path], max_field_chars: int = MAX_FIELD_CHARS,
                 meter: Meter | None = None, *,
                 seen: Mapping[tuple[str, int], LineSeen] | None = None,
                 keep_lines: bool = False) -> None:
        files = list(_expand(paths))
        if meter is not None:
            meter.step("", total=sum(path.stat().st_size for path in files), unit="bytes")
        self.max_field_chars = max_field_chars
        self.read = ReadResult()
        unique = len({path.name for path in files}) == len(files)
        self.seen = seen if unique and seen is not None else {}
        self.keep_lines = unique and keep_lines
        #: (path, text or None: read again from the file, as it is valid UTF-8, the
        #: problems of decoding it)
        self._texts: list[tuple[Path, str | None, list[Problem]]] = []
        #: About how many records :meth:`records` gives: the lines of the files, all JSON
        #: Lines (a blank or rejected line gives none); None when a file is of another
        #: format (its records are known once it is parsed). A progress line's total.
        self.expected: int | None = 0
        for path in files:
            lines = _utf8_lines(path) if path.suffix == ".jsonl" else None
            if lines is not None:
                self._texts.append((path, None, []))  # read again a line at a time
            else:
                text, problems = decode(path.read_bytes(), path.name)
                self._texts.append((path, text, problems))
                if path.suffix == ".jsonl":  # not UTF-8: its bytes replaced, its lines kept
                    lines = text.count("\n") + _unended(text)
            self.expected = (self.expected + lines
                             if self.expected is not None and lines is not None else None)
            if meter is not None:
                meter.advance(path.stat().st_size)

    def records(self) -> Iterator[Record | Known]:
        """Every record, checked, in file and line order; each file's text let go once
        its records are read."""
        texts, self._texts = self._texts, []
        while texts:
            path, text, problems = texts.pop(0)
            yield from self._file(path.name, path.suffix, text if text is not None
                                  else _decoded(path), problems)
            del text

    def _file(self, name: str, suffix: str, text: str | Iterable[str],
              problems: list[Problem]) -> Iterator[Record | Known]:
        """The records of the file ``name``, its ``text`` whole or in pieces (JSON Lines)."""
        found = ReadResult()  # what the reader says: records stay out of it
        checked = ReadResult()  # what checking the values says
        starts: list[int] = []
        unknown = None
        if suffix == ".jsonl":
            unknown = UnknownFields(name)
            lines = text_lines(text) if isinstance(text, str) else chunk_lines(text)
            for number, line in enumerate(lines, start=1):
                kept = self._line(name, number, line, found, checked, unknown)
                if kept is not None:
                    starts.append(number)
                    yield kept
        else:
            assert isinstance(text, str)
            whole = {".txt": read_text, ".csv": read_csv}[suffix](text, name)
            records, whole.records = whole.records, []
            found.rejected.extend(whole.rejected)
            found.problems.extend(whole.problems)
            for record in records:
                result = check_record(record, self.max_field_chars)
                checked.rejected.extend(result.rejected)
                checked.problems.extend(result.problems)
                for kept_record in result.records:
                    starts.append(kept_record.line)
                    yield kept_record
        if unknown is not None:
            found.problems.extend(unknown.problems())
        rejected = found.rejected + checked.rejected
        self.read.rejected.extend(rejected)
        self.read.problems.extend([*problems, *found.problems, *checked.problems])
        starts += [p.line or 0 for p in rejected]
        self.read.files.append(SourceFile(name, tuple(sorted(starts))))

    def _line(self, name: str, number: int, line: str, found: ReadResult,
              checked: ReadResult, unknown: UnknownFields) -> Record | Known | None:
        """The record of a line of JSON Lines, checked, or :class:`Known` (its line the one
        read before), or None (none kept); what reading and checking it say go to
        ``found`` and ``checked`` (as they did before, for a line known)."""
        digest = line_digest(line) if self.seen or self.keep_lines else b""
        before = self.seen.get((name, number))
        if before is not None and before[0] == digest:
            _, kept, said = before
            if said is not None:
                found_rejected, found_problems, checked_rejected, checked_problems, fields = said
                found.rejected += found_rejected
                found.problems += found_problems
                checked.rejected += checked_rejected
                checked.problems += checked_problems
                for field in fields:
                    unknown.add(field, number)
            if self.keep_lines:
                self.read.lines[name, number] = before
            return Known(name, number) if kept else None
        own = UnknownFields(name)  # this line's unknown fields
        read = jsonl_line(line, number, name, own)
        if read is None:
            return None
        for field in own.first_line:
            unknown.add(field, number)
        record = None
        result = ReadResult()
        for raw in read.records:
            result = check_record(raw, self.max_field_chars)
            record = result.records[0] if result.records else None
        found.rejected += read.rejected
        found.problems += read.problems
        checked.rejected += result.rejected
        checked.problems += result.problems
        if self.keep_lines:
            said = (read.rejected, read.problems, result.rejected, result.problems,
                    tuple(own.first_line))
            self.read.lines[name, number] = (
                digest, record is not None, said if any(said) else None)
        return record


#: Bytes decoded at a time from a file read again a piece at a time.
DECODE_BYTES = 1 << 24


def _decoded(path: Path) -> Iterator[str]:
    """The text of the UTF-8 file ``path`` (a byte-order mark dropped), a piece at a time.

    :raises UnicodeDecodeError: when it is not UTF-8 (:func:`decode` says where)
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with path.open("rb") as file:
        while data := file.read(DECODE_BYTES):
            yield decoder.decode(data)
    yield decoder.decode(b"", final=True)


def _utf8_lines(path: Path) -> int | None:
    """How many lines the file ``path`` has; None when it is not UTF-8."""
    lines, last = 0, ""
    try:
        for text in _decoded(path):
            lines += text.count("\n")
            last = text or last
    except UnicodeDecodeError:
        return None
    return lines + _unended(last)


def _unended(text: str) -> int:
    """1 when ``text`` ends with a line that has no line end (a line all the same), else 0."""
    return 1 if text and not text.endswith("\n") else 0


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


__all__ = ["FIELDS", "LIST_FIELDS", "Known", "LineSeen", "ReadResult", "Record", "SourceFile",
           "SourceStream", "Value", "decode", "line_digest",
           "read_csv", "read_file", "read_jsonl", "read_sources", "read_text", "write_listing"]
