"""Citations of publications: CSL-JSON, BibTeX, RIS and formatted references.

What a reference manager or a reader needs of a publication is a few facts (its
title, authors, year, the volume it is part of...): :class:`Facts`. They are
written once as a CSL-JSON item (:func:`csl_item`), the format citeproc and
Zotero speak, and everything else is made from that item: BibTeX
(:func:`bibtex`), RIS (:func:`ris`) and references formatted in a citation style
by citeproc-py (:func:`format_references`) with the CSL styles that travel in
the package (``tipgraph/csl/``: Chicago author-date and Harvard, see its README
for why these). Nothing here reads the store or knows the web: the read side
gathers the facts, the views choose a format.

>>> facts = Facts("https://example.org/publication/x", "x", "Counting Trafficking",
...               (Agent("Alison Jobe", "person"),), "2010")
>>> print(format_references([csl_item(facts)], "harvard-cite-them-right")[0].text)
Jobe, A. (2010) Counting Trafficking. Available at: https://example.org/publication/x.
"""

from __future__ import annotations

import contextvars
import html
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any, Literal

#: The citation styles shipped in ``tipgraph/csl``: name -> what a reader calls it.
STYLES: dict[str, str] = {
    "chicago-author-date": "Chicago author-date",
    "harvard-cite-them-right": "Harvard (Cite Them Right)",
}



@dataclass(frozen=True)
class Agent:
    """An author, an editor or a publisher: a person's name is split for citing, an
    organisation's is cited as it is written."""

    name: str
    kind: Literal["person", "organisation"]
    uri: str = ""


@dataclass(frozen=True)
class Volume:
    """The edited volume a chapter is part of."""

    title: str
    editors: tuple[Agent, ...] = ()
    publisher: Agent | None = None
    year: str | None = None
    uri: str = ""


@dataclass(frozen=True)
class Facts:
    """What a citation says of one publication.

    :param uri: the publication's URI (cited as its URL when no document link is known)
    :param key: a stable identifier (the URI's slug)
    :param url: the document's own page (``schema:url``), when the record names one
    """

    uri: str
    key: str
    title: str
    authors: tuple[Agent, ...] = ()
    year: str | None = None
    abstract: str = ""
    url: str = ""
    volume: Volume | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class CitationFormat:
    """An export of publications a reference manager reads."""

    name: str  # bibtex, ris, csl-json
    label: str
    media_type: str
    extension: str


#: The exports, by file extension (``csl.json``: the resource router splits a path at its
#: last dot, so :func:`split_extension` looks for the two-part extension first).
CITATION_FORMATS: dict[str, CitationFormat] = {f.extension: f for f in (
    CitationFormat("bibtex", "BibTeX", "application/x-bibtex", "bib"),
    CitationFormat("ris", "RIS", "application/x-research-info-systems", "ris"),
    CitationFormat("csl-json", "CSL-JSON", "application/vnd.citationstyles.csl+json",
                   "csl.json"))}


def split_extension(path: str) -> tuple[str, CitationFormat | None]:
    """``publication/x.csl.json`` -> (``publication/x``, CSL-JSON); a path without a
    citation's extension -> (the path, None).

    >>> split_extension("publication/x.csl.json")[0], split_extension("place/ng.ttl")[1]
    ('publication/x', None)
    """
    for extension, fmt in CITATION_FORMATS.items():
        if path.endswith("." + extension) and len(path) > len(extension) + 1:
            return path[:-len(extension) - 1], fmt
    return path, None


def export(items: Sequence[dict[str, Any]], fmt: CitationFormat) -> str:
    """CSL-JSON items in the export ``fmt``."""
    return {"bibtex": bibtex, "ris": ris, "csl-json": csl_json}[fmt.name](items)


# -- CSL-JSON --------------------------------------------------------------------------

_PARTICLES = {"van", "von", "de", "der", "den", "del", "della", "di", "da", "dos", "du", "la",
              "le", "ter", "ten", "bin", "al", "el"}
_INITIAL = re.compile(r"(\w\.)+|\w\.-\w\.")


def csl_name(agent: Agent) -> dict[str, str]:
    """A CSL name: an organisation as a literal; a person's leading initials as the given
    name and the rest as the family name ("M. Klein Solomon"), else the last word as the
    family name with the lower-case particles before it ("Anna van der Berg").

    >>> csl_name(Agent("Shukri Hirabe Gesod", "person"))
    {'family': 'Gesod', 'given': 'Shukri Hirabe'}
    >>> csl_name(Agent("M. Klein Solomon", "person"))
    {'family': 'Klein Solomon', 'given': 'M.'}
    >>> csl_name(Agent("Anna van der Berg", "person"))
    {'family': 'Berg', 'given': 'Anna', 'non-dropping-particle': 'van der'}
    >>> csl_name(Agent("UNHCR", "organisation"))
    {'literal': 'UNHCR'}
    """
    words = agent.name.split()
    if agent.kind != "person" or len(words) < 2:
        return {"literal": agent.name} if agent.kind != "person" else {"family": agent.name}
    initials = 0
    while initials < len(words) - 1 and _INITIAL.fullmatch(words[initials]):
        initials += 1
    if initials:
        return {"family": " ".join(words[initials:]), "given": " ".join(words[:initials])}
    family = [words.pop()]
    particles = []
    while len(words) > 1 and words[-1] in _PARTICLES:
        particles.insert(0, words.pop())
    name = {"family": family[0], "given": " ".join(words)}
    if particles:
        name["non-dropping-particle"] = " ".join(particles)
    return name


def csl_item(facts: Facts) -> dict[str, Any]:
    """The CSL-JSON item of a publication: a chapter when it is part of a volume, else a
    report (the catalogue's publications are reports, guides and studies)."""
    item: dict[str, Any] = {"id": facts.key, "type": "chapter" if facts.volume else "report",
                            "title": facts.title, "URL": facts.url or facts.uri,
                            "language": "en"}
    if facts.authors:
        item["author"] = [csl_name(a) for a in facts.authors]
    year = _year(facts.year) or (_year(facts.volume.year) if facts.volume else None)
    if year is not None:
        item["issued"] = {"date-parts": [[year]]}
    if facts.abstract:
        item["abstract"] = facts.abstract
    if facts.keywords:
        item["keyword"] = ", ".join(facts.keywords)
    if facts.volume:
        item["container-title"] = facts.volume.title
        if facts.volume.editors:
            item["editor"] = [csl_name(a) for a in facts.volume.editors]
        if facts.volume.publisher:
            item["publisher"] = facts.volume.publisher.name
    return item


def _year(text: str | None) -> int | None:
    return int(text) if text and re.fullmatch(r"\d{4}", text) else None


def csl_json(items: Sequence[dict[str, Any]]) -> str:
    """CSL-JSON: an array of items, as citeproc-js, citeproc-py and Zotero read it."""
    return json.dumps(list(items), ensure_ascii=False, indent=2) + "\n"


# -- BibTeX ----------------------------------------------------------------------------

_BIBTEX_SPECIAL = re.compile(r"([&%$#_{}])|([\\~^])")


def _bibtex_text(text: str) -> str:
    """``text`` with BibTeX's special characters escaped (letters stay UTF-8, which biber,
    Zotero and JabRef read)."""
    def escape(match: re.Match[str]) -> str:
        if match.group(1):
            return "\\" + match.group(1)
        return {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}[match.group(2)]

    return _BIBTEX_SPECIAL.sub(escape, " ".join(text.split()))


def _bibtex_names(names: Iterable[dict[str, str]]) -> str:
    """BibTeX's ``and``-separated names: "Family, Given"; an organisation in braces, so
    that it is not split into a family and given name."""
    written = []
    for name in names:
        if "literal" in name:
            written.append("{" + _bibtex_text(name["literal"]) + "}")
            continue
        family = " ".join(p for p in (name.get("non-dropping-particle"), name["family"]) if p)
        given = name.get("given")
        written.append(_bibtex_text(f"{family}, {given}" if given else family))
    return " and ".join(written)


def citation_key(item: dict[str, Any]) -> str:
    """A readable key: the first author's family name (or first word), the year and the
    first word of the title that is not an article, ASCII only.

    >>> citation_key({"author": [{"family": "Jobe"}], "issued": {"date-parts": [[2010]]},
    ...               "title": "The Causes of Re-trafficking"})
    'jobe2010causes'
    """
    authors = item.get("author") or [{}]
    first = authors[0].get("family") or authors[0].get("literal") or ""
    year = str(item.get("issued", {}).get("date-parts", [[""]])[0][0])
    title = [w for w in _ascii_words(item.get("title", ""))
             if w not in {"a", "an", "the", "on", "of", "in"}]
    key = "".join((_ascii_words(first)[:1] or [""])[0:1]) + year + (title[0] if title else "")
    return key or "publication"


def _ascii_words(text: str) -> list[str]:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.findall(r"[a-z0-9]+", ascii_text.lower())


def bibtex(items: Sequence[dict[str, Any]]) -> str:
    """BibTeX entries of CSL items (``@incollection`` for a chapter, ``@techreport`` for a
    report), with unique keys; titles are braced so that styles keep their capitals."""
    entries = []
    keys: dict[str, int] = {}
    for item in items:
        key = citation_key(item)
        keys[key] = keys.get(key, 0) + 1
        if keys[key] > 1:
            key += "-" + str(keys[key])
        fields: list[tuple[str, str]] = []
        if item.get("author"):
            fields.append(("author", _bibtex_names(item["author"])))
        fields.append(("title", "{" + _bibtex_text(item["title"]) + "}"))
        if item.get("container-title"):
            fields.append(("booktitle", "{" + _bibtex_text(item["container-title"]) + "}"))
        if item.get("editor"):
            fields.append(("editor", _bibtex_names(item["editor"])))
        if item.get("publisher"):
            fields.append(("publisher", _bibtex_text(item["publisher"])))
        if item.get("issued"):
            fields.append(("year", str(item["issued"]["date-parts"][0][0])))
        for name, field in (("abstract", "abstract"), ("keyword", "keywords"),
                            ("URL", "url"), ("language", "language")):
            if item.get(name):
                value = item[name] if name == "URL" else _bibtex_text(item[name])
                fields.append((field, value))
        kind = "incollection" if item["type"] == "chapter" else "techreport"
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        entries.append(f"@{kind}{{{key},\n{body}\n}}\n")
    return "\n".join(entries)


# -- RIS -------------------------------------------------------------------------------

def _ris_name(name: dict[str, str]) -> str:
    if "literal" in name:
        return name["literal"]
    family = " ".join(p for p in (name.get("non-dropping-particle"), name["family"]) if p)
    return f"{family}, {name['given']}" if name.get("given") else family


def ris(items: Sequence[dict[str, Any]]) -> str:
    """RIS records of CSL items (``CHAP`` for a chapter, ``RPRT`` for a report), as
    EndNote, Zotero and Mendeley import them: one tag a line, ``ER`` closing each."""
    lines: list[str] = []

    def tag(name: str, value: str) -> None:
        value = " ".join(str(value).split())  # a line break would end the field
        if value:
            lines.append(f"{name}  - {value}")

    for item in items:
        tag("TY", "CHAP" if item["type"] == "chapter" else "RPRT")
        tag("ID", item["id"])
        for name in item.get("author", []):
            tag("AU", _ris_name(name))
        tag("TI", item["title"])
        if item.get("container-title"):
            tag("T2", item["container-title"])
        for name in item.get("editor", []):
            tag("A2", _ris_name(name))
        if item.get("publisher"):
            tag("PB", item["publisher"])
        if item.get("issued"):
            tag("PY", str(item["issued"]["date-parts"][0][0]))
        if item.get("abstract"):
            tag("AB", item["abstract"])
        for keyword in filter(None, (k.strip() for k in item.get("keyword", "").split(","))):
            tag("KW", keyword)
        tag("UR", item.get("URL", ""))
        tag("LA", item.get("language", ""))
        lines.append("ER  - ")
        lines.append("")
    return "\r\n".join(lines)


# -- formatted references --------------------------------------------------------------

@dataclass(frozen=True)
class Reference:
    """A formatted reference: as plain text and as HTML (italics; the data escaped)."""

    text: str
    html: str


def format_references(items: Sequence[dict[str, Any]], style: str) -> list[Reference]:
    """The bibliography entries of ``items`` in ``style`` (a name of :data:`STYLES`), in
    the order of ``items``.

    :raises KeyError: for a style that is not shipped
    """
    from citeproc import formatter

    # citeproc-py's HTML output does not escape the data: its markup characters go in as
    # private-use stand-ins that no text-casing touches, and come out as entities. The
    # plain text is that output without its tags (rendering once, not once per output,
    # halves the cost of a record page: the same text as citeproc-py's plain output for
    # each of 412 seed and synthetic records in both styles)
    hidden = [_hide_markup(item) for item in items]
    return [Reference(_finish(_plain(text), style), _finish(text, style).translate(_ENTITIES))
            for text in _render(hidden, style, formatter.html)]


@lru_cache(maxsize=4096)
def cite(facts: Facts) -> tuple[Reference, ...]:
    """The reference of one publication in each of :data:`STYLES`, in that order. The
    last few thousand are kept (a few MB): a record page asked for again, or revalidated,
    does not render its citations again (12 ms of citeproc-py); a build that changes a
    record's facts changes the key.
    """
    item = csl_item(facts)
    return tuple(format_references([item], style)[0] for style in STYLES)


_STAND_INS = str.maketrans({"&": "\ue000", "<": "\ue001", ">": "\ue002"})
_ENTITIES = str.maketrans({"\ue000": "&amp;", "\ue001": "&lt;", "\ue002": "&gt;"})
_CHARACTERS = str.maketrans({"\ue000": "&", "\ue001": "<", "\ue002": ">"})
_TAG = re.compile(r"<[^>]*>")


def _plain(markup: str) -> str:
    """citeproc-py's HTML output (the data's markup characters as stand-ins) as plain text.

    >>> _plain("Jobe, A. (2010) <i>Counting \ue001b\ue002 &#38; more</i>.")
    'Jobe, A. (2010) Counting <b> & more.'
    """
    return html.unescape(_TAG.sub("", markup)).translate(_CHARACTERS)


def _hide_markup(value: Any) -> Any:
    if isinstance(value, str):
        return value.translate(_STAND_INS)
    if isinstance(value, dict):
        return {k: v if k == "id" else _hide_markup(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide_markup(v) for v in value]
    return value


def _render(items: Sequence[dict[str, Any]], style: str, output: Any) -> list[str]:
    from citeproc import Citation, CitationItem, CitationStylesBibliography
    from citeproc.source.json import CiteProcJSON

    _repress_substituted()
    rendered = []
    for item in items:  # one bibliography each: the order given, no "2010a" disambiguation
        bibliography = CitationStylesBibliography(_style(style), CiteProcJSON([dict(item)]),
                                                  output)
        bibliography.register(Citation([CitationItem(item["id"].lower())]))
        rendered.append(str(bibliography.bibliography()[0]))
    return rendered


@cache
def _style(name: str) -> Any:
    """The parsed style (once per process: parsing Chicago takes tens of milliseconds)."""
    from citeproc import CitationStylesStyle

    if name not in STYLES:
        raise KeyError(f"no citation style {name!r}; shipped: {', '.join(STYLES)}")
    with (files("tipgraph") / "csl" / f"{name}.csl").open("rb") as style:
        return CitationStylesStyle(style, locale="en-US", validate=False)


def _finish(text: str, style: str) -> str:
    """American punctuation for Chicago: a period or comma after a closing quote goes
    inside it (the en-US locale's ``punctuation-in-quote``, which citeproc-py applies to
    affixes only, not to a group's delimiter)."""
    if style == "chicago-author-date":
        text = re.sub(r"(”|&#8221;)([.,])", r"\2\1", text)
    return text


_SUBSTITUTED: contextvars.ContextVar[list[tuple[str, str]] | None] = contextvars.ContextVar(
    "tipgraph_csl_substituted", default=None)


@cache
def _repress_substituted() -> None:
    """Teach citeproc-py CSL's rule that a variable standing in for a missing name
    (``cs:substitute``) is not printed again: it represses only a variable named in the
    substitute itself, not one printed by a macro there, so a report without an author
    had its title twice in both shipped styles. The variables a successful substitute
    read are repressed for the rest of the entry."""
    from citeproc import model

    read_variable = model.Text._variable
    substitute = model.Substitute.render

    def _variable(self: Any, item: Any, context: Any) -> Any:
        found = read_variable(self, item, context)
        collected = _SUBSTITUTED.get()
        if collected is not None and found:
            collected.append((self.tag, self.get("variable")))
        return found

    def render(self: Any, item: Any, context: Any = None, **kwargs: Any) -> Any:
        token = _SUBSTITUTED.set([])
        try:
            text = substitute(self, item, context=context, **kwargs)
            read = _SUBSTITUTED.get() or []
        finally:
            _SUBSTITUTED.reset(token)
        if text:
            repressed = context.get_layout().repressed
            for tag, variable in read:
                repressed.setdefault(tag, []).append(variable)
        return text

    model.Text._variable = _variable
    model.Substitute.render = render
