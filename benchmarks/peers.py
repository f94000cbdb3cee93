"""The servers the endpoint benchmark runs beside ``tipgraph serve``, each on the same build.

Every peer answers from the build's own data, so that their answers can be compared:
the Oxigraph server from a copy of the build's store, Virtuoso from the build published
to it (or its N-Triples dump, ``tipgraph.nt``, the reasoned graph the store was loaded
from), rdflib-endpoint from that dump; ``tipgraph serve --store`` in front of that
Virtuoso. Each
listens on a free 127.0.0.1 port and is stopped when its block ends (``running`` in
``tipgraph.testing`` does the starting, waiting and stopping for all of them).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType

from tipgraph.store import publish
from tipgraph.testing import (
    VIRTUOSO_PUBLISHER,
    VIRTUOSO_SETUP,
    answers_sparql,
    find_binary,
    free_port,
    running,
    serving,
    virtuoso,
)

#: The graph Virtuoso loads the dump into; every query names it as the default graph,
#: since Virtuoso's own default graph is the union of all graphs, its system graphs too.
VIRTUOSO_GRAPH = "urn:x-tipgraph:benchmark"


class Server:
    """A running SPARQL server: its endpoint, the fields sent with every query, its process.

    :param fields: protocol fields added to every query (Virtuoso's ``default-graph-uri``)
    """

    def __init__(self, name: str, endpoint: str, pid: int, *,
                 fields: tuple[tuple[str, str], ...] = ()) -> None:
        self.name, self.endpoint, self.pid, self.fields = name, endpoint, pid, fields
        self.alive = True  # False once given up on: no more requests are sent to it

    def restart(self) -> bool:
        """Start afresh after a request was given up on; False: this server need not."""
        return False


def _binary(name: str, why: str) -> str:
    found = find_binary((name,))
    if found is None:
        raise FileNotFoundError(f"{name} not found: {why}")
    return found


@contextmanager
def oxigraph_server(store: Path, scratch: Path, *, startup_limit: float = 300.0
                    ) -> Iterator[Server]:
    """``oxigraph serve-read-only`` (PyPI ``oxigraph``) on a copy of ``store``.

    A copy, because a RocksDB store is opened by one process at a time, and ``tipgraph
    serve`` has the original open.
    """
    binary = _binary("oxigraph", "pip install -e '.[bench]'")
    copy = scratch / "oxigraph-store"
    shutil.copytree(store, copy)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/query"
    command = [binary, "serve-read-only", "--location", str(copy),
               "--bind", f"127.0.0.1:{port}"]
    with running(command, lambda: answers_sparql(endpoint), name="the Oxigraph server",
                 startup_limit=startup_limit) as process:
        yield Server("oxigraph", endpoint, process.pid)


@contextmanager
def virtuoso_server(build: Path, scratch: Path, *, max_seconds: int, publish_build: bool,
                    buffers: int = 100_000) -> Iterator[Server]:
    """Virtuoso with the current build of ``build``, loaded one of two ways:

    - ``publish_build``: by ``tipgraph publish`` (as a site does, for ``serve --store``
      in front of it: :func:`virtuoso_front`); every query names the published graph;
    - else its N-Triples dump bulk-loaded (``ld_dir``, ``rdf_loader_run``) into
      :data:`VIRTUOSO_GRAPH`.

    Its caps are raised: 2^20 rows (Virtuoso's own ceiling) instead of 10,000, rows sorted
    under ``ORDER BY ... OFFSET`` (``MaxSortedTopRows``) as many (deep paging at 100,000
    publications was an HTTP 500 at its 10,000), and an anytime limit of ``max_seconds``
    instead of 60 s, past which it would answer with partial results that look like an
    answer.

    :param buffers: 8 KiB pages of its cache (100,000: 780 MiB, room for 100k publications)
    :raises RuntimeError: when the bulk loader reports an error
    """
    dump = build / "current" / "tipgraph.nt"
    directory = scratch / "virtuoso"
    directory.mkdir()
    with virtuoso(directory, max_rows=2**20, sorted_rows=2**20, max_seconds=max_seconds,
                  buffers=buffers, dirs_allowed=[dump.parent]) as server:
        if publish_build:
            server.run_sql(VIRTUOSO_SETUP)
            report = publish(build, server.sparql, update=server.root + "/sparql-auth",
                             graph_store=server.root + "/sparql-graph-crud-auth",
                             auth=VIRTUOSO_PUBLISHER)
            graph = report.graph
        else:
            server.run_sql(f"ld_dir('{dump.parent}', '{dump.name}', '{VIRTUOSO_GRAPH}');\n"
                           "rdf_loader_run();\ncheckpoint;\n", timeout=3600)
            failed = server.run_sql("SELECT ll_file, ll_error FROM DB.DBA.LOAD_LIST "
                                    "WHERE ll_state <> 2 OR ll_error IS NOT NULL;\n")
            if "0 Rows." not in failed:
                raise RuntimeError(f"Virtuoso's bulk loader did not load {dump}: {failed}")
            graph = VIRTUOSO_GRAPH
        yield Server("virtuoso", server.sparql, server.pid,
                     fields=(("default-graph-uri", graph),))


@contextmanager
def virtuoso_front(virtuoso: Server, scratch: Path, settings: dict[str, object]
                   ) -> Iterator[Server]:
    """``tipgraph serve --store`` in front of ``virtuoso`` (loaded with ``publish_build``),
    from a directory of its own (where it keeps the dumps it makes from the store)."""
    directory = scratch / "front"
    directory.mkdir()
    with serving(directory, settings, args=("--store", virtuoso.endpoint),
                 startup_limit=1800.0) as base:
        yield Server("tipgraph-virtuoso", f"{base}/sparql", base.pid)


class RdflibEndpoint(Server):
    """``rdflib-endpoint serve`` (PyPI ``rdflib-endpoint[cli]``) on ``dump``, in memory.

    It evaluates a query on its event loop, so a query that a client has given up on
    still holds back every later request until it ends: :meth:`restart` replaces the
    process instead (at the cost of parsing the dump again).
    """

    def __init__(self, dump: Path, *, startup_limit: float, restarts: int) -> None:
        """:param restarts: how many times it may be restarted; after that, a timeout
        stops it for good (at 100k publications each start parses for minutes)."""
        self.binary = _binary("rdflib-endpoint", "pip install -e '.[bench]'")
        self.dump, self.startup_limit, self.restarts_left = dump, startup_limit, restarts
        self.port = free_port()
        # its CLI serves the endpoint at the root path
        super().__init__("rdflib-endpoint", f"http://127.0.0.1:{self.port}/", 0)
        self._stack = ExitStack()

    def _start(self) -> None:
        command = [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   str(self.dump)]
        process = self._stack.enter_context(running(
            command, lambda: answers_sparql(self.endpoint), name="rdflib-endpoint",
            startup_limit=self.startup_limit, stop_limit=5.0))  # busy: deaf to SIGTERM
        self.pid = process.pid

    def restart(self) -> bool:
        self._stack.close()
        if self.restarts_left <= 0:
            self.alive = False
            return False
        self.restarts_left -= 1
        self._start()
        return True

    def __enter__(self) -> RdflibEndpoint:
        self._start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stack.close()


def scratch_directory() -> tempfile.TemporaryDirectory[str]:
    """A directory for the peers' copies and databases, removed when it is cleaned up."""
    return tempfile.TemporaryDirectory(prefix="tipgraph-bench-")
