"""Check every value at the door: text made safe to publish, links made valid IRIs.

Every reader's records pass through :func:`check_record` (``read_file`` applies it), so a
listing, a JSON Lines file and a CSV file are held to the same rules:

- text: control characters other than tab and newline are removed, lone surrogates
  replaced with U+FFFD (each reported), the text normalised to NFC, and a value longer
  than the ``max_field_chars`` setting dropped;
- links (``source_url``): an absolute ``http`` or ``https`` IRI, valid per RFC 3987;
  characters an IRI forbids are percent-encoded when that is unambiguous (a space, ``<``,
  ``"`` ...), anything else (a line break, a bare ``%``, another scheme) drops the field.

A dropped field is a warning naming file, line, field and the value shortened; a record
left without a title is rejected. Nothing here raises on a value.

>>> check_iri("https://example.org/a report.pdf")
('https://example.org/a%20report.pdf', None)
>>> check_iri("javascript:alert(1)")
(None, "scheme 'javascript' is not allowed (only http and https)")
>>> text, notes = clean_text("bell\\x07 and \\ud800", 100)
>>> text, notes[0]
('bell and \\ufffd', 'control character U+0007 removed')
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import pyoxigraph

from tipgraph.config import MAX_FIELD_CHARS
from tipgraph.errors import Problem
from tipgraph.sources.model import LIST_FIELDS, ReadResult, Record, Value

#: Schemes a published link may have: anything else could run code in a reader's browser.
ALLOWED_SCHEMES = frozenset({"http", "https"})

#: Fields whose value is a link, not text.
IRI_FIELDS = frozenset({"source_url"})

#: C0 and C1 controls and DEL, but tab and newline; and the lone surrogates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
#: What may not stand in an IRI at all, so that encoding it would guess at the meaning:
#: controls (a line break means two values ran together), the line and paragraph separators.
_AMBIGUOUS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
#: Characters RFC 3987 forbids that have one obvious escaped form.
_ENCODABLE = re.compile(r'[ "<>\\^`{|}]')
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def shorten(text: str, limit: int = 60) -> str:
    """``text`` as a report quotes it: cut to ``limit`` characters, controls escaped."""
    text = text if len(text) <= limit else text[:limit] + "…"
    return repr(text)


def clean_text(text: str, max_chars: int) -> tuple[str | None, list[str]]:
    """``text`` made safe to publish, and what was changed; None when it is too long.

    The size is checked first, so a 16 MB value costs one comparison.
    """
    if len(text) > max_chars:
        return None, [f"value of {len(text):,} characters is longer than max_field_chars "
                      f"({max_chars:,}): field dropped"]
    if _UNSAFE.search(text) is None:  # most values: one scan in C
        return (text if text.isascii() else unicodedata.normalize("NFC", text)), []
    notes: list[str] = []
    if _CONTROL.search(text):
        found = sorted(set(_CONTROL.findall(text)))
        notes.append(f"control character{'s' if len(found) > 1 else ''} "
                     f"{', '.join(f'U+{ord(c):04X}' for c in found)} removed")
        text = _CONTROL.sub("", text)
    if _SURROGATE.search(text):
        found = sorted(set(_SURROGATE.findall(text)))
        notes.append(f"lone surrogate{'s' if len(found) > 1 else ''} "
                     f"{', '.join(f'U+{ord(c):04X}' for c in found)} replaced with U+FFFD")
        text = _SURROGATE.sub("\ufffd", text)
    return unicodedata.normalize("NFC", text), notes


def check_iri(text: str) -> tuple[str | None, str | None]:
    """``text`` as an absolute http(s) IRI valid per RFC 3987, or None and why not.

    >>> check_iri("http://example.org/a>b")
    ('http://example.org/a%3Eb', None)
    >>> check_iri("http://example.org/x>\\n<http://example.org/y> <p> <o> .")[1]
    'holds a line break or control character'
    >>> check_iri("www.example.org")[1]
    'not an absolute IRI (no scheme)'
    """
    text = text.strip()
    if _AMBIGUOUS.search(text):
        return None, "holds a line break or control character"
    if _BAD_PERCENT.search(text):
        return None, "holds a '%' that starts no percent-encoded byte"
    text = _ENCODABLE.sub(lambda m: f"%{ord(m.group()):02X}", unicodedata.normalize("NFC", text))
    scheme, _, rest = text.partition(":")
    if not rest or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme):
        return None, "not an absolute IRI (no scheme)"
    if scheme.lower() not in ALLOWED_SCHEMES:
        return None, f"scheme {scheme.lower()!r} is not allowed (only http and https)"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as error:
        return None, f"not a valid IRI: {error}"
    if not parts.hostname:
        return None, "not a valid IRI: no host"
    try:
        pyoxigraph.NamedNode(text)
    except ValueError as error:
        return None, f"not a valid IRI: {error}"
    return scheme.lower() + text[len(scheme):], None


def check_record(record: Record, max_chars: int = MAX_FIELD_CHARS) -> ReadResult:
    """``record`` with every value checked: bad fields dropped and reported; a record left
    without a title is rejected (the result then holds no record)."""
    result = ReadResult()

    def check(field: str, value: Value) -> Value | None:
        def report(why: str, severity: str = "warning") -> None:
            result.problems.append(Problem(record.source, value.line, field,
                                           f"{shorten(value.value)}: {why}", severity))

        text, notes = clean_text(value.value, max_chars)
        for note in notes:
            report(note)
        if text is None:
            return None
        if field in IRI_FIELDS:
            iri, why = check_iri(text)
            if iri is None:
                report(f"{why}: field dropped")
                return None
            if iri != text.strip():
                report(f"percent-encoded as {iri!r}", "repair")
            text = iri
        text = text.strip()
        if text == value.value:
            return value
        return Value(text, value.line) if text else None

    for field in ("id", "title", "description", "year", "category", "source_url"):
        value = getattr(record, field)
        if value is not None:
            setattr(record, field, check(field, value))
    for field in LIST_FIELDS:
        values = getattr(record, field)
        checked = [check(field, v) for v in values]
        setattr(record, field, [v for v in checked if v is not None])
    if record.title is None:
        result.rejected.append(Problem(record.source, record.line, "title",
                                       "record has no usable title: rejected", "error"))
    else:
        result.records.append(record)
    return result


def check_records(read: ReadResult, max_chars: int = MAX_FIELD_CHARS) -> ReadResult:
    """Every record of ``read`` checked by :func:`check_record`, its problems kept."""
    result = ReadResult(rejected=list(read.rejected), problems=list(read.problems))
    for record in read.records:
        result.extend(check_record(record, max_chars))
    return result
