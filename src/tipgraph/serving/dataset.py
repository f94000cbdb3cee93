"""The dataset's description (VoID + DCAT-AP), made for a build, without Flask.

The description's counts are what a SPARQL count over the endpoint returns: the
build counts them from the triples it loads into the store and writes them in its
index file (:class:`~tipgraph.serving.indexes.DatasetCounts`); counting them over
the store instead takes 15 s at 100,000 publications, and is left for a remote
store and a build without the file (:attr:`Build.counts`). What it says besides
counts is read from the build's statistics (:func:`tipgraph.description.read_facts`,
a few milliseconds) and its dump files; :mod:`tipgraph.description` writes the graph.
The views of :mod:`tipgraph.web.dataset` serve it, with the dumps it lists.
"""

from __future__ import annotations

from rdflib import Graph, URIRef

from tipgraph import description as writer
from tipgraph.dumps import DUMPS, dump_file
from tipgraph.serving.documents import Document, from_rdflib
from tipgraph.serving.indexes import DatasetCounts
from tipgraph.serving.service import Build


def dataset_uri(build: Build) -> URIRef:
    return writer.dataset_iri(build.base)


def description(build: Build, root: str) -> Document:
    """The description of ``build`` with its services under ``root``, made once per root."""
    return build.description(root, lambda: from_rdflib(describe_dataset(build, root),
                                                       str(dataset_uri(build))))


def describe_dataset(build: Build, root: str, counts: DatasetCounts | None = None) -> Graph:
    """VoID and DCAT-AP for ``build`` (:func:`tipgraph.description.describe_dataset`), with
    its services and dumps under ``root``; its counts are ``counts`` (by default
    :attr:`Build.counts`)."""
    return writer.describe_dataset(
        counts if counts is not None else build.counts, writer.read_facts(build.store),
        dump_files(build), settings=build.settings, base=build.base, root=root,
        version=build.id, modified=build.modified)


def dump_files(build: Build) -> list[writer.DumpFile]:
    """The dumps ``build`` serves: its files, and those served from them as another type."""
    found = []
    for name, (media_type, compression) in DUMPS.items():
        path = build.file(dump_file(name))
        if path.is_file():
            found.append(writer.DumpFile(name, media_type, compression, path.stat().st_size))
    return found
