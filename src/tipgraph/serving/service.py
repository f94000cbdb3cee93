"""The build in service: which one is current, and the read models of each build opened.

Each web worker holds one :class:`Service`. Before a request it asks
:meth:`Service.current`, which is cheap: for the embedded store one ``readlink``
of the build directory's ``current`` link; for a remote store (setting
``store_url``) a look at the store's pointer to the graph in service, at most
every ``store_poll`` seconds (:func:`tipgraph.store.open_store` chose which, once).
When a new build is current, the worker opens it and serves it from then on;
requests already running keep the build they started with, and other requests go
on with the old build while it opens. Nothing is copied or loaded per request.

A :class:`Build` owns its read models, as Datasette's ``Datasette`` owns its
databases and their caches: the catalogue (browse and search), the statistics,
the labels and linking properties documents read, the dataset's counts, pages and
description, and whether a URI was ever published (the store's, for ``410 Gone``).
Those the build wrote in its index file (:mod:`tipgraph.serving.indexes`) are loaded
when the build is opened; the others are made from the store on first use, each once
(and ahead of it, in the background, once a page asks: :meth:`Build.warm`).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from tipgraph.build_dir import INDEX_FILE
from tipgraph.errors import TipgraphError
from tipgraph.graphs import sparql_string
from tipgraph.namespaces import TIP
from tipgraph.serving.catalogue import Catalogue, Statistics, load_catalogue, load_statistics
from tipgraph.serving.documents import Document, Labels, Linking
from tipgraph.serving.indexes import BuildIndexes, DatasetCounts, read_indexes, resource_pages
from tipgraph.serving.text_sparql import ROWS, rewrite_job, uses_text_search
from tipgraph.serving.textindex import TextIndex
from tipgraph.sparql_engine import CLIENT, QueryAnswer, QueryEngine, QueryError, QueryJob
from tipgraph.store import BuildSource, GraphStore, StoredBuild, open_store

log = logging.getLogger(__name__)
T = TypeVar("T")


class Build:
    """One build, open for reading, and its read models (each made once).

    :param settings: the service's settings (base, licence, rights, links per document)
    """

    def __init__(self, id: str, path: Path, store: GraphStore, report: dict[str, Any],
                 modified: datetime | None, *, settings: Mapping[str, Any] | None = None,
                 key: object = None,
                 ever_published: Callable[[str], bool] = lambda uri: False) -> None:
        self.id, self.path, self.store, self.report = id, path, store, report
        self.modified = modified  # when it was switched in: Last-Modified of what it serves
        self.settings: Mapping[str, Any] = settings or {}
        self.key = key
        #: whether any build of the store ever published a URI (or a ``uri#...``)
        self.ever_published = ever_published
        self.indexes: BuildIndexes | None = None  # the build's index file, when it is read
        self._models: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._warming = False

    @classmethod
    def open(cls, stored: StoredBuild, settings: Mapping[str, Any]) -> Build:
        """The build ``stored`` names, with the indexes it wrote loaded."""
        build = cls(stored.id, stored.path, stored.store, stored.report, stored.modified,
                    settings=settings, key=stored.key, ever_published=stored.ever_published)
        build.load_indexes()
        return build

    def __repr__(self) -> str:
        return f"Build({self.id!r})"

    @property
    def triples(self) -> int:
        return int(self.report.get("triples", 0))

    @property
    def base(self) -> str:
        """The base the build minted its URIs under (the setting, for an older report)."""
        base = str(self.report.get("base") or self.settings.get("base_uri") or "")
        return base if base.endswith(("/", "#")) else base + "/"

    def file(self, name: str) -> Path:
        return self.path / name

    def answer(self, job: QueryJob) -> QueryAnswer:
        """The answer to ``job`` (every layer of ``/sparql`` that evaluates a query asks
        this): its text searches (``?x tip:matches "words"``) answered from the build's
        text index (:mod:`tipgraph.serving.text_sparql`), then the store's engine.

        :raises QueryError: as :meth:`GraphStore.answer` does; a
            :class:`~tipgraph.serving.textindex.TextQueryError` (400) for a text search
            it cannot answer, or any at all without a text index (a remote store)
        """
        return self.store.answer(rewrite_job(
            job, self.text_index, lambda check: self._count(job, check)))

    def _count(self, job: QueryJob, check: str) -> int:
        """The number a check query of :func:`~.text_sparql.rewrite` binds, asked within
        ``job``'s limits and dataset."""
        answer = self.store.answer(dataclasses.replace(
            job, query=check, results_format="json", rdf_format=None, max_bytes=0))
        bindings = json.loads(answer.read())["results"]["bindings"]
        return int(bindings[0][ROWS]["value"])

    async def answer_soon(self, job: QueryJob, client: str, *,
                          gone: Callable[[], asyncio.Future[Any]] | None,
                          executor: Executor) -> QueryAnswer:
        """:meth:`answer` from an asyncio loop (the front's lane for ``/sparql``): the
        store's own :meth:`answer_soon` when the query has no text search (the embedded
        store's query processes, or a remote store's HTTP, waited for by the loop); else
        :meth:`answer` in ``executor``, as ``client`` (the query pool's turn).

        :raises QueryError: as :meth:`answer` does
        """
        soon = getattr(self.store, "answer_soon", None)
        if soon is not None and not uses_text_search(job.query):
            answer: QueryAnswer = await soon(job, client, gone=gone, executor=executor)
            return answer
        context = contextvars.copy_context()  # the app's (its query engine) in the thread
        return await asyncio.get_running_loop().run_in_executor(
            executor, context.run, self._answer_as, client, job)

    def _answer_as(self, client: str, job: QueryJob) -> QueryAnswer:
        token = CLIENT.set(client)
        try:
            return self.answer(job)
        finally:
            CLIENT.reset(token)

    # -- the read models ----------------------------------------------------------------

    @property
    def text_index(self) -> TextIndex | None:
        """The build's text index (the browse search and ``tip:matches``): the entry of
        its index file; None without one (a build made before it, a remote store)."""
        return self.indexes.get("text") if self.indexes is not None else None

    @property
    def catalogue(self) -> Catalogue:
        """The browse and search index (a remote store's word index made on the first
        search: a build's searches ask its text index)."""
        return self.model("catalogue", lambda: load_catalogue(self.store))

    @property
    def statistics(self) -> Statistics | None:
        """The counts the build published as data (None for a build made before)."""
        return self.model("statistics", lambda: load_statistics(self.store))

    @property
    def labels(self) -> Labels:
        return self.model("labels", lambda: Labels(self.store))

    @property
    def linking(self) -> Linking:
        return self.model("linking", lambda: Linking(self.store))

    @property
    def counts(self) -> DatasetCounts:
        """The counts of the dataset's description: the index file's, or else counted by
        SPARQL over the store (15 s at 100,000 publications, once per worker and build)."""
        from_file = self.indexes.counts if self.indexes else None
        if from_file is not None and from_file.base == self.base:
            return from_file
        return self.model("counts", lambda: counts_from_store(self.store, self.base))

    @property
    def page_paths(self) -> list[str]:
        """The HTML page of each resource (``place/ng.html``), sorted: the index file's, or
        else a scan of the store's subjects (7 s at 100,000 publications)."""
        if self.indexes is not None and self.indexes.counts.base == self.base:
            return self.model("pages", self.indexes.page_paths)
        return self.model("pages", self._scan_pages)

    def description(self, root: str, make: Callable[[], Document]) -> Document:
        """The dataset's description served under ``root`` (``make`` makes it once)."""
        return self.model(f"description {root}", make)

    def made(self, *names: str) -> bool:
        """Whether the read models ``names`` are made already (asking for them costs
        nothing more)."""
        return all(name in self._models for name in names)

    def model(self, name: str, make: Callable[[], T]) -> T:
        """The value ``make`` makes, made once for this build and kept while it is served
        (a read model, or what a view derives from them)."""
        try:
            return self._models[name]
        except KeyError:
            pass
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # made once: another request asking meanwhile waits for it
            if name not in self._models:
                self._models[name] = make()
            return self._models[name]

    # -- loading ------------------------------------------------------------------------

    def load_indexes(self) -> bool:
        """Serve the read models the build wrote in its index file; False when it has
        none (or none this version reads: :func:`read_indexes` says why)."""
        started = time.perf_counter()
        indexes = read_indexes(self.file(INDEX_FILE))
        if indexes is None:
            return False
        # the index lives as long as the build is served and holds no cycles: out of the
        # collector's sight, a later full collection does not walk its million objects
        # again (140 ms at 100,000 publications, in whichever request it falls on)
        gc.collect()
        gc.freeze()
        self.indexes = indexes
        # the browse search asks the text index tip:matches asks: both find the same
        indexes.text.timeout = float(self.settings.get("query_timeout") or 0) or None
        self._models["catalogue"] = indexes.catalogue.reading(self.store, indexes.text)
        self._models["labels"] = Labels(self.store, indexes.labels)
        self._models["linking"] = Linking(self.store, indexes.properties)
        self._warming = True  # nothing left to make ahead
        try:  # a query of a few thousand nodes: not worth a file of its own
            _ = self.statistics
        except Exception:  # the page that needs them will report it
            log.exception("could not read the statistics of build %s", self.id)
        log.info("build %s: indexes read from %s in %.2f s", self.id, INDEX_FILE,
                 time.perf_counter() - started)
        return True

    def warm(self) -> None:
        """Have the read models pages and documents use made ahead of their requests, in
        the background, for a build without an index file (made before the build wrote
        it, or in a remote store), so that the first browse or busy document does not
        wait seconds for them. Called by the views that need them; once per build."""
        if self._warming:
            return
        with self._lock:
            if self._warming:
                return
            self._warming = True

        def run() -> None:
            try:
                for model in ("statistics", "labels", "linking"):
                    getattr(self, model)
                self.catalogue.word_index()
            except Exception:  # the request that needs it will report it
                log.exception("could not prepare the indexes of build %s", self.id)

        threading.Thread(target=run, name=f"warm-{self.id}", daemon=True).start()

    def _scan_pages(self) -> list[str]:
        rows = self.store.query(
            "SELECT DISTINCT ?s WHERE { ?s ?p ?o "
            f"FILTER(isIRI(?s) && STRSTARTS(STR(?s), {sparql_string(self.base)})) }}")
        return resource_pages((row["s"].value for row in rows), self.base)  # type: ignore


def counts_from_store(store: GraphStore, base: str) -> DatasetCounts:
    """The counts of the dataset's description, by SPARQL over ``store``."""
    def count(query: str) -> int:
        return int(next(iter(store.query(query)))["n"].value)  # type: ignore

    in_space = f"FILTER(isIRI(?s) && STRSTARTS(STR(?s), {sparql_string(base)}))"
    classes = {row["c"].value: int(row["n"].value) for row in store.query(  # type: ignore
        "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c FILTER(isIRI(?c)) } GROUP BY ?c")}
    properties = {row["p"].value: int(row["n"].value) for row in store.query(  # type: ignore
        "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p")}
    example = next(iter(store.query(  # type: ignore
        f"SELECT ?s WHERE {{ ?s a <{TIP.Publication}> FILTER(isIRI(?s)) }} ORDER BY ?s LIMIT 1")),
        None)
    return DatasetCounts(
        base=base, triples=count("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"),
        entities=count(f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s ?p ?o {in_space} }}"),
        distinct_subjects=count("SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }"),
        distinct_objects=count("SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s ?p ?o }"),
        classes=dict(sorted(classes.items())), properties=dict(sorted(properties.items())),
        example=None if example is None else example["s"].value)


@dataclass
class Service:
    """The build in service of the store ``settings`` name, followed as it changes.

    :param engine: this process's query processes (for the embedded store)
    """

    settings: dict[str, Any]
    engine: Callable[[], QueryEngine] | None = None
    builds: BuildSource = field(init=False)
    _build: Build | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.builds = open_store(self.settings, engine=self.engine)

    @property
    def base(self) -> str:
        return self.settings["base_uri"]

    @property
    def opened(self) -> Build | None:
        """The build opened last (the one in service unless a new one is current)."""
        return self._build

    def known(self) -> Build | None:
        """The build in service when saying so asks nothing of the store (a remote store
        looked at its pointer less than ``store_poll`` seconds ago, and this build is
        what it named); None when :meth:`current` would have to look or switch."""
        build, known = self._build, getattr(self.builds, "known", None)
        if build is None or known is None:
            return None
        return build if known() == build.key else None

    def current(self) -> Build:
        """The build in service, switching to a newer current build when there is one.

        :raises TipgraphError: when there is no build, or it cannot be read
        """
        build = self._build
        try:
            key = self.builds.locate()
        except QueryError:
            if build is not None:  # the store is unreachable: its queries will say so
                return build
            raise
        if key is None:
            if build is not None:  # the pointer went away: keep serving what we have
                return build
            raise TipgraphError(self.builds.missing())
        if build is not None and build.key == key:
            return build
        if not self._lock.acquire(blocking=build is None):
            return build  # type: ignore[return-value]  # another thread opens the new one
        try:
            if self._build is None or self._build.key != key:
                self._build = Build.open(self.builds.open(key), self.settings)
            return self._build
        finally:
            self._lock.release()
