"""What the build writes for OAI-PMH, made from its browse index: each publication's
content hash and sets (:class:`~tipgraph.datestamps.BuildRecords`).

The content hash is the record's (:func:`tipgraph.identity.content_hash`: two builds with
the same hash publish the same record), which the build knows from reconciling; the
sets (``category:<key>``, ``region:<key>``, ``country:<key>``) and their names are those
the browse page facets by (:mod:`tipgraph.serving.catalogue`): a publication is in the
region of each of its countries, as ``dct:spatial`` says after reasoning. The build's
build writes them (:data:`~tipgraph.datestamps.RECORDS_FILE`) with the indexes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from tipgraph.datestamps import (
    BuildRecords,
    record_line,
    record_lines,
    write_record_lines,
    write_records,
)
from tipgraph.serving.catalogue import Catalogue

#: Catalogue facet -> the top-level set its values are sets under.
SET_FACETS = {"category": "Categories", "region": "Regions", "country": "Countries"}
#: What a setSpec's parts may hold (OAI-PMH 2.0, setSpecType).
_SPEC_PART = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")


def set_spec(facet: str, key: str) -> str | None:
    """The setSpec of a facet value, or None when the key cannot be one.

    >>> set_spec("country", "ng"), set_spec("region", "a b")
    ('country:ng', None)
    """
    return f"{facet}:{key}" if _SPEC_PART.fullmatch(key) else None


def build_records(catalogue: Catalogue, hashes: Mapping[str, str]) -> BuildRecords:
    """The records of a build from its browse index and its content hashes; a
    publication without a hash (none given) gets the digest of its URI, so that it is
    still listed."""
    specs: list[list[str]] = [[] for _ in catalogue.uris]
    for spec, bits in _set_bits(catalogue):
        for position in _positions(bits):
            specs[position].append(spec)
    records = {uri: (_hash(uri, hashes), tuple(sorted(found)))
               for uri, found in zip(catalogue.uris, specs, strict=True)}
    return BuildRecords(records, _set_names(catalogue))


#: The most records :func:`write_build_records` makes again rather than all of them
REMADE_AT_MOST = 1_000


def write_build_records(catalogue: Catalogue, hashes: Mapping[str, str], path: Path,
                        previous: Path | None = None, rehashed: Iterable[str] = ()) -> None:
    """Write the records of a build (:func:`build_records`) to ``path``
    (:func:`~tipgraph.datestamps.write_records`).

    :param previous: the file of the build an incremental build's ``catalogue`` was
        updated from (:attr:`~tipgraph.serving.catalogue.Catalogue.moved`): the lines of
        the entries it kept are copied from it, only those of its new entries and of the
        publications ``rehashed`` (whose record changed) are made
    """
    moved = catalogue.moved
    rehashed = set(rehashed)
    lines = record_lines(previous) if previous is not None and moved is not None \
        and len(moved.placed) + len(rehashed) <= REMADE_AT_MOST else None
    if lines is None or moved is None or len(lines) != moved.size:
        write_records(build_records(catalogue, hashes), path)
        return
    uris = catalogue.uris
    kept: list[bytes] = [b""] * len(uris)
    for start, count, to in moved.runs:
        kept[to:to + count] = lines[start:start + count]
    del lines
    remade = set(moved.placed)
    remade.update(position for uri in rehashed if (position := _find(uris, uri)) is not None)
    specs: dict[int, list[str]] = {position: [] for position in remade}
    for spec, bits in _set_bits(catalogue):
        for position, found in specs.items():
            if bits >> position & 1:
                found.append(spec)
    for position, found in specs.items():
        uri = uris[position]
        kept[position] = record_line(uri, _hash(uri, hashes), sorted(found)).encode(
            "utf-8", "surrogatepass")
    write_record_lines(path, _set_names(catalogue), kept)


def _find(uris: Sequence[str], uri: str) -> int | None:
    try:
        return uris.index(uri)
    except ValueError:
        return None


def _hash(uri: str, hashes: Mapping[str, str]) -> str:
    return hashes.get(uri) or hashlib.sha256(uri.encode()).hexdigest()


def _set_bits(catalogue: Catalogue) -> Iterator[tuple[str, int]]:
    """Each set (setSpec) and the bitmap of the positions of the publications in it."""
    for facet in SET_FACETS:
        for key, bits in catalogue.postings.get(facet, {}).items():
            spec = set_spec(facet, key)
            if spec is not None and bits:
                yield spec, bits


def _set_names(catalogue: Catalogue) -> dict[str, str]:
    """setSpec -> the set's name, sorted."""
    sets = dict(SET_FACETS)
    for facet in SET_FACETS:
        for key, bits in catalogue.postings.get(facet, {}).items():
            spec = set_spec(facet, key)
            if spec is not None and bits:
                sets[spec] = catalogue.labels[facet].get(key, key)
    return dict(sorted(sets.items()))


def _positions(bits: int) -> list[int]:
    """The positions of the set bits of ``bits``, lowest first.

    >>> _positions(0b1010_0001)
    [0, 5, 7]
    """
    found = []
    data = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
    for index, byte in enumerate(data):
        while byte:
            low = byte & -byte
            found.append(index * 8 + low.bit_length() - 1)
            byte ^= low
    return found
