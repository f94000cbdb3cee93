"""Incremental builds: a new build made from the build in service when only some records
changed.

Every build keeps, beside its store, what the next one needs to tell what changed
(:data:`STATE_FILE`): each record read, by its key (file, line, content hash:
:func:`tipgraph.identity.content_hash`), with what reconciling it gave (the publication,
its repairs and warnings, its identity), and the slug of each publication built
(:class:`StateWriter`: a full build writes it as it reconciles and plans its records, a
part at a time, rather than reading its sources again; an incremental build links the
state in service and appends what changed to a copy of the changes kept beside it,
:data:`CHANGES_FILE`, :meth:`StateWriter.changed`), and what
each line of a JSON Lines source gave (its digest, whether it gave a record, its problems:
:class:`tipgraph.sources.SourceStream`). Each publication is kept pickled apart
(:class:`Kept`): an incremental build unpickles only those it maps again. The next build
reads the sources, parsing and checking only the lines whose digest changed (a line as it
was is :class:`~tipgraph.sources.Known`: the record the state holds at its place),
reconciles only the records whose key is new, and works out which lines of N-Triples
the graph loses and gains:

- a publication's own lines (its URI's and its source record's) are its alone;
- a line about a node several publications name (a place, a person, an organisation, a
  volume, a category) stays while one publication left unchanged still makes it: the
  publications naming the node in the store in service are asked, one at a time, until
  one makes it (reference counting, asked of the graph rather than kept beside it);
- an agent's name and labels are those of the last publication naming it (the
  :class:`tipgraph.mapping.MappingPlan` of the catalogue, as in a full build), so they
  are made apart, from that one; only the agents the changed publications name are
  looked at, unless the publications left unchanged changed order.

What one publication makes is what a full build's parts make of it alone
(:func:`tipgraph.mapping.map_publications` and :func:`tipgraph.reasoning.closure`, as
:mod:`tipgraph.parts`): the ontology's rules take one triple, or (the one property
chain) a publication's country and that country's region, which the publication's own
mapping holds. The test
``tests/test_incremental.py`` holds the result to a full build of the same sources.

The new build starts from a copy of the store in service (a RocksDB checkpoint: its
files linked, not copied) and removes and adds the lines that changed, the statistics'
among them; the N-Triples dump is the old one merged with the changes
(:func:`merge_file`). The statistics, the dataset's counts and the web indexes are the
previous build's updated from the lines changed (:class:`GraphChange`,
:func:`update_statistics`, :meth:`~tipgraph.serving.indexes.LineCounts.updated`,
:func:`~tipgraph.serving.indexes.update_indexes`), each equal to what a full build
makes of the whole graph. Validation checks again only the focus nodes the changed lines
may touch, keeping the others' results (:func:`tipgraph.validation.revalidate_store`);
the other dumps are made from the previous build's segments and the changed lines
(:func:`tipgraph.dumps.update_dumps`). The OAI-PMH records are still made from the whole
catalogue (see ``benchmarks/RESULTS.md``). A build whose ontology, shapes, reference
data, base or tipgraph version differ from the one in service is a full one, as is
``--full``.
"""

from __future__ import annotations

import bisect
import functools
import gc
import hashlib
import heapq
import itertools
import os
import pickle
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO

import pyoxigraph
from rdflib import BNode, Literal, URIRef

from tipgraph import __version__
from tipgraph.build_dir import (
    INDEX_FILE,
    BuildDir,
    read_uris,
    report_entries,
    write_published,
)
from tipgraph.dumps import NTRIPLES, copy_span, listed_lines, update_dumps
from tipgraph.errors import BuildFailed, Problem
from tipgraph.graphs import Triple, ntriples_lines
from tipgraph.identity import Duplicate, content_hash
from tipgraph.mapping import (
    Mapped,
    MappingPlan,
    Triples,
    map_agents,
    map_publications,
    named_agents,
)
from tipgraph.namespaces import KINDS, ONTOLOGY_PATH, RDF, SHAPES_PATH, TIP
from tipgraph.reasoning import closure, compile_rules, load_ontology
from tipgraph.reconcile import Agent, Publication, Reconciling, reconcile_record, reconciled
from tipgraph.reconcile import Reconciled as ReconciledRecords
from tipgraph.reference import DATA_DIR, Reference
from tipgraph.serving.indexes import (
    BuildIndexes,
    DatasetIndex,
    IndexChange,
    LineCounts,
    PartsSource,
    make_indexes,
    read_indexes,
    updatable,
    update_indexes,
)
from tipgraph.sources import Known, LineSeen, Record, SourceStream
from tipgraph.statistics import FACETS as STATISTIC_FACETS
from tipgraph.statistics import TALLY_FILE, Tally, previous_keys
from tipgraph.validation import ValidationReport, report_of, revalidate_store

if TYPE_CHECKING:
    from rdflib import Graph

    from tipgraph.progress import Display

Progress = Callable[[str], None]

#: The file of a build that the next build reads to tell what changed.
STATE_FILE = "incremental.pickle"
#: Beside it, what the incremental builds since it was written whole changed: the state is
#: the two read one after the other. An incremental build links the state file of the build
#: it starts from (hundreds of MB at 100,000 records, not copied) and writes this one, a
#: copy of that build's with its own changes appended.
CHANGES_FILE = STATE_FILE + ".changes"
STATE_FORMAT = "tipgraph incremental 4"
#: An incremental build appends what changed to a copy of the previous state, until the
#: changes appended reach this fraction of the records: it then writes the state whole.
COMPACT_AFTER = 0.25
#: ... or once this many incremental builds appended theirs (each appends every slug)
MAX_CHANGES = 4
#: Records an incremental build reconciles and maps anew, at most: this many, or this
#: fraction of the catalogue's records if that is more. Past it the build is a full one,
#: cheaper than remaking them one publication at a time: a record removed near the top of
#: a file gives every record below a new line, so a new ``tip:sourceLine`` (at 100,000,
#: 97,000 records remade one by one took longer than a full build).
REMAKE_AT_MOST = (2_000, 0.1)
#: What a publication's mapping depends on besides its record (a change: a full build).
REFERENCE_FILES = ("countries.csv", "country_aliases.toml", "organisations.toml",
                   "regions.toml")

Key = tuple[str, int, str]  # file, line, content hash
#: bytes of ``tipgraph.nt`` read at a time when an incremental build writes its own
MERGE_BLOCK = 1 << 22


class Kept:
    """A publication as the state keeps it: where its record is, its content hash and the
    agents it names at hand (what an incremental build reads of every publication left
    unchanged); the rest of it unpickled when first asked for (:meth:`whole`). Reading
    the state of 100,000 publications so takes a fifth of the time."""

    __slots__ = ("_blob", "_whole", "content_hash", "creators", "line", "part_of", "source")

    def __init__(self, source: str, line: int, content_hash: str, creators: list[Agent],
                 part_of: Any, blob: bytes) -> None:
        # interned, as key_of interns them: one string for both, written once
        self.source, self.line = sys.intern(source), line
        self.content_hash = sys.intern(content_hash)
        self.creators, self.part_of = creators, part_of
        self._blob: bytes = blob
        self._whole: Publication | None = None

    @classmethod
    def of(cls, publication: Publication | Kept) -> Kept:
        if type(publication) is Kept:
            return publication
        return cls(publication.source, publication.line, publication.content_hash,
                   publication.creators, publication.part_of,
                   pickle.dumps(publication, protocol=pickle.HIGHEST_PROTOCOL))

    def whole(self) -> Publication:
        if self._whole is None:
            self._whole = pickle.loads(self._blob)
        return self._whole

    def __getattr__(self, name: str) -> Any:  # any other field of the publication
        return getattr(self.whole(), name)

    def __reduce__(self) -> tuple[Any, ...]:
        return Kept, (self.source, self.line, self.content_hash, self.creators,
                      self.part_of, self._blob)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Kept | Publication) and whole(self) == whole(other)

    __hash__ = None  # type: ignore[assignment]


def whole(publication: Publication | Kept) -> Publication:
    """The publication itself, unpickled if the state kept it (:class:`Kept`)."""
    return publication.whole() if type(publication) is Kept else publication  # type: ignore


@dataclass
class Entry:
    """One record as reconciling it alone gave it."""

    publication: Publication | Kept
    problems: list[Problem]
    identity: str

    def __reduce__(self) -> tuple[Any, ...]:  # the publication kept as Kept
        return Entry, (Kept.of(self.publication), self.problems, self.identity)


@dataclass
class State:
    """What a build keeps for the next one (:data:`STATE_FILE`)."""

    fingerprint: str
    #: every record read (duplicates too), by key
    records: dict[Key, Entry]
    #: the publications built, in the order built: (key, slug)
    built: list[tuple[Key, str]]
    #: what each line of JSON Lines read gave (:class:`tipgraph.sources.SourceStream`)
    lines: dict[tuple[str, int], LineSeen] = field(default_factory=dict)
    #: records added or removed by the changes appended since the state was last whole
    appended: int = 0
    #: the incremental builds that appended their changes since
    changes: int = 0


def fingerprint(base: str, max_field_chars: int) -> str:
    """What every publication's triples depend on besides its record: when it differs from
    the build in service's, every publication is made again (a full build)."""
    digest = hashlib.sha256(f"{STATE_FORMAT}|{__version__}|{base}|{max_field_chars}".encode())
    for path in (ONTOLOGY_PATH, SHAPES_PATH, *(DATA_DIR / name for name in REFERENCE_FILES)):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_state(build: Path | None) -> State | None:
    """The state ``build`` kept, or None (no build, a build made before incremental builds,
    or a file of another format)."""
    if build is None:
        return None
    state = State("", {}, [])
    try:
        files = [build / STATE_FILE]
        if (build / CHANGES_FILE).is_file():
            files.append(build / CHANGES_FILE)
        for path in files:
            with path.open("rb") as file:
                if path.name == STATE_FILE:
                    head = pickle.load(file)
                    if not isinstance(head, tuple) or len(head) != 2 \
                            or head[0] != STATE_FORMAT:
                        return None
                    state.fingerprint = head[1]
                if not _read_parts(file, state):
                    return None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError,
            TypeError, KeyError, IndexError):
        return None
    return state


def _read_parts(file: BinaryIO, state: State) -> bool:
    """Read the parts of a state from ``file`` into ``state``; False: a part of another
    kind."""
    while True:
        try:
            kind, *part = pickle.load(file)
        except EOFError:
            return True
        if kind == "part":  # a part of a state written whole
            records, built = part
            state.records.update(records)
            state.built += built
        elif kind == "lines":  # what each line read gave, written whole
            state.lines.update(part[0])
        elif kind == "changes":  # what an incremental build changed
            removed, records, state.built, lines_removed, lines = part
            for key in removed:
                del state.records[key]
            state.records.update(records)
            for place in lines_removed:
                del state.lines[place]
            state.lines.update(lines)
            state.appended += len(removed) + len(records)
            state.changes += 1
        else:
            return False


def previous_shacl(build: Path) -> ValidationReport:
    """What validating ``build`` found (its report's ``shacl``, read alone: not the
    report's 100,000s of repairs)."""
    return report_of(report_entries(build / "report.json", ["shacl"])["shacl"])


def key_of(publication: Publication | Kept) -> Key:
    """The key of the record ``publication`` was reconciled from. Its strings are interned,
    as :class:`Kept` interns them: a publication unpickled on its own has copies of its own,
    which the state would write once per key instead of once."""
    assert publication.content_hash is not None
    return (sys.intern(publication.source), publication.line,
            sys.intern(publication.content_hash))


class StateWriter:
    """Writes the state of the build ``target`` (:data:`STATE_FILE`) as the build goes: it
    is told what each record gave (:meth:`record`, the ``each`` of
    :func:`tipgraph.reconcile.reconciled`) and each publication's slug (:meth:`built`), in
    catalogue order, and writes them a part at a time (:meth:`flush`), so that a build
    made in full never holds them all; the file is whole when :meth:`close` renames it,
    or not there at all.

    A build never fails for want of its state: when it cannot be written, the next build
    is a full one (:attr:`error` says why).
    """

    def __init__(self, target: Path, fingerprint: str, start: Path | None = None) -> None:
        """:param start: a state file of the same fingerprint to go on from: linked, and
            what is told written after a copy of the changes beside it
            (:data:`CHANGES_FILE`)"""
        self.target = target
        self.start = start
        self.partial = target / f".{STATE_FILE if start is None else CHANGES_FILE}.partial"
        self.records: list[tuple[Key, Entry]] = []
        self.slugs: list[tuple[Key, str]] = []
        #: what each line read gave (:meth:`lines_read`), written last
        self.lines: dict[tuple[str, int], LineSeen] = {}
        self.error: Exception | None = None
        self.file = None
        try:
            if start is None:
                self.file = self.partial.open("wb")
                self._dump((STATE_FORMAT, fingerprint))
            elif (changes := start.with_name(CHANGES_FILE)).is_file():
                shutil.copyfile(changes, self.partial)  # in the kernel (no bytes through Python)
                self.file = self.partial.open("ab")
            else:
                self.file = self.partial.open("wb")
        except Exception as error:  # the build goes on without it
            self._give_up(error)

    def record(self, publication: Publication | Kept, problems: list[Problem],
               identity: str) -> None:
        if self.file is not None:
            self.records.append((key_of(publication), Entry(publication, problems, identity)))

    def built(self, publication: Publication, slug: str) -> None:
        if self.file is not None:
            self.slugs.append((key_of(publication), slug))

    def lines_read(self, lines: dict[tuple[str, int], LineSeen]) -> None:
        """What each line of JSON Lines read gave (``read.lines`` of
        :class:`tipgraph.sources.SourceStream`)."""
        if self.file is not None:
            self.lines = lines

    @property
    def lines_file(self) -> Path:
        """Where another process writes what each line read gave (:func:`dump_lines`), for
        :meth:`lines_written`: a build's reading process, so that the build never holds
        it (a million lines: a few hundred MB of Python objects)."""
        return self.target / f".{STATE_FILE}.lines.partial"

    def lines_written(self) -> None:
        """Take what each line read gave as :func:`dump_lines` wrote it to
        :attr:`lines_file` (nothing there: nothing read): its bytes are written last, as
        :meth:`close` writes what :meth:`lines_read` was told."""
        try:
            if self.file is not None and self.lines_file.is_file():
                self.flush()
                self.lines = {}
                with self.lines_file.open("rb") as lines:
                    shutil.copyfileobj(lines, self.file)
        except Exception as error:
            self._give_up(error)
        finally:
            self.lines_file.unlink(missing_ok=True)

    @classmethod
    def changed(cls, target: Path, previous: Path, state: State,
                records: dict[Key, Entry], built: list[tuple[Key, str]],
                lines: dict[tuple[str, int], LineSeen]) -> StateWriter:
        """The state of ``target``, an incremental build from ``previous`` (whose state is
        ``state``): ``records`` are every record read, ``built`` the publications built.
        ``previous``'s file linked and its changes copied with what changed appended
        (:data:`CHANGES_FILE`), or the state written whole once the changes appended
        since it last was reach :data:`COMPACT_AFTER` or :data:`MAX_CHANGES`."""
        removed = [key for key in state.records if key not in records]
        added = [(key, entry) for key, entry in records.items() if key not in state.records]
        whole = state.changes >= MAX_CHANGES or \
            state.appended + len(removed) + len(added) > COMPACT_AFTER * len(records)
        writer = cls(target, state.fingerprint, None if whole else previous / STATE_FILE)
        if whole:
            writer.records, writer.slugs = list(records.items()), built
            writer.lines_read(lines)
        elif writer.file is not None:
            before = state.lines
            lines_removed = [place for place in before if place not in lines]
            lines_changed = {place: seen for place, seen in lines.items()
                             if before.get(place) is not seen}
            try:
                writer._dump(("changes", removed, added, built, lines_removed, lines_changed))
            except Exception as error:
                writer._give_up(error)
        return writer

    def flush(self) -> None:
        """Write what it was told since the last flush."""
        if self.file is not None and (self.records or self.slugs):
            try:
                self._dump(("part", self.records, self.slugs))
            except Exception as error:
                self._give_up(error)
        self.records, self.slugs = [], []

    def close(self, progress: Progress) -> None:
        """Write the rest and put the file in place; tell ``progress`` when it could not."""
        self.flush()
        if self.file is not None and self.lines:
            try:
                self._dump(("lines", self.lines))
            except Exception as error:
                self._give_up(error)
            self.lines = {}
        if self.file is not None:
            try:
                self.file.close()
                if self.start is None:
                    self.partial.replace(self.target / STATE_FILE)
                else:  # the changes, then the state file they follow: the state is whole
                    self.partial.replace(self.target / CHANGES_FILE)  # once that is there
                    linked = self.target / f".{STATE_FILE}.partial"
                    linked.unlink(missing_ok=True)
                    try:
                        os.link(self.start, linked)
                    except OSError:  # another file system
                        shutil.copyfile(self.start, linked)
                    linked.replace(self.target / STATE_FILE)
            except Exception as error:
                self._give_up(error)
            self.file = None
        if self.error is not None:
            progress(f"the state for an incremental build was not kept ({self.error}): the "
                     "next build is a full one")

    def discard(self) -> None:
        """Leave no state (the build failed)."""
        self._give_up(None)

    def _dump(self, value: object) -> None:
        assert self.file is not None
        _dump_entry(value, self.file)

    def _give_up(self, error: Exception | None) -> None:
        self.error = self.error or error
        if self.file is not None:
            self.file.close()
            self.file = None
        self.partial.unlink(missing_ok=True)
        self.lines_file.unlink(missing_ok=True)
        for name in (STATE_FILE, CHANGES_FILE, f".{STATE_FILE}.partial"):
            (self.target / name).unlink(missing_ok=True)


def _dump_entry(value: object, file: BinaryIO) -> None:
    """Write an entry of a state file (``("part", ...)``, ``("lines", ...)``, ...)."""
    pickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)


def dump_lines(lines: dict[tuple[str, int], LineSeen], path: Path) -> None:
    """Write the entry of a state file that says what each line read gave (``lines``) to
    ``path`` (:attr:`StateWriter.lines_file`), as :meth:`StateWriter.close` writes it;
    nothing when no line was read."""
    if lines:
        with path.open("wb") as file:
            _dump_entry(("lines", lines), file)


# -- reconciling: the records whose key is new only ---------------------------------------

class StaleState(Exception):
    """The state of the build in service does not hold what it says it read."""


@dataclass
class Reconciled:
    """What :func:`tipgraph.reconcile.reconcile_records` gives, and each record's entry."""

    publications: list[Publication]
    keys: list[Key]  # of the publications
    identities: list[str]  # of the publications
    problems: list[Problem]
    duplicates: list[Duplicate]
    records: dict[Key, Entry]
    reconciled: int  # records reconciled anew


def reconcile(records: Iterable[Record | Known], reference: Reference,
              known: dict[Key, Entry]) -> Reconciled:
    """Reconcile ``records`` (:func:`tipgraph.reconcile.reconciled`), taking the entry of
    a record whose key ``known`` has: what reconciling a record gives depends on nothing
    else (:func:`tipgraph.reconcile.reconcile_record`). A :class:`~tipgraph.sources.Known`
    record (its line unchanged) is the one ``known`` has at its place.

    :raises StaleState: a record :class:`~tipgraph.sources.Known` that ``known`` has not
    """
    result = Reconciled([], [], [], [], [], {}, 0)
    at: dict[tuple[str, int], Key] = {}
    if known:
        at = {key[:2]: key for key in known}  # type: ignore[misc]
    entries = result.records

    def one(record: Record | Known) -> Reconciling:
        if type(record) is Known:
            key = at.get((record.source, record.line))
            if key is None:
                raise StaleState(f"{record.source}, line {record.line}: read before, not kept")
            entry = known[key]
        else:
            assert isinstance(record, Record)
            entry = known.get((record.source, record.line, content_hash(record)))
        if entry is None:
            result.reconciled += 1
            return reconcile_record(record, reference)  # type: ignore[arg-type]
        entries[key_of(entry.publication)] = entry
        return entry.publication, entry.problems, entry.identity

    def each(publication: Publication, problems: list[Problem], identity: str) -> None:
        key = key_of(publication)
        if key not in entries:
            entries[key] = Entry(publication, problems, identity)

    found = ReconciledRecords()
    for publication in reconciled(records, reference, found, reconcile=one, each=each):
        key = key_of(publication)
        result.publications.append(publication)
        result.keys.append(key)
        result.identities.append(result.records[key].identity)
    result.problems, result.duplicates = found.problems, found.duplicates
    return result


# -- what changed in the graph ------------------------------------------------------------

class Contributions:
    """The N-Triples lines one publication makes, apart from the agents' names (which are
    the last naming publication's: :meth:`agent`) and from what every build has (the
    ontology and the category scheme): what the build's own mapping and reasoning
    (:func:`tipgraph.mapping.map_publications`, :func:`tipgraph.reasoning.closure` with
    the rules compiled once) make of that publication alone."""

    def __init__(self, reference: Reference, base: str, ontology: Graph) -> None:
        self.reference, self.ontology = reference, ontology
        self.rules = compile_rules(ontology)
        #: the plan a publication alone is mapped with (its slug set before)
        self.plan = MappingPlan(base, {})
        self.uri = self.plan.uri
        self.base = self.uri.base
        self.agent_prefixes = tuple(f"{self.base}{KINDS[kind]}/"
                                    for kind in ("person", "organisation"))
        self.common = self._lines(Triples())

    def _lines(self, triples: Iterable[Triple]) -> set[str]:
        return set(ntriples_lines(closure(triples, self.ontology, base=self.base,
                                          rules=self.rules)))

    def publication(self, publication: Publication | Kept, identity: str, slug: str
                    ) -> set[str]:
        self.plan.slugs[identity] = slug
        mapped = map_publications([whole(publication)], [identity], self.plan, self.reference,
                                  Mapped(Triples(), self.base), agents_described=False)
        prefixes = self.agent_prefixes
        triples = [t for t in mapped.triples if not str.startswith(t[0], prefixes)]
        return self._lines(triples) - self.common

    def agent(self, node: URIRef, agent: Agent) -> set[str]:
        plan = MappingPlan(self.base, {})
        plan.agents[agent.kind, agent.slug] = agent
        return self._lines(map_agents(plan, Mapped(Triples(), self.base)).triples) \
            - self.common

    def publication_uri(self, slug: str) -> URIRef:
        return self.uri("publication", slug)

    def own(self, line: str) -> bool:
        """Whether ``line`` is about a publication or its source record (no other
        publication makes it)."""
        return line.startswith((f"<{self.base}{KINDS['publication']}/", f"<{self.base}source/"))


def agent_winners(plan: MappingPlan) -> dict[URIRef, Agent]:
    """Each agent node -> the agent it is described as: the last publication's naming it
    among those ``plan`` was given (:class:`tipgraph.mapping.MappingPlan`)."""
    return {plan.uri(kind, slug): agent for (kind, slug), agent in plan.agents.items()}


@dataclass
class Delta:
    removed: set[str]
    added: set[str]
    changed: int  # publications changed, added or removed


def graph_delta(old: State, new: Reconciled, plan: MappingPlan,
                contributions: Contributions, old_store: pyoxigraph.Store) -> Delta:
    """The lines the graph before statistics loses and gains.

    :param plan: the new catalogue's mapping plan (its slugs: :func:`plan_for`)
    :param old_store: the build in service's store (asked which of the lines the changes
        make or unmake it has, and which publications name a node)
    """
    slugs = plan.slugs
    records = old.records
    old_entries = dict(zip([records[key].identity for key, _ in old.built], old.built,
                           strict=True))
    new_entries = dict(zip(new.identities, zip(new.keys, [slugs[i] for i in new.identities],
                                               strict=True), strict=True))
    gone = [i for i, entry in old_entries.items() if new_entries.get(i) != entry]
    came = [i for i, entry in new_entries.items() if old_entries.get(i) != entry]
    before: set[str] = set()
    for identity in gone:
        key, slug = old_entries[identity]
        before |= contributions.publication(old.records[key].publication, identity, slug)
    after: set[str] = set()
    by_identity = dict(zip(new.identities, new.publications, strict=True))
    for identity in came:
        after |= contributions.publication(by_identity[identity], identity,
                                           new_entries[identity][1])
    # the agents: their names are the last naming publication's
    old_winners, new_winners = _agents_described(old, old_entries, new_entries, gone, came,
                                                 by_identity, plan)
    touched_agents = {node for node in old_winners.keys() | new_winners.keys()
                      if old_winners.get(node) != new_winners.get(node)}
    for node in touched_agents:
        if node in old_winners:
            before |= contributions.agent(node, old_winners[node])
        if node in new_winners:
            after |= contributions.agent(node, new_winners[node])
    old_lines = held(old_store, before | after)
    # a shared line the changes no longer make may be made by a publication left unchanged
    pending: dict[str, set[str]] = {}
    for line in before - after:
        if line in old_lines and not contributions.own(line):
            pending.setdefault(_subject(line), set()).add(line)
    kept = _made_by_unchanged(pending, old_store, old_entries, new_entries, by_identity,
                              contributions) if pending else set()
    after |= kept
    return Delta(removed={line for line in before - after if line in old_lines},
                 added={line for line in after if line not in old_lines},
                 changed=len(set(gone) | set(came)))


def _agents_described(old: State, old_entries: dict[str, tuple[Key, str]],
                      new_entries: dict[str, tuple[Key, str]], gone: list[str],
                      came: list[str], publications: dict[str, Publication | Kept],
                      plan: MappingPlan) -> tuple[dict[URIRef, Agent], dict[URIRef, Agent]]:
    """Each agent node -> the agent it is described as, before and after the changes
    (:func:`agent_winners`), of the nodes whose description may have changed: when the
    publications left unchanged keep their order, only the nodes the publications
    ``gone`` or ``came`` name (any other is still described by the same publication);
    else every node of both catalogues."""
    changed = set(gone) | set(came)
    if [i for i in old_entries if i not in changed] != \
            [i for i in new_entries if i not in changed]:  # moved: every node compared
        plans = []
        for entries, publication_of in (
                (old_entries, lambda identity, key: old.records[key].publication),
                (new_entries, lambda identity, key: publications[identity])):
            every = MappingPlan(plan.uri.base, {i: slug for i, (_, slug) in entries.items()})
            for identity, (key, _) in entries.items():
                every.add(publication_of(identity, key), identity)
            plans.append(agent_winners(every))
        return plans[0], plans[1]
    wanted = {(agent.kind, agent.slug)
              for publication in itertools.chain(
                  (old.records[old_entries[i][0]].publication for i in gone),
                  (publications[i] for i in came))
              for agent in named_agents(publication)}
    found = []
    for catalogue in ((old.records[key].publication for key, _ in reversed(old.built)),
                      (publications[identity] for identity in reversed(new_entries))):
        last: dict[tuple[str, str], Agent] = {}  # the last publication naming each
        for publication in catalogue if wanted else ():
            for agent in reversed(named_agents(publication)):
                name = agent.kind, agent.slug
                if name in wanted and name not in last:
                    last[name] = agent
            if len(last) == len(wanted):
                break
        found.append({plan.uri(*name): agent for name, agent in last.items()})
    return found[0], found[1]


def held(store: pyoxigraph.Store, lines: Iterable[str]) -> set[str]:
    """Those of the N-Triples ``lines`` whose triple ``store`` has. A publication's lines
    name no blank node (only the ontology's do, which every build has and no change
    makes, :class:`Contributions`)."""
    return {line for line in lines if _quad(line) in store}


def _quad(line: str) -> pyoxigraph.Quad:
    subject, _, value = line.split(" ", 2)
    if subject.startswith("_:") or value.startswith("_:"):
        raise ValueError(f"a changed line names a blank node: {line}")
    return next(iter(pyoxigraph.parse(input=line.encode("utf-8"),
                                      format=pyoxigraph.RdfFormat.N_TRIPLES)))


def _made_by_unchanged(pending: dict[str, set[str]], old_store: pyoxigraph.Store,
                       old_entries: dict[str, tuple[Key, str]],
                       entries: dict[str, tuple[Key, str]],
                       publications: dict[str, Publication | Kept],
                       contributions: Contributions) -> set[str]:
    """Of the ``pending`` lines (by subject), those a publication left unchanged makes:
    the publications naming the subject (in one step, or two: through a volume or a
    country) are asked one at a time until every line is found or none is left."""
    unchanged = {entry[1]: identity for identity, entry in entries.items()
                 if old_entries.get(identity) == entry}  # slug -> identity
    found: set[str] = set()
    prefix = contributions.publication_uri("")
    for subject, lines in pending.items():
        query = (f"SELECT ?q WHERE {{ ?q a <{TIP.Publication}> . "
                 f"{{ ?q ?p <{subject}> }} UNION {{ ?q ?p ?x . ?x ?p2 <{subject}> }} }}")
        asked: set[str] = set()
        for solution in old_store.query(query):
            uri = solution["q"].value
            if uri in asked or not uri.startswith(prefix):
                continue
            asked.add(uri)
            identity = unchanged.get(uri[len(prefix):])
            if identity is None:
                continue
            made = contributions.publication(publications[identity], identity,
                                             entries[identity][1])
            found |= lines & made
            lines = lines - made
            if not lines:
                break
    return found


def _subject(line: str) -> str:
    return line[1:line.index(">")] if line.startswith("<") else line.split(" ", 1)[0]


# -- lines <-> terms -----------------------------------------------------------------------

_UNESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_CHARACTERS = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _unescaped(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] in "uU":
        return chr(int(code[1:], 16))
    return _CHARACTERS.get(code, code)


def parse_lines(lines: Iterable[str]) -> Iterator[Triple]:
    """The triples of N-Triples lines as :func:`tipgraph.graphs.ntriples_lines` writes them
    (one space between terms, no comment), as rdflib terms; each IRI and literal made once.
    """
    iris: dict[str, URIRef] = {}
    literals: dict[str, Literal] = {}

    def term(text: str) -> URIRef | Literal | BNode:
        if text[0] == "<":
            node = iris.get(text)
            if node is None:
                node = iris[text] = URIRef(text[1:-1])
            return node
        if text[0] == "_":
            return BNode(text[2:])
        literal = literals.get(text)
        if literal is None:
            end = text.rindex('"')
            body, rest = text[1:end], text[end + 1:]
            if "\\" in body:
                body = _UNESCAPE.sub(_unescaped, body)
            if rest.startswith("@"):
                literal = Literal(body, lang=rest[1:])
            elif rest.startswith("^^"):
                literal = Literal(body, datatype=term(rest[2:]))
            else:
                literal = Literal(body)
            literals[text] = literal
        return literal

    for line in lines:
        s, p, o = line[:-3].split(" ", 2)
        yield term(s), term(p), term(o)  # type: ignore[misc]


def statistics_line(line: str, dataset: str, sort_key: str) -> bool:
    """Whether ``line`` is one the statistics stage made (a statistic or a sort key)."""
    return line.startswith(dataset) or f"> <{sort_key}> " in line


def read_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", newline="\n") as file:
        yield from file


def merged(*sorted_lines: Iterable[str]) -> Iterator[str]:
    """Sorted lines, merged (no line given twice)."""
    last = None
    for line in heapq.merge(*sorted_lines):
        if line != last:
            yield line
        last = line


def quads(lines: Sequence[str]) -> Iterator[pyoxigraph.Quad]:
    if not lines:
        return iter(())
    return pyoxigraph.parse(input="".join(lines).encode("utf-8"),
                            format=pyoxigraph.RdfFormat.N_TRIPLES)


def hashes_of(publications: list[Publication], slugs: list[str],
              contributions: Contributions) -> tuple[dict[str, str], dict[str, tuple[str, int]]]:
    """Publication URI -> content hash, and URI -> (file, line)."""
    prefix = str(contributions.publication_uri(""))  # each URI made as the mapping makes it
    uris = [prefix + slug for slug in slugs]  # (and checked: these are in the graph)
    provenance = {uri: (p.source, p.line) for p, uri in zip(publications, uris, strict=True)}
    # as tipgraph.datestamps.publication_hashes gives them: each publication's own record
    hashes = {uri: p.content_hash for p, uri in zip(publications, uris, strict=True)
              if p.content_hash}
    return hashes, provenance


def plan_for(new: Reconciled, base: str, published: dict[str, str]) -> MappingPlan:
    """The mapping plan of the new catalogue, as a full build makes it: each identity's
    slug (:class:`tipgraph.mapping.MappingPlan`), a newcomer's minted after the titles
    before it. Not the agents' descriptions: :func:`graph_delta` finds those it needs."""
    plan = MappingPlan(base, published)
    slugs = plan.slugs
    for publication, identity in zip(new.publications, new.identities, strict=True):
        slug = published.get(identity)
        if slug is None:
            plan.add(publication, identity)
        else:
            slugs[identity] = slug
    return plan


# -- what changed, as the statistics, the dump and the indexes see it ----------------------

_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_TYPE = str(RDF.type)


def rdflib_term(node: Any) -> URIRef | Literal | BNode:
    """A pyoxigraph term as :func:`parse_lines` makes it of its N-Triples."""
    kind = type(node)
    if kind is pyoxigraph.NamedNode:
        return URIRef(node.value)
    if kind is pyoxigraph.BlankNode:
        return BNode(node.value)
    if node.language:
        return Literal(node.value, lang=node.language)
    datatype = node.datatype.value
    return Literal(node.value) if datatype == _XSD_STRING \
        else Literal(node.value, datatype=URIRef(datatype))


class GraphChange:
    """The lines a build's graph lost and gained since the build in service (which held
    every line removed and none added), and that build's store, asked about the subjects
    they name: what the statistics (:meth:`tipgraph.statistics.Tally.update`), the dump's
    counts (:meth:`tipgraph.serving.indexes.LineCounts.updated`) and the web indexes
    (:func:`tipgraph.serving.indexes.update_indexes`) are updated from."""

    def __init__(self, old_store: pyoxigraph.Store) -> None:
        self.store = old_store
        self.removed: set[str] = set()
        self.added: set[str] = set()
        #: removed, added: subject (as N-Triples writes it) -> its lines (parsed when asked)
        self._lines: tuple[dict[str, list[str]], dict[str, list[str]]] = ({}, {})
        #: subject -> the properties (IRIs) of its lines changed
        self._properties: dict[str, set[str]] = {}

    def extend(self, removed: Iterable[str], added: Iterable[str]) -> None:
        """Add lines lost and gained (a line both lost and gained stays as it was)."""
        removed, added = set(removed) - self.added, set(added) - self.removed
        both = removed & added
        removed -= both
        added -= both
        self.removed |= removed
        self.added |= added
        properties = self._properties
        for lines, into in ((removed, self._lines[0]), (added, self._lines[1])):
            for line in lines:
                subject, predicate, _ = line.split(" ", 2)
                found = into.get(subject)
                if found is None:
                    into[subject] = found = []
                    properties.setdefault(subject, set())
                found.append(line)
                properties[subject].add(predicate[1:-1])

    def triples(self, removed: bool, predicate: str | None = None) -> Iterator[Triple]:
        """The triples of the lines removed (or added), of ``predicate`` only."""
        wanted = None if predicate is None else f" <{predicate}> "
        for lines in self._lines[0 if removed else 1].values():
            yield from parse_lines(line for line in lines if wanted is None or wanted in line)

    def subjects(self, properties: Iterable[Any] | None = None) -> set[str]:
        """The IRIs of the subjects of the lines changed (of ``properties`` only)."""
        if properties is None:
            return {s[1:-1] for s in self._properties if s.startswith("<")}
        wanted = {str(p) for p in properties}
        return {s[1:-1] for s, found in self._properties.items()
                if s.startswith("<") and not wanted.isdisjoint(found)}

    def view(self, subjects: Iterable[str]) -> tuple[list[Triple], list[Triple]]:
        """Every triple about ``subjects`` (IRIs) in the graph of the build in service, and
        in the new graph."""
        before: list[Triple] = []
        after: list[Triple] = []
        removed, added = self._lines
        for subject in set(subjects):
            node = URIRef(subject)
            old = [(node, rdflib_term(q.predicate), rdflib_term(q.object)) for q in
                   self.store.quads_for_pattern(pyoxigraph.NamedNode(subject), None, None)]
            before += old
            key = f"<{subject}>"
            gone = set(parse_lines(removed.get(key, ())))
            after += [t for t in old if t not in gone]
            after += parse_lines(added.get(key, ()))
        return before, after

    def naming(self, nodes: Iterable[str], properties: Iterable[Any]) -> set[str]:
        """The IRI subjects naming one of ``nodes`` by one of ``properties``, in the old
        graph or in the lines added."""
        found: set[str] = set()
        props = [str(p) for p in properties]
        wanted = set(nodes)
        for node in wanted:
            for prop in props:
                for quad in self.store.quads_for_pattern(None, pyoxigraph.NamedNode(prop),
                                                         pyoxigraph.NamedNode(node)):
                    if type(quad.subject) is pyoxigraph.NamedNode:
                        found.add(quad.subject.value)
        ends = tuple(f" <{node}> .\n" for node in wanted)
        for subject, lines in self._lines[1].items():
            if subject.startswith("<") and any(line.endswith(ends) for line in lines):
                found.add(subject[1:-1])
        return found

    def occurrences(self, line: str, place: int, limit: int) -> int:
        """How many triples of the old graph have the subject (``place`` 0) or the object
        (2) of the N-Triples ``line``, up to ``limit``."""
        triple = next(iter(pyoxigraph.parse(input=line.encode("utf-8"),
                                            format=pyoxigraph.RdfFormat.N_TRIPLES)))
        pattern = (triple.subject, None, None) if place == 0 else (None, None, triple.object)
        return sum(1 for _ in itertools.islice(self.store.quads_for_pattern(*pattern), limit))

    def instances(self, cls: str) -> Iterator[str]:
        """The IRI subjects (``<IRI>``) the old graph types ``cls`` (``<IRI>``)."""
        for quad in self.store.quads_for_pattern(None, pyoxigraph.NamedNode(_RDF_TYPE),
                                                 pyoxigraph.NamedNode(cls[1:-1])):
            if type(quad.subject) is pyoxigraph.NamedNode:
                yield f"<{quad.subject.value}>"


def merge_file(old: Path, new: Path, removed: Iterable[str], added: Iterable[str]
               ) -> tuple[int | None, list[str], list[str]]:
    """Write to ``new`` the sorted N-Triples lines of ``old`` less ``removed``, with
    ``added``, in order. Each change is found by bisecting ``old`` on disk, and the
    stretches between changes are copied by the kernel (:func:`tipgraph.dumps.copy_span`):
    no line of them is read. Past :data:`MERGE_SEEKS` changes, ``old`` is read through
    once instead (:func:`_merge_read`).

    :returns: the lines written (None: not counted, for the caller to work out), the lines
        of ``removed`` that ``old`` had, and those of ``added`` it had not
    """
    edits = sorted([(line.encode("utf-8"), 0) for line in removed]
                   + [(line.encode("utf-8"), 1) for line in added])
    if len(edits) > MERGE_SEEKS:
        return _merge_read(old, new, edits)
    gone, came = [], []
    with old.open("rb") as source, new.open("wb") as out:
        size = os.fstat(source.fileno()).st_size
        done = 0  # the bytes of ``old`` before this are written (or left out)
        for line, kind in edits:
            at = _first_line_at_least(source, line, done, size)
            copy_span(source, out, done, at - done)
            done = at
            source.seek(at)
            if source.readline() == line:
                if not kind:
                    gone.append(line)
                    done += len(line)
            elif kind:
                out.write(line)
                came.append(line)
        copy_span(source, out, done, size - done)
    return None, [g.decode("utf-8") for g in gone], [c.decode("utf-8") for c in came]


#: Above this many changed lines :func:`merge_file` reads ``tipgraph.nt`` through rather
#: than bisecting it once per change (~20 reads each).
MERGE_SEEKS = 20_000


def _first_line_at_least(file: BinaryIO, key: bytes, lo: int, hi: int) -> int:
    """Where the first line of the sorted ``file`` not below ``key`` starts, between
    ``lo`` (a line's start, every line before it below ``key``) and ``hi`` (a line's start,
    or the end: that line is not below ``key``)."""
    while lo < hi:
        mid = (lo + hi) // 2
        file.seek(mid)
        if mid > lo:
            file.readline()  # to the start of the next line
        start = file.tell()
        if start >= hi:  # no line starts in (mid, hi): try the one at lo
            file.seek(lo)
            line = file.readline()
            if line >= key:
                return lo
            lo += len(line)
            continue
        line = file.readline()
        if line < key:
            lo = start + len(line)
        else:
            hi = start
    return lo


def _merge_read(old: Path, new: Path, edits: list[tuple[bytes, int]]
                ) -> tuple[int, list[str], list[str]]:
    """:func:`merge_file` for many changes: ``old`` read through a block at a time
    (:data:`MERGE_BLOCK`), only the blocks a change falls in split into lines."""
    written, gone, came = 0, [], []
    i, n = 0, len(edits)
    with old.open("rb") as source, new.open("wb") as out:
        rest = b""
        while True:
            block = source.read(MERGE_BLOCK)
            data = rest + block
            if not data:
                break
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0:
                rest = data
                continue
            data, rest = data[:cut], data[cut:]
            last = data[data.rfind(b"\n", 0, len(data) - 1) + 1:]
            if i >= n or edits[i][0] > last:  # no change falls here
                out.write(data)
                written += data.count(b"\n")
                continue
            lines = data.splitlines(keepends=True) if b"\r" not in data \
                else [part + b"\n" for part in data.split(b"\n")[:-1]]
            start = 0  # the lines before it are written
            while i < n and edits[i][0] <= last:
                line, kind = edits[i]
                i += 1
                at = bisect.bisect_left(lines, line, start)
                out.write(b"".join(lines[start:at]))
                written += at - start
                start = at
                if at < len(lines) and lines[at] == line:
                    if not kind:  # removed
                        gone.append(line)
                        start = at + 1
                elif kind:  # added
                    out.write(line)
                    came.append(line)
                    written += 1
            out.write(b"".join(lines[start:]))
            written += len(lines) - start
        for line, kind in edits[i:]:
            if kind:
                out.write(line)
                came.append(line)
                written += 1
    return written, [g.decode("utf-8") for g in gone], [c.decode("utf-8") for c in came]


def update_statistics(tally: Tally, change: GraphChange, base: str
                      ) -> tuple[list[str], list[str]]:
    """Count again what ``change`` touched in ``tally`` (the previous build's); the
    statistics' lines lost and gained.

    The publications counted again are those a changed line is about, and those naming a
    node whose counted type changed."""
    types_removed = list(change.triples(True, _RDF_TYPE))
    types_added = list(change.triples(False, _RDF_TYPE))
    publications = tally.members[TIP.Publication]
    retyped = {str.__str__(t[0]) for t in types_removed + types_added
               if t[2] in tally.members and t[2] != TIP.Publication}
    touched = {s for s in change.subjects() if URIRef(s) in publications}
    touched |= {str.__str__(s) for s, _, kind in types_added if kind == TIP.Publication}
    if retyped:
        props = {prop for prop, _ in STATISTIC_FACETS.values()} | {TIP.statedCountry,
                                                                   TIP.statedRegion}
        touched |= change.naming(retyped, props)
    before_counts = tally.counts()
    before, after = change.view(touched)
    tally.update(before, after, types_removed, types_added)
    lost, gained = tally.changed_lines(base, before_counts)
    lost_lines, gained_lines = set(lost), set(gained)
    return sorted(lost_lines - gained_lines), sorted(gained_lines - lost_lines)


def changed_statistics(previous: Path, target: Path, change: GraphChange, base: str,
                       meter: Any, progress: Progress) -> tuple[list[str], list[str]]:
    """The statistics' lines lost and gained (:func:`update_statistics`, from the tally
    the previous build kept; the statistics of every line when it kept none), and the
    tally kept for the next build."""
    tally = Tally.load(previous / TALLY_FILE)
    if tally is not None:
        lost, gained = update_statistics(tally, change, base)
    else:
        dataset = f"<{base.rstrip('/#')}/dataset"
        old: set[str] = set()
        lines = [line for line in read_lines(previous / NTRIPLES)
                 if not (statistics_line(line, dataset, str(TIP.sortKey)) and old.add(line)
                         is None) and line not in change.removed]
        meter.step("counting", total=len(lines) + len(change.added), unit="triples")
        tally = Tally()
        tally.add(parse_lines(meter.count(merged(lines, sorted(change.added)))))
        del lines
        now = set(ntriples_lines(tally.triples(base, previous_keys(previous))))
        lost, gained = sorted(old - now), sorted(now - old)
    if (why := tally.keep(target)) is not None:
        progress(why)
    return lost, gained


def write_merged(previous: Path, target: Path, change: GraphChange, base: str,
                 counted_before: DatasetIndex | None, meter: Any) -> tuple[LineCounts, int]:
    """Write ``tipgraph.nt``: the previous build's with the lines changed
    (:func:`merge_file`); its counts (:class:`~tipgraph.serving.indexes.LineCounts`)
    updated from the previous build's (``counted_before``, its index file's entry
    ``dataset``), else (None) counted line by line. Returns them and how many lines were
    written."""
    meter.step("merging", unit="lines")
    written, gone, came = merge_file(previous / NTRIPLES, target / NTRIPLES, change.removed,
                                     change.added)
    if written is None:  # the previous build's lines, less and plus those changed
        before = listed_lines(previous)
        if before is None:
            with (target / NTRIPLES).open("rb") as nt:
                written = sum(block.count(b"\n") for block in iter(lambda: nt.read(1 << 22), b""))
        else:
            written = before - len(gone) + len(came)
    counted = None
    if counted_before is not None \
            and (gone, came) == (sorted(change.removed), sorted(change.added)):
        try:
            counted = LineCounts.updated(counted_before, sorted(read_uris(previous)), gone, came,
                                         change.occurrences, change.instances)
        except ValueError:
            counted = None
    if counted is None:  # counted line by line, as a full build counts them
        counted = LineCounts(base)
        counted.add(read_lines(target / NTRIPLES))
    return counted, written


def updated_indexes(old: BuildIndexes | None, change: GraphChange, counted: LineCounts,
                    source: PartsSource, target: Path, progress: Progress
                    ) -> Callable[[str, Path], Any]:
    """What makes the web indexes of an incremental build (the ``make`` of
    :func:`tipgraph.build._write_indexes`): each one updated from the previous build's
    and the lines changed (:func:`tipgraph.serving.indexes.update_indexes`), ``old``
    (:func:`tipgraph.serving.indexes.read_indexes`); made from every line of
    ``tipgraph.nt`` when that is None."""
    def make(base: str, directory: Path) -> Any:
        if old is not None and updatable():
            return update_indexes(IndexChange(old, change, counted), base, directory)
        progress("the previous build's indexes cannot be updated: made from every line")
        source.counted = counted
        for part in _batches(read_lines(target / NTRIPLES)):
            source.add(parse_lines(part))
        return make_indexes(source, base, directory)

    return make


def _batches(lines: Iterable[str], size: int = 100_000) -> Iterator[list[str]]:
    iterator = iter(lines)
    while part := list(itertools.islice(iterator, size)):
        yield part


# -- the build ---------------------------------------------------------------------------

def run_incremental(full: ModuleType, sources: Sequence[Path], build_dir: BuildDir,
                    target: Path, base: str, progress: Progress, max_field_chars: int,
                    display: Display | None = None) -> Any:
    """Make the build ``target`` from the build in service and what changed since; it is
    not switched in yet. None (``target`` untouched): the build in service kept no state
    this build can start from, and the caller makes a full build.

    :param full: the module :mod:`tipgraph.build`, whose report, stages and helpers this
        build uses too (handed over rather than imported: that module calls this one)
    :returns: its :class:`tipgraph.build.BuildReport`, or None
    """
    previous = build_dir.current()
    started, cpu_started = time.perf_counter(), full._cpu_seconds()
    state = read_state(previous)
    if previous is None or state is None or not (previous / NTRIPLES).is_file() \
            or not (previous / "store").is_dir() \
            or state.fingerprint != fingerprint(base, max_field_chars):
        return None
    progress(f"incremental: from build {previous.name}")
    report = full.BuildReport(build_id=target.name, base=base,
                              sources=[Path(s).name for s in sources])
    report.timings["state"] = round(time.perf_counter() - started, 3)  # read_state's
    report.cpu["state"] = round(full._cpu_seconds() - cpu_started, 3)
    stage = functools.partial(full._stage, report=report, progress=progress, display=display)
    # what the web indexes read of the graph, as a full build keeps it (the abstracts on disk)
    source = PartsSource(target / ".abstracts.pickle")
    try:
        with stage("read") as meter:
            # as a full build reads, but a line read before is neither parsed nor checked
            stream = SourceStream(sources, max_field_chars, meter, seen=state.lines,
                                  keep_lines=True)
        with stage("reconcile") as meter:
            reference = full.load_reference()
            meter.step("", total=stream.expected, unit="records")
            try:
                new = reconcile(meter.count(stream.records()), reference, state.records)
            except StaleState as error:
                progress(f"the state of build {previous.name} is not whole ({error}): a full "
                         "build")
                source.close()
                return None
            at_most = max(REMAKE_AT_MOST[0], REMAKE_AT_MOST[1] * len(new.records))
            if new.reconciled > at_most:
                progress(f"{new.reconciled} of {len(new.records)} records are new or changed "
                         f"since build {previous.name}, more than {at_most:g}: a full build")
                source.close()
                return None
            read = stream.read
            lines_read, read.lines = read.lines, {}
            del stream
            report.records_read = len(new.records) + len(read.rejected)
            report.files, report.rejected = read.files, read.rejected
            problems = read.problems + list(reference.problems) + new.problems
            report.repairs = [p for p in problems if p.severity == "repair"]
            report.warnings = [p for p in problems if p.severity != "repair"]
            report.records_built = len(new.publications)
            report.duplicates = new.duplicates
            del read
            # the state and the catalogue live to the end of the build: the collector,
            # run when memory is given back (build.release_memory), leaves them alone
            gc.freeze()
        with stage("map"):
            plan = plan_for(new, base, build_dir.ledger.slugs())
            contributions = Contributions(reference, base, load_ontology())
        with stage("reason"):
            old_store = pyoxigraph.Store.read_only(str(previous / "store"))
            delta = graph_delta(state, new, plan, contributions, old_store)
            del old_store
            progress(f"{delta.changed} publications changed, added or removed since build "
                     f"{previous.name}: {len(delta.removed)} lines removed, "
                     f"{len(delta.added)} added")
            built_slugs = [plan.slugs[i] for i in new.identities]
            hashes, provenance = hashes_of(new.publications, built_slugs, contributions)
        with stage("statistics") as meter:
            # the previous build's counts, less what the changed lines counted, plus what
            # they count now (statistics.Tally); every line counted only without its tally
            change = GraphChange(pyoxigraph.Store.read_only(str(previous / "store")))
            change.extend(delta.removed, delta.added)
            old_statistics, statistics = changed_statistics(previous, target, change, base,
                                                           meter, progress)
            change.extend(old_statistics, statistics)
        with stage("write") as meter:
            # the previous tipgraph.nt merged with the lines changed; the dataset's counts
            # and the URIs it describes, from the previous build's and the lines changed
            old_indexes = read_indexes(previous / INDEX_FILE)
            counted, report.triples = write_merged(
                previous, target, change, base,
                old_indexes["dataset"] if old_indexes is not None else None, meter)
            full.release_memory()
        with stage("indexes"):
            # the publications whose record is new or changed: their OAI-PMH records made
            # again, the others' copied
            prefix = str(contributions.publication_uri(""))
            rehashed = [prefix + slug for key, slug in zip(new.keys, built_slugs, strict=True)
                        if key not in state.records]
            full._write_indexes(source, target, base, hashes, make=updated_indexes(
                old_indexes, change, counted, source, target, progress), previous=previous,
                rehashed=rehashed)
            del change, old_indexes
        source.close()
        with stage("load"):
            pyoxigraph.Store.read_only(str(previous / "store")).backup(str(target / "store"))
            store = pyoxigraph.Store(str(target / "store"))
            old, now = set(old_statistics), set(statistics)
            removed, gained = sorted(delta.removed | (old - now)), sorted(delta.added | (now - old))
            for quad in quads(removed):
                store.remove(quad)
            store.extend(quads(gained))
            store.flush()
        with stage("validate"):
            # the focus nodes the changes may touch, checked again; the others' results kept
            report.shacl = revalidate_store(store, full.load_shapes(), previous_shacl(previous),
                                            removed + gained, provenance)
        del store
        if not report.shacl.conforms:
            raise BuildFailed(f"the graph breaks the shapes: {len(report.shacl.violations)} "
                              f"violation(s), first: {report.shacl.violations[0]}")
        with stage("dumps"):
            # the segments no changed line falls in are linked from the previous build's
            update_dumps(target, previous, removed, gained)
        identities = dict(zip(new.identities, built_slugs, strict=True))
        write_published(target, counted.in_space, identities)
        StateWriter.changed(target, previous, state, new.records,
                            list(zip(new.keys, built_slugs, strict=True)),
                            lines_read).close(progress)
    except BaseException as error:
        source.close()
        full.abandon(error, build_dir, target, report, [])
        raise
    finally:
        gc.unfreeze()
    return report
