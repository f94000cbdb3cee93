"""The read model of OAI-PMH: one build's records, by datestamp and by set, and what
each record says.

Made once per build and per datestamp state (:func:`repository_of`): every record ever
published (the deleted ones too, ``deletedRecord`` is persistent), sorted by (datestamp,
identifier), with the positions of each set's records in that order, from the records
the build wrote (:func:`tipgraph.datestamps.read_records`) and the datestamps beside the
ledger (:mod:`tipgraph.datestamps`). A selection (``from``, ``until``, ``set``,
and where the last page ended) is then a few binary searches, whatever the catalogue's
size; paging resumes *after a key*, not at an offset, so a list stays right when a build
switches between two of its pages.

What a record says (:class:`Metadata`) is read from the build's store through the
documents the resource pages show (:func:`read_metadata`), so labels are the pages'
labels; the formats harvesters ask for are written from it by
:mod:`tipgraph.web.oai_formats`.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from pyoxigraph import Literal, NamedNode

from tipgraph.datestamps import (
    BuildRecords,
    Datestamps,
    State,
    read_records,
    served_state,
    switch_time,
)
from tipgraph.namespaces import DCT, PROV, RDF, SCHEMA, TIP
from tipgraph.serving.documents import Document, describe, label_of
from tipgraph.serving.oai_records import SET_FACETS
from tipgraph.serving.service import Build

#: The kind step of a publication's URI under the base (``publication/{slug}``).
PUBLICATION_PATH = "publication/"
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")


def default_repository_id(base: str) -> str:
    """The repository identifier derived from the base URI: its host, preceded by the
    steps of its path, last first, so that two datasets under one host (w3id.org) differ.
    Each part is made a domain-name label (oai-identifier scheme).

    >>> default_repository_id("https://w3id.org/tipgraph/")
    'tipgraph.w3id.org'
    >>> default_repository_id("http://example.org/")
    'example.org'
    """
    parts = urlsplit(base)
    labels = [step for step in reversed(parts.path.split("/")) if step]
    labels += (parts.hostname or "localhost").split(".")
    fixed = []
    for label in labels:
        label = re.sub(r"[^A-Za-z0-9\-]", "-", label).strip("-") or "x"
        fixed.append(label if _LABEL.fullmatch(label) else "x" + label)
    if len(fixed) == 1:
        fixed.append("local")
    return ".".join(fixed)


class Entry(NamedTuple):
    """One record's header; entries sort by (datestamp, identifier), their key."""

    datestamp: int  # seconds since the epoch, UTC
    identifier: str
    deleted: bool
    sets: tuple[str, ...]


@dataclass
class Selection:
    """The entries a list request selects, from a position on."""

    entries: list[Entry]
    remaining: int  # entries selected from here on, this page included


@dataclass
class Repository:
    """The records of one build, every record ever published."""

    repository_id: str
    base: str
    build_id: str
    entries: list[Entry]
    sets: dict[str, str]
    #: setSpec -> positions (in ``entries``) of the records in it or in a set under it
    members: dict[str, list[int]] = field(default_factory=dict)
    #: the earliest datestamp a record has (or the build's switch time when none)
    earliest: int = 0
    #: the time of the last switch: no record has a later datestamp, and every record a
    #: later switch changes will (see :func:`~tipgraph.datestamps.switch_second`)
    switched_at: int = 0
    _keys: list[tuple[int, str]] = field(default_factory=list)
    _by_identifier: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.entries.sort()
        self._keys = [(e[0], e[1]) for e in self.entries]
        self._by_identifier = {e.identifier: i for i, e in enumerate(self.entries)}
        members: dict[str, list[int]] = {}
        for position, entry in enumerate(self.entries):
            for spec in entry.sets:
                members.setdefault(spec, []).append(position)
                parent = spec.split(":", 1)[0]
                if parent != spec:
                    found = members.setdefault(parent, [])
                    if not found or found[-1] != position:
                        found.append(position)
        self.members = members
        if self.entries:
            self.earliest = min(self.earliest or self._keys[0][0], self._keys[0][0])

    @property
    def prefix(self) -> str:
        return f"oai:{self.repository_id}:"

    def identifier(self, uri: str) -> str | None:
        """The OAI identifier of a publication URI (None for another URI)."""
        root = self.base + PUBLICATION_PATH
        return self.prefix + uri[len(root):] if uri.startswith(root) else None

    def uri(self, entry: Entry) -> str:
        """The publication URI of ``entry`` (entries do not keep it: 100,000 of them are
        held by every worker)."""
        return self.base + PUBLICATION_PATH + entry.identifier[len(self.prefix):]

    def entry(self, identifier: str) -> Entry | None:
        """The record ``identifier`` names, deleted or not; None when it never existed."""
        position = self._by_identifier.get(identifier)
        return None if position is None else self.entries[position]

    def select(self, *, start: int | None = None, until: int | None = None,
               set_spec: str | None = None, after: tuple[int, str] | None = None,
               count: int) -> Selection:
        """Up to ``count`` entries with ``start <= datestamp <= until`` in ``set_spec``,
        following the key ``after`` (where the page before ended), and how many remain."""
        low = 0 if start is None else bisect_left(self._keys, (start, ""))
        if after is not None:
            low = max(low, bisect_right(self._keys, after))
        high = len(self._keys) if until is None else bisect_left(self._keys, (until + 1, ""))
        if high <= low:
            return Selection([], 0)
        if set_spec is None:
            return Selection(self.entries[low:min(high, low + count)], high - low)
        positions: Sequence[int] = self.members.get(set_spec, [])
        first, last = bisect_left(positions, low), bisect_left(positions, high)
        chosen = [self.entries[p] for p in positions[first:min(last, first + count)]]
        return Selection(chosen, last - first)


def repository_from(state: State, records: BuildRecords, *, repository_id: str, base: str,
                    build_id: str) -> Repository:
    """The repository a build's records and their datestamps make."""
    root = base + PUBLICATION_PATH
    entries = []
    for uri, stamp in state.stamps.items():
        if not uri.startswith(root):
            continue
        live = uri in records.records
        if stamp.deleted == live:  # the state is not this build's: trust the build
            continue
        entries.append(Entry(stamp.datestamp, f"oai:{repository_id}:{uri[len(root):]}",
                             stamp.deleted, stamp.sets))
    sets = dict(records.sets)
    for entry in entries:  # a deleted record's sets may be gone from the build
        for spec in entry.sets:
            sets.setdefault(spec, spec.split(":", 1)[1])
    for facet, name in SET_FACETS.items():
        sets.setdefault(facet, name)
    return Repository(repository_id, base, build_id, entries, dict(sorted(sets.items())),
                      earliest=state.switched_at or 0, switched_at=state.switched_at or 0)


def load_repository(root: Path, build: Build, *, repository_id: str) -> Repository | None:
    """The repository of the build directory ``root`` serving ``build``; None for a build
    without OAI records (made before this version, or a remote store's)."""
    records = read_records(build.path)
    if records is None:
        return None
    state = Datestamps(root).state()
    if state.build_id != build.id:
        state = served_state(state, build.id, records, switch_time(root, build.id))
    return repository_from(state, records, repository_id=repository_id, base=build.base,
                           build_id=build.id)


def repository_id(settings: Mapping[str, Any]) -> str:
    """The repository identifier of the OAI identifiers: the setting, else derived from
    the base URI (never from the request's host, so identifiers never change)."""
    return settings.get("oai_repository_id") or default_repository_id(settings["base_uri"])


class _Latest:
    """The repository of one build for the datestamps' latest state (made again when a
    switch is written: the read side served the state it would write until then)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: object = None
        self.value: Repository | None = None

    def get(self, key: object, make: Callable[[], Repository | None]) -> Repository | None:
        if key != self.key:
            with self.lock:
                if key != self.key:
                    self.value = make()
                    self.key = key
        return self.value


def repository_of(build: Build) -> Repository | None:
    """The OAI-PMH repository of ``build`` (the build in service), as the datestamps
    written so far date it; None for a build without OAI records."""
    root = Path(build.settings["build_dir"])
    latest: _Latest = build.model("oai", _Latest)
    return latest.get(Datestamps(root).version(), lambda: load_repository(
        root, build, repository_id=repository_id(build.settings)))


# -- what a record says ----------------------------------------------------------------------

@dataclass
class Metadata:
    """What a publication's record says, as text."""

    uri: str
    title: str | None = None
    abstract: str | None = None
    year: str | None = None
    #: (name, "Personal" or "Organizational")
    creators: list[tuple[str, str]] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    citation: str | None = None
    #: the publication's page at its source (schema:url), when known
    page: str | None = None
    part_of: str | None = None


def _node(term: object) -> NamedNode:
    return NamedNode(str(term))


def _text(doc: Document, node: NamedNode, prop: object) -> str | None:
    texts = sorted(v.value for v in doc.objects(node, _node(prop)) if isinstance(v, Literal))
    return texts[0] if texts else None


def _labels(doc: Document, node: NamedNode, prop: object) -> list[str]:
    found = [label_of(doc, v) or v.value for v in doc.objects(node, _node(prop))
             if isinstance(v, NamedNode)]
    return sorted(set(found))


def read_metadata(build: Build, uri: str) -> Metadata:
    """The metadata of the publication ``uri`` as ``build``'s store holds it."""
    base = build.base
    doc = describe(build.store, uri, base=base, labels=build.labels, linking=build.linking,
                   limit=1)
    node = NamedNode(uri)
    creators = []
    for agent in doc.objects(node, _node(DCT.creator)):
        if not isinstance(agent, NamedNode):
            continue
        kinds = {t.value for t in doc.objects(agent, _node(RDF.type))}
        personal = str(SCHEMA.Person) in kinds or "/person/" in agent.value
        creators.append((label_of(doc, agent) or agent.value,
                         "Personal" if personal else "Organizational"))
    places = _labels(doc, node, TIP.statedCountry) + _labels(doc, node, TIP.statedRegion)
    pages = sorted(v.value for v in doc.objects(node, _node(SCHEMA.url))
                   if isinstance(v, NamedNode))
    derived = sorted(v.value for v in doc.objects(node, _node(PROV.wasDerivedFrom))
                     if isinstance(v, NamedNode) and v.value.startswith(("http://", "https://"))
                     and not v.value.startswith(base))
    volumes = [v for v in doc.objects(node, _node(DCT.isPartOf)) if isinstance(v, NamedNode)]
    return Metadata(
        uri=uri, title=_text(doc, node, DCT.title), abstract=_text(doc, node, DCT.abstract),
        year=_text(doc, node, DCT.issued), creators=sorted(set(creators)),
        subjects=_labels(doc, node, DCT.subject), places=list(dict.fromkeys(places)),
        citation=_text(doc, node, DCT.bibliographicCitation),
        page=(pages or derived or [None])[0],
        part_of=label_of(doc, volumes[0]) if volumes else None)
