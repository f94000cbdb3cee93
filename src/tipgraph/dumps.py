"""The whole-graph dumps of a build: written beside ``tipgraph.nt``, served as they are.

The build writes ``tipgraph.nt`` (sorted N-Triples) and then the other dumps from it in
processes of their own (:data:`DUMP_JOBS`), niced, beside the index makers and the
validation, and published only once the store is valid; the read side
makes the same files from a remote store's graph (:func:`write_dumps`). An incremental
build makes them from the previous build's segments and the lines changed
(:func:`update_dumps`), without reading the graph. The web
serves every file :data:`DUMPS` names and describes them in the dataset's DCAT.
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import heapq
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pyoxigraph
from zlib_ng import gzip_ng

from tipgraph.formats import jsonld_context
from tipgraph.jsonld import document_head, node_objects

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


def write_dumps(target: Path, previous: Path | None = None) -> None:
    """Beside ``target/tipgraph.nt``, write its gzip, Turtle and JSON-LD, streamed from it,
    a segment at a time (:func:`segments`); the segments ``previous`` (an earlier build)
    made of the same lines are linked, not made again.

    pyoxigraph parses and writes in Rust; the JSON-LD is compacted as text
    (:mod:`tipgraph.jsonld`), so no dump is ever held as Python objects.
    """
    for job in DUMP_JOBS:
        job(target, previous)


# -- segments -------------------------------------------------------------------------------
#
# Each dump is made of segments: runs of the sorted N-Triples lines, cut where a subject
# begins, each written in each format to a file of its own in the build's ``dumps/``,
# named by the digest of its lines. The served file is the segments' files one after the
# other: concatenated gzip members are one gzip stream, concatenated Turtle documents (each
# with its prefixes) one Turtle document, and the JSON-LD's segments are lists of node
# objects joined into one ``@graph``. A build made from an earlier one cuts its lines where
# that one did (``dumps/segments.json``) and links the segments whose lines did not change:
# only the changed ones are written anew, and the whole files copied from them.

#: The folder of a build holding the segments.
SEGMENTS = "dumps"
#: Where each segment starts (its first subject), its digest and its number of lines.
SEGMENTS_FILE = "segments.json"
#: About how many lines a segment has when a build cuts anew (a segment ends at a subject).
SEGMENT_LINES = 1 << 13


class Segment(NamedTuple):
    """A run of the sorted N-Triples lines, cut where a subject begins."""

    start: str  #: its first subject, as the lines write it
    digest: str  #: what names its files: the SHA-256 of its bytes, cut to 32 digits
    lines: int | None  #: how many lines; None: one an earlier build made (:func:`update_dumps`)
    data: bytes  #: its lines, UTF-8: what each format is made of


def _segment(lines: list[bytes]) -> Segment:
    data = b"".join(lines)
    return Segment(_subject(lines[0]).decode("utf-8"), hashlib.sha256(data).hexdigest()[:32],
                   len(lines), data)


def _subject(line: bytes) -> bytes:
    """A line's subject as the line writes it, with the space after it."""
    return line[:line.index(b" ") + 1]


#: Bytes of ``tipgraph.nt`` :func:`segments` reads at a time, as lines.
READ_BYTES = 1 << 22


def segments(target: Path, previous: Path | None = None) -> Iterator[Segment]:
    """The segments of ``target/tipgraph.nt``, cut where ``previous`` cut its own
    (``previous/dumps/segments.json``), else where a subject begins once a segment has
    :data:`SEGMENT_LINES` lines.

    The lines are bytes, read many at a time: a cut is looked for where one may be, not
    at every line (the sorted lines compare as their text does: UTF-8 keeps code point
    order).
    """
    starts = [start.encode("utf-8") for start in _starts(previous) or ()] or None
    with (target / NTRIPLES).open("rb") as nt:
        lines: list[bytes] = []
        ended = False
        while not ended:
            more = nt.readlines(READ_BYTES)
            ended = not more
            lines += more
            taken = 0  # lines[:taken] are cut into segments
            while True:
                cut = _cut(lines, taken, starts, ended)
                if cut is None:
                    break
                yield _segment(lines[taken:cut])
                taken = cut
            del lines[:taken]


def _cut(lines: list[bytes], taken: int, starts: list[bytes] | None, ended: bool) -> int | None:
    """Where the segment beginning at ``lines[taken]`` ends (the index of the line after
    it); None: not within ``lines`` (``ended``: no line follows them)."""
    if taken >= len(lines):
        return None
    if starts is None:
        cut = taken + SEGMENT_LINES
        if cut >= len(lines):
            return len(lines) if ended else None
        subject = _subject(lines[cut - 1])
        while cut < len(lines) and lines[cut].startswith(subject):
            cut += 1
    else:  # before the first line at or after the next start: a line of its own subject
        index = bisect.bisect_right(starts, _subject(lines[taken]))
        if index == len(starts):
            return len(lines) if ended else None
        cut = bisect.bisect_left(lines, starts[index], taken)
    if cut == len(lines) and not ended:
        return None  # the subject's lines may go on in what is read next
    return cut


def _listing(build: Path | None) -> list[tuple[str, str, int]] | None:
    """``build``'s segments: (where each starts, its digest, its number of lines)."""
    if build is None:
        return None
    try:
        listed = json.loads((build / SEGMENTS / SEGMENTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [(start, digest, count) for start, digest, count in listed] or None


def listed_lines(build: Path) -> int | None:
    """How many lines ``build``'s ``tipgraph.nt`` has, from its segments' listing (None:
    it has none)."""
    listed = _listing(build)
    return None if listed is None else sum(count for _, _, count in listed)


def _starts(previous: Path | None) -> list[str] | None:
    listed = _listing(previous)
    return [start for start, _, _ in listed][1:] or None if listed else None


def _segmented(target: Path, previous: Path | None,
               formats: dict[str, Callable[[bytes], bytes]], *, listing: bool = False,
               cut: Iterable[Segment] | None = None) -> dict[str, list[Path]]:
    """Each segment's file in each of ``formats`` (suffix -> what makes it from the
    segment's bytes), made or linked from ``previous``'s; by suffix, their paths in order.
    With ``listing``, where the segments start is written for the next build.

    :param cut: the segments, when not :func:`segments`; one without lines is one
        ``previous`` has (its number of lines in the listing is then ``previous``'s)
    """
    folder = target / SEGMENTS
    folder.mkdir(exist_ok=True)
    before = previous / SEGMENTS if previous is not None else None
    made: dict[str, list[Path]] = {name: [] for name in formats}
    listed = []
    counts = {digest: count for _, digest, count in _listing(previous) or ()}
    for start, digest, lines, data in cut if cut is not None else segments(target, previous):
        listed.append((start, digest, counts[digest] if lines is None else lines))
        for name, make in formats.items():
            path = folder / f"{digest}.{name}"
            made[name].append(path)
            if path.exists() or (before is not None and _linked(before / path.name, path)):
                continue
            if lines is None:
                raise FileNotFoundError(f"segment {path.name} of build {previous} is gone")
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            partial.write_bytes(make(data))
            os.replace(partial, path)
    if listing:
        (folder / SEGMENTS_FILE).write_text(json.dumps(listed, ensure_ascii=False),
                                            encoding="utf-8")
    return made


def _linked(source: Path, path: Path) -> bool:
    try:
        os.link(source, path)
    except OSError:
        return False
    return True


def _joined(parts: list[Path], out: Path, head: bytes = b"", between: bytes = b"",
            tail: bytes = b"") -> None:
    with out.open("wb") as whole:
        whole.write(head)
        for n, part in enumerate(parts):
            if n and between:
                whole.write(between)
            with part.open("rb") as piece:
                _copy(piece, whole)
        whole.write(tail)


def _copy(source: BinaryIO, out: BinaryIO) -> None:
    """All of ``source`` to ``out``, in the kernel where it can (no bytes through Python)."""
    copy_span(source, out, source.tell(), None)


def copy_span(source: BinaryIO, out: BinaryIO, start: int, count: int | None) -> None:
    """``count`` bytes of ``source`` from ``start`` (None: all the rest) appended to ``out``,
    in the kernel where it can (no bytes through Python)."""
    out.flush()
    left = (1 << 62) if count is None else count
    try:
        while left > 0:
            done = os.copy_file_range(source.fileno(), out.fileno(), min(left, 1 << 30),
                                      start)
            if not done:
                break
            start += done
            left -= done
    except (AttributeError, OSError):
        source.seek(start)
        while left > 0 and (block := source.read(min(left, 1 << 20))):
            out.write(block)
            left -= len(block)
        return
    out.seek(0, os.SEEK_END)


def _quads(data: bytes) -> Iterator[pyoxigraph.Quad]:
    # lenient: ``tipgraph.nt`` is N-Triples we wrote (the build checked each IRI it minted,
    # tipgraph.mapping.iri; a remote store's graph is written by pyoxigraph's serializer):
    # the checks would be half the parse (0.43 -> 0.20 CPU s per 100 MB), and give the
    # same Turtle and JSON-LD (every segment of the 100,000-publication graph compared)
    return pyoxigraph.parse(input=data, format=pyoxigraph.RdfFormat.N_TRIPLES, lenient=True)


def _turtle(data: bytes) -> bytes:
    return pyoxigraph.serialize(_quads(data), format=pyoxigraph.RdfFormat.TURTLE,
                                prefixes=jsonld_context())


def _jsonld(data: bytes) -> bytes:
    expanded = pyoxigraph.serialize(_quads(data), format=pyoxigraph.RdfFormat.JSON_LD)
    return node_objects(expanded, jsonld_context())


def _gzip(data: bytes) -> bytes:
    # zlib-ng: a gzip member as small as zlib's at the same level, in half its time
    return gzip_ng.compress(data, compresslevel=6, mtime=0)


def _join_turtle_and_gzip(target: Path, made: dict[str, list[Path]]) -> None:
    _joined(made["ttl"], target / "tipgraph.ttl")
    _joined(made["nt.gz"], target / "tipgraph.nt.gz")


def _join_jsonld(target: Path, made: dict[str, list[Path]]) -> None:
    _joined([p for p in made["jsonld"] if p.stat().st_size], target / "tipgraph.jsonld",
            head=document_head(jsonld_context()), between=b",", tail=b"]}")


def write_turtle_and_gzip(target: Path, previous: Path | None = None) -> None:
    _join_turtle_and_gzip(target, _segmented(target, previous,
                                             {"ttl": _turtle, "nt.gz": _gzip}))


def write_jsonld(target: Path, previous: Path | None = None) -> None:
    _join_jsonld(target, _segmented(target, previous, {"jsonld": _jsonld}, listing=True))


def update_dumps(target: Path, previous: Path, removed: Iterable[str],
                 added: Iterable[str]) -> None:
    """The dumps of ``target``, whose ``tipgraph.nt`` is ``previous``'s without the lines
    ``removed`` and with those ``added`` (both sorted), made from ``previous``'s segments:
    a segment no changed line falls in is linked, a changed one made again from its lines
    there (its ``.nt.gz``) and the changes; ``tipgraph.nt`` itself is not read. What
    :func:`write_dumps` makes of ``target`` after ``previous`` (the same cuts, the same
    segments), in time for the changes rather than the graph.
    """
    listed = _listing(previous)
    if listed is None:
        write_dumps(target, previous)
        return
    starts = [start for start, _, _ in listed][1:]
    changes: dict[int, tuple[list[str], list[str]]] = {}
    for n, lines in enumerate((removed, added)):
        for line in lines:
            index = bisect.bisect_right(starts, line[:line.index(" ") + 1])
            changes.setdefault(index, ([], []))[n].append(line)

    def cut() -> Iterator[Segment]:
        for index, (start, digest, _) in enumerate(listed):
            change = changes.get(index)
            if change is None:
                yield Segment(start, digest, None, b"")
                continue
            gone = set(change[0])
            with gzip.open(previous / SEGMENTS / f"{digest}.nt.gz", "rt", encoding="utf-8",
                           newline="\n") as segment:
                lines = list(heapq.merge((line for line in segment if line not in gone),
                                         change[1]))
            if lines:
                yield _segment([line.encode("utf-8") for line in lines])

    made = _segmented(target, previous, {"ttl": _turtle, "jsonld": _jsonld, "nt.gz": _gzip},
                      listing=True, cut=cut())
    _join_turtle_and_gzip(target, made)
    _join_jsonld(target, made)


#: The dumps made from ``tipgraph.nt``, in jobs of about equal cost (in a build of 100,000
#: publications: Turtle and gzip 5.8-6.2 CPU s, JSON-LD 6.5-6.6): the build runs each in its
#: own process once ``tipgraph.nt`` is written (``job(target, previous)``), and waits for
#: the longer last.
DUMP_JOBS: tuple[Callable[..., None], ...] = (write_turtle_and_gzip, write_jsonld)

