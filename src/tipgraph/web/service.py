"""The build in service: which one is current, its store, and switching to a new one.

Each web worker holds one :class:`Service`. Before a request it asks
:meth:`Service.current`, which costs one ``readlink``: when the build
directory's ``current`` link names a new build, the worker opens that build's
store read-only and serves it from then on; requests already running keep the
build they started with. Nothing is copied or loaded per request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph

from tipgraph.builds import BuildDir
from tipgraph.errors import TipgraphError
from tipgraph.store import open_store


@dataclass(frozen=True)
class Build:
    """One build, open for reading."""

    id: str
    path: Path
    store: pyoxigraph.Store
    report: dict[str, Any]
    modified: datetime  # when the build was made: Last-Modified of what it serves

    @property
    def triples(self) -> int:
        return int(self.report.get("triples", 0))

    def file(self, name: str) -> Path:
        return self.path / name


@dataclass
class Service:
    settings: dict[str, Any]
    build_dir: BuildDir
    _build: Build | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return self.settings["base_uri"]

    def current(self) -> Build:
        """The build in service, switching to a newer current build when there is one.

        :raises TipgraphError: when the build directory has no build, or it cannot be read
        """
        path = self.build_dir.current()
        if path is None:
            if self._build is not None:  # the link went away: keep serving what we have
                return self._build
            raise TipgraphError(f"no build in {self.build_dir.root}: run `tipgraph build`")
        build = self._build
        if build is not None and build.path == path:
            return build
        with self._lock:
            if self._build is None or self._build.path != path:
                self._build = self._open(path)
            return self._build

    @staticmethod
    def _open(path: Path) -> Build:
        try:
            report = json.loads((path / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise TipgraphError(f"build {path.name} has no readable report.json: {error}") \
                from error
        store = open_store(path / "store")
        modified = datetime.fromtimestamp((path / "report.json").stat().st_mtime, UTC)
        return Build(id=path.name, path=path, store=store, report=report,
                     modified=modified.replace(microsecond=0))
