"""Statistics published at build time: the same counts the pages would make by scanning."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph
import pytest
from rdflib import Graph
from rdflib.namespace import RDF

from tipgraph.namespaces import TIP
from tipgraph.serving.catalogue import Statistics, load_catalogue, load_statistics
from tipgraph.statistics import KEY_GAP, add_statistics, statistics_triples
from tipgraph.store import OxigraphStore

T = "https://w3id.org/tipgraph/"


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
    # every facet the build publishes (persons are counted by the catalogue alone)
    assert stats.counts == catalogue.counts(catalogue.entries, stats.counts)
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


def test_statistics_are_named_in_the_dataset_document(store: OxigraphStore) -> None:
    rows = list(store.query(f"SELECT ?s WHERE {{ ?s a <{TIP.Statistic}> }}"))
    names = {row["s"].value for row in rows}
    assert T + "dataset#statistic-country-ng" in names
    assert T + "dataset#statistic-year-2020" in names
    assert T + "dataset#statistic-class-Publication" in names
    assert all(name.startswith(T + "dataset#statistic-") for name in names)



def test_statistics_from_plain_triples_match_those_from_a_graph(seed_build_dir: Path) -> None:
    """The build hands over its closure as triples, not a Graph: same statistics either way."""
    graph = Graph()
    graph.parse(seed_build_dir / "current" / "tipgraph.nt", format="nt")
    statistic = set(graph.subjects(RDF.type, TIP.Statistic))
    assert statistic
    published = {t for t in graph if t[0] in statistic or t[1] == TIP.sortKey}
    closure = [t for t in graph if t not in published]
    from_triples = statistics_triples(iter(closure), T)
    assert set(from_triples) == published
    again = Graph()
    for triple in closure:
        again.add(triple)
    assert add_statistics(again, T) == len(statistic)
    assert set(again) == set(closure) | set(from_triples)


def test_sort_keys_list_publications_as_the_browse_pages_do(store: OxigraphStore) -> None:
    """``tip:sortKey`` (the shipped queries' order) is the browse pages' order."""
    rows = store.query(f"SELECT ?p ?k WHERE {{ ?p <{TIP.sortKey}> ?k }} ORDER BY ?k")
    keyed = [(row["p"].value, int(row["k"].value)) for row in rows]
    assert len(keyed) == 10 and len({k for _, k in keyed}) == 10  # one each, none shared
    assert [p for p, _ in keyed] == load_catalogue(store).uris


def test_sort_keys_follow_casefolded_titles_then_uris() -> None:
    graph = Graph().parse(data=f"""
        @prefix tip: <https://w3id.org/tipgraph/ontology#> .
        @prefix dct: <http://purl.org/dc/terms/> .
        <{T}z> a tip:Publication ; dct:title "Zebra"@en .
        <{T}b> a tip:Publication ; dct:title "apple"@en .
        <{T}a> a tip:Publication ; dct:title "Apple"@en .
        <{T}volume> dct:title "A volume, not a publication"@en .
    """, format="turtle")
    keys = {(str(s), int(o)) for s, p, o in statistics_triples(graph, T) if p == TIP.sortKey}
    # numbered afresh (no previous build): evenly spaced, room left between
    assert keys == {(T + "a", KEY_GAP), (T + "b", 2 * KEY_GAP), (T + "z", 3 * KEY_GAP)}
