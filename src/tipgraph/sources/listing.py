"""Read and write a listing page of IOM's resource catalogue, by the page's structure.

A page is a heading (the category), then records. A record is:

1. a **title**: one line, then a blank line;
2. a **description**: one or more paragraphs, blank lines between them;
3. zero or more **labelled blocks** (``Country``, ``Region``, ``Authors``, ``Year``,
   ``Category``), the first one right under the description's last line, one value per
   line. The site prints a label only for a field that has a value, so a record may have
   none; ``Category`` is often printed with no value, and then says nothing.

A labelled block ends its record, so the block after it is the next record's title (a
block that starts with a label there is a record with no title, rejected, unless its
labels are empty). Pages saved one after another in one file are read one by one: each
starts at its skip link and has its own heading.

Where no label marks the end of a record, one rule decides (:func:`read_text`):

    After a description paragraph, a block of one line with no label that is followed
    by another block starts a new record when it does **not** end like a sentence
    (``.``, ``!``, ``?``, ``…``, ``:``, ``;``, perhaps then a closing quote or bracket);
    when it does, it is the next paragraph of the description.

Each such decision is reported as a warning naming the two lines it was made between,
because a short paragraph with no full stop reads like a title, and a title ending with
a question mark like a paragraph. Other deviations are reported too: a title with no
blank line after it, a description with no title (the record is rejected), a last record
that seems cut off. Page chrome (the skip link above the heading, a pager below the last
record) is left out. Lines are split on ``\\n`` only, so a U+2028 or a form feed inside
a value stays in it. The description keeps its paragraphs, joined by a blank line
(``\\n\\n``); the lines of one paragraph are joined by a space.

>>> text = "Trafficking\\n\\nA title\\n\\nAbout it.\\nCountry\\nNigeria\\nYear\\n2020\\n"
>>> batch = read_text(text, "x.txt")
>>> [(r.title.value, r.title.line, [c.value for c in r.countries]) for r in batch.records]
[('A title', 3, ['Nigeria'])]
>>> print(write_listing(batch.records, heading="Trafficking"), end="")
Trafficking
<BLANKLINE>
A title
<BLANKLINE>
About it.
Country
Nigeria
Year
2020
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tipgraph.errors import Problem
from tipgraph.sources.model import LIST_FIELDS, ReadResult, Record, Value

#: Listing labels and the record field each one fills.
LABELS = {"Country": "countries", "Region": "regions", "Authors": "authors", "Author": "authors",
          "Year": "year", "Category": "category"}
#: The label the writer prints for each field, in the site's order.
FIELD_LABELS = {"countries": "Country", "regions": "Region", "authors": "Authors",
                "year": "Year", "category": "Category"}

#: Page furniture of a scraped listing: the skip link above the heading, the pager below
#: the last record. Only blocks at the top or the bottom of a page are taken for it.
PAGE_CHROME = frozenset({"skip to main content", "pagination", "pager", "first page",
                         "previous page", "next page", "last page", "current page",
                         "load more", "first", "previous", "next", "last", "\u2026",
                         # the pager's arrows: « First, \u2039 Previous, Next \u203a, Last »
                         "\u00ab first", "\u2039 previous", "next \u203a", "last \u00bb",
                         "\u2039\u2039", "\u203a\u203a", "\u00ab", "\u00bb", "\u2039",
                         "\u203a"})
SKIP_LINK = "skip to main content"
_PAGE_NUMBER = re.compile(r"(current page|page)?\s*\d{1,4}", re.IGNORECASE)

#: How a paragraph ends: sentence punctuation, perhaps then closing quotes or brackets.
_SENTENCE_END = re.compile("[.!?\u2026:;][\"'\u201d\u2019\u00bb)\\]]*$")


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends like a sentence, which a title (by the rule) does not.

    >>> ends_sentence("It ends here."), ends_sentence("A Title"), ends_sentence("Why?”")
    (True, False, True)
    """
    return _SENTENCE_END.search(text) is not None


# -- the page's blocks ---------------------------------------------------------------------


@dataclass
class _Block:
    """A run of non-blank lines: text lines, then labelled fields (label, its values)."""

    text: list[Value] = field(default_factory=list)
    fields: list[tuple[Value, list[Value]]] = field(default_factory=list)

    @property
    def first(self) -> Value:
        return self.text[0] if self.text else self.fields[0][0]

    @property
    def is_title(self) -> bool:
        """One line and no label: all a title block can be."""
        return len(self.text) == 1 and not self.fields


def _blocks(text: str) -> list[_Block]:
    """Split on ``\\n`` (only) into blocks of non-blank lines, numbered from 1."""
    blocks: list[_Block] = []
    current: _Block | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            current = None
            continue
        if current is None:
            current = _Block()
            blocks.append(current)
        value = Value(line, number)
        if line in LABELS:
            current.fields.append((value, []))
        elif current.fields:
            current.fields[-1][1].append(value)
        else:
            current.text.append(value)
    return blocks


def is_page_chrome(line: str) -> bool:
    """Whether a line, alone in a block at the page's top or bottom, is page furniture."""
    return line.casefold() in PAGE_CHROME or _PAGE_NUMBER.fullmatch(line) is not None


def _is_chrome(block: _Block) -> bool:
    return not block.fields and all(is_page_chrome(v.value) for v in block.text)


def _without_chrome(blocks: list[_Block]) -> list[_Block]:
    """The blocks between the page's top and bottom chrome."""
    start, end = 0, len(blocks)
    while start < end and _is_chrome(blocks[start]):
        start += 1
    while end > start and _is_chrome(blocks[end - 1]):
        end -= 1
    return blocks[start:end]


# -- reading ---------------------------------------------------------------------------------


@dataclass
class _Draft:
    """A record being read: its title and the blocks that belong to it."""

    line: int
    title: Value | None
    paragraphs: list[list[Value]] = field(default_factory=list)
    fields: list[tuple[Value, list[Value]]] = field(default_factory=list)


class _Reader:
    def __init__(self, name: str) -> None:
        self.name = name
        self.drafts: list[_Draft] = []
        self.problems: list[Problem] = []

    def warn(self, line: int, why: str) -> None:
        self.problems.append(Problem(self.name, line, None, why))

    def read(self, blocks: list[_Block]) -> None:
        current: _Draft | None = None
        ended = True  # the last block had labels: the next one starts a record
        for index, block in enumerate(blocks):
            if not block.text:
                if current is None or ended:
                    # The record above has had its labels: these start a record with no
                    # title (rejected), unless they are empty labels (page chrome).
                    if not any(values for _, values in block.fields):
                        continue
                    current = self._start(None, block.first.line)
                # A labelled block belongs to the record it follows.
                current.fields.extend(block.fields)
                ended = True
                continue
            if ended or current is None:
                current = self._start_with(block)
            elif current.paragraphs and block.is_title and index + 1 < len(blocks):
                if self._starts_record(block.text[0], current):
                    current = self._start(block.text[0], block.text[0].line)
                    ended = False
                    continue
                current.paragraphs.append(block.text)
            else:
                if not current.paragraphs and block.is_title and index + 1 < len(blocks):
                    self._check_description(block.text[0], current)
                current.paragraphs.append(block.text)
            current.fields.extend(block.fields)
            ended = bool(block.fields)

    def _start(self, title: Value | None, line: int) -> _Draft:
        draft = _Draft(line, title)
        self.drafts.append(draft)
        return draft

    def _start_with(self, block: _Block) -> _Draft:
        """A record's first block: its title, or (wrongly) its description."""
        first = block.text[0]
        if block.is_title:
            return self._start(first, first.line)
        if len(block.text) == 1:  # one line right above the labels: a description
            draft = self._start(None, first.line)
            draft.paragraphs.append(block.text)
            return draft
        self.warn(first.line, f"no blank line between the title {first.value!r} and the "
                              f"description at line {block.text[1].line}: read as a title "
                              "and its description")
        draft = self._start(first, first.line)
        draft.paragraphs.append(block.text[1:])
        return draft

    def _starts_record(self, line: Value, current: _Draft) -> bool:
        """The rule: a one-line block after a paragraph is a title unless it ends a
        sentence. Either way the decision is reported, naming both lines."""
        previous = current.paragraphs[-1][-1]
        if ends_sentence(line.value):
            self.warn(line.line, f"line {line.line} {_short(line.value)} ends like a sentence: "
                                 f"read as a paragraph of the description above it (line "
                                 f"{previous.line}), not as the title of a new record")
            return False
        self.warn(line.line, f"line {line.line} {_short(line.value)} does not end like a "
                             f"sentence: read as the title of a new record, not as a "
                             f"paragraph of the description above it (line {previous.line})")
        return True


    def _check_description(self, line: Value, current: _Draft) -> None:
        """A title's first paragraph that reads like a title, with more blocks after it:
        the record above might have no description (the rule reads a description)."""
        if current.title is not None and not ends_sentence(line.value):
            self.warn(line.line, f"line {line.line} {_short(line.value)} does not end like a "
                                 f"sentence: read as the description of the record titled "
                                 f"at line {current.line}, not as the title of a new record")


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")


def _heading(blocks: list[_Block], name: str) -> tuple[Value | None, list[Problem]]:
    """The page heading: a first block of one line with a one-line block (a title) after
    it, or alone (a page of no records)."""
    if not blocks or not blocks[0].is_title:
        return None, []
    if len(blocks) == 1:
        return blocks[0].text[0], []
    if not blocks[1].is_title:
        return None, []
    heading, title = blocks[0].text[0], blocks[1].text[0]
    if ends_sentence(title.value) and len(blocks) > 2 and blocks[2].is_title:
        # A title that ends like a sentence, then a one-line description: the heading
        # could be the first record's title, and the title a paragraph of it.
        return heading, [Problem(name, heading.line, "category",
                                 f"line {heading.line} {_short(heading.value)} read as the "
                                 f"page heading (the category) and line {title.line} "
                                 f"{_short(title.value)} as the first record's title")]
    return heading, []


def read_text(text: str, name: str) -> ReadResult:
    """Read a scraped listing page by its structure (the rule is the module's docstring).

    Every record the page shows is counted: kept, or rejected when it has no title.
    """
    result = ReadResult()
    for page in _pages(_blocks(text)):
        blocks = _without_chrome(page)
        heading, problems = _heading(blocks, name)
        reader = _Reader(name)
        reader.read(blocks[1:] if heading else blocks)
        result.problems.extend(problems + reader.problems)
        for index, draft in enumerate(reader.drafts):
            last = index == len(reader.drafts) - 1
            result.extend(_record(name, draft, heading, last))
        if not reader.drafts and blocks:
            first = blocks[0].first
            result.problems.append(Problem(name, first.line, None,
                                           f"no record on the page that starts at line "
                                           f"{first.line}: only {_short(first.value)}"))
    return result


def _pages(blocks: list[_Block]) -> Iterator[list[_Block]]:
    """Pages saved one after the other in a file: each starts at a skip link."""
    start = 0
    for index, block in enumerate(blocks):
        if index > start and [v.value.casefold() for v in block.text] == [SKIP_LINK]:
            yield blocks[start:index]
            start = index
    yield blocks[start:]


def _record(name: str, draft: _Draft, heading: Value | None, last: bool) -> ReadResult:
    result = ReadResult()
    record = Record(source=name, line=draft.line, title=draft.title)
    if draft.paragraphs:
        paragraphs = [" ".join(v.value for v in lines) for lines in draft.paragraphs]
        record.description = Value("\n\n".join(paragraphs), draft.paragraphs[0][0].line)
    for label, values in draft.fields:
        key = LABELS[label.value]
        for value in values:
            if key in LIST_FIELDS:
                getattr(record, key).append(value)
            elif getattr(record, key) is None:
                setattr(record, key, value)
            else:
                kept = getattr(record, key).value
                result.problems.append(Problem(name, value.line, key,
                                               f"second {key} {value.value!r} ignored; "
                                               f"the record already has {kept!r}"))
    if record.category is None and heading is not None:
        record.category = heading
    if last and not draft.fields and (not draft.paragraphs
                                      or not ends_sentence(draft.paragraphs[-1][-1].value)):
        end = draft.paragraphs[-1][-1].line if draft.paragraphs else draft.line
        result.problems.append(Problem(name, draft.line, None,
                                       f"record is cut off: the page ends at line {end} in "
                                       f"its description, with no labelled field after it"))
    if record.title is None:
        result.rejected.append(Problem(name, draft.line, "title",
                                       "record has no title: rejected", "error"))
    else:
        result.records.append(record)
    return result


# -- writing ---------------------------------------------------------------------------------


def write_listing(records: Iterable[Record], *, heading: str) -> str:
    """Write records as a listing page (under its heading) that :func:`read_text` reads.

    A record's category is written only when it is not the heading: read back, a record
    without a category has the heading's. Values are written as they are, one per line.
    What reads back differently is said by the reader's warnings (the rule in this
    module's docstring decides where a record with no labelled field ends).

    :raises ValueError: when a record cannot be written in the format at all: no title
        or no description, a value with a line break, blank or padded with white space,
        a line equal to a label, a heading, title or paragraph that is page chrome, or a
        ``source_url`` (a listing has no field for it).
    """
    parts = [_line(heading, "heading", text_block=True) + "\n"]
    parts.extend("\n".join(_record_lines(record, heading)) + "\n" for record in records)
    return "\n".join(parts)


def _record_lines(record: Record, heading: str) -> Iterator[str]:
    if record.title is None:
        raise ValueError("a listing record needs a title")
    if record.description is None:
        raise ValueError(f"{record.title.value!r}: a listing record needs a description "
                         "(without one, its title would read as the next record's)")
    if record.source_url is not None:
        raise ValueError(f"{record.title.value!r}: a listing has no field for source_url")
    yield _line(record.title.value, "title", text_block=True)
    for paragraph in record.description.value.split("\n\n"):
        yield ""
        yield _line(paragraph, "description", text_block=True)
    for key, label in FIELD_LABELS.items():
        value = getattr(record, key)
        values = value if key in LIST_FIELDS else [] if value is None else [value]
        if key == "category" and [v.value for v in values] == [heading]:
            continue
        if values:
            yield label
            yield from (_line(v.value, key) for v in values)


def _line(text: str, what: str, *, text_block: bool = False) -> str:
    if (not text or text != text.strip() or "\n" in text or text in LABELS
            or (text_block and is_page_chrome(text))):
        raise ValueError(f"{what} {text!r} cannot be one line of a listing")
    return text
