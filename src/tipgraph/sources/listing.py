"""Read a listing page scraped from IOM's resource catalogue."""

from __future__ import annotations

from tipgraph.errors import Problem
from tipgraph.sources.model import LIST_FIELDS, ReadResult, Record, Value

#: Listing labels and the record field each one fills.
LABELS = {"Country": "countries", "Region": "regions", "Authors": "authors", "Author": "authors",
          "Year": "year", "Category": "category"}

#: Page furniture a scraped listing carries that is not data.
PAGE_CHROME = frozenset({"Skip to main content"})


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


