"""Fixtures shared by every test: the fixture ladder starts from a real seed build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyoxigraph
import pytest
from rdflib import Graph

from tipgraph.build import BuildReport, run_build
from tipgraph.build_dir import INDEX_FILE
from tipgraph.serving.indexes import read_indexes, write_indexes
from tipgraph.statistics import statistics_triples

ROOT = Path(__file__).resolve().parents[1]
SEED_SOURCES = (ROOT / "data" / "sources",)
BASE = "https://w3id.org/tipgraph/"


@pytest.fixture(scope="session")
def seed_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of the shipped catalogue, made once per test session."""
    out = tmp_path_factory.mktemp("seed-build")
    run_build(SEED_SOURCES, out, base=BASE)
    return out


@pytest.fixture(scope="session")
def synthetic_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of 400 synthetic publications (seed 11), made once per test session: counts
    above one, years, co-authors, long lists, every region."""
    from tipgraph.synth import synthesize, write_catalogue

    out = tmp_path_factory.mktemp("synthetic-build")
    write_catalogue(synthesize(400, seed=11), out / "synthetic.jsonl")
    run_build([out / "synthetic.jsonl"], out / "build", base=BASE)
    return out / "build"


@pytest.fixture(scope="session")
def seed_report(seed_build_dir: Path) -> BuildReport:
    import json

    return json.loads((seed_build_dir / "report.json").read_text(encoding="utf-8"))


@pytest.fixture
def store_with_statistics() -> Callable[[str], pyoxigraph.Store]:
    """Makes a store holding a Turtle text and what the build's statistics stage adds to
    it (counts per facet, sort keys), for the queries that read them."""
    def make(turtle: str, base: str = BASE) -> pyoxigraph.Store:
        graph = Graph().parse(data=turtle, format="turtle")
        for triple in [*graph, *statistics_triples(list(graph), base)]:
            graph.add(triple)
        store = pyoxigraph.Store()
        store.load(graph.serialize(format="nt"), format=pyoxigraph.RdfFormat.N_TRIPLES)
        return store
    return make


@pytest.fixture(scope="session")
def retitle() -> Callable[[Path, str], tuple[str, str]]:
    """Gives the first publication of a build's index file another title, there only (the
    store keeps its own), so a page showing that title was served from the file. The
    function returns the publication's URI and the path of a node it links to."""
    def change(build_dir: Path, title: str) -> tuple[str, str]:
        path = build_dir / "current" / INDEX_FILE
        indexes = read_indexes(path, mutable=True)
        assert indexes is not None
        uri = indexes.catalogue.uris[0]
        _, year, links = indexes.catalogue.shown[0]
        indexes.catalogue.shown[0] = (title, year, links)
        indexes.labels.titles[uri] = (title, *indexes.labels.titles[uri][1:])
        write_indexes(indexes, path)
        return uri, links[0].uri.removeprefix(BASE)
    return change
