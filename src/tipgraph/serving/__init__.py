"""The read side: what a worker serves of each build, without Flask.

The build writes; the read side reads; the web speaks HTTP. This package opens the
build in service (:class:`Service`, following ``current``) and owns its read
models (:class:`Build`: catalogue, statistics, documents' labels and linking, the
dataset's counts and description, published URIs), loaded once per build from the
index file the build wrote (:mod:`tipgraph.serving.indexes`, whose makers the build
imports from here) or made from its store. It imports no web framework and no build
stage.
"""

from tipgraph.serving.service import Build, Service

__all__ = ["Build", "Service"]
