"""A page of a text search ordered by its score is answered from the search's best hits:
the same page as from all of them.

A common word is a third of the publications (325,000 hits at a million); joined all
with the rest of a query it took 25 s, for a page of 100. Each query here is asked of
the endpoint (Flask's test client over the synthetic build), which hands the engine
the best hits only, and compared with the same query answered from every hit
(:func:`~tipgraph.serving.text_sparql.rewrite` without a ``count``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tipgraph.client import Client, run_on_store
from tipgraph.serving.text_sparql import rewrite
from tipgraph.serving.textindex import TEXT_FILE, TextIndex
from tipgraph.web import create_app

BASE = "https://w3id.org/tipgraph/"
PREFIXES = """PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
"""
#: The shipped query's shape: a page of the best-scored, in title order among equals.
PAGE = PREFIXES + """SELECT ?p ?title ?score WHERE {{
  {{ SELECT ?p ?score ?key WHERE {{
      ?p tip:matches "{search}" ; tip:matchScore ?score ; tip:sortKey ?key .
    }} ORDER BY DESC(?score) ?key LIMIT {limit} OFFSET {offset} }}
  ?p dct:title ?title .
}} ORDER BY DESC(?score) ?key"""

QUERIES = {
    "first page": PAGE.format(search="protection", limit=5, offset=0),
    "a later page": PAGE.format(search="traffick", limit=4, offset=9),
    "ordered at the top": PREFIXES + """SELECT ?p ?score WHERE {
        ?p tip:matches "labour" ; tip:matchScore ?score } ORDER BY DESC(?score) ?p LIMIT 6""",
    # most hits fail the filter: the best ones are not enough, the search widens
    "a filter keeping few": PREFIXES + """SELECT ?p ?year WHERE {
        ?p tip:matches "traffick" ; tip:matchScore ?score ; dct:issued ?year .
        FILTER(STR(?year) < "2004") } ORDER BY DESC(?score) ?p LIMIT 5""",
    # places and organisations only, among hits that are mostly publications
    "labels only": PREFIXES + """SELECT ?x ?label WHERE {
        ?x tip:matches "a" ; tip:matchScore ?s ; skos:prefLabel ?label .
        } ORDER BY DESC(?s) ?x LIMIT 3""",
    "distinct years": PREFIXES + """SELECT DISTINCT ?year WHERE {
        ?p tip:matches "protection" ; tip:matchScore ?s . ?p dct:issued ?year .
        } ORDER BY DESC(?s) ?year LIMIT 4""",
    "an optional and a minus": PREFIXES + """SELECT ?p ?abstract WHERE {
        ?p tip:matches "victim" ; tip:matchScore ?s .
        OPTIONAL { ?p dct:abstract ?abstract } MINUS { ?p dct:issued "2010" }
        } ORDER BY DESC(?s) ?p LIMIT 7 OFFSET 2""",
    "nothing kept": PREFIXES + """SELECT ?p WHERE {
        ?p tip:matches "protection" ; tip:matchScore ?s . FILTER(false)
        } ORDER BY DESC(?s) LIMIT 3""",
}


@pytest.fixture(scope="module")
def app_client(synthetic_build_dir: Path) -> Iterator[FlaskClient]:
    yield create_app({"build_dir": str(synthetic_build_dir)}).test_client()


@pytest.fixture(scope="module")
def index(synthetic_build_dir: Path) -> TextIndex:
    found = TextIndex.open(synthetic_build_dir / "current" / TEXT_FILE)
    assert found is not None
    return found


def endpoint_rows(client: FlaskClient, query: str) -> list[tuple[str, ...]]:
    response = client.post("/sparql", data={"query": query},
                           headers={"Accept": "application/sparql-results+json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = json.loads(response.get_data(as_text=True))
    names = body["head"]["vars"]
    return [tuple(row.get(name, {}).get("value", "") for name in names)
            for row in body["results"]["bindings"]]


def rows_from_every_hit(build_dir: Path, index: TextIndex, query: str
                        ) -> list[tuple[str, ...]]:
    results = run_on_store(Client.from_build(build_dir).store, rewrite(query, index))
    return [tuple("" if value is None else str(value) for value in row.values())
            for row in results.rows]


@pytest.mark.parametrize("name", QUERIES)
def test_a_page_by_score_is_the_page_every_hit_gives(
        app_client: FlaskClient, synthetic_build_dir: Path, index: TextIndex,
        name: str) -> None:
    query = QUERIES[name]
    expected = rows_from_every_hit(synthetic_build_dir, index, query)
    found = endpoint_rows(app_client, query)
    # the same solutions in the same order (scores compared as the engine writes them)
    assert [row[0] for row in found] == [row[0] for row in expected]
    assert len(found) == len(expected)
    if name != "nothing kept":
        assert found


def test_the_engine_is_handed_the_best_hits_only(
        synthetic_build_dir: Path, index: TextIndex) -> None:
    query = QUERIES["first page"]
    every = len(index.hits("protection", scores=False))
    store = Client.from_build(synthetic_build_dir).store
    counted: list[str] = []

    def count(check: str) -> int:
        counted.append(check)
        return int(next(iter(store.query(check)))["tipgraph_rows"].value)

    handed = rewrite(query, index, count).count(f"<{BASE}publication/")
    assert every > 20  # a word common enough to narrow
    assert 5 <= handed < every // 2
    assert len(counted) == 1  # the store was asked once whether they were enough


def test_hits_tying_the_last_best_are_all_handed(store_with_statistics) -> None:  # type: ignore[no-untyped-def]
    # thirty titles alike: one score for all; the page is the first five in title order
    store = store_with_statistics("@prefix tip: <https://w3id.org/tipgraph/ontology#> .\n"
                                  "@prefix dct: <http://purl.org/dc/terms/> .\n" + "".join(
        f'<{BASE}publication/p{n:02}> a tip:Publication ; dct:title "Crisis report {n:02}" .\n'
        for n in range(30)))
    client = Client(store=store)
    query = PAGE.format(search="crisis", limit=5, offset=3)
    titles = [row["title"] for row in client.sparql(query).rows]
    assert titles == [f"Crisis report {n:02}" for n in range(3, 8)]
    index = client.text_index
    assert index is not None
    best, every = index.best_hits("crisis", 8)
    assert len(best) == 30 and every  # all tie the eighth: all of them, and that is all
    assert len({score for _, score in best}) == 1
