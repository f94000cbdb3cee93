"""Load and open the embedded Oxigraph store of a build.

A build's store is written once, by :func:`load_store`, into the build's own
directory, and only read after that: every reader (each gunicorn worker, the
``query`` command) opens it with :meth:`pyoxigraph.Store.read_only`, so several
processes share it and none ever reads a store that is being written.
"""

from __future__ import annotations

from pathlib import Path

import pyoxigraph

from tipgraph.errors import TipgraphError


def load_store(ntriples: Path, store_path: Path) -> int:
    """Bulk-load an N-Triples file into a new store at ``store_path``; returns its size.

    :raises TipgraphError: when ``store_path`` already holds something
    """
    if store_path.exists() and any(store_path.iterdir()):
        raise TipgraphError(f"{store_path.name}/ is not empty: a build's store is written once")
    store = pyoxigraph.Store(str(store_path))
    store.bulk_load(path=str(ntriples), format=pyoxigraph.RdfFormat.N_TRIPLES)
    store.flush()
    store.optimize()
    size = len(store)
    del store  # release the write lock before readers open it
    return size


def open_store(store_path: Path) -> pyoxigraph.Store:
    """Open a build's store for reading.

    :raises TipgraphError: when the store is missing or cannot be opened
    """
    if not store_path.is_dir():
        raise TipgraphError(f"no store at {store_path.name}/: run `tipgraph build` first")
    try:
        return pyoxigraph.Store.read_only(str(store_path))
    except OSError as error:
        raise TipgraphError(f"cannot open the store {store_path.name}/: {error}") from error
