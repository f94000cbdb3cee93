"""The store interface: the few operations everything above a store needs.

A store answers SPARQL queries in a neutral form (pyoxigraph's terms:
solutions, a boolean, or triples, whichever store they come from), finds the
triples of a pattern (what the read side's models are made of, so that they
never ask which store they have), answers an untrusted query within the
endpoint's limits, counts its triples, streams the whole graph, and says which
version of the data it serves (for ETags).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO, Protocol, runtime_checkable

import pyoxigraph

from tipgraph.sparql_engine import QueryAnswer, QueryJob

#: What :meth:`GraphStore.query` returns: SELECT solutions (``.variables``, rows indexed
#: by variable name), an ASK boolean (``bool(result)``), or CONSTRUCT/DESCRIBE triples.
QueryResult = pyoxigraph.QuerySolutions | pyoxigraph.QueryBoolean | Iterable[pyoxigraph.Triple]
#: A term a triple pattern may name (None: any).
Term = pyoxigraph.NamedNode | pyoxigraph.BlankNode | pyoxigraph.Literal


@runtime_checkable
class GraphStore(Protocol):
    """A read-only SPARQL store serving one version of the graph."""

    #: Whether the store is read in this process (no network, no other process): a
    #: bounded read of it (a resource's document) may then be made on an event loop.
    in_process: bool

    @property
    def identity(self) -> str:
        """The version of the data served (a build id): it changes when the data does."""
        ...

    def query(self, query: str, *, base_iri: str | None = None,
              default_graph_uris: Sequence[str] | None = None,
              named_graph_uris: Sequence[str] | None = None,
              timeout: float | None = None) -> QueryResult:
        """Evaluate a trusted query (one of ours) and return its result in the neutral form.

        :param default_graph_uris: the protocol dataset's default graph (``None``: the
            store's own idea of the graph it serves)
        :param timeout: seconds to wait for a remote store (an embedded query runs in this
            process and is not interrupted: only our own, bounded queries come here)
        :raises QueryError: the query is malformed, took too long, or the store failed
        """
        ...

    def triples(self, subject: Term | None = None, predicate: pyoxigraph.NamedNode | None = None,
                object: Term | None = None, *, offset: int = 0, limit: int | None = None
                ) -> Iterator[pyoxigraph.Triple]:
        """The triples of the default graph matching a pattern (None: any term), from the
        ``offset``-th, at most ``limit``, in an order that stays the same for the data
        served (the embedded store's index order; a remote store's ``ORDER BY``).

        A blank node named in the pattern matches nothing in a store that names its blank
        nodes its own way (a remote one).

        :raises QueryError: when the store fails
        """
        ...

    def answer(self, job: QueryJob) -> QueryAnswer:
        """Evaluate an untrusted query within the endpoint's limits and write its answer.

        Updates and non-allow-listed ``SERVICE`` are refused before anything is evaluated;
        the answer is cut at ``job.max_results`` and written in the format ``job`` names.

        :raises QueryError: refused, malformed, unanswerable, too slow, or the store failed
        """
        ...

    def triple_count(self) -> int:
        """How many triples the graph served has."""
        ...

    def export(self, out: BinaryIO) -> int:
        """Write the whole graph served to ``out`` as N-Triples; returns the triples written.

        :raises QueryError: when the store fails or cuts the graph short
        """
        ...
