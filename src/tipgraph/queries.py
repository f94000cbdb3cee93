"""The shipped researcher queries (``queries/*.rq``): find them, read their header, bind them.

This module is the one place that knows what a shipped query is. Each file is a
SPARQL query that starts with a comment header::

    # title: Publications about a region, its countries included
    # description: Every publication about the named region ...
    # param: region = West and Central Africa (string), on line 21

A parameter is a constant of the query: the query is stored with each default
written in place, so it runs as it is in any SPARQL 1.1 client, and its header
says where that constant stands (``on line 21``; without it, every place the query
writes that constant). :meth:`Query.bind` replaces exactly those constants with
the value given, as an RDF term of the declared type written by pyoxigraph's own
serializer (an ``integer`` as a bare number, so that it may stand after ``LIMIT``
or ``OFFSET`` to read a long list a page at a time). A value is always one term,
so no value (quotes, braces, ``} UNION {``) can change the query around it, and
the engine plans with a constant (at 100,000 publications a query binding an
organisation ran in 62 ms this way against 5.3 s through a ``VALUES`` block).

>>> query = parse_query('''# title: Titles
... # param: word = crisis (string), on line 4
... SELECT ?title WHERE { ?p dct:title ?title
...   FILTER(CONTAINS(?title, "crisis")) } ORDER BY ?title''', name="titles")
>>> query.params[0]
Param(name='word', default='crisis', type='string', lines=(4,))
>>> print(query.bind({"word": 'a" } UNION { ?s ?p ?o'}))
# title: Titles
# param: word = crisis (string), on line 4
SELECT ?title WHERE { ?p dct:title ?title
  FILTER(CONTAINS(?title, "a\\" } UNION { ?s ?p ?o")) } ORDER BY ?title
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyoxigraph

from tipgraph.errors import TipgraphError
from tipgraph.shipped import shipped

#: Where the shipped queries live: ``queries/`` at the top of the project.
QUERIES_DIR = shipped("queries")

_XSD = "http://www.w3.org/2001/XMLSchema#"

#: Declared parameter types and the datatype of their literals (``iri`` makes a NamedNode).
PARAM_TYPES: dict[str, str | None] = {
    "iri": None,
    "string": _XSD + "string",
    "integer": _XSD + "integer",
    "decimal": _XSD + "decimal",
    "boolean": _XSD + "boolean",
    "gYear": _XSD + "gYear",
    "date": _XSD + "date",
}

# Lexical forms we check before a literal is made, so that a typo fails here with
# a sentence rather than as an empty answer.
_LEXICAL = {
    "gYear": re.compile(r"-?\d{4,}"),
    "date": re.compile(r"-?\d{4,}-\d\d-\d\d"),
}

_HEADER = re.compile(r"#\s*(title|description|param)\s*:\s*(.*?)\s*$")
_PARAM = re.compile(r"(?P<name>[A-Za-z_]\w*)\s*(?:=\s*(?P<default>.*?))?\s*"
                    r"\((?P<type>[A-Za-z]+(?:@[A-Za-z]+(?:-[A-Za-z0-9]+)*)?)\)"
                    r"(?:\s*,?\s*on\s+lines?\s+(?P<lines>\d+(?:\s*(?:,|and)\s*\d+)*))?$")

# SPARQL's lexical tokens, as far as binding needs them: comments, strings and IRIs
# are skipped whole so that a brace or keyword inside them is never mistaken.
_TOKEN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"|'''(?:[^'\\]|\\.|'(?!''))*'''
              |"(?:[^"\\\n\r]|\\.)*"|'(?:[^'\\\n\r]|\\.)*')
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<var>[?$][A-Za-z0-9_\u00b7\u00c0-\uffff]+)
  | (?P<word>[A-Za-z_][\w-]*(?::[\w-]*(?:\.[\w-]+)*)?|:[\w-]*(?:\.[\w-]+)*)
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)

FORMS = ("SELECT", "CONSTRUCT", "ASK", "DESCRIBE")


class QueryTextError(TipgraphError, ValueError):
    """A query text or a parameter value that cannot be used, said in one sentence: found
    by reading it, before any store sees it (a store's failure to answer a query is a
    :class:`tipgraph.sparql_engine.QueryError`)."""


@dataclass(frozen=True)
class Param:
    """One declared parameter: ``# param: name = default (type), on line N``; ``lines``
    are where its default stands (none given: wherever the query writes it)."""

    name: str
    default: str | None
    type: str
    lines: tuple[int, ...] = ()

    def term(self, value: str) -> pyoxigraph.NamedNode | pyoxigraph.Literal:
        """``value`` as an RDF term of this parameter's type.

        >>> str(Param("year", None, "gYear").term("2010"))
        '"2010"^^<http://www.w3.org/2001/XMLSchema#gYear>'
        >>> str(Param("label", None, "string@en").term('say "hi"'))
        '"say \\\\"hi\\\\""@en'

        :raises QueryTextError: when ``value`` is not of the declared type
        """
        kind, _, language = self.type.partition("@")
        try:
            if kind == "iri":
                return pyoxigraph.NamedNode(value)
            if language:
                return pyoxigraph.Literal(value, language=language)
            if kind == "integer":
                value = str(int(value))
            elif kind == "decimal":
                value = str(Decimal(value))
            elif kind == "boolean":
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                value = value.lower()
            elif kind in _LEXICAL and not _LEXICAL[kind].fullmatch(value):
                raise ValueError(value)
            return pyoxigraph.Literal(value, datatype=pyoxigraph.NamedNode(PARAM_TYPES[kind]))
        except (ValueError, InvalidOperation) as error:
            raise QueryTextError(f"parameter {self.name}: {value!r} is not a valid "
                                 f"{self.type}") from error


@dataclass(frozen=True)
class Query:
    """A SPARQL query with its header; ``name`` is its file name without ``.rq``."""

    name: str
    title: str
    description: str
    params: tuple[Param, ...]
    text: str
    path: Path | None = None

    @property
    def form(self) -> str:
        """``SELECT``, ``CONSTRUCT``, ``ASK`` or ``DESCRIBE``."""
        return query_form(self.text)

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        declared = ", ".join(p.name for p in self.params) or "no parameters"
        raise QueryTextError(f"{self.name} has no parameter {name!r} (it takes {declared})")

    def values(self, values: Mapping[str, str] | None = None) -> dict[str, str]:
        """Each parameter's value: the one given, else its default.

        :raises QueryTextError: for an unknown parameter, or a missing one without default
        """
        values = dict(values or {})
        for name in values:
            self.param(name)
        for param in self.params:
            if param.name not in values:
                if param.default is None:
                    raise QueryTextError(f"{self.name} needs a value for the parameter "
                                         f"{param.name} ({param.type})")
                values[param.name] = param.default
        return values

    def bind(self, values: Mapping[str, str] | None = None) -> str:
        """The query text with each parameter's constants replaced by its value (given,
        else the default: the text as stored).

        :raises QueryTextError: for an unknown parameter, a value not of its type, or a
            negative number after ``LIMIT`` or ``OFFSET``
        """
        values = self.values(values)
        edits: list[tuple[int, int, str]] = []
        for param, places in self.places().items():
            term = param.term(values[param.name])
            if term == param.term(param.default or ""):
                continue
            edits += [(place.start, place.end, _written(term, param, place)) for place in places]
        text = self.text
        for start, end, replacement in sorted(edits, reverse=True):
            text = text[:start] + replacement + text[end:]
        return text

    def places(self) -> dict[Param, list[Constant]]:
        """Where each parameter stands: the constants that write its default (on the
        lines its header names).

        :raises QueryTextError: when a parameter has no default, its default is not written
            on a line its header names, or two parameters claim the same constant
        """
        defaults = {}
        for param in self.params:
            if param.default is None:
                raise QueryTextError(f"{self.name}: the parameter {param.name} has no default; "
                                     "write one in the header and as a constant in the query")
            defaults[param] = param.term(param.default)
        places: dict[Param, list[Constant]] = {param: [] for param in self.params}
        for constant in constants(self.text):
            owners = [p for p in self.params if constant.term == defaults[p]
                      and (not p.lines or constant.line in p.lines)]
            if len(owners) > 1:
                raise QueryTextError(f"{self.name}: the parameters {owners[0].name} and "
                                     f"{owners[1].name} both stand at {constant.term} on line "
                                     f"{constant.line}: give each its own line or default")
            if owners:
                places[owners[0]].append(constant)
        for param, found in places.items():
            missing = sorted(set(param.lines) - {place.line for place in found})
            if not found or missing:
                where = (f"on line {', '.join(map(str, missing))}" if missing
                         else "anywhere in the query")
                hint = (f" (it uses ?{param.name}: write the default there instead)"
                        if param.name in variables(self.text) else "")
                shown = (param.default if param.type == "integer" else defaults[param])
                raise QueryTextError(f"{self.name}: the default of the parameter {param.name}, "
                                     f"{shown}, is not written {where}{hint}")
        return places


@dataclass(frozen=True)
class Constant:
    """An RDF term written in a query's text: its place, its line and what it is."""

    start: int
    end: int
    line: int
    term: pyoxigraph.NamedNode | pyoxigraph.Literal
    #: the keyword right before it, upper case (``LIMIT``, ``OFFSET``), else ""
    after: str = ""


def _written(term: pyoxigraph.NamedNode | pyoxigraph.Literal, param: Param,
             place: Constant) -> str:
    """``term`` as the query writes it: an integer as a bare number (SPARQL takes only
    that after ``LIMIT`` and ``OFFSET``), any other term as pyoxigraph writes it."""
    if isinstance(term, pyoxigraph.Literal) and term.datatype.value == _XSD + "integer":
        if place.after in ("LIMIT", "OFFSET") and int(term.value) < 0:
            raise QueryTextError(f"parameter {param.name} follows {place.after}: it must be a "
                                 f"non-negative integer, not {term.value}")
        return str(int(term.value))
    return str(term)


def tokens(text: str) -> Iterator[tuple[str, str, int]]:
    """``(kind, text, offset)`` of each SPARQL token, whitespace left out."""
    for match in _TOKEN.finditer(text):
        if match.lastgroup != "space":
            yield match.lastgroup or "other", match.group(), match.start()


#: Characters of a query whose tokens :func:`lexed` keeps (a longer one is lexed anew by
#: each reader: a text search's thousands of IRIs would hold megabytes of tokens).
LEXED_CHARS = 16384


def lexed(text: str) -> Sequence[tuple[str, str, int]]:
    """:func:`tokens` of ``text``, kept for the next reader of the same text.

    One request's query is read by several (the lookup check, its form, its bound, the
    ``SERVICE`` check): lexing it once each cost a tenth of a small query's time in the
    front (30 us a pass for a shipped query).

    >>> lexed("ASK { ?s ?p 'a b' } # c") == tuple(tokens("ASK { ?s ?p 'a b' } # c"))
    True
    """
    if len(text) > LEXED_CHARS:
        return tuple(tokens(text))
    return _lexed(text)


@functools.lru_cache(maxsize=16)
def _lexed(text: str) -> tuple[tuple[str, str, int], ...]:
    return tuple(tokens(text))


_UPDATE_WORDS = {"insert", "delete", "load", "clear", "create", "drop", "copy", "move",
                 "add", "with"}
_PROLOGUE = re.compile(r"""(?ix)
    (?: \s+ | \#[^\n\r]* | BASE \s* <[^>]*> | PREFIX \s* [^\s:]* : \s* <[^>]*> )*""")


def looks_like_update(text: str) -> bool:
    """Whether ``text`` starts (after its prologue) with an update operation's keyword.

    >>> looks_like_update("PREFIX ex: <http://e/> # wipe\\nCLEAR ALL")
    True
    >>> looks_like_update("SELECT * {}")
    False
    """
    rest = text[_PROLOGUE.match(text).end():]
    word = re.match(r"[A-Za-z]+", rest)
    return bool(word) and word.group(0).lower() in _UPDATE_WORDS


def query_form(text: str) -> str:
    """The form of a query: the first of SELECT, CONSTRUCT, ASK, DESCRIBE it uses.

    >>> query_form("PREFIX a: <x:> # SELECT\\nconstruct { ?s ?p ?o } WHERE { ?s ?p ?o }")
    'CONSTRUCT'

    :raises QueryTextError: when it has none of them (an update: updates are not accepted)
    """
    if looks_like_update(text):
        raise QueryTextError("updates are not accepted: only SELECT, CONSTRUCT, ASK and DESCRIBE "
                             "queries are run")
    for kind, token, _ in lexed(text):
        if kind == "word" and token.upper() in FORMS:
            return token.upper()
    raise QueryTextError("the query has no SELECT, CONSTRUCT, ASK or DESCRIBE")


def variables(text: str) -> set[str]:
    """The names of the variables a query mentions (outside comments and strings)."""
    return {token[1:] for kind, token, _ in tokens(text) if kind == "var"}


def constants(text: str) -> Iterator[Constant]:
    """The RDF terms a query writes as constants: literals (with their language or
    datatype), numbers, booleans and IRIs; outside comments.

    >>> [(c.line, str(c.term)) for c in constants('SELECT * { ?s ?p "x"@en }\\nLIMIT 5')]
    [(1, '"x"@en'), (2, '"5"^^<http://www.w3.org/2001/XMLSchema#integer>')]
    """
    prefixes: dict[str, str] = {}
    found = list(tokens(text))
    line, counted = 1, 0
    i, previous = 0, ""
    while i < len(found):
        kind, token, offset = found[i]
        following = [t for _, t, _ in found[i + 1:i + 4]]
        if kind == "word" and token.upper() == "PREFIX" and len(following) >= 2 \
                and found[i + 2][0] == "iri":
            prefixes[following[0].rstrip(":")] = following[1][1:-1]
        end, term = offset + len(token), None
        try:
            if kind == "string":
                value = _unescape(token)
                if following[:1] == ["@"] and found[i + 1][2] == end and len(following) > 1:
                    i += 2
                    term = pyoxigraph.Literal(value, language=found[i][1])
                elif following[:2] == ["^", "^"] and len(following) > 2:
                    i += 3
                    datatype = _iri(found[i][0], found[i][1], prefixes)
                    term = pyoxigraph.Literal(value, datatype=pyoxigraph.NamedNode(datatype))
                else:
                    term = pyoxigraph.Literal(value)
                end = found[i][2] + len(found[i][1])
            elif kind == "number":
                term = _number(token)
            elif kind == "word" and token in ("true", "false"):
                term = pyoxigraph.Literal(token, datatype=pyoxigraph.NamedNode(_XSD + "boolean"))
            elif kind == "iri":
                term = pyoxigraph.NamedNode(token[1:-1])
        except (ValueError, KeyError):
            term = None  # not a term we can compare (a relative IRI, an unknown prefix)
        if term is not None:
            line += text.count("\n", counted, offset)
            counted = offset
            yield Constant(offset, end, line, term, previous)
        previous = token.upper() if kind == "word" else token
        i += 1


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'",
            "\\": "\\"}


def _unescape(token: str) -> str:
    """The text of a SPARQL string token (quotes and escapes taken off)."""
    quote = 3 if token[:3] in ('"""', "'''") else 1
    body = token[quote:-quote]
    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)",
                  lambda m: chr(int(m[1][1:], 16)) if len(m[1]) > 1 else _ESCAPES.get(m[1], m[1]),
                  body)


def _number(token: str) -> pyoxigraph.Literal:
    if re.fullmatch(r"[+-]?\d+", token):
        return pyoxigraph.Literal(str(int(token)), datatype=pyoxigraph.NamedNode(_XSD + "integer"))
    if "e" not in token.lower():
        return pyoxigraph.Literal(str(Decimal(token)),
                                  datatype=pyoxigraph.NamedNode(_XSD + "decimal"))
    return pyoxigraph.Literal(token, datatype=pyoxigraph.NamedNode(_XSD + "double"))


def _iri(kind: str, token: str, prefixes: Mapping[str, str]) -> str:
    """The IRI an ``<iri>`` or a prefixed name stands for (KeyError: an unknown prefix)."""
    if kind == "iri":
        return token[1:-1]
    prefix, _, local = token.partition(":")
    return prefixes[prefix] + local


def parse_query(text: str, *, name: str = "query", path: Path | None = None) -> Query:
    """Read the header of a query: title, description and parameters.

    Header lines are the comment lines before the first line of SPARQL; a query
    without a header gets its name as title and no parameters.

    :raises QueryTextError: for a ``# param:`` line that does not read ``name = default (type)``
        (then, optionally, ``, on line N``), or whose default is not where it says
    """
    fields: dict[str, str] = {}
    params: list[Param] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        match = _HEADER.match(stripped)
        if not match:
            continue
        key, value = match.groups()
        if key != "param":
            fields.setdefault(key, value)
            continue
        param = _PARAM.match(value)
        if not param or param["type"].partition("@")[0] not in PARAM_TYPES:
            raise QueryTextError(f"{name}: '# param: {value}' should read 'name = default (type)' "
                                 f"with a type among {', '.join(PARAM_TYPES)}")
        default = param["default"]
        if default and len(default) >= 2 and default[0] == default[-1] == '"':
            default = default[1:-1]
        lines = tuple(int(n) for n in re.findall(r"\d+", param["lines"] or ""))
        params.append(Param(param["name"], default or None, param["type"], lines))
    query = Query(name=name, title=fields.get("title", name),
                  description=fields.get("description", ""), params=tuple(params),
                  text=text, path=path)
    query.places()  # a parameter that stands nowhere is the file's mistake: say so now
    return query


def load_query(path: Path) -> Query:
    """Read one ``.rq`` file."""
    return parse_query(path.read_text(encoding="utf-8"), name=path.stem, path=path)


def shipped_queries(directory: Path = QUERIES_DIR) -> list[Query]:
    """Every shipped query, by name."""
    return [load_query(path) for path in sorted(directory.glob("*.rq"))]


def get_query(name: str, directory: Path = QUERIES_DIR) -> Query:
    """The shipped query called ``name`` (its file name, with or without ``.rq``).

    :raises QueryTextError: when there is none, naming the ones there are
    """
    path = directory / (name if name.endswith(".rq") else f"{name}.rq")
    if "/" in name or not path.is_file():
        known = ", ".join(q.name for q in shipped_queries(directory))
        raise QueryTextError(f"no shipped query {name!r}; the shipped queries are: {known}")
    return load_query(path)
