"""The build directory: builds side by side, one of them current, switched atomically.

Layout of ``DIR`` (default ``build/``)::

    builds/<id>/            one complete build: tipgraph.ttl, .nt, .nt.gz, .jsonld,
                            report.json, store/
    current -> builds/<id> the build in service (a symlink, replaced atomically)
    failed -> builds/<id>  the last failed build, whose report is kept
    tipgraph.ttl, tipgraph.nt, tipgraph.nt.gz, tipgraph.jsonld, report.json, store
                            -> current/<name>: always the current build's files

Readers resolve ``current`` once per use (a ``readlink``), so they see either
the old build or the new one, never a half-written one.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: The files of a build that ``DIR`` itself names, through ``current``.
BUILD_FILES = ("tipgraph.ttl", "tipgraph.nt", "tipgraph.nt.gz", "tipgraph.jsonld",
               "report.json", "store")

#: The URIs and slugs every build so far has published (carried forward: a URI gone is 410).
PUBLISHED_FILE = "published.json"
#: The per-build indexes the read side loads when it opens the build
#: (:mod:`tipgraph.serving.indexes` documents its schema).
INDEX_FILE = "indexes.pickle"

#: How many finished builds to keep besides the current one (a server may still read one).
KEEP_PREVIOUS = 2


@dataclass(frozen=True)
class BuildDir:
    root: Path

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    def current(self) -> Path | None:
        """The directory of the build in service, or None when there is none."""
        link = self.root / "current"
        try:
            target = os.readlink(link)
        except OSError:
            return None
        path = (self.root / target).resolve()
        return path if path.is_dir() else None

    def current_id(self) -> str | None:
        current = self.current()
        return current.name if current else None

    def new_build(self) -> Path:
        """Make an empty directory for a new build, beside the others."""
        self.builds.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.builds / stamp
        path.mkdir()
        return path

    def publish(self, build: Path) -> None:
        """Make ``build`` the current build in one atomic step, then tidy up."""
        self._link("current", build)
        for name in BUILD_FILES:
            link = self.root / name
            if not link.is_symlink():
                if link.exists():  # a file left by hand where our link belongs
                    shutil.rmtree(link) if link.is_dir() else link.unlink()
                link.symlink_to(Path("current") / name)
        self._prune(keep={build})

    def mark_failed(self, build: Path) -> None:
        self._link("failed", build)

    def failed(self) -> Path | None:
        link = self.root / "failed"
        return link.resolve() if link.is_symlink() else None

    def _link(self, name: str, build: Path) -> None:
        temporary = self.root / f".{name}.{os.getpid()}"
        if temporary.is_symlink():
            temporary.unlink()
        temporary.symlink_to(build.relative_to(self.root))
        os.replace(temporary, self.root / name)

    def _prune(self, keep: set[Path]) -> None:
        failed = self.failed()
        finished = sorted(p for p in self.builds.iterdir() if p.is_dir())
        done = [p for p in finished if p not in keep and p != failed]
        for old in done[:-KEEP_PREVIOUS] if KEEP_PREVIOUS else done:
            shutil.rmtree(old, ignore_errors=True)
