"""What the build writes for OAI-PMH: each publication's content hash and sets.

``builds/<id>/oai-records.json`` (:data:`RECORDS_FILE`) holds, for every publication of
the build, the hash of its content (two builds with the same hash publish the same
record) and the sets it belongs to (``category:<key>``, ``region:<key>``,
``country:<key>``), with the names of the sets. A switch reads it to move datestamps
(:mod:`tipgraph.oai.datestamps`); the web workers read it to list records.

The sets are those the browse page facets by (:mod:`tipgraph.web.catalogue`): a
publication is in the region of each of its countries, as ``dct:spatial`` says after
reasoning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The file a build writes beside its store.
RECORDS_FILE = "oai-records.json"
#: What the file holds and in which version (bump it when its shape changes).
FORMAT = "tipgraph oai records 1"

#: Catalogue facet -> the top-level set its values are sets under.
SET_FACETS = {"category": "Categories", "region": "Regions", "country": "Countries"}
#: What a setSpec's parts may hold (OAI-PMH 2.0, setSpecType).
_SPEC_PART = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")


@dataclass
class BuildRecords:
    """The publications of one build as OAI-PMH sees them."""

    #: publication URI -> (content hash, setSpecs)
    records: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    #: setSpec -> set name
    sets: dict[str, str] = field(default_factory=dict)


def publication_hashes(publications: Iterable[Any],
                       uri_of: Mapping[tuple[str, int], str]) -> dict[str, str]:
    """Publication URI -> a digest of what its record says (never its file or line).

    :param publications: reconciled publications (dataclasses)
    :param uri_of: (source file, line) -> the URI the mapping minted for that record
    """
    hashes = {}
    for publication in publications:
        uri = uri_of.get((publication.source, publication.line))
        if uri is None:
            continue
        own = getattr(publication, "content_hash", None)  # the reader's, where it has one
        hashes[uri] = own if isinstance(own, str) and own else _digest(publication)
    return hashes


def _digest(publication: Any) -> str:
    fields = dict(vars(publication))
    fields.pop("source", None)
    fields.pop("line", None)
    text = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=_plain)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _plain(value: Any) -> Any:
    """A nested value (an agent, a volume) as JSON can write it: its fields."""
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return str(value)


def set_spec(facet: str, key: str) -> str | None:
    """The setSpec of a facet value, or None when the key cannot be one.

    >>> set_spec("country", "ng"), set_spec("region", "a b")
    ('country:ng', None)
    """
    return f"{facet}:{key}" if _SPEC_PART.fullmatch(key) else None


def build_records(catalogue: Any, hashes: Mapping[str, str]) -> BuildRecords:
    """The records of a build from its browse index (:class:`~tipgraph.web.catalogue.
    Catalogue`) and its content hashes; a publication without a hash (none given) gets
    the digest of its URI, so that it is still listed."""
    specs: list[list[str]] = [[] for _ in catalogue.uris]
    sets = dict(SET_FACETS)
    for facet in SET_FACETS:
        for key, bits in catalogue.postings.get(facet, {}).items():
            spec = set_spec(facet, key)
            if spec is None or not bits:
                continue
            sets[spec] = catalogue.labels[facet].get(key, key)
            for position in _positions(bits):
                specs[position].append(spec)
    records = {uri: (hashes.get(uri) or hashlib.sha256(uri.encode()).hexdigest(),
                     tuple(sorted(found)))
               for uri, found in zip(catalogue.uris, specs, strict=True)}
    return BuildRecords(records, dict(sorted(sets.items())))


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


def write_records(records: BuildRecords, path: Path) -> None:
    """Write ``records`` to ``path`` whole or not at all."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    payload = {"format": FORMAT, "sets": records.sets,
               "records": {uri: [h, list(s)] for uri, (h, s) in records.records.items()}}
    try:
        partial.write_text(json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                           encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def read_records(path: Path) -> BuildRecords | None:
    """The records a build wrote, or None for a build without them (or of another format)."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        return None
    return BuildRecords({uri: (h, tuple(s)) for uri, (h, s) in payload["records"].items()},
                        payload["sets"])
