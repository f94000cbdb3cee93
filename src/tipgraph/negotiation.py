"""Content negotiation by RFC 9110 (sections 12.5.1 and 12.5.3), one for every answer.

Documents, dumps, the dataset's description and ``/sparql`` all choose their
format here, from the formats they can write (:mod:`tipgraph.formats`), so the
same ``Accept`` gets the same kind of answer everywhere. The rules:

- a media range's q-value is that of the *most specific* range that matches
  (``text/html;q=0, */*`` excludes HTML: ``text/html`` is more specific than
  ``*/*``), and ``q=0`` means "not acceptable";
- among acceptable formats, a higher q wins; at equal q an exact type beats
  ``type/*``, which beats ``*/*`` (the client named it); then the client's own
  order in the header; then the server's order of ``offered``;
- a format's alias types (``application/xhtml+xml`` for HTML, ``text/plain``
  for N-Triples, ``application/json`` for JSON-LD...) count only when the
  client names them exactly: a wildcard such as ``application/*`` reaches a
  format through its main type alone, so an alias never lifts a format above
  one the client ranked first.

``Accept-Encoding`` is read the same way (:func:`accepts_gzip`).

>>> from tipgraph.formats import find
>>> offered = [find(n) for n in ("html", "turtle", "jsonld")]
>>> choose("text/html;q=0, */*", offered).name
'turtle'
>>> choose("application/*", offered).name
'jsonld'
>>> choose("image/png", offered) is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tipgraph.formats import Format


@dataclass(frozen=True)
class MediaRange:
    """One element of an ``Accept`` header: ``type/subtype`` (either may be ``*``)."""

    type: str
    subtype: str
    q: float
    position: int  # its place in the header, from 0

    def specificity(self, media_type: str, *, exact_only: bool = False) -> int | None:
        """How closely this range names ``media_type``: 2 exactly, 1 ``type/*``, 0 ``*/*``;
        None when it does not match (or matches by a wildcard and ``exact_only``)."""
        kind, _, sub = media_type.partition("/")
        if self.type == kind and self.subtype == sub:
            return 2
        if exact_only:
            return None
        if self.type == kind and self.subtype == "*":
            return 1
        if self.type == "*" and self.subtype == "*":
            return 0
        return None


def _q(params: Sequence[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


@lru_cache(maxsize=1024)
def parse_accept(header: str | None) -> tuple[MediaRange, ...]:
    """The media ranges of an ``Accept`` header with their q-values (malformed ones skipped).

    >>> [(r.type, r.subtype, r.q) for r in parse_accept("text/*;q=0.5, bad, */*")]
    [('text', '*', 0.5), ('*', '*', 1.0)]
    """
    ranges = []
    for position, part in enumerate((header or "").split(",")):
        fields = [f.strip() for f in part.split(";")]
        kind, slash, sub = fields[0].lower().partition("/")
        if not slash or not kind or not sub or (kind == "*" and sub != "*"):
            continue
        ranges.append(MediaRange(kind, sub, _q(fields[1:]), position))
    return tuple(ranges)


def bare(media_type: str) -> str:
    """A media type without its parameters, lower case.

    >>> bare("Text/Turtle; charset=utf-8")
    'text/turtle'
    """
    return media_type.split(";", 1)[0].strip().lower()


#: How a format matched: (q, specificity, -position in the header, main type?, -server rank)
_Rank = tuple[float, int, int, int, int]


def _rank(ranges: Sequence[MediaRange], main: str, aliases: Sequence[str],
          server_rank: int) -> _Rank | None:
    """The best match of one format, or None when no range names it."""
    best: _Rank | None = None
    for is_main, media_type in [(1, main)] + [(0, a) for a in aliases]:
        found = [(s, r) for r in ranges
                 if (s := r.specificity(media_type, exact_only=not is_main)) is not None]
        if not found:
            continue
        # the most specific range decides (the first of those, if the client repeats one)
        specificity, chosen = max(found, key=lambda m: (m[0], -m[1].position))
        rank = (chosen.q, specificity, -chosen.position, is_main, -server_rank)
        if best is None or rank > best:
            best = rank
    return best


def choose_type(accept: str | None, offered: Sequence[tuple[str, Sequence[str]]]
                ) -> int | None:
    """Which of ``offered`` (main media type, alias types), by index, the client prefers;
    None when none is acceptable. No ``Accept`` (or a blank one) accepts the first offer.

    >>> choose_type("text/*;q=0.5, text/csv", [("text/tab-separated-values", ()),
    ...                                        ("text/csv", ())])
    1
    >>> choose_type("*/*, text/csv;q=0", [("text/csv", ())]) is None
    True
    """
    if not offered:
        return None
    if not (accept or "").strip():
        return 0
    ranges = parse_accept(accept)
    best: tuple[_Rank, int] | None = None
    for index, (main, aliases) in enumerate(offered):
        rank = _rank(ranges, bare(main), [bare(a) for a in aliases], index)
        if rank is not None and rank[0] > 0 and (best is None or rank > best[0]):
            best = (rank, index)
    return None if best is None else best[1]


def choose(accept: str | None, offered: Sequence[Format]) -> Format | None:
    """The format of ``offered`` (the server's favourite first) the client prefers, or None
    when none is acceptable (the caller answers 406).

    :param accept: the request's ``Accept`` header, or None
    :param offered: the formats this answer can be written in
    """
    index = choose_type(accept, [(f.media_type, f.also_accepts) for f in offered])
    return None if index is None else offered[index]


@lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether a client's ``Accept-Encoding`` takes gzip (``gzip``, ``x-gzip`` or ``*``,
    with a q-value above 0; the most specific naming decides).

    >>> accepts_gzip("gzip, deflate, br")
    True
    >>> accepts_gzip("gzip;q=0, *")
    False
    >>> accepts_gzip("*;q=0.5")
    True
    >>> accepts_gzip(None)
    False
    """
    named: float | None = None
    anything: float | None = None
    for part in (accept_encoding or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        coding = fields[0].lower()
        if coding in ("gzip", "x-gzip"):
            named = max(named or 0.0, _q(fields[1:]))
        elif coding == "*":
            anything = _q(fields[1:])
    q = named if named is not None else anything
    return bool(q and q > 0)
