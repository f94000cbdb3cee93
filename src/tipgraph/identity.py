"""What makes two records the same publication, and what tells that a record changed.

- :func:`record_identity`: the curator's ``id`` when the record has one, else its
  ``source_url``, else its normalised title and year. Two records with one identity are
  one publication stated twice: the first (in the order the files are read) is built, the
  later one reported as a :class:`Duplicate` with both lines and left out.
- :func:`content_hash`: a digest of the record's checked field values (never of its file
  name or line), so inserting a record near the top of a file changes no other record's
  hash. Datestamps (OAI-PMH) and incremental builds compare it between builds.

>>> from tipgraph.sources.model import Record, Value
>>> a = Record("a.jsonl", 1, title=Value("Report", 1), year=Value("2020", 1))
>>> b = Record("b.csv", 7, title=Value("Report", 7), year=Value("2020", 7))
>>> content_hash(a) == content_hash(b)
True
>>> title_key("L'Été & the Report") == title_key("lete and the  report")
True
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tipgraph.sources.model import FIELDS, LIST_FIELDS, Record

if TYPE_CHECKING:
    from tipgraph.reconcile import Publication


def title_key(title: str) -> str:
    """A title folded to what tells titles apart: case, accents, punctuation and spacing
    folded, ``&`` read as "and"; letters of every script kept (a title in Arabic or Chinese
    keeps its words)."""
    if title.isascii():  # most titles: nothing to decompose
        text = title.lower()
    else:
        text = unicodedata.normalize("NFKD", title)
        text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return " ".join(re.findall(r"[^\W_]+", text))


def record_identity(publication: Publication) -> str:
    """The identity of a publication, the same in every build while its record says the
    same: ``id:<id>``, else ``url:<source_url>``, else ``<title key>|<year>``.

    >>> from tipgraph.reconcile import Publication
    >>> record_identity(Publication("a.csv", 2, "The Report", year=2020))
    'the report|2020'
    >>> record_identity(Publication("a.csv", 2, "The Report", source_url="https://x.org/r"))
    'url:https://x.org/r'
    """
    if publication.id:
        return f"id:{publication.id}"
    if publication.source_url:
        return f"url:{publication.source_url}"
    return f"{title_key(publication.title)}|{publication.year or ''}"


def content_hash(record: Record) -> str:
    """SHA-256 (hex) of the record's field values, in :data:`FIELDS` order."""
    fields: dict[str, object] = {}
    for name in FIELDS:
        value = getattr(record, name)
        if name in LIST_FIELDS:
            fields[name] = [v.value for v in value]
        else:
            fields[name] = value.value if value is not None else None
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Duplicate:
    """A record left out because an earlier record has its identity."""

    file: str
    line: int
    first_file: str
    first_line: int
    identity: str

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "identity": self.identity,
                "first": {"file": self.first_file, "line": self.first_line},
                "why": str(self)}

    def __str__(self) -> str:
        return (f"{self.file}:{self.line}: same identity {self.identity!r} as the record at "
                f"{self.first_file}:{self.first_line}, which is kept: left out")
