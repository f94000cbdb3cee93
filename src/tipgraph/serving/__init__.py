"""The read side: what a worker serves of each build, without Flask.

The build writes; the read side reads; the web speaks HTTP. This package opens the
build in service (:class:`Service`, following ``current``) and owns its read
models (:class:`Build`: catalogue, statistics, documents' labels and linking, the
dataset's counts and description, published URIs), loaded once per build from the
index file the build wrote (:mod:`tipgraph.serving.indexes`, whose makers the build
imports from here) or made from its store. It imports no web framework and no build
stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tipgraph.serving.service import Build, Service

__all__ = ["Build", "Service"]


def __getattr__(name: str) -> Any:
    """:class:`Build` and :class:`Service`, imported when first asked for: the build
    imports the index makers of this package (:mod:`.indexes`) and serves nothing."""
    if name in __all__:
        from tipgraph.serving import service  # a build needs none of the read side

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
