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

    return [f"{term(s)} {term(p)} {term(o)} .\n" for s, p, o in triples]


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
    runs: list[Path] = []
    written = 0
    try:
        while lines := ntriples_lines(islice(pending, run_lines)):
            lines.sort()
            written += len(lines)
            if not runs and len(lines) < run_lines:  # all of them in one run
                _write_lines(lines, path)
                return written
            runs.append(path.with_name(f".{path.name}.run{len(runs)}"))
            _write_lines(lines, runs[-1])
            del lines  # before the next run is made
        if meter is not None:
            meter.step("merging", total=written, unit="lines")
        with ExitStack() as files:
            # newline="\n": a line ends at "\n" only (its text escapes \r, keeps U+2028)
            sorted_runs = [files.enter_context(run.open(encoding="utf-8", newline="\n"))
                           for run in runs]
            merged = heapq.merge(*sorted_runs)
            _write_lines(meter.count(merged) if meter is not None else merged, path)
    finally:
        for run in runs:
            run.unlink(missing_ok=True)
    return written


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
