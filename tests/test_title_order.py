"""Title order by ``tip:sortKey``: the rewritten queries give the rows the old ones gave.

The queries that list publications in title order used to sort on the titles
themselves (``ORDER BY ?title ?publication``), which Oxigraph does by decoding two
strings per comparison. They now sort on each publication's ``tip:sortKey``, an integer
the build gives it that orders the publications by title, and read the titles of their
page only.
:data:`OLD` keeps the former text of each: on the seed and on a synthetic build,
the whole answer of each new query is the old one's rows (only their order among
titles that differ by case may change), in case-insensitive title order, and its
pages, joined, are the whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyoxigraph
import pytest

from tipgraph.client import Client, Results
from tipgraph.queries import get_query, parse_query
from tipgraph.statistics import title_key, title_order

T = "https://w3id.org/tipgraph/"
ALL = "100000"  # a limit above any catalogue here: the whole answer in one page

#: The queries as they were before ``tip:sortKey``: ordered on the title strings
#: (their parameters written as constants, as the queries are now).
OLD = {
    "publications-without-author": """\
# param: limit = 100 (integer)
# param: offset = 0 (integer)
PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>

SELECT ?publication ?title ?year
WHERE {
  {
    SELECT ?publication ?title WHERE {
      # MINUS reads the creators once, in index order, not one lookup per publication
      ?publication a tip:Publication .
      MINUS { ?publication dct:creator ?anyone }
      ?publication dct:title ?title .
    }
    ORDER BY ?title ?publication
    LIMIT 100 OFFSET 0
  }
  # the year of the page's publications only
  OPTIONAL { ?publication dct:issued ?year }
}
ORDER BY ?title ?publication
""",
    "publications-in-region": """\
# param: region = West and Central Africa (string)
# param: limit = 100 (integer)
# param: offset = 0 (integer)
PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX gn: <https://www.geonames.org/ontology#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>

SELECT ?publication ?title ?year ?country ?countryName
WHERE {
  {
    # the page of publications first: the countries are read for these only
    SELECT DISTINCT ?publication ?title ?year ?place WHERE {
      # one match per region: its gn:name is one of its labels too, and a second
      # match would read each of its publications twice
      ?place a tip:Region ;
             skos:prefLabel|skos:altLabel ?label .
      FILTER(LCASE(STR(?label)) = LCASE("West and Central Africa"))
      # one join on the materialised dct:spatial: no UNION, no property path
      ?publication dct:spatial ?place ;
                   a tip:Publication ;
                   dct:title ?title .
      OPTIONAL { ?publication dct:issued ?year }
    }
    ORDER BY ?year ?title ?publication
    LIMIT 100 OFFSET 0
  }
  OPTIONAL {
    ?publication tip:statedCountry ?country .
    ?country gn:parentFeature ?place .
    # the label in its own OPTIONAL: a group of two patterns is looked up per
    # publication, where three would be joined with every stated country
    OPTIONAL { ?country skos:prefLabel ?countryName }
  }
}
ORDER BY ?year ?title ?publication ?countryName
""",
    "publications-by-organisation": """\
# param: organisation = UNHCR (string)
# param: limit = 100 (integer)
# param: offset = 0 (integer)
PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX schema: <https://schema.org/>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>

SELECT DISTINCT ?publication ?title ?year ?coAuthor
WHERE {
  {
    # the page of publications first: the co-authors are read for these only
    SELECT DISTINCT ?publication ?title ?year ?org WHERE {
      ?org a schema:Organization ;
           skos:prefLabel|skos:altLabel ?label .
      FILTER(LCASE(STR(?label)) = LCASE("UNHCR"))
      ?publication dct:creator ?org ;
                   a tip:Publication ;
                   dct:title ?title .
      OPTIONAL { ?publication dct:issued ?year }
    }
    ORDER BY DESC(?year) ?title ?publication
    LIMIT 100 OFFSET 0
  }
  # every creator, the organisation included; the organisation's own row keeps no name
  # (IF gives an error, BIND leaves ?coAuthor unbound) and is kept only when there is
  # no co-author. No FILTER inside an OPTIONAL names ?org: Virtuoso 7 drops such a FILTER.
  ?publication dct:creator ?other .
  OPTIONAL { ?other skos:prefLabel|foaf:name ?name }
  BIND(IF(?other != ?org, ?name, ?none) AS ?coAuthor)
  FILTER(BOUND(?coAuthor) || NOT EXISTS {
    ?publication dct:creator ?someone .
    # a nested EXISTS: as a join of two patterns, the engine would read every name
    FILTER(?someone != ?org && EXISTS { ?someone skos:prefLabel|foaf:name ?anyName })
  })
}
ORDER BY DESC(?year) ?title ?publication ?coAuthor
""",
    "historical-entities": """\
PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX gn: <https://www.geonames.org/ontology#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>

SELECT ?publication ?title ?year ?entity ?name ?code ?regionName
WHERE {
  ?publication a tip:Publication ;
               tip:statedCountry ?entity ;
               dct:title ?title .
  ?entity gn:featureCode <https://www.geonames.org/ontology#A.PCLH> ;
          skos:prefLabel ?name ;
          gn:countryCode ?code .
  OPTIONAL { ?publication dct:issued ?year }
  OPTIONAL { ?entity gn:parentFeature/skos:prefLabel ?regionName }
}
ORDER BY ?name ?title
""",
    "countries-outside-stated-regions": """\
PREFIX gn: <https://www.geonames.org/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX tip: <https://w3id.org/tipgraph/ontology#>

SELECT DISTINCT ?publication ?title ?countryName ?countryRegion ?statedRegionName
WHERE {
  # the few pairs where the stated region is not the country's own
  ?pair tip:facet "country-stated-region" ;
        rdf:value ?country, ?stated .
  ?country a tip:Country ;
           gn:parentFeature ?parent .
  ?stated a tip:Region .
  FILTER(?stated != ?parent)
  FILTER NOT EXISTS { ?stated gn:featureCode <https://www.geonames.org/ontology#L.AREA> }
  ?publication tip:statedRegion ?stated ;
               tip:statedCountry ?country ;
               a tip:Publication ;
               dct:title ?title .
  FILTER NOT EXISTS { ?publication tip:statedRegion ?parent }
  FILTER NOT EXISTS {
    ?publication tip:statedRegion ?world .
    ?world gn:featureCode <https://www.geonames.org/ontology#L.AREA> .
  }
  ?stated skos:prefLabel ?statedRegionName .
  ?country skos:prefLabel ?countryName .
  ?parent skos:prefLabel ?countryRegion .
}
ORDER BY ?title ?countryName ?statedRegionName
""",
}

#: Parameters each query is run with, besides its defaults (one set per run).
PARAMS: dict[str, list[dict[str, str]]] = {
    "publications-without-author": [{}],
    "publications-in-region": [{}, {"region": "Worldwide"}, {"region": "the caribbean"},
                               {"region": "Asia and the Pacific"}],
    "publications-by-organisation": [{}, {"organisation": "IOM"}, {"organisation": "OAS"},
                                     {"organisation": "Amnesty International"}],
    "historical-entities": [{}],
    "countries-outside-stated-regions": [{}],
}

#: Runs whose answer on the synthetic catalogue is short or empty by nature.
SHORT = {("publications-by-organisation", ()), ("countries-outside-stated-regions", ())}

#: Each query's order, as a sort key of a row: ``ORDER BY`` as the description states it.
Order = Callable[[dict[str, Any]], tuple]


def _title(row: dict[str, Any]) -> tuple[str, str]:
    return title_key(row["title"], row["publication"])


ORDERS: dict[str, Order] = {
    "publications-without-author": _title,
    # unbound years first (SPARQL orders an unbound value before any other)
    "publications-in-region": lambda row: (row["year"] or "", _title(row),
                                           row["countryName"] or ""),
    "historical-entities": lambda row: (row["name"], _title(row)),
    "countries-outside-stated-regions": lambda row: (_title(row), row["countryName"],
                                                     row["statedRegionName"]),
}


def in_order(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` in the order the query ``name`` promises."""
    if name == "publications-by-organisation":  # newest first: a stable sort on the year last
        rows = sorted(rows, key=lambda row: (_title(row), row["coAuthor"] or ""))
        return sorted(rows, key=lambda row: row["year"] or "", reverse=True)
    return sorted(rows, key=ORDERS[name])


def as_bag(results: Results) -> Counter:
    return Counter(tuple(sorted(row.items())) for row in results.rows)


def run_old(client: Client, name: str, params: dict[str, str]) -> Results:
    return client.run(parse_query(OLD[name], name=name), params)


def paged(name: str) -> bool:
    return any(p.name == "limit" for p in get_query(name).params)


@pytest.fixture(scope="module")
def seed(seed_build_dir: Path) -> Client:
    return Client.from_build(seed_build_dir)


@pytest.fixture(scope="module")
def synthetic(synthetic_build_dir: Path) -> Client:
    return Client.from_build(synthetic_build_dir)


CASES = [(name, params) for name, runs in PARAMS.items() for params in runs]


@pytest.mark.parametrize(("name", "params"), CASES,
                         ids=[f"{n}-{'-'.join(p.values()) or 'default'}" for n, p in CASES])
@pytest.mark.parametrize("catalogue", ["seed", "synthetic"])
def test_new_query_gives_the_old_rows_in_title_order(name: str, params: dict[str, str],
                                                     catalogue: str,
                                                     request: pytest.FixtureRequest) -> None:
    client: Client = request.getfixturevalue(catalogue)
    whole = {**params, "limit": ALL} if paged(name) else params
    new, old = client.run(name, whole), run_old(client, name, whole)
    assert new.variables == old.variables
    assert as_bag(new) == as_bag(old)
    assert new.rows == in_order(name, new.rows)
    if catalogue == "synthetic" and (name, tuple(params.values())) not in SHORT:
        assert len(new) > 2, (name, params)  # a real list, not a vacuous agreement


@pytest.mark.parametrize(("name", "params"),
                         [(n, p) for n, p in CASES if paged(n)],
                         ids=[f"{n}-{'-'.join(p.values()) or 'default'}"
                              for n, p in CASES if paged(n)])
def test_pages_joined_are_the_whole(name: str, params: dict[str, str],
                                    synthetic: Client) -> None:
    whole = synthetic.run(name, {**params, "limit": ALL}).rows
    publications = list(dict.fromkeys(row["publication"] for row in whole))
    size = 7
    pages = [synthetic.run(name, {**params, "limit": str(size), "offset": str(offset)}).rows
             for offset in range(0, len(publications) + size, size)]
    assert [row for page in pages for row in page] == whole
    assert pages[-1] == []
    # the default page is the head of the whole
    first = synthetic.run(name, params).rows
    assert first == [row for row in whole
                     if row["publication"] in set(publications[:100])]


def test_every_publication_has_one_key_ordering_it_by_title(synthetic: Client) -> None:
    rows = synthetic.sparql("""
        PREFIX tip: <https://w3id.org/tipgraph/ontology#>
        PREFIX dct: <http://purl.org/dc/terms/>
        SELECT ?publication ?title ?key WHERE {
          ?publication a tip:Publication ; dct:title ?title .
          OPTIONAL { ?publication tip:sortKey ?key }
        } ORDER BY ?key""").rows
    assert len(rows) == 400
    keys = [row["key"] for row in rows]
    assert all(isinstance(key, int) for key in keys) and len(set(keys)) == 400
    assert [row["publication"] for row in rows] == title_order(
        {row["publication"]: row["title"] for row in rows})
    keyed = synthetic.sparql("PREFIX tip: <https://w3id.org/tipgraph/ontology#> "
                             "SELECT (COUNT(*) AS ?n) WHERE { ?s tip:sortKey ?k }").rows
    assert keyed == [{"n": 400}]  # nothing but the publications has one


def test_titles_differing_by_case_are_listed_case_insensitively(
        store_with_statistics: Callable[[str], pyoxigraph.Store]) -> None:
    # the old queries put every capital before every small letter ("Zebra" < "apple")
    client = Client(store=store_with_statistics(f"""
        @prefix tip: <https://w3id.org/tipgraph/ontology#> .
        @prefix dct: <http://purl.org/dc/terms/> .
        @prefix gn: <https://www.geonames.org/ontology#> .
        @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
        <{T}z> a tip:Publication ; dct:title "Zebra crossings"@en ;
            tip:statedCountry <{T}place/ng> ; tip:statedRegion <{T}place/car> .
        <{T}a> a tip:Publication ; dct:title "apple crisis"@en ; dct:abstract "Crisis."@en ;
            tip:statedCountry <{T}place/ng> ; tip:statedRegion <{T}place/car> .
        <{T}b> a tip:Publication ; dct:title "Apple crisis"@en .
        <{T}place/ng> a tip:Country ; skos:prefLabel "Nigeria"@en ;
            gn:parentFeature <{T}place/wca> .
        <{T}place/wca> a tip:Region ; skos:prefLabel "West and Central Africa"@en .
        <{T}place/car> a tip:Region ; skos:prefLabel "the Caribbean"@en .
    """))
    listed = [row["publication"] for row in client.run("publications-without-author").rows]
    assert listed == [T + "a", T + "b", T + "z"]
    old = [row["publication"] for row in run_old(client, "publications-without-author", {}).rows]
    assert old == [T + "b", T + "z", T + "a"]
    outside = client.run("countries-outside-stated-regions").rows
    assert [row["publication"] for row in outside] == [T + "a", T + "z"]
    old_outside = run_old(client, "countries-outside-stated-regions", {})
    assert as_bag(old_outside) == Counter(tuple(sorted(r.items())) for r in outside)
