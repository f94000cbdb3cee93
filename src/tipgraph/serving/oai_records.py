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
from collections.abc import Mapping

from tipgraph.datestamps import BuildRecords
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
