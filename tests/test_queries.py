"""The shipped queries: each one's real answer on the seed build, and safe parameter binding."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pyoxigraph
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib.plugins.sparql.parser import parseQuery

from tipgraph.client import Client, Results
from tipgraph.queries import (
    QUERIES_DIR,
    Param,
    QueryTextError,
    get_query,
    parse_query,
    shipped_queries,
)

T = "https://w3id.org/tipgraph/"
NIGERIA_RECORD = T + "publication/community-engagement-in-preventing-and-responding-to-gender"
LEGAL_REVIEW = T + "publication/legal-review-on-trafficking-in-persons-in-the-caribbean"
CRISIS = T + "publication/addressing-human-trafficking-and-exploitation-in-times-of"
CARING = T + "publication/caring-for-trafficked-persons-guidance-for-health-providers"
SOP = T + "publication/developing-standard-operating-procedures-to-facilitate-the"
IOM = "International Organization for Migration"
UNHCR = "United Nations High Commissioner for Refugees"
CARIBBEAN_COUNTRIES = ["Bahamas", "Barbados", "Guyana", "Jamaica", "Netherlands Antilles",
                       "Saint Lucia", "Suriname", "Trinidad and Tobago"]
BALKAN_COUNTRIES = ["Albania", "Bosnia and Herzegovina", "Kosovo", "Montenegro",
                    "North Macedonia", "Serbia"]


@pytest.fixture(scope="module")
def client(seed_build_dir: Path) -> Client:
    return Client.from_build(seed_build_dir)


def column(results: Results, name: str) -> list:
    return [row[name] for row in results.rows]


# -- the library itself ---------------------------------------------------------------------------


def test_at_least_twelve_queries_each_with_title_description_and_order_by() -> None:
    queries = shipped_queries()
    assert len(queries) >= 12
    for query in queries:
        assert query.title and query.title != query.name, query.name
        assert query.description, query.name
        # in a researcher's words: no vocabulary terms (those are for the comments below)
        assert not re.search(r"\b[a-z]+:[A-Za-z]", query.description), query.name
        assert re.search(r"^ORDER BY ", query.text, re.MULTILINE), query.name
        assert query.path == QUERIES_DIR / f"{query.name}.rq"
        for param in query.params:
            assert param.default is not None, (query.name, param.name)
            assert param.lines, f"{query.name}: the header says where {param.name} stands"


def test_every_shipped_query_is_valid_sparql_as_stored() -> None:
    # a second parser (rdflib's), besides the engines the query runs on in other tests
    for query in shipped_queries():
        assert query.bind() == query.text, query.name  # the defaults are written in place
        assert not re.search(r"\b(LIMIT|OFFSET)\s+[?$]", query.text), query.name
        assert "VALUES" not in query.text.upper(), query.name
        parseQuery(query.text)


def test_header_names_where_each_default_stands() -> None:
    for query in shipped_queries():
        lines = query.text.splitlines()
        for param in query.params:
            written = str(param.term(param.default)) if param.type != "integer" \
                else param.default
            for line in param.lines:
                assert written in lines[line - 1], (query.name, param.name, line)
            # and nowhere else: binding replaces exactly those constants
            others = [n for n, text in enumerate(lines, 1)
                      if written in text and n not in param.lines and not text.startswith("#")]
            assert others == [] or param.type == "integer", (query.name, param.name, others)


def test_every_shipped_query_runs_on_the_seed_build(client: Client) -> None:
    for query in shipped_queries():
        results = client.run(query)
        assert results.form == query.form
        if query.name != "countries-outside-stated-regions":  # the seed is consistent
            assert len(results) > 0, query.name


# -- each query's answer on the seed ---------------------------------------------------------------


def test_publications_per_country(client: Client) -> None:
    results = client.run("publications-per-country")
    assert column(results, "name") == sorted(CARIBBEAN_COUNTRIES + BALKAN_COUNTRIES + ["Nigeria"])
    assert set(column(results, "publications")) == {1}
    nigeria = next(row for row in results.rows if row["name"] == "Nigeria")
    assert nigeria["region"] == T + "place/west-and-central-africa"


def test_publications_per_region_counts_those_inferred_through_countries(client: Client) -> None:
    results = client.run("publications-per-region")
    assert [(r["name"], r["publications"], r["naming_the_region"]) for r in results.rows] == [
        ("Worldwide", 7, 7),
        ("Central and North America and the Caribbean", 1, 1),
        ("South-Eastern Europe, Eastern Europe and Central Asia", 1, 1),
        ("West and Central Africa", 1, 1),
    ]


def test_publications_per_year(client: Client) -> None:
    results = client.run("publications-per-year")
    assert [(r["year"], r["publications"]) for r in results.rows] == [
        ("2009", 2), ("2010", 3), ("2014", 1), ("2015", 1), ("2017", 1), ("2020", 2)]


def test_publications_per_organisation(client: Client) -> None:
    results = client.run("publications-per-organisation")
    assert [(r["name"], r["publications"], r["latest"]) for r in results.rows] == [
        (IOM, 2, "2010"),
        ("Office of the Special Representative of the Secretary-General on Sexual Violence "
         "in Conflict", 1, "2020"),
        ("Sweden's Ministry of Justice", 1, "2010"),
        (UNHCR, 1, "2009"),
    ]


def test_nigeria_record_is_under_west_and_central_africa(client: Client) -> None:
    results = client.run("publications-in-region")  # default: West and Central Africa
    assert results.rows == [{
        "publication": NIGERIA_RECORD,
        "title": "Community Engagement in Preventing and Responding to Gender-based Violence "
                 "and Trafficking in Persons (Training Guide)",
        "year": "2020", "country": T + "place/ng", "countryName": "Nigeria"}]


def test_region_is_found_by_any_of_its_labels(client: Client) -> None:
    results = client.run("publications-in-region", region="the caribbean")
    assert set(column(results, "publication")) == {LEGAL_REVIEW}
    assert column(results, "countryName") == CARIBBEAN_COUNTRIES
    balkans = client.run("publications-in-region", region="South-Eastern Europe")
    assert column(balkans, "countryName") == BALKAN_COUNTRIES


def test_region_query_reads_the_materialised_region_of_each_country() -> None:
    # the build states dct:spatial to the region of every stated country: the query is one
    # join on it, so a store holding only the asserted data does not answer it
    store = pyoxigraph.Store()
    store.load(f"""
        @prefix tip: <https://w3id.org/tipgraph/ontology#> .
        @prefix dct: <http://purl.org/dc/terms/> .
        @prefix gn: <https://www.geonames.org/ontology#> .
        @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
        <{T}p> a tip:Publication ; dct:title "P"@en ; dct:spatial <{T}place/ng> ;
            tip:statedCountry <{T}place/ng> ; tip:sortKey 0 .
        <{T}place/ng> gn:parentFeature <{T}place/wca> ; skos:prefLabel "Nigeria"@en .
        <{T}place/wca> a tip:Region ; skos:prefLabel "West and Central Africa"@en .
    """, format=pyoxigraph.RdfFormat.TURTLE)
    assert Client(store=store).run("publications-in-region").rows == []
    store.add(pyoxigraph.Quad(pyoxigraph.NamedNode(T + "p"),
                              pyoxigraph.NamedNode("http://purl.org/dc/terms/spatial"),
                              pyoxigraph.NamedNode(T + "place/wca")))
    results = Client(store=store).run("publications-in-region")
    assert column(results, "publication") == [T + "p"]
    assert column(results, "countryName") == ["Nigeria"]


@pytest.mark.parametrize(("name", "params"), [
    ("publications-in-region", {"region": "Worldwide"}),
    ("publications-without-author", {}),
    ("search-titles-abstracts", {"text": "traffick"}),
    ("publications-by-organisation", {"organisation": IOM}),
])
def test_list_queries_read_page_by_page(client: Client, name: str, params: dict) -> None:
    whole = client.run(name, **params).rows
    publications = list(dict.fromkeys(column(client.run(name, **params), "publication")))
    assert len(publications) >= 2, name
    pages = [client.run(name, **params, limit="2", offset=str(offset)).rows
             for offset in range(0, len(publications), 2)]
    assert [row for page in pages for row in page] == whole
    assert client.run(name, **params, limit="2", offset=str(len(publications))).rows == []


def test_iom_and_unhcr_are_co_publishers(client: Client) -> None:
    results = client.run("co-publishing-organisations")
    assert [(r["first"], r["second"], r["publications"]) for r in results.rows] == [
        (IOM, "Sweden's Ministry of Justice", 1),
        (IOM, UNHCR, 1),
    ]


def test_persons_who_published_with_iom(client: Client) -> None:
    results = client.run("persons-with-organisation")  # default: IOM
    assert [(r["name"], r["role"]) for r in results.rows] == [
        ("G. Liu", "author in a volume it published"),
        ("M. Klein Solomon", "editor of a volume it published"),
        ("M. McAuliffe", "editor of a volume it published"),
    ]
    assert client.run("persons-with-organisation", organisation="UNHCR").rows == []


def test_publications_of_an_organisation(client: Client) -> None:
    unhcr = client.run("publications-by-organisation")  # default: UNHCR
    assert [(r["publication"], r["coAuthor"]) for r in unhcr.rows] == [(SOP, IOM)]
    iom = client.run("publications-by-organisation",
                     organisation="International Organization for Migration")
    assert [(r["year"], r["coAuthor"]) for r in iom.rows] == [
        ("2010", "Sweden's Ministry of Justice"), ("2009", UNHCR)]


def test_publications_without_a_named_author(client: Client) -> None:
    results = client.run("publications-without-author")
    assert column(results, "publication") == [CRISIS, CARING, LEGAL_REVIEW]
    assert column(results, "year") == ["2015", "2009", "2010"]


def test_years_each_country_is_covered(client: Client) -> None:
    results = client.run("country-coverage-years")
    rows = {r["name"]: (r["first"], r["last"], r["publications"]) for r in results.rows}
    assert len(rows) == 15
    assert rows["Nigeria"] == ("2020", "2020", 1)
    assert rows["Netherlands Antilles"] == ("2010", "2010", 1)
    assert rows["Kosovo"] == ("2014", "2014", 1)
    assert column(results, "name") == sorted(rows)


def test_full_record_of_one_publication(client: Client) -> None:
    results = client.run("publication-record")
    assert results.form == "CONSTRUCT"
    triples = {(t.subject.value, t.predicate.value, t.object.value) for t in results.triples}
    dct = "http://purl.org/dc/terms/"
    assert (NIGERIA_RECORD, dct + "issued", "2020") in triples
    assert (NIGERIA_RECORD, dct + "spatial", T + "place/west-and-central-africa") in triples
    assert (NIGERIA_RECORD, dct + "creator", T + "person/shukri-hirabe-gesod") in triples
    assert (T + "place/ng", "http://www.w3.org/2004/02/skos/core#prefLabel", "Nigeria") in triples
    assert (T + "person/shukri-hirabe-gesod", "http://xmlns.com/foaf/0.1/name",
            "Shukri Hirabe Gesod") in triples
    assert {s for s, _, _ in triples} == {
        NIGERIA_RECORD, T + "place/ng", T + "place/west-and-central-africa",
        T + "person/shukri-hirabe-gesod", T + "concept/trafficking",
        T + "source/000_9daa3158183ee0eb.txt#line-49"}
    assert "@prefix dct:" in results.serialize("ttl")


def test_word_search_over_titles_and_abstracts(client: Client) -> None:
    crisis = client.run("search-titles-abstracts")  # default: crisis
    assert [r["publication"] for r in crisis.rows] == [CRISIS]
    assert crisis.rows[0]["score"] > 0
    abstract_only = client.run("search-titles-abstracts", text="NSCDC")  # in an abstract
    assert [r["publication"] for r in abstract_only.rows] == [NIGERIA_RECORD]
    assert client.run("search-titles-abstracts", text="no such words here").rows == []


def test_netherlands_antilles_is_a_historical_entity(client: Client) -> None:
    results = client.run("historical-entities")
    assert [(r["publication"], r["name"], r["code"], r["regionName"]) for r in results.rows] == [
        (LEGAL_REVIEW, "Netherlands Antilles", "AN",
         "Central and North America and the Caribbean")]


def test_data_quality_query_is_empty_on_the_consistent_seed(client: Client) -> None:
    assert client.run("countries-outside-stated-regions").rows == []


def test_data_quality_query_finds_a_country_outside_the_stated_regions(
        store_with_statistics: Callable[[str], pyoxigraph.Store]) -> None:
    store = store_with_statistics(f"""
        @prefix tip: <https://w3id.org/tipgraph/ontology#> .
        @prefix dct: <http://purl.org/dc/terms/> .
        @prefix gn: <https://www.geonames.org/ontology#> .
        @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
        <{T}bad> a tip:Publication ; dct:title "Mixed up"@en ;
            tip:statedCountry <{T}place/ng> ; tip:statedRegion <{T}place/car> .
        <{T}fine> a tip:Publication ; dct:title "Fine"@en ;
            tip:statedCountry <{T}place/ng> ; tip:statedRegion <{T}place/wca> .
        <{T}global> a tip:Publication ; dct:title "Global"@en ;
            tip:statedCountry <{T}place/ng> ; tip:statedRegion <{T}place/world> .
        <{T}place/ng> a tip:Country ; skos:prefLabel "Nigeria"@en ;
            gn:parentFeature <{T}place/wca> .
        <{T}place/wca> a tip:Region ; skos:prefLabel "West and Central Africa"@en .
        <{T}place/car> a tip:Region ; skos:prefLabel "the Caribbean"@en .
        <{T}place/world> a tip:Region ; skos:prefLabel "Worldwide"@en ;
            gn:featureCode <https://www.geonames.org/ontology#L.AREA> .
    """)
    results = Client(store=store).run("countries-outside-stated-regions")
    assert results.rows == [{"publication": T + "bad", "title": "Mixed up",
                             "countryName": "Nigeria", "countryRegion": "West and Central Africa",
                             "statedRegionName": "the Caribbean"}]
    assert Client(store=store).sparql(PREFIXES + COUNTED["countries-outside-stated-regions"]
                                      ).rows == results.rows


def test_edited_volumes_and_their_chapters(client: Client) -> None:
    results = client.run("edited-volumes")
    assert [(r["volumeTitle"], r["publisher"], r["editor"], r["chapter"])
            for r in results.rows] == [
        ("Ideas To Inform International Cooperation On Safe, Orderly, Regular Migration", IOM,
         editor, T + "publication/national-referral-mechanisms-for-victims-of-human")
        for editor in ("M. Klein Solomon", "M. McAuliffe")]


# -- the counting queries read the published statistics: same answers as counting ---------------

PREFIXES = """
PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX gn: <https://www.geonames.org/ontology#>
PREFIX schema: <https://schema.org/>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
"""

#: Each statistics-reading query, as a scan of the publications would answer it.
COUNTED = {
    "publications-per-year": """
        SELECT ?year (COUNT(?publication) AS ?publications)
        WHERE { ?publication a tip:Publication ; dct:issued ?year }
        GROUP BY ?year ORDER BY ?year""",
    "publications-per-country": """
        SELECT ?country ?name ?region ?publications WHERE {
          { SELECT ?country (COUNT(DISTINCT ?publication) AS ?publications)
            WHERE { ?publication tip:statedCountry ?country } GROUP BY ?country }
          ?country skos:prefLabel ?name .
          OPTIONAL { ?country gn:parentFeature ?region }
        } ORDER BY DESC(?publications) ?name""",
    "publications-per-region": """
        SELECT ?region ?name ?publications ?naming_the_region WHERE {
          { SELECT ?region (COUNT(DISTINCT ?publication) AS ?publications)
            WHERE { ?region a tip:Region . ?publication dct:spatial ?region ; a tip:Publication }
            GROUP BY ?region }
          { SELECT ?region (COUNT(DISTINCT ?publication) AS ?naming_the_region)
            WHERE { ?region a tip:Region . OPTIONAL { ?publication tip:statedRegion ?region } }
            GROUP BY ?region }
          ?region skos:prefLabel ?name .
        } ORDER BY DESC(?publications) ?name""",
    "publications-per-organisation": """
        SELECT ?organisation ?name ?publications ?latest WHERE {
          { SELECT ?organisation (COUNT(DISTINCT ?publication) AS ?publications) WHERE {
              ?publication dct:creator ?organisation ; a tip:Publication .
              ?organisation a schema:Organization } GROUP BY ?organisation }
          OPTIONAL { SELECT ?organisation (MAX(?year) AS ?latest) WHERE {
              ?publication dct:creator ?organisation ; a tip:Publication ; dct:issued ?year .
              ?organisation a schema:Organization } GROUP BY ?organisation }
          ?organisation skos:prefLabel ?name .
        } ORDER BY DESC(?publications) ?name""",
    "country-coverage-years": """
        SELECT ?country ?name ?first ?last ?publications WHERE {
          { SELECT ?country (COUNT(DISTINCT ?publication) AS ?publications)
            WHERE { ?publication tip:statedCountry ?country } GROUP BY ?country }
          OPTIONAL { SELECT ?country (MIN(?year) AS ?first) (MAX(?year) AS ?last)
            WHERE { ?publication tip:statedCountry ?country ; dct:issued ?year }
            GROUP BY ?country }
          ?country skos:prefLabel ?name .
        } ORDER BY ?name""",
    "co-publishing-organisations": """
        SELECT ?first ?second ?publications WHERE {
          { SELECT ?a ?b (COUNT(DISTINCT ?publication) AS ?publications) WHERE {
              ?a a schema:Organization . ?b a schema:Organization .
              ?publication dct:creator ?a, ?b ; a tip:Publication . FILTER(?a != ?b) }
            GROUP BY ?a ?b }
          ?a skos:prefLabel ?first . ?b skos:prefLabel ?second .
          FILTER(STR(?first) < STR(?second))
        } ORDER BY DESC(?publications) ?first ?second""",
    "countries-outside-stated-regions": """
        SELECT DISTINCT ?publication ?title ?countryName ?countryRegion ?statedRegionName
        WHERE {
          ?publication a tip:Publication ; dct:title ?title ; tip:sortKey ?key ;
                       tip:statedCountry ?country ; tip:statedRegion ?stated .
          ?stated skos:prefLabel ?statedRegionName .
          ?country skos:prefLabel ?countryName ; gn:parentFeature ?parent .
          ?parent skos:prefLabel ?countryRegion .
          FILTER NOT EXISTS { ?publication tip:statedRegion ?parent }
          FILTER NOT EXISTS { ?publication tip:statedRegion ?world .
                              ?world gn:featureCode <https://www.geonames.org/ontology#L.AREA> }
        } ORDER BY ?key ?countryName ?statedRegionName""",
}


@pytest.fixture(scope="module")
def synthetic(synthetic_build_dir: Path) -> Client:
    return Client.from_build(synthetic_build_dir)


@pytest.mark.parametrize("name", sorted(COUNTED))
def test_statistics_queries_answer_as_counting_would(name: str, client: Client,
                                                      synthetic: Client) -> None:
    for built in (client, synthetic):
        answer = built.run(name)
        counted = built.sparql(PREFIXES + COUNTED[name])
        assert answer.variables == counted.variables
        assert answer.rows == counted.rows, name
    if name != "countries-outside-stated-regions":  # the synthetic catalogue is consistent
        assert len(synthetic.run(name)) > 1
    if name.startswith("publications-per") or name == "country-coverage-years":
        assert any(isinstance(v, int) and v > 1 for row in synthetic.run(name).rows
                   for v in row.values()), name


# -- headers and binding ---------------------------------------------------------------------------


def test_header_is_parsed() -> None:
    query = get_query("publications-in-region")
    assert query.title == "Publications about a region, its countries included"
    assert query.description.startswith("What has been published about a region?")
    assert query.params == (Param("region", "West and Central Africa", "string", (23,)),
                            Param("limit", "100", "integer", (31,)),
                            Param("offset", "0", "integer", (31,)))
    assert query.form == "SELECT"
    assert get_query("publication-record.rq").form == "CONSTRUCT"


def test_bad_param_line_is_reported() -> None:
    with pytest.raises(QueryTextError, match="should read 'name = default \\(type\\)'"):
        parse_query("# param: region West Africa\nSELECT ?region WHERE {} ORDER BY ?region")
    with pytest.raises(QueryTextError, match="type among"):
        parse_query("# param: region = x (colour)\nSELECT * WHERE {}")


def test_unknown_and_missing_parameters_are_reported() -> None:
    with pytest.raises(QueryTextError,
                       match="has no parameter 'country' \\(it takes region, limit, offset\\)"):
        get_query("publications-in-region").bind({"country": "Nigeria"})
    with pytest.raises(QueryTextError, match="the parameter word has no default"):
        parse_query("# param: word = (string)\nSELECT ?x WHERE { BIND(\"\" AS ?x) }",
                    name="q")


def test_a_default_not_where_the_header_says_is_reported() -> None:
    with pytest.raises(QueryTextError, match=r'default of the parameter word, "crisis", is not '
                                             r"written on line 2"):
        parse_query('# param: word = crisis (string), on line 2\nSELECT ?x WHERE {\n'
                    '  BIND(1 AS ?x) FILTER("crisis" != "") }', name="q")
    # the form before: a variable where the constant should stand
    with pytest.raises(QueryTextError, match=r"it uses \?word: write the default there instead"):
        parse_query("# param: word = crisis (string)\nSELECT ?word WHERE { }", name="q")
    with pytest.raises(QueryTextError, match="the parameters limit and offset both stand at"):
        parse_query("# param: limit = 5 (integer)\n# param: offset = 5 (integer)\n"
                    "SELECT * WHERE { } LIMIT 5 OFFSET 5", name="q")


def test_unknown_query_name_lists_the_shipped_ones() -> None:
    with pytest.raises(QueryTextError, match=r"no shipped query 'nope'.*publications-per-year"):
        get_query("nope")
    with pytest.raises(QueryTextError):
        get_query("../pyproject")


ECHO = parse_query("# param: value = x (string), on line 2\n"
                   'SELECT ?echo WHERE { BIND("x" AS ?echo) } ORDER BY ?echo', name="echo")

HOSTILE = [
    'x" } UNION { ?s ?p ?o } #',
    "x' } UNION { ?s ?p ?o } #",
    '"""} UNION {"""',
    "a\\\" } UNION { ?s ?p ?o . FILTER(true) } \\",
    "} UNION { ?publication ?p ?o }",
    "line one\n} UNION {\r\n?s ?p ?o",
    "<https://example.org/> { } # comment",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_value_stays_one_literal(value: str) -> None:
    results = Client(store=pyoxigraph.Store()).run(ECHO, value=value)
    assert results.rows == [{"echo": value}]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_value_cannot_change_a_shipped_query(client: Client, value: str) -> None:
    # a value that broke out of its literal would match every publication
    assert client.run("publications-in-region", region=value).rows == []
    assert client.run("search-titles-abstracts", text=value).rows == []
    assert client.run("persons-with-organisation", organisation=value).rows == []


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=40))
def test_any_text_round_trips_as_a_literal(value: str) -> None:
    results = Client(store=pyoxigraph.Store()).run(ECHO, value=value)
    assert results.rows == [{"echo": value}]


def test_typed_parameters_become_typed_terms() -> None:
    query = parse_query(
        "# param: year = 2010 (gYear), on line 7\n# param: page = x:p (iri), on line 7\n"
        "# param: n = 3 (integer), on line 7\n# param: title = Hello (string@en), on line 7\n"
        "# param: ok = true (boolean)\nPREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n"
        'SELECT ?year ?page ?n ?title ?ok WHERE { BIND("2010"^^xsd:gYear AS ?year) '
        'BIND(<x:p> AS ?page) BIND(3 AS ?n) BIND("Hello"@en AS ?title) BIND(true AS ?ok) }',
        name="typed")
    store = pyoxigraph.Store()
    assert Client(store=store).run(query).rows == [
        {"year": "2010", "page": "x:p", "n": 3, "title": "Hello", "ok": True}]
    results = Client(store=store).run(query, page="https://w3id.org/tipgraph/place/ng",
                                      year="1999", n="-4", title='Hi" }', ok="false")
    year, page, _, title, _ = results.terms[0]
    assert year == pyoxigraph.Literal(
        "1999", datatype=pyoxigraph.NamedNode("http://www.w3.org/2001/XMLSchema#gYear"))
    assert page == pyoxigraph.NamedNode("https://w3id.org/tipgraph/place/ng")
    assert results.rows[0]["n"] == -4
    assert title == pyoxigraph.Literal('Hi" }', language="en")
    assert results.rows[0]["ok"] is False


@pytest.mark.parametrize(("kind", "value"), [
    ("iri", "https://example.org/> } UNION { ?s ?p ?o } <x:y"),
    ("iri", "not an iri"),
    ("integer", "1 } UNION { ?s ?p ?o"),
    ("gYear", "2010\" } #"),
    ("boolean", "maybe"),
])
def test_value_that_is_not_of_its_type_is_refused(kind: str, value: str) -> None:
    with pytest.raises(QueryTextError, match=f"is not a valid {kind}"):
        Param("p", None, kind).term(value)


def test_only_the_constants_on_the_named_lines_are_replaced() -> None:
    store = pyoxigraph.Store()
    query = parse_query('# param: word = hi (string), on line 3\nSELECT ?v ?w ?braces WHERE {\n'
                        '  BIND("hi" AS ?v)\n  BIND("hi" AS ?w) BIND("{ } # \\"hi\\"" AS ?braces)'
                        '\n}', name="q")
    assert Client(store=store).run(query, word="} UNION {").rows == [
        {"v": "} UNION {", "w": "hi", "braces": '{ } # "hi"'}]
    construct = parse_query("# param: v = hi (string), on line 2\n"
                            'CONSTRUCT { <x:s> <x:p> ?o } WHERE { BIND("hi" AS ?o) }', name="c")
    triples = Client(store=store).run(construct, v="there").triples
    assert [t.object.value for t in triples] == ["there"]


def test_integer_parameters_page_a_list_with_limit_and_offset() -> None:
    store = pyoxigraph.Store()
    for n in range(5):
        store.add(pyoxigraph.Quad(pyoxigraph.NamedNode(f"x:s{n}"), pyoxigraph.NamedNode("x:p"),
                                  pyoxigraph.Literal(str(n))))
    query = parse_query("# param: limit = 2 (integer), on line 3\n"
                        "# param: offset = 0 (integer), on line 3\n"
                        "SELECT ?o WHERE { ?s <x:p> ?o } ORDER BY ?o LIMIT 2 OFFSET 0",
                        name="paged")
    assert query.bind() == query.text
    assert query.bind({"limit": "3", "offset": "1"}).endswith("ORDER BY ?o LIMIT 3 OFFSET 1")
    client = Client(store=store)
    assert column(client.run(query), "o") == ["0", "1"]
    assert column(client.run(query, limit="2", offset="3"), "o") == ["3", "4"]
    with pytest.raises(QueryTextError, match="follows LIMIT: it must be a non-negative integer"):
        query.bind({"limit": "-1"})
    for bad in ("2 } UNION { ?s ?p ?o", "two"):
        with pytest.raises(QueryTextError, match="limit"):
            query.bind({"limit": bad})


def test_a_limit_takes_only_an_integer_parameter() -> None:
    with pytest.raises(QueryTextError, match='default of the parameter n, "2", is not written'):
        parse_query("# param: n = 2 (string)\nSELECT ?s WHERE { ?s ?p ?o } LIMIT 2", name="q")


# -- the Python client's conveniences ------------------------------------------------------------


def test_client_lists_the_shipped_queries(client: Client) -> None:
    assert [q.name for q in client.queries()] == [q.name for q in shipped_queries()]
    assert client.query("historical-entities").title == "Publications about historical entities"


def test_to_dataframe_needs_pandas_only_when_called(client: Client,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    results = client.run("publications-per-year")
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(ImportError, match="to_dataframe\\(\\) needs pandas: pip install pandas"):
        results.to_dataframe()
    assert results.rows[0] == {"year": "2009", "publications": 2}


def test_to_dataframe_with_pandas(client: Client) -> None:
    pytest.importorskip("pandas")
    frame = client.run("publications-per-year").to_dataframe()
    assert list(frame.columns) == ["year", "publications"]
    assert frame["publications"].sum() == 10


def test_client_needs_an_endpoint_or_a_store() -> None:
    with pytest.raises(ValueError, match="either an endpoint URL or a store"):
        Client()


def test_to_dataframe_hands_rows_and_columns_to_pandas(client: Client,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    stub = types.ModuleType("pandas")
    stub.DataFrame = lambda rows, columns: calls.append((rows, columns)) or "frame"
    monkeypatch.setitem(sys.modules, "pandas", stub)
    assert client.run("co-publishing-organisations").to_dataframe() == "frame"
    [(rows, columns)] = calls
    assert columns == ["first", "second", "publications"]
    assert rows[1] == {"first": IOM, "second": UNHCR, "publications": 1}
