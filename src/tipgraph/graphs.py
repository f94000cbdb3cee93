"""Moving many triples: into rdflib graphs, and from rdflib terms to pyoxigraph's.

``Graph.add`` checks every term's type and dispatches events before it reaches
the store; for the hundreds of thousands of triples a build makes, terms we
minted ourselves, going to the store directly halves the time.
"""

from __future__ import annotations

import heapq
import io
import multiprocessing
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from itertools import islice
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol, Self

import pyoxigraph
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from tipgraph.children import die_with_parent
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

    def merge(self, meter: Meter | None = None, counts: LineCounter | None = None) -> int:
        """Merge the runs into ``path`` (each batch of lines, in order, also counted by
        ``counts``); returns how many lines it wrote. ``meter`` counts them.

        Many lines are merged in two halves at once, the second by a process of its own
        (forked: :meth:`_merge_halves`), on the core the store's loader leaves free."""
        if meter is not None:
            meter.step("merging", total=self.lines, unit="lines")
        pivot = self._pivot() if self.lines >= HALVES_LINES and len(self.runs) > 1 else None
        self.path.open("wb").close()
        if pivot is None:
            self._merge_lines([(run, 0) for run in self.runs], 0, None, meter, counts)
        else:
            self._merge_halves(pivot, meter, counts)
        for run in self.runs:
            run.unlink(missing_ok=True)
        return self.lines

    def _merge_lines(self, runs: list[tuple[Path, int]], at: int, before: bytes | None,
                     meter: Meter | Callable[[int], None] | None,
                     counts: LineCounter | None) -> int:
        """Merge the lines of ``runs`` (each read from its offset) that sort before
        ``before`` (None: all) into ``path`` from its byte ``at``; how many lines."""
        end = None if before is None else before.decode("utf-8")
        advance = meter.advance if isinstance(meter, Meter) else meter
        written = 0
        with ExitStack() as files:
            opened = []
            for run, offset in runs:
                raw = run.open("rb")
                raw.seek(offset)
                # newline="\n": a line ends at "\n" only (its text escapes \r, keeps U+2028)
                opened.append(files.enter_context(
                    io.TextIOWrapper(raw, encoding="utf-8", newline="\n")))
            merged = heapq.merge(*opened)
            binary = self.path.open("r+b")  # made by the caller: each half writes its bytes
            binary.seek(at)
            out = files.enter_context(io.TextIOWrapper(binary, encoding="utf-8", newline="\n"))
            # a batch at a time: no generator or call of ours per line (millions of them)
            while batch := list(islice(merged, MERGE_BATCH_LINES)):
                if end is not None and batch[-1] >= end:  # the rest is the other half's
                    del batch[bisect_left(batch, end):]
                if counts is not None:
                    counts.add(batch)
                out.writelines(batch)
                written += len(batch)
                if advance is not None:
                    advance(len(batch))
                if len(batch) < MERGE_BATCH_LINES:
                    break
        return written

    def _pivot(self) -> bytes | None:
        """Where to cut the merged lines in two halves of about as many lines: a subject
        (``"<s> "``, so that each subject's lines stay together), from lines sampled
        evenly through each run; None when there is no such subject."""
        samples: list[tuple[bytes, int]] = []
        for run in self.runs:
            size = run.stat().st_size
            with run.open("rb") as lines:
                for step in range(1, PIVOT_SAMPLES):
                    lines.seek(size * step // PIVOT_SAMPLES)
                    lines.readline()
                    if line := lines.readline():
                        samples.append((line, size))
        samples.sort()
        half, seen = sum(size for _, size in samples) / 2, 0
        for line, size in samples:
            seen += size
            if seen >= half:
                return line.split(b" ", 1)[0] + b" "
        return None

    def _merge_halves(self, pivot: bytes, meter: Meter | None,
                      counts: LineCounter | None) -> None:
        """Merge the lines before ``pivot`` here and the others in a forked process, each
        into its own bytes of ``path`` (the first half's size is known: its lines' bytes
        in the runs); the second half's counts are added to ``counts`` after the first's."""
        starts = [_first_line_from(run, pivot) for run in self.runs]
        first_bytes = sum(starts)
        fork = multiprocessing.get_context("fork")
        done = fork.RawValue("q", 0)  # the second half's lines so far, for the meter
        receive, send = fork.Pipe(duplex=False)
        second = fork.Process(target=_merge_second_half, name="merge", daemon=True,
                              args=(self, list(zip(self.runs, starts, strict=True)),
                                    first_bytes, counts, done, send))
        second.start()
        send.close()
        told = 0

        def advance(lines: int) -> None:
            nonlocal told
            if meter is not None:
                now = done.value
                meter.advance(lines + now - told)
                told = now

        try:
            first = self._merge_lines([(run, 0) for run in self.runs], 0, pivot, advance,
                                      counts)
            while not receive.poll(0.2):
                advance(0)
                if not second.is_alive() and not receive.poll(0):
                    break
            try:
                kind, lines, counted = receive.recv()
            except EOFError:
                raise RuntimeError("merging the sorted runs' second half stopped (exit code "
                                   f"{second.exitcode})") from None
            if kind == "error":
                raise counted
            second.join()
        finally:
            if second.is_alive():
                second.kill()
                second.join()
            receive.close()
        advance(0)
        if first + lines != self.lines:
            raise RuntimeError(f"the sorted runs' halves have {first} and {lines} lines, "
                               f"not {self.lines}")
        if counts is not None:
            counts.followed_by(counted)


def _merge_second_half(runs: SortedRuns, starts: list[tuple[Path, int]], at: int,
                       counts: LineCounter | None, done: Any, send: Connection) -> None:
    """The forked process of :meth:`SortedRuns._merge_halves`: sends ("lines", how many,
    their counts) or ("error", 0, error)."""
    def advance(lines: int) -> None:
        done.value += lines

    die_with_parent()
    try:
        lines = runs._merge_lines(starts, at, None, advance, counts)
        send.send(("lines", lines, counts))
    except BaseException as error:
        send.send(("error", 0, error))
    finally:
        send.close()


def _first_line_from(run: Path, key: bytes) -> int:
    """The byte offset of the first line of ``run`` (sorted lines) that sorts at or after
    ``key`` (the file's size when none does): a binary search over its bytes."""
    with run.open("rb") as lines:
        low, high = 0, run.stat().st_size  # low: a line's start; the answer is in [low, high]
        while low < high:
            middle = (low + high) // 2
            lines.seek(middle - 1 if middle else 0)
            if middle:
                lines.readline()  # to the first line starting at or after middle
            start = lines.tell()
            if start >= high:  # no line starts in [middle, high): the one at low decides
                lines.seek(low)
                line = lines.readline()
                if line >= key:
                    return low
                low += len(line)
                continue
            line = lines.readline()
            if line < key:
                low = start + len(line)
            else:
                high = start
        return low


class LineCounter(Protocol):
    """What counts a merge's lines as they go (:class:`tipgraph.serving.indexes.LineCounts`)."""

    def add(self, lines: list[str]) -> None:
        """Count ``lines``, the next ones in order."""

    def followed_by(self, later: Self) -> None:
        """Count what ``later`` counted of the lines after those counted here."""


#: Lines of sorted runs from which :meth:`SortedRuns.merge` merges two halves at once.
HALVES_LINES = 1 << 20
#: Lines sampled from each run to find where the halves meet.
PIVOT_SAMPLES = 32


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
