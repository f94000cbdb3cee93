"""Lookups: queries whose cost is bounded by what they name, answered in the web worker.

A query from a client runs in a query process (:class:`tipgraph.sparql_engine.QueryEngine`)
because pyoxigraph looks at no signal while it evaluates: only a process can be stopped
at the time limit. That safety costs every query a round trip to another process (the
job pickled, two wake-ups, the answer sent back), which on a small query is most of its
time: a one-record CONSTRUCT answered in 0.19 ms in the worker took over 1 ms more
through a query process on a quiet machine, and several ms when the machine is loaded,
because each wake-up waits for a CPU.

A *lookup* needs no stop. Each of its triple patterns is anchored: its subject is an IRI
(or a variable given by ``VALUES`` as IRIs), or its object is an IRI or a literal. The
matches of each such pattern are counted in the store's indexes (at most
:data:`LOOKUP_ROWS` + 1 of them), and the product of those counts bounds the solutions
whatever the engine joins first. A query of anything else (a property path, a pattern of
variables only, a sub-query, ``EXISTS``, ``UNION``, ``MINUS``, ``GRAPH``, ``SERVICE``, a
dataset of its own, ``BASE``) is not a lookup, nor is one whose bound exceeds
:data:`LOOKUP_ROWS`: it goes to a query process as before.

What makes a query a lookup is read from its tokens (:func:`tipgraph.queries.tokens`),
conservatively: anything not understood makes it "not a lookup", never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import NamedTuple

import pyoxigraph

from tipgraph.queries import lexed

#: Solutions (or triples) a lookup may have at most: the worker evaluates it on the
#: front's loop, where a millisecond or two holds nothing else up for long.
LOOKUP_ROWS = 1000
#: Triple patterns and characters a lookup may have at most: each pattern is counted in
#: the store before the query runs, the query is read twice (here, then the engine), and
#: what it computes per solution is no longer than its text.
LOOKUP_PATTERNS, LOOKUP_CHARS = 32, 16384

_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_XSD = "http://www.w3.org/2001/XMLSchema#"
#: keywords after which a group may go on (what a triple pattern may not be)
_GROUP_WORDS = {"OPTIONAL", "FILTER", "BIND", "VALUES"}
#: keywords that make a query something other than a lookup wherever they are
_REFUSED_WORDS = {"EXISTS", "UNION", "MINUS", "GRAPH", "SERVICE", "FROM", "BASE", "SELECT",
                  "LOAD", "INSERT", "DELETE", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD",
                  "WITH"}

Term = pyoxigraph.NamedNode | pyoxigraph.Literal
#: counts the triples of a pattern whose subject is one of ``subjects`` (``[None]``: any),
#: with the predicate and object given (None: any), at most ``cap`` of them
Counter = Callable[[list[Term | None], pyoxigraph.NamedNode | None, Term | None, int], int]


class _NotALookup(Exception):
    pass


class _Reader:
    """The tokens of a query (comments left out), read one after the other."""

    def __init__(self, text: str) -> None:
        self.items = [(kind, token) for kind, token, _ in lexed(text) if kind != "comment"]
        self.at = 0
        self.prefixes: dict[str, str] = {}

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        at = self.at + ahead
        return self.items[at] if at < len(self.items) else ("end", "")

    def take(self) -> tuple[str, str]:
        item = self.peek()
        if item[0] == "end":
            raise _NotALookup
        self.at += 1
        return item

    def expect(self, token: str) -> None:
        if self.take()[1] != token:
            raise _NotALookup

    def word(self) -> str:
        kind, token = self.peek()
        return token.upper() if kind == "word" else ""

    def skip_balanced(self, opening: str, closing: str) -> None:
        """Past a balanced ``opening`` ... ``closing`` (the reader at ``opening``)."""
        self.expect(opening)
        depth = 1
        while depth:
            _kind, token = self.take()
            if token in "{}" and opening != "{":
                raise _NotALookup  # a group inside an expression: EXISTS and the like
            depth += (token == opening) - (token == closing)

    def term(self, kind: str, token: str) -> Term | None:
        """The constant ``token`` stands for; None for a variable.

        :raises _NotALookup: for what is not a plain term (a blank node, a collection,
            an escaped string, a relative IRI, an unknown prefix)
        """
        if kind == "var":
            return None
        if kind == "iri":
            iri = token[1:-1]
            if ":" not in iri or "\\" in iri:
                raise _NotALookup  # relative to a base, or escaped
            return pyoxigraph.NamedNode(iri)
        if kind == "word":
            if token.upper() in ("TRUE", "FALSE") and ":" not in token:
                return pyoxigraph.Literal(token.lower(), datatype=pyoxigraph.NamedNode(
                    _XSD + "boolean"))
            prefix, colon, local = token.partition(":")
            if not colon or prefix + ":" not in self.prefixes:
                raise _NotALookup
            return pyoxigraph.NamedNode(self.prefixes[prefix + ":"] + local)
        if kind == "number":
            name = "double" if "e" in token.lower() else "decimal" if "." in token else "integer"
            return pyoxigraph.Literal(token, datatype=pyoxigraph.NamedNode(_XSD + name))
        if kind == "string":
            quote = token[0]
            if token.startswith(quote * 3) or "\\" in token:
                raise _NotALookup
            value = token[1:-1]
            if self.peek()[1] == "@":
                self.take()
                kind, tag = self.take()
                if kind != "word":
                    raise _NotALookup
                return pyoxigraph.Literal(value, language=tag)
            if self.peek()[1] == "^" and self.peek(1)[1] == "^":
                self.take(), self.take()
                datatype = self.term(*self.take())
                if not isinstance(datatype, pyoxigraph.NamedNode):
                    raise _NotALookup
                return pyoxigraph.Literal(value, datatype=datatype)
            return pyoxigraph.Literal(value)
        raise _NotALookup


class _Pattern(NamedTuple):
    """One triple pattern: its constant terms (None: a variable), and the name of its
    subject variable when ``VALUES`` gives that variable its IRIs."""

    subject: Term | None
    variable: str | None
    predicate: pyoxigraph.NamedNode | None
    object: Term | None


def lookup_bound(text: str, count: Counter) -> int | None:
    """The most solutions (or triples) the query ``text`` can have, when it is a lookup
    of at most :data:`LOOKUP_ROWS`; None otherwise (see the module).

    :param count: counts the triples of a pattern in the store, up to a cap

    >>> store = pyoxigraph.Store()
    >>> store.add(pyoxigraph.Quad(pyoxigraph.NamedNode("http://e/a"),
    ...     pyoxigraph.NamedNode("http://e/p"), pyoxigraph.Literal("x")))
    >>> count = store_counter(store)
    >>> lookup_bound("PREFIX e: <http://e/> SELECT ?o { e:a e:p ?o }", count)
    1
    >>> lookup_bound("SELECT ?o { ?s <http://e/p> ?o }", count) is None
    True
    """
    if len(text) > LOOKUP_CHARS:
        return None
    try:
        return _bound(_Reader(text), count)
    except _NotALookup:
        return None


def _bound(reader: _Reader, count: Counter) -> int | None:
    while reader.word() == "PREFIX":
        reader.take()
        kind, name = reader.take()
        iri_kind, iri = reader.take()
        if kind != "word" or not name.endswith(":") or iri_kind != "iri":
            raise _NotALookup
        reader.prefixes[name] = iri[1:-1]
    form = reader.word()
    reader.take()
    # a sub-query, a dataset, an update ...: anywhere, one of these is enough (but for
    # the query's own SELECT, read already)
    if any(kind == "word" and token.upper() in _REFUSED_WORDS
           for kind, token in reader.items[reader.at:]):
        raise _NotALookup
    if form == "DESCRIBE":
        resources = []
        while reader.peek()[0] != "end":
            resource = reader.term(*reader.take())
            if not isinstance(resource, pyoxigraph.NamedNode):
                raise _NotALookup  # DESCRIBE ?x WHERE ...: not a lookup here
            resources.append(resource)
        bound = count(resources, None, None, LOOKUP_ROWS + 1)  # type: ignore[arg-type]
        return bound if resources and bound <= LOOKUP_ROWS else None
    per_solution = 1  # triples a CONSTRUCT writes per solution (at most)
    if form == "SELECT":
        while reader.peek()[1] != "{" and reader.word() != "WHERE":
            if reader.peek()[1] == "(":
                reader.skip_balanced("(", ")")
            else:
                reader.take()
    elif form == "CONSTRUCT":
        if reader.peek()[1] == "{":  # the template: so many triples per solution
            start = reader.at
            reader.skip_balanced("{", "}")
            template = sum(1 for _kind, token in reader.items[start:reader.at]
                           if token in (".", ";", ","))
            per_solution = template + 1
    elif form != "ASK":
        raise _NotALookup
    if reader.word() == "WHERE":
        reader.take()
    patterns: list[_Pattern] = []
    values: dict[str, list[Term]] = {}
    _group(reader, patterns, values, top=True)
    # after the group: GROUP BY, HAVING, ORDER BY, LIMIT, OFFSET; no trailing VALUES
    for kind, token in reader.items[reader.at:]:
        if token in "{}" or (kind == "word" and token.upper() == "VALUES"):
            raise _NotALookup
    if len(patterns) > LOOKUP_PATTERNS:
        return None
    subjects = {p.variable for p in patterns if p.variable is not None}
    bound = per_solution
    for name, terms in values.items():
        if name not in subjects:
            bound *= max(1, len(terms))
    # the counts, once the whole query is known to be made of anchored patterns: those
    # of a named subject first (a few index entries each), each count capped by what
    # the bound leaves, so a pattern of thousands (?p a tip:Publication) is not counted
    # through
    patterns.sort(key=lambda p: (p.subject is None, p.variable is None))
    for pattern in patterns:
        cap = LOOKUP_ROWS // bound + 1
        given = values[pattern.variable] if pattern.variable is not None \
            else [pattern.subject]
        found = count(given, pattern.predicate, pattern.object, cap)
        bound *= max(1, found)  # an OPTIONAL one that matches nothing keeps the rows
        if bound > LOOKUP_ROWS:
            return None
    return bound


def _group(reader: _Reader, patterns: list[_Pattern], values: dict[str, list[Term]], *,
           top: bool) -> None:
    """Read a group (the reader at its ``{``): its patterns into ``patterns``.

    Only the query's own group may have ``VALUES`` (what they give a variable holds for
    every pattern there); in an ``OPTIONAL`` group, which the engine may evaluate on its
    own, a pattern is anchored by its own constants only.
    """
    reader.expect("{")
    while True:
        _kind, token = reader.peek()
        word = reader.word()
        if token == "}":
            reader.take()
            return
        if token == ".":
            reader.take()
        elif word == "OPTIONAL":
            reader.take()
            _group(reader, patterns, {}, top=False)
        elif word in ("FILTER", "BIND"):
            reader.take()
            if reader.peek()[0] == "word":  # FILTER regex(...)
                reader.take()
            reader.skip_balanced("(", ")")
        elif word == "VALUES":
            reader.take()
            name_kind, name = reader.take()
            if not top or name_kind != "var" or name[1:] in values:
                raise _NotALookup
            reader.expect("{")
            terms = []
            while reader.peek()[1] != "}":
                term = reader.term(*reader.take())
                if term is None:
                    raise _NotALookup
                terms.append(term)
            reader.take()
            values[name[1:]] = terms
        else:
            _triples(reader, patterns, values)


def _triples(reader: _Reader, patterns: list[_Pattern], values: dict[str, list[Term]]) -> None:
    """Read the triples of one subject (``s p o, o ; p o``)."""
    kind, token = reader.take()
    if (kind == "word" and token.upper() in _GROUP_WORDS) or token in ("[", "(", "a"):
        raise _NotALookup
    subject = reader.term(kind, token)
    variable = token[1:] if subject is None else None
    while True:
        kind, token = reader.take()
        if kind == "word" and token == "a":
            predicate: Term | None = pyoxigraph.NamedNode(_RDF_TYPE)
        else:
            predicate = reader.term(kind, token)
        if predicate is not None and not isinstance(predicate, pyoxigraph.NamedNode):
            raise _NotALookup
        if reader.peek()[0] == "other" and reader.peek()[1] not in ",;.}":
            raise _NotALookup  # a property path: / | ^ * + ? !
        while True:
            kind, token = reader.take()
            if token in ("[", "(") or token.startswith("_:"):
                raise _NotALookup
            object = reader.term(kind, token)
            if subject is None and object is None and variable not in values:
                raise _NotALookup  # nothing anchors it
            patterns.append(_Pattern(subject, variable if subject is None else None,
                                     predicate, object)
                            if subject is not None or variable in values
                            else _Pattern(None, None, predicate, object))
            if reader.peek()[1] != ",":
                break
            reader.take()
        if reader.peek()[1] != ";":
            return
        while reader.peek()[1] == ";":
            reader.take()
        if reader.peek()[1] in (".", "}") or reader.word() in _GROUP_WORDS:
            return


def store_counter(store: pyoxigraph.Store) -> Counter:
    """A :data:`Counter` over ``store``'s default graph: a few matches of one subject read
    from the index, more (or many subjects) counted by the engine, which does not decode
    each match (a thousand: 0.26 ms, against 2.8 ms read one by one). A pattern anchored
    by its object only (no subject given) with more than :data:`_READ_FIRST` matches is
    taken as over the cap without counting: such a pattern is a class or a hub, and
    counting it cost a query that is not a lookup half a millisecond."""
    graph = pyoxigraph.DefaultGraph()

    def count(subjects: list[Term | None], predicate: pyoxigraph.NamedNode | None,
              object: Term | None, cap: int) -> int:
        subjects = [s for s in subjects if not isinstance(s, pyoxigraph.Literal)]
        if not subjects:
            return 0  # a literal is never a subject
        if len(subjects) == 1:
            first = min(cap, _READ_FIRST if subjects[0] is None else _READ_FIRST_OF_SUBJECT)
            found: Iterator[object] = store.quads_for_pattern(
                subjects[0], predicate, object, graph)  # type: ignore[arg-type]
            counted = sum(1 for _ in islice(found, first))
            if counted < first or cap <= first:
                return counted
            if subjects[0] is None:  # ?p a tip:Publication: a hub, not what is looked up
                return cap  # (counting it through would cost what the query may save)
        given = "" if subjects == [None] else \
            f"VALUES ?s {{ {' '.join(str(s) for s in subjects)} }} "
        pattern = " ".join(str(term) if term is not None else f"?{name}"
                           for term, name in ((predicate, "p"), (object, "o")))
        query = f"SELECT (COUNT(*) AS ?n) {{ SELECT * {{ {given}?s {pattern} }} LIMIT {cap} }}"
        return int(next(iter(store.query(query)))[0].value)  # type: ignore[index]

    return count


#: Matches of a pattern read one by one before the engine is asked to count them.
_READ_FIRST = 16
#: The same for a pattern of one subject: a resource's own triples are read in one go (the
#: most a subject of the 100,000 publications has is 33; reading a publication's 19
#: took 55 us, against 90 us for the first 16 read and the engine counting the rest).
_READ_FIRST_OF_SUBJECT = 64
