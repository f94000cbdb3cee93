"""Which store the settings name, chosen once: a build directory's embedded stores, or a
remote SPARQL store's published graphs.

Either way the store serves one build after another. :func:`open_store` returns
the :class:`BuildSource` that finds the build in service (:meth:`BuildSource.locate`,
cheap enough to ask before every request) and opens it (:meth:`BuildSource.open`);
the read side (:mod:`tipgraph.serving`) follows it and never asks which kind it has.

A remote store's build has no directory of its own: its dumps (and its
``report.json``) are made from the store once, into ``<build_dir>/remote/<id>/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tipgraph.build_dir import BuildDir, report_summary
from tipgraph.dumps import NTRIPLES, write_dumps
from tipgraph.errors import TipgraphError
from tipgraph.sparql_engine import QueryEngine
from tipgraph.store.embedded import OxigraphStore
from tipgraph.store.interface import GraphStore
from tipgraph.store.publish import GraphRecord, current_graph, graphs_prefix
from tipgraph.store.remote import RemoteSparqlStore


@dataclass(frozen=True)
class StoredBuild:
    """One build as its store serves it: what the read side opens its models on."""

    key: object  # what BuildSource.locate returns while this build is in service
    id: str
    path: Path  # its files: dumps, report.json (for a remote store, copies made from it)
    store: GraphStore
    report: dict[str, Any]
    modified: datetime  # when it was switched in: Last-Modified of what it serves
    #: whether a build of this store ever published the URI (or a ``uri#...``): a URI that
    #: one did and this one has not is gone (410)
    ever_published: Callable[[str], bool] = lambda uri: False


class BuildSource(Protocol):
    """The builds a store serves, one after another."""

    #: A symbolic link whose target changes exactly when the build in service does (one
    #: ``readlink`` tells), or None when there is none (a remote store).
    link: str | None

    def locate(self) -> object | None:
        """The key of the build in service now (it changes with every switch, also back to
        a build served before), or None when there is none.

        :raises QueryError: when the store cannot be reached
        """
        ...

    def missing(self) -> str:
        """A sentence saying there is no build and how to make one."""
        ...

    def open(self, key: object) -> StoredBuild:
        """Open the build ``key`` names (or the one in service since, for a remote store).

        :raises TipgraphError: when it cannot be read
        """
        ...


def open_store(settings: Mapping[str, Any], *,
               engine: Callable[[], QueryEngine] | None = None) -> BuildSource:
    """The builds of the store ``settings`` name: the remote store at ``store_url`` when it
    is set, else the embedded stores of the builds in ``build_dir``.

    :param engine: the query processes of this process, for the embedded store
    """
    if settings.get("store_url"):
        return RemoteBuilds(settings, Path(settings["build_dir"]))
    return LocalBuilds(BuildDir(Path(settings["build_dir"])), engine)


#: What serving reads of a local build's report (a remote build's is made of the same)
SERVED_KEYS = ("build_id", "status", "base", "triples")


def served_report(build: Path) -> dict[str, Any]:
    """The entries :data:`SERVED_KEYS` of ``build``'s report, read by its summary lines:
    the whole report of a million records is 335 MB, and parsed it held 880 MiB in every
    worker.

    :raises TipgraphError: naming the build and what its report lacks
    """
    report = report_summary(build / "report.json", SERVED_KEYS)
    if missing := sorted(set(SERVED_KEYS) - report.keys()):
        raise TipgraphError(f"build {build.name} has no readable report.json (it lacks "
                            f"{', '.join(missing)})")
    return report


class LocalBuilds:
    """Builds on disk: the key is the current switch (the build's directory and the link's
    inode), the time it was made current from the build directory's ledger."""

    def __init__(self, build_dir: BuildDir, engine: Callable[[], QueryEngine] | None) -> None:
        self.build_dir = build_dir
        self.engine = engine
        self.link = os.path.join(build_dir.root, "current")

    def locate(self) -> tuple[Path, int] | None:
        return self.build_dir.current_switch()

    def missing(self) -> str:
        return f"no build in {self.build_dir.root}: run `tipgraph build`"

    def open(self, key: object) -> StoredBuild:
        path = key[0]  # type: ignore[index]
        report = served_report(path)
        store = OxigraphStore.open(path / "store", engine=self.engine)
        # the last switch (written before the link it is read after): never goes back,
        # also when an older build is switched in again
        switch = self.build_dir.ledger.last_switch()
        modified = switch.switched_at if switch else \
            datetime.fromtimestamp((path / "report.json").stat().st_mtime, UTC)
        return StoredBuild(key=key, id=path.name, path=path, store=store, report=report,
                           modified=modified.replace(microsecond=0),
                           ever_published=self.ever_published)

    def ever_published(self, uri: str) -> bool:
        return self.build_dir.ledger.ever_published(uri, fragments=True)


class RemoteBuilds:
    """Graphs in a remote store: the key is the graph the store's meta graph names."""

    link = None

    def __init__(self, settings: Mapping[str, Any], root: Path) -> None:
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

    def known(self) -> str | None:
        """The key :meth:`locate` gives without asking the store (its last look is less
        than ``store_poll`` seconds old); None when it would ask."""
        if self._record is None or time.monotonic() - self._looked >= self.poll:
            return None
        return self._record.graph

    def missing(self) -> str:
        return (f"{self.url} serves no tipgraph graph under {self.graphs}: run "
                "`tipgraph publish`")

    def open(self, key: object) -> StoredBuild:
        record = self._record
        if record is None or record.graph != key:  # moved on since: take what it is now
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
        # no ledger here: the local builds' (docs/deploy.md), so nothing is known to be gone
        return StoredBuild(key=graph, id=record.build_id, path=path, store=store,
                           report=report, modified=record.modified)


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
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with (partial / NTRIPLES).open("wb") as out:
        store.export(out)
    write_dumps(partial)
    (partial / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(path, ignore_errors=True)
    os.replace(partial, path)
    for old in sorted(p for p in path.parent.iterdir() if p.is_dir() and p != path
                      and not p.name.startswith("."))[:-1]:
        shutil.rmtree(old, ignore_errors=True)  # keep this one and the one before
