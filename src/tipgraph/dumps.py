"""The whole-graph dumps of a build: written beside ``tipgraph.nt``, served as they are.

The build writes ``tipgraph.nt`` (sorted N-Triples) and then, in processes of its
own while it validates, the other dumps from it (:data:`DUMP_JOBS`); the read side
makes the same files from a remote store's graph (:func:`write_dumps`). The web
serves every file :data:`DUMPS` names and describes them in the dataset's DCAT.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pyoxigraph

from tipgraph.formats import jsonld_context
from tipgraph.jsonld import compact_file

#: The dump every other one is made from.
NTRIPLES = "tipgraph.nt"

#: The dumps a build serves: name -> (media type of the content, compression or None).
DUMPS: dict[str, tuple[str, str | None]] = {
    "tipgraph.ttl": ("text/turtle", None),
    "tipgraph.nt.gz": ("application/n-triples", "application/gzip"),
    "tipgraph.jsonld": ("application/ld+json", None),
    NTRIPLES: ("application/n-triples", None),
    "tipgraph.nq": ("application/n-quads", None),
    "tipgraph.nq.gz": ("application/n-quads", "application/gzip"),
    "tipgraph.trig": ("application/trig", None),
}
#: Dumps served from another's file: the graph is one default graph, so its N-Triples
#: file is an N-Quads file and its Turtle file a TriG file, byte for byte.
SERVED_FROM: dict[str, str] = {"tipgraph.nq": NTRIPLES, "tipgraph.nq.gz": "tipgraph.nt.gz",
                               "tipgraph.trig": "tipgraph.ttl"}


def dump_file(name: str) -> str:
    """The file of the build a dump ``name`` is served from.

    >>> dump_file("tipgraph.trig"), dump_file("tipgraph.ttl")
    ('tipgraph.ttl', 'tipgraph.ttl')
    """
    return SERVED_FROM.get(name, name)


def write_dumps(target: Path) -> None:
    """Beside ``target/tipgraph.nt``, write its gzip, Turtle and JSON-LD, streamed from it.

    pyoxigraph parses and writes in Rust; the JSON-LD is compacted as text
    (:mod:`tipgraph.jsonld`), so no dump is ever held as Python objects.
    """
    for job in DUMP_JOBS:
        job(target)


def write_turtle(target: Path) -> None:
    pyoxigraph.serialize(_parse(target / NTRIPLES), str(target / "tipgraph.ttl"),
                         format=pyoxigraph.RdfFormat.TURTLE, prefixes=jsonld_context())


def write_jsonld_and_gzip(target: Path) -> None:
    # expanded by pyoxigraph into a file, then compacted from it a few MiB at a time: the
    # whole text is never in memory (at 30,000 publications this process took 740 MB)
    expanded = target / ".tipgraph.expanded.jsonld"
    pyoxigraph.serialize(_parse(target / NTRIPLES), str(expanded),
                         format=pyoxigraph.RdfFormat.JSON_LD)
    compact_file(expanded, target / "tipgraph.jsonld", jsonld_context())
    expanded.unlink()
    with (target / NTRIPLES).open("rb") as raw, \
            gzip.GzipFile(target / "tipgraph.nt.gz", "wb", compresslevel=6, mtime=0) as gz:
        shutil.copyfileobj(raw, gz, 1 << 20)


#: The dumps made from ``tipgraph.nt``, in jobs of about equal cost: the build runs each
#: in its own process while it validates.
DUMP_JOBS: tuple[Callable[[Path], None], ...] = (write_turtle, write_jsonld_and_gzip)


def _parse(nt: Path) -> Iterator[pyoxigraph.Quad]:
    return pyoxigraph.parse(path=str(nt), format=pyoxigraph.RdfFormat.N_TRIPLES)
