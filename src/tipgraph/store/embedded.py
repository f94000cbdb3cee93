"""The embedded store: a build's own Oxigraph store on disk, opened read-only.

A build's store is written once, by :func:`load_store`, into the build's own
directory, and only read after that: every reader (each gunicorn worker, the
``query`` command) opens it with :meth:`pyoxigraph.Store.read_only`, so several
processes share it and none ever reads a store that is being written.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from itertools import islice
from operator import attrgetter
from pathlib import Path
from typing import Any, BinaryIO

import pyoxigraph

from tipgraph.errors import TipgraphError
from tipgraph.lookups import lookup_bound, store_counter
from tipgraph.progress import Meter
from tipgraph.sparql_engine import (
    QueryAnswer,
    QueryEngine,
    QueryError,
    QueryJob,
    QuerySyntaxError,
    engine_failure,
    evaluate,
)
from tipgraph.store.interface import QueryResult, Term

#: Bytes of N-Triples given to the bulk loader at a time: it holds what it is given, its
#: dictionary and sort buffers, in memory (1.7 GB for the 2.5 million triples of 100,000
#: publications in one go), so a file of any size is loaded in pieces of this size.
LOAD_PIECE_BYTES = 64 << 20


def load_store(ntriples: Path | Iterable[Path], store_path: Path, meter: Meter | None = None,
               piece_bytes: int = LOAD_PIECE_BYTES) -> pyoxigraph.Store:
    """Bulk-load an N-Triples file, or the files ``ntriples`` gives one after the other
    (a build's sorted runs, handed as they are written), into a new store at
    ``store_path``; returns it open.

    Each file is loaded ``piece_bytes`` at a time (cut at line ends), in bounded memory;
    ``meter`` counts the bytes loaded (:mod:`tipgraph.progress`). The files are one
    graph: a blank node named in two of them is one node.

    The build checks the loaded store against the shapes before anyone reads it; it must
    drop the returned handle (which holds the write lock) before readers open the store.

    :raises TipgraphError: when ``store_path`` already holds something
    """
    if store_path.exists() and any(store_path.iterdir()):
        raise TipgraphError(f"{store_path.name}/ is not empty: a build's store is written once")
    store = pyoxigraph.Store(str(store_path))
    meter = meter or Meter()
    one = isinstance(ntriples, Path)
    meter.step("loading", total=ntriples.stat().st_size if one else None, unit="bytes")
    held: list[bytes] = []  # every line that may name a blank node: loaded last, together
    for path in [ntriples] if one else ntriples:
        with path.open("rb") as raw:
            for piece in _pieces(raw, piece_bytes, meter, held):
                _bulk_load(store, piece)
    if held:
        _bulk_load(store, b"".join(held))
    meter.step("writing")
    store.flush()
    store.optimize()
    return store


def _bulk_load(store: pyoxigraph.Store, piece: bytes) -> None:
    # lenient: the IRIs are not checked again (the build checked each one it wrote:
    # tipgraph.mapping.iri): parsing is most of its time
    store.bulk_load(input=piece, format=pyoxigraph.RdfFormat.N_TRIPLES, lenient=True)


def _pieces(raw: BinaryIO, size: int, meter: Meter, held: list[bytes]) -> Iterator[bytes]:
    """The N-Triples of ``raw`` in pieces of about ``size`` bytes, cut at line ends, but for
    the lines that may name a blank node: those are put in ``held``.

    Each load names the blank nodes it reads anew, so a blank node's lines must all be in
    one load: every line that may hold one (``_:`` anywhere, a literal's text too) is kept
    for the last load. Such lines are rare (the ontology's lists): a piece is read as one
    block, and only a block holding ``_:`` is split into lines (not millions of lines
    through Python).
    """
    rest = b""
    while block := raw.read(size):
        meter.advance(len(block))
        cut = block.rfind(b"\n") + 1
        if not cut:
            rest += block
            continue
        block, rest = rest + block[:cut], block[cut:]
        if b"_:" in block:
            lines = [line + b"\n" for line in block[:-1].split(b"\n")]
            held += [line for line in lines if b"_:" in line]
            block = b"".join(line for line in lines if b"_:" not in line)
        if block:
            yield block
    if rest:  # a last line without its line end
        if b"_:" in rest:
            held.append(rest + b"\n")
        else:
            yield rest


def open_read_only(store_path: Path) -> pyoxigraph.Store:
    """Open a build's store for reading.

    :raises TipgraphError: when the store is missing or cannot be opened
    """
    if not store_path.is_dir():
        raise TipgraphError(f"no store at {store_path.name}/: run `tipgraph build` first")
    try:
        return pyoxigraph.Store.read_only(str(store_path))
    except OSError as error:
        raise TipgraphError(f"cannot open the store {store_path.name}/: {error}") from error


_DEFAULT = pyoxigraph.DefaultGraph()
_TRIPLE = attrgetter("triple")


class OxigraphStore:
    """A :class:`~tipgraph.store.GraphStore` over an embedded pyoxigraph store.

    Our own queries run in this process; untrusted ones (:meth:`answer`) run in the
    killable query processes of ``engine`` when one is given (the web app gives one),
    else here; but a lookup, whose cost is bounded by what it names
    (:mod:`tipgraph.lookups`), runs here either way: it needs no stop, and a query
    process's round trip was most of its time.

    :param store: the pyoxigraph store (a build's, read-only, or an in-memory one)
    :param path: where ``store`` is on disk, for the query processes to open it
    :param identity: the version of the data (default: the build's id, its directory name)
    :param engine: a function returning this process's query engine

    >>> store = OxigraphStore(pyoxigraph.Store(), identity="empty")
    >>> bool(store.query("ASK { ?s ?p ?o }")), store.triple_count()
    (False, 0)
    """

    in_process = True

    def __init__(self, store: pyoxigraph.Store, *, path: Path | None = None,
                 identity: str | None = None,
                 engine: Callable[[], QueryEngine] | None = None) -> None:
        self.store = store
        self.path = path
        self._identity = identity or (path.parent.name if path else "memory")
        self._engine = engine
        self._count = store_counter(store)

    @classmethod
    def open(cls, store_path: Path, **options: object) -> OxigraphStore:
        """Open the store of a build (``BUILD/store``) read-only.

        :raises TipgraphError: when the store is missing or cannot be opened
        """
        return cls(open_read_only(store_path), path=store_path, **options)  # type: ignore[arg-type]

    @property
    def identity(self) -> str:
        return self._identity

    def query(self, query: str, *, base_iri: str | None = None,
              default_graph_uris: Sequence[str] | None = None,
              named_graph_uris: Sequence[str] | None = None,
              timeout: float | None = None) -> QueryResult:
        dataset: dict[str, object] = {}
        if default_graph_uris is not None or named_graph_uris is not None:
            dataset["default_graph"] = [pyoxigraph.NamedNode(g) for g in default_graph_uris or ()]
            dataset["named_graphs"] = [pyoxigraph.NamedNode(g) for g in named_graph_uris or ()]
        try:
            return self.store.query(query, base_iri=base_iri, **dataset)
        except SyntaxError as error:
            raise QuerySyntaxError(f"The query is not valid SPARQL: {error}") from error

    def triples(self, subject: Term | None = None, predicate: pyoxigraph.NamedNode | None = None,
                object: Term | None = None, *, offset: int = 0, limit: int | None = None
                ) -> Iterator[pyoxigraph.Triple]:
        if offset and not any(isinstance(t, pyoxigraph.BlankNode)
                              for t in (subject, predicate, object)):
            return self._window(subject, predicate, object, offset, limit)
        # index look-ups, no query parsed: a document costs a few of these
        quads = self.store.quads_for_pattern(subject, predicate, object, _DEFAULT)
        if offset or limit is not None:
            quads = islice(quads, offset, None if limit is None else offset + limit)
        return map(_TRIPLE, quads)

    def _window(self, subject: Term | None, predicate: pyoxigraph.NamedNode | None,
                object: Term | None, offset: int, limit: int | None
                ) -> Iterator[pyoxigraph.Triple]:
        """:meth:`triples` from the ``offset``-th, skipped by the engine: it skips index
        entries undecoded, where the pattern's iterator makes every triple it skips (page
        10 of a place at a million publications: 1.1 ms, not 9.6). A pattern of one triple
        is evaluated on the same index, in the same order."""
        terms = [term if term is not None else pyoxigraph.Variable(name)
                 for term, name in ((subject, "s"), (predicate, "p"), (object, "o"))]
        variables = [t for t in terms if isinstance(t, pyoxigraph.Variable)]
        pattern = " ".join(str(t) for t in terms)
        query = (f"SELECT {' '.join(map(str, variables)) or '*'} WHERE {{ {pattern} }} "
                 f"OFFSET {offset}" + ("" if limit is None else f" LIMIT {limit}"))
        for row in self.store.query(query):
            found = iter(row)  # the variables' values, in the pattern's order
            yield pyoxigraph.Triple(*(t if not isinstance(t, pyoxigraph.Variable)
                                      else next(found) for t in terms))

    def answer(self, job: QueryJob) -> QueryAnswer:
        if self._engine is None or self.path is None:
            return evaluate(self.store, job)
        if self._is_lookup(job):
            return self._look_up(job)
        return self._engine().run(dataclasses.replace(job, store_path=str(self.path)))

    def _is_lookup(self, job: QueryJob) -> bool:
        """Whether ``job`` is a lookup (:mod:`tipgraph.lookups`) on the store's own graph."""
        return job.default_graphs is None and job.named_graphs is None \
            and lookup_bound(job.query, self._count) is not None

    def _look_up(self, job: QueryJob) -> QueryAnswer:
        """``job`` evaluated here, its failures said as a query process says them."""
        try:
            return evaluate(self.store, job)
        except QueryError:
            raise
        except Exception as error:  # a store or writer failure
            raise engine_failure(error) from error

    async def answer_soon(self, job: QueryJob, client: str, *,
                          gone: Callable[[], asyncio.Future[Any]] | None,
                          executor: Executor) -> QueryAnswer:
        """:meth:`answer` from an asyncio loop: the engine's :meth:`QueryEngine.run_soon`
        (in ``executor`` without query processes); a lookup on the loop itself (a
        millisecond at most: a thread's hand-over would cost a good part of that)."""
        if self._engine is None or self.path is None:
            return await asyncio.get_running_loop().run_in_executor(
                executor, evaluate, self.store, job)
        if self._is_lookup(job):
            return self._look_up(job)
        return await self._engine().run_soon(
            dataclasses.replace(job, store_path=str(self.path)), client, gone=gone,
            executor=executor)

    def triple_count(self) -> int:
        return len(self.store)

    def export(self, out: BinaryIO) -> int:
        self.store.dump(out, format=pyoxigraph.RdfFormat.N_TRIPLES,
                        from_graph=pyoxigraph.DefaultGraph())
        return len(self.store)
