"""The shipped researcher queries (``queries/*.rq``): find them, read their header, bind them.

This module is the one place that knows what a shipped query is. Each file is a
SPARQL query that starts with a comment header::

    # title: Publications about a region, its countries included
    # description: Every publication about the named region ...
    # param: region = West and Central Africa (string)

A parameter is a variable of the query (``?region``). :meth:`Query.bind` gives
it a value as an RDF term of its declared type, written by pyoxigraph's own
serializer: every use of the variable inside the ``WHERE`` group is replaced by
that term, and a ``BIND`` at the group's end keeps the variable for the
projection, the template and ``ORDER BY``. A value is always one term, so no
value (quotes, braces, ``} UNION {``) can change the query around it, and the
engine plans with the constant (at 100,000 publications a query binding an
organisation ran in 62 ms this way against 5.3 s through a ``VALUES`` block).
Where that is not possible (the variable is projected by a sub-``SELECT``,
bound by ``AS`` or tested by ``BOUND``), a ``VALUES`` block at the start of the group binds it
instead; so use a parameter in the outermost group (its triple patterns,
``FILTER`` or ``BIND``), not only inside a nested ``OPTIONAL`` or ``UNION``.
An ``integer`` parameter may also stand after ``LIMIT`` or ``OFFSET``, so that a long
list can be read a page at a time; its number is written there.

>>> query = parse_query('''# title: Titles
... # param: word = crisis (string)
... SELECT ?title WHERE { ?p dct:title ?title
...   FILTER(CONTAINS(?title, ?word)) } ORDER BY ?title''', name="titles")
>>> query.params[0]
Param(name='word', default='crisis', type='string')
>>> print(query.bind({"word": 'a" } UNION { ?s ?p ?o'}))
... # doctest: +NORMALIZE_WHITESPACE
# title: Titles
# param: word = crisis (string)
SELECT ?title WHERE { ?p dct:title ?title
  FILTER(CONTAINS(?title, "a\\" } UNION { ?s ?p ?o")) BIND("a\\" } UNION { ?s ?p ?o" AS ?word) }
  ORDER BY ?title
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
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
                    r"\((?P<type>[A-Za-z]+(?:@[A-Za-z]+(?:-[A-Za-z0-9]+)*)?)\)$")

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
    """One declared parameter: ``# param: name = default (type)``."""

    name: str
    default: str | None
    type: str

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
        """The query text with every parameter bound (given value, else default)."""
        values = self.values(values)
        terms = {name: self.param(name).term(value) for name, value in values.items()}
        return bind_terms(self.text, terms)


def tokens(text: str) -> Iterator[tuple[str, str, int]]:
    """``(kind, text, offset)`` of each SPARQL token, whitespace left out."""
    for match in _TOKEN.finditer(text):
        if match.lastgroup != "space":
            yield match.lastgroup or "other", match.group(), match.start()


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
    for kind, token, _ in tokens(text):
        if kind == "word" and token.upper() in FORMS:
            return token.upper()
    raise QueryTextError("the query has no SELECT, CONSTRUCT, ASK or DESCRIBE")


def variables(text: str) -> set[str]:
    """The names of the variables a query mentions (outside comments and strings)."""
    return {token[1:] for kind, token, _ in tokens(text) if kind == "var"}


def bind_terms(text: str, terms: Mapping[str, pyoxigraph.NamedNode | pyoxigraph.Literal]
               ) -> str:
    """Bind variables to terms: substituted in the WHERE group (see the module's doc).

    :raises QueryTextError: when a variable is not in the query, or the query has no WHERE
        group to put the block in
    """
    if not terms:
        return text
    mentioned = variables(text)
    for name, term in terms.items():
        if name not in mentioned:
            raise QueryTextError(f"the query does not use the parameter ?{name}")
        if not isinstance(term, pyoxigraph.NamedNode | pyoxigraph.Literal):
            raise QueryTextError(f"parameter {name} must be an IRI or a literal")
    text = _bind_slices(text, terms)
    terms = {name: term for name, term in terms.items() if name in variables(text)}
    if not terms:
        return text
    start, end, subselect = _where_group(text)
    return (_substitute(text, terms, start, end, subselect)
            or _values_block(text, terms, start, end, subselect))


def _bind_slices(text: str, terms: Mapping[str, pyoxigraph.NamedNode | pyoxigraph.Literal]
                 ) -> str:
    """Write ``LIMIT ?n`` and ``OFFSET ?n`` with the number bound to ``?n``.

    SPARQL takes only a number there, not a term, so a paged list can declare
    ``# param: limit = 100 (integer)``; the value is an integer's canonical form,
    never text, so it cannot change the query either.

    :raises QueryTextError: when the parameter there is not a non-negative integer
    """
    edits: list[tuple[int, int, str]] = []
    previous = ""
    for kind, token, offset in tokens(text):
        if kind == "var" and token[1:] in terms and previous in ("LIMIT", "OFFSET"):
            term = terms[token[1:]]
            if not (isinstance(term, pyoxigraph.Literal) and term.datatype.value == _XSD + "integer"
                    and int(term.value) >= 0):
                raise QueryTextError(f"parameter {token[1:]} follows {previous}: it must be a "
                                 f"non-negative integer, not {term}")
            edits.append((offset, len(token), str(int(term.value))))
        previous = token.upper() if kind == "word" else token
    for offset, length, replacement in sorted(edits, reverse=True):
        text = text[:offset] + replacement + text[offset + length:]
    return text


def _substitute(text: str, terms: Mapping[str, pyoxigraph.NamedNode | pyoxigraph.Literal],
                start: int, end: int, subselect: bool) -> str | None:
    """Replace each use of a parameter in the WHERE group by its term; None when a
    parameter stands where only a variable may (a sub-SELECT's projection, ``AS``,
    ``BOUND``)."""
    edits: list[tuple[int, int, str]] = []  # offset, length, replacement
    in_projection = False
    previous = before = ""
    for kind, token, offset in tokens(text):
        if not start < offset < end:
            continue
        word = token.upper() if kind == "word" else token
        if word == "SELECT":
            in_projection = True
        elif in_projection and word in ("{", "WHERE"):
            in_projection = False
        if kind == "var" and token[1:] in terms:
            if in_projection or previous == "AS" or (previous, before) == ("(", "BOUND"):
                return None  # a place only a variable may stand
            edits.append((offset, len(token), str(terms[token[1:]])))
        previous, before = word, previous
    binds = " ".join(f"BIND({term} AS ?{name})" for name, term in terms.items())
    edits.append((end, 0, (" } " if subselect else " ") + binds + " "))
    if subselect:  # a group that is one sub-SELECT takes nothing beside it: wrap it
        edits.append((start + 1, 0, " {"))
    for offset, length, replacement in sorted(edits, reverse=True):
        text = text[:offset] + replacement + text[offset + length:]
    return text


def _values_block(text: str, terms: Mapping[str, pyoxigraph.NamedNode | pyoxigraph.Literal],
                  start: int, end: int, subselect: bool) -> str:
    """Bind parameters with a ``VALUES`` block at the start of the WHERE group."""
    names = " ".join(f"?{name}" for name in terms)
    row = " ".join(str(term) for term in terms.values())
    block = (f"VALUES ?{next(iter(terms))} {{ {row} }}" if len(terms) == 1
             else f"VALUES ({names}) {{ ({row}) }}")
    if subselect:  # a group that is one sub-SELECT takes nothing beside it: wrap it
        return f"{text[:start + 1]} {block} {{{text[start + 1:end]}}} {text[end:]}"
    return f"{text[:start + 1]} {block} {text[start + 1:]}"


def _where_group(text: str) -> tuple[int, int, bool]:
    """Offsets of the WHERE group's ``{`` and ``}``, and whether it is a sub-SELECT."""
    form = query_form(text)
    depth = 0
    after_where = False
    groups_seen = 0
    start: int | None = None
    first_inside: str | None = None
    for kind, token, offset in tokens(text):
        if start is not None and first_inside is None:
            first_inside = token.upper()
        if token == "{":
            if depth == 0 and start is None:
                # CONSTRUCT's template is the first top-level group unless WHERE came first
                if after_where or form != "CONSTRUCT" or groups_seen == 1:
                    start = offset
                groups_seen += 1
            depth += 1
        elif token == "}":
            depth -= 1
            if depth == 0 and start is not None:
                return start, offset, first_inside == "SELECT"
        elif kind == "word" and depth == 0 and token.upper() == "WHERE":
            after_where = True
    raise QueryTextError("the query has no WHERE group to bind parameters in")


def parse_query(text: str, *, name: str = "query", path: Path | None = None) -> Query:
    """Read the header of a query: title, description and parameters.

    Header lines are the comment lines before the first line of SPARQL; a query
    without a header gets its name as title and no parameters.

    :raises QueryTextError: for a ``# param:`` line that does not read ``name = default (type)``
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
        params.append(Param(param["name"], default or None, param["type"]))
    return Query(name=name, title=fields.get("title", name),
                 description=fields.get("description", ""), params=tuple(params),
                 text=text, path=path)


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
