"""Moving many triples: into rdflib graphs, and from rdflib terms to pyoxigraph's.

``Graph.add`` checks every term's type and dispatches events before it reaches
the store; for the hundreds of thousands of triples a build makes, terms we
minted ourselves, going to the store directly halves the time.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from itertools import islice
from pathlib import Path

import pyoxigraph
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from tipgraph.namespaces import XSD, term
from tipgraph.progress import Meter

#: A triple of rdflib terms, as the build's stages hand them on (the one definition).
Triple = tuple[Node, Node, Node]


def adder(graph: Graph) -> Callable[[Triple], None]:
    """A function that adds one well-formed triple to ``graph`` (no type checks).

    >>> from rdflib import URIRef
    >>> g = Graph()
    >>> add = adder(g)
    >>> add((URIRef("urn:s"), URIRef("urn:p"), URIRef("urn:o")))
    >>> len(g)
    1
    """
    store = graph.store

    def add(triple: Triple) -> None:
        store.add(triple, graph)

    return add


def add_all(graph: Graph, triples: Iterable[Triple]) -> Graph:
    """Add well-formed ``triples`` to ``graph``; returns it."""
    add = adder(graph)
    for triple in triples:
        add(triple)
    return graph


def text_literal(text: str, lang: str | None = None) -> Literal:
    """``Literal(text, lang=lang)`` for a string ``text`` and a valid ``lang`` (or None),
    made without rdflib's checks and casts, which for a string change nothing and cost
    more than the rest of mapping a record (the build makes millions of literals).

    >>> text_literal("A title", "en") == Literal("A title", lang="en")
    True
    """
    node = str.__new__(Literal, text)
    node._language, node._datatype, node._value, node._ill_typed = lang, None, text, None
    return node


#: ``xsd:integer``, the shared term (:func:`~tipgraph.namespaces.term`).
_INTEGER = term(XSD.integer)


def integer_literal(number: int) -> Literal:
    """``Literal(number, datatype=XSD.integer)`` for an int, made as :func:`text_literal`
    makes a string's (rdflib's casts cost 5 us: the build makes one per publication).

    >>> made, cast = integer_literal(12), Literal(12, datatype=_INTEGER)
    >>> made == cast, made.value == cast.value, made.n3() == cast.n3()
    (True, True, True)
    """
    value = int(number)
    node = str.__new__(Literal, str(value))
    node._language, node._datatype, node._value, node._ill_typed = None, _INTEGER, value, None
    return node


#: What N-Triples escapes in a literal's text: the four canonical N-Triples escapes, and
#: every other control character as ``\\uXXXX`` (legal raw, but not in XML answers).
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r",
                          **{chr(c): f"\\u{c:04X}" for c in (*range(0x20), 0x7F)
                             if chr(c) not in "\n\r"}})
_NEEDS_ESCAPE = re.compile('[\x00-\x1f\x7f"\\\\]')


def ntriples_lines(triples: Iterable[Triple]) -> list[str]:
    """``triples`` of rdflib terms as N-Triples lines, written without rdflib's per-term work.

    The build writes millions of them; pyoxigraph then parses the text when it loads the
    store, which is faster than making its term objects one by one from Python.

    IRIs are written as they are: every one is checked when it is made
    (:func:`tipgraph.mapping.iri`, the reference data's constants), so none can hold ``>``
    or a line break. A literal's text is escaped here, whatever it holds.

    >>> from rdflib import Literal, URIRef
    >>> ntriples_lines([(URIRef("urn:s"), URIRef("urn:p"), Literal('say "hi"\\n', lang="en"))])
    ['<urn:s> <urn:p> "say \\\\"hi\\\\"\\\\n"@en .\\n']
    """
    needs_escape = _NEEDS_ESCAPE.search

    def term(node: Node) -> str:
        kind = type(node)
        if kind is URIRef:
            return f"<{node}>"
        if kind is Literal:
            text = str.__str__(node)
            if needs_escape(text):
                text = text.translate(_ESCAPES)
            if node.language:
                return f'"{text}"@{node.language}'
            if node.datatype is not None:
                return f'"{text}"^^<{node.datatype}>'
            return f'"{text}"'
        if kind is BNode:
            return f"_:{node}"
        return term(_plain(node))

    # most triples are IRI, IRI, IRI or literal: written without a call for the IRIs
    return [(f"<{s}> <{p}> <{o}> .\n" if type(o) is URIRef else f"<{s}> <{p}> {term(o)} .\n")
            if type(s) is URIRef and type(p) is URIRef else f"{term(s)} {term(p)} {term(o)} .\n"
            for s, p, o in triples]


#: N-Triples lines made and sorted in memory at a time by :func:`write_sorted_ntriples`
#: (about 40 MB of text); the sorted runs are merged from disk.
SORT_RUN_LINES = 1 << 18


def write_sorted_ntriples(triples: Iterable[Triple], path: Path, *,
                          run_lines: int = SORT_RUN_LINES, meter: Meter | None = None) -> int:
    """Write ``triples`` to ``path`` as N-Triples lines in code point order (the dumps of
    two builds diff well); returns how many lines it wrote.

    In bounded memory, whatever the number of triples: ``run_lines`` lines are made and
    sorted at a time, each such run written to a file beside ``path``, and the runs merged
    into ``path`` (the lines are never all held at once); the runs are removed. ``meter``
    counts the lines merged (:mod:`tipgraph.progress`).
    """
    pending = iter(triples)
    with SortedRuns(path) as runs:
        while lines := ntriples_lines(islice(pending, run_lines)):
            if not runs.runs and len(lines) < run_lines:  # all of them in one run
                lines.sort()
                _write_lines(lines, path)
                return len(lines)
            runs.add_lines(lines)
            del lines  # before the next run is made
        return runs.merge(meter=meter)


class SortedRuns:
    """N-Triples lines written a sorted run at a time to files beside ``path``
    (:meth:`add`), then merged into ``path`` (:meth:`merge`); the run files are removed
    when it is left (``with``), also on failure. A part of the graph at a time: the lines
    are never all held at once.

    :param on_run: told each run's file once it is written (the build's store loader
        takes them as they come, rather than ``path`` once merged); the run is removed
        by the merge
    """

    def __init__(self, path: Path, on_run: Callable[[Path], None] | None = None) -> None:
        self.path = path
        self.runs: list[Path] = []
        self.lines = 0
        self.on_run = on_run

    def __enter__(self) -> SortedRuns:
        return self

    def __exit__(self, *exc: object) -> None:
        for run in self.runs:
            run.unlink(missing_ok=True)

    def add(self, triples: Iterable[Triple]) -> None:
        """Write ``triples`` (distinct from every triple added before) as a run."""
        self.add_lines(ntriples_lines(triples))

    def add_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        lines.sort()
        self.lines += len(lines)
        self.runs.append(self.path.with_name(f".{self.path.name}.run{len(self.runs)}"))
        _write_lines(lines, self.runs[-1])
        if self.on_run is not None:
            self.on_run(self.runs[-1])

    def merge(self, meter: Meter | None = None,
              each: Callable[[list[str]], None] | None = None) -> int:
        """Merge the runs into ``path`` (each batch of lines, in order, also given to
        ``each``); returns how many lines it wrote. ``meter`` counts them."""
        if meter is not None:
            meter.step("merging", total=self.lines, unit="lines")
        with ExitStack() as files:
            # newline="\n": a line ends at "\n" only (its text escapes \r, keeps U+2028)
            sorted_runs = [files.enter_context(run.open(encoding="utf-8", newline="\n"))
                           for run in self.runs]
            merged = heapq.merge(*sorted_runs)
            out = files.enter_context(self.path.open("w", encoding="utf-8", newline="\n"))
            # a batch at a time: no generator or call of ours per line (millions of them)
            while batch := list(islice(merged, MERGE_BATCH_LINES)):
                if each is not None:
                    each(batch)
                out.writelines(batch)
                if meter is not None:
                    meter.advance(len(batch))
        for run in self.runs:
            run.unlink(missing_ok=True)
        return self.lines


#: Lines :meth:`SortedRuns.merge` takes from the merged runs at a time (a few MB of text).
MERGE_BATCH_LINES = 1 << 14


def _write_lines(lines: Iterable[str], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.writelines(lines)


def _plain(node: Node) -> Node:
    """A term of a subclass of rdflib's term classes as the plain class itself."""
    if isinstance(node, Literal):
        return Literal(str.__str__(node), lang=node.language, datatype=node.datatype)
    if isinstance(node, URIRef | BNode):
        return (URIRef if isinstance(node, URIRef) else BNode)(str.__str__(node))
    raise TypeError(f"not an RDF term: {node!r}")


def sparql_iri(text: str) -> str:
    """``text`` as an IRI in SPARQL (or N-Triples) text, ``<...>``: the one way a value that
    is not a constant of the code enters a query or an update as an IRI.

    :raises ValueError: when ``text`` is not a valid IRI (so it cannot close the ``<>``)

    >>> sparql_iri("https://example.org/g/1")
    '<https://example.org/g/1>'
    >>> sparql_iri("https://example.org/> } ; DROP ALL ; #")
    Traceback (most recent call last):
    ValueError: Invalid IRI code point '>'
    """
    return str(pyoxigraph.NamedNode(text))


def sparql_string(text: str) -> str:
    """``text`` as a string literal in SPARQL (or N-Triples) text, quoted and escaped.

    >>> print(sparql_string('a "b"\\n'))
    "a \\"b\\"\\n"
    """
    return str(pyoxigraph.Literal(text))


def sparql_term(term: pyoxigraph.NamedNode | pyoxigraph.BlankNode | pyoxigraph.Literal) -> str:
    """A pyoxigraph term as SPARQL text: its own serialisation (a term made by pyoxigraph is
    valid, and writes itself escaped).

    :raises TypeError: for anything else (a plain string would be written raw)

    >>> sparql_term(pyoxigraph.Literal("x", language="en"))
    '"x"@en'
    """
    if not isinstance(term, pyoxigraph.NamedNode | pyoxigraph.BlankNode | pyoxigraph.Literal):
        raise TypeError(f"not a pyoxigraph term: {type(term).__name__}")
    return str(term)
