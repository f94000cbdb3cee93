"""Statistics published at build time: the same counts the pages would make by scanning."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph
import pytest
from rdflib import Graph

from tipgraph.namespaces import TIP
from tipgraph.statistics import statistics_triples
from tipgraph.store import OxigraphStore
from tipgraph.web.catalogue import Statistics, load_catalogue, load_statistics


@pytest.fixture(scope="module")
def store(seed_build_dir: Path) -> OxigraphStore:
    return OxigraphStore.open(seed_build_dir / "current" / "store")


@pytest.fixture(scope="module")
def stats(store: OxigraphStore) -> Statistics:
    stats = load_statistics(store)
    assert stats is not None
    return stats


def test_facet_counts_are_those_of_a_scan(store: OxigraphStore, stats: Statistics) -> None:
    catalogue = load_catalogue(store)
    assert stats.counts == catalogue.counts(catalogue.entries)
    assert stats.per_year() == catalogue.per_year()
    assert stats.per_region() == catalogue.per_region()


def test_a_region_counts_the_publications_about_its_countries(stats: Statistics) -> None:
    regions = {key: n for key, _, n in stats.counts["region"]}
    assert regions["west-and-central-africa"] == 1  # the Nigeria record names Nigeria only


def test_class_counts(store: OxigraphStore, stats: Statistics) -> None:
    for kind, n in stats.classes.items():
        rows = list(store.query(f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s a <{kind}> }}"))
        assert int(rows[0]["n"].value) == n, kind
    assert stats.classes[str(TIP.Publication)] == 10


def test_a_build_without_statistics_has_none() -> None:
    store = pyoxigraph.Store()
    store.add(pyoxigraph.Quad(pyoxigraph.NamedNode("https://example.org/p"),
                              pyoxigraph.NamedNode(str(TIP.statedCountry)),
                              pyoxigraph.NamedNode("https://example.org/c")))
    assert load_statistics(OxigraphStore(store)) is None


def test_statistic_nodes_are_named_by_their_facet_and_value(seed_build_dir: Path) -> None:
    # blank node labels derived from the data: a rebuild of the same data writes the same dump
    def labels() -> set[str]:
        graph = Graph().parse(seed_build_dir / "current" / "tipgraph.nt", format="nt")
        return {str(s) for s, _, _ in statistics_triples(graph)}

    assert labels() == labels()
