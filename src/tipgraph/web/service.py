"""The build in service: which one is current, its store, and switching to a new one.

Each web worker holds one :class:`Service`. Before a request it asks
:meth:`Service.current`, which is cheap: for the embedded store one ``readlink``
of the build directory's ``current`` link; for a remote store (setting
``store_url``) a look at the store's pointer to the graph in service, at most
every ``store_poll`` seconds. When a new build is current, the worker opens it
and serves it from then on; requests already running keep the build they
started with, and other requests go on with the old build while it opens.
Nothing is copied or loaded per request.

A remote store's build has no directory of its own: its dumps (and its
``report.json``) are made from the store once, into ``<build_dir>/remote/<id>/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tipgraph.builds import BuildDir
from tipgraph.errors import TipgraphError
from tipgraph.sparql_engine import QueryEngine, QueryError
from tipgraph.store import GraphStore, OxigraphStore, RemoteSparqlStore, current_graph
from tipgraph.store.publish import GraphRecord, graphs_prefix
from tipgraph.textindex import TEXT_FILE, TextIndex


@dataclass(frozen=True)
class Build:
    """One build, open for reading."""

    id: str
    path: Path  # its files: dumps, report.json (for a remote store, copies made from it)
    store: GraphStore
    report: dict[str, Any]
    modified: datetime  # when it was switched in: Last-Modified of what it serves
    switch: object = None  # which switch made it current (a key of the service's source)

    @property
    def triples(self) -> int:
        return int(self.report.get("triples", 0))

    def file(self, name: str) -> Path:
        return self.path / name

    @functools.cached_property
    def text_index(self) -> TextIndex | None:
        """The build's text index (:mod:`tipgraph.textindex`), opened on first use; None
        for a build without one (made before it existed, or in a remote store)."""
        return TextIndex.open(self.path / TEXT_FILE)


@dataclass
class Service:
    settings: dict[str, Any]
    build_dir: BuildDir
    engine: Callable[[], QueryEngine] | None = None  # this process's query processes
    _build: Build | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _source: Any = None

    def __post_init__(self) -> None:
        if self.settings.get("store_url"):
            self._source = _RemoteBuilds(self.settings, self.build_dir.root)
        else:
            self._source = _LocalBuilds(self.build_dir, self.engine)

    @property
    def base(self) -> str:
        return self.settings["base_uri"]

    def current(self) -> Build:
        """The build in service, switching to a newer current build when there is one.

        :raises TipgraphError: when there is no build, or it cannot be read
        """
        build = self._build
        try:
            key = self._source.locate()
        except QueryError:
            if build is not None:  # the store is unreachable: its queries will say so
                return build
            raise
        if key is None:
            if build is not None:  # the pointer went away: keep serving what we have
                return build
            raise TipgraphError(self._source.missing())
        if build is not None and self._source.key_of(build) == key:
            return build
        if not self._lock.acquire(blocking=build is None):
            return build  # another thread is opening the new build: serve the old one
        try:
            if self._build is None or self._source.key_of(self._build) != key:
                self._build = self._source.open(key)
            return self._build
        finally:
            self._lock.release()


class _LocalBuilds:
    """Builds on disk: the key is the current build's directory."""

    def __init__(self, build_dir: BuildDir, engine: Callable[[], QueryEngine] | None) -> None:
        self.build_dir = build_dir
        self.engine = engine

    def locate(self) -> tuple[Path, int] | None:
        return self.build_dir.current_switch()

    def missing(self) -> str:
        return f"no build in {self.build_dir.root}: run `tipgraph build`"

    @staticmethod
    def key_of(build: Build) -> object:
        return build.switch

    def open(self, key: tuple[Path, int]) -> Build:
        path = key[0]
        try:
            report = json.loads((path / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise TipgraphError(f"build {path.name} has no readable report.json: {error}") \
                from error
        store = OxigraphStore.open(path / "store", engine=self.engine)
        # the last switch (written before the link it is read after): never goes back,
        # also when an older build is switched in again
        switch = self.build_dir.ledger.last_switch()
        modified = switch.switched_at if switch else \
            datetime.fromtimestamp((path / "report.json").stat().st_mtime, UTC)
        return Build(id=path.name, path=path, store=store, report=report,
                     modified=modified.replace(microsecond=0), switch=key)


class _RemoteBuilds:
    """Graphs in a remote store: the key is the graph the store's meta graph names."""

    def __init__(self, settings: dict[str, Any], root: Path) -> None:
        self.url = settings["store_url"]
        self.graphs = graphs_prefix(settings["base_uri"], settings["store_graphs"] or None)
        self.timeout = float(settings["query_timeout"])
        self.poll = float(settings["store_poll"])
        self.cache = root / "remote"
        self.pointer = RemoteSparqlStore(self.url, timeout=self.timeout)
        self._record: GraphRecord | None = None
        self._looked = float("-inf")

    def locate(self) -> str | None:
        if time.monotonic() - self._looked >= self.poll:
            self._record = current_graph(self.pointer, self.graphs)
            self._looked = time.monotonic()
        return self._record.graph if self._record else None

    def missing(self) -> str:
        return (f"{self.url} serves no tipgraph graph under {self.graphs}: run "
                "`tipgraph publish`")

    @staticmethod
    def key_of(build: Build) -> str:
        return build.store.graph  # type: ignore[attr-defined]

    def open(self, graph: str) -> Build:
        record = self._record
        if record is None or record.graph != graph:  # moved on since: take what it is now
            record = current_graph(self.pointer, self.graphs)
            if record is None:
                raise TipgraphError(self.missing())
            graph = record.graph
        store = RemoteSparqlStore(self.url, graph=graph, identity=record.build_id,
                                  timeout=self.timeout)
        report = {"build_id": record.build_id, "status": "published", "base": record.base,
                  "triples": record.triples, "graph": graph}
        path = self.cache / record.build_id
        with _locked(self.cache / f".{record.build_id}.lock"):
            if not (path / "report.json").is_file():
                _copy_from_store(store, report, path)
        return Build(id=record.build_id, path=path, store=store, report=report,
                     modified=record.modified)


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """One process at a time (every gunicorn worker opens the same build)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _copy_from_store(store: RemoteSparqlStore, report: dict[str, Any], path: Path) -> None:
    """The dumps of the graph, made from the store; the directory appears when complete."""
    from tipgraph.build import write_dumps

    partial = path.with_name(f".{path.name}.{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with (partial / "tipgraph.nt").open("wb") as out:
        store.export(out)
    write_dumps(partial)
    (partial / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(path, ignore_errors=True)
    os.replace(partial, path)
    for old in sorted(p for p in path.parent.iterdir() if p.is_dir() and p != path
                      and not p.name.startswith("."))[:-1]:
        shutil.rmtree(old, ignore_errors=True)  # keep this one and the one before
