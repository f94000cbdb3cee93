"""Words searchable inside SPARQL: ``?x tip:matches "..."`` answers what the browse page's
search answers, from the one text index every build writes.

In-process (Flask's test client) over the synthetic build (400 publications drawn
from the Zipf vocabulary), and over small stores made here for accents and labels.
The publications the SPARQL form finds are compared with the browse page's, and
both with a scan of the titles and abstracts in Python for the plain forms.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph
import pytest
from flask.testing import FlaskClient

from tipgraph.client import Client
from tipgraph.serving import textindex
from tipgraph.serving.text_sparql import rewrite
from tipgraph.serving.textindex import TEXT_FILE, TextIndex, TextQueryError
from tipgraph.web import create_app

BASE = "https://w3id.org/tipgraph/"
PREFIXES = """PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
"""
#: Searches of every form: words, prefixes, phrases, booleans, case and accents.
SEARCHES = ["forced labour", "traffick", "victim* shelter", '"forced labour"',
            '"labour exploitation" OR "debt bondage"', "children NOT girls",
            "(brokers OR recruiters) wages", "PROTECTION", "Protéction", "no such wordxyz"]


@pytest.fixture(scope="module")
def app_client(synthetic_build_dir: Path) -> Iterator[FlaskClient]:
    yield create_app({"build_dir": str(synthetic_build_dir)}).test_client()


@pytest.fixture(scope="module")
def texts(synthetic_build_dir: Path) -> dict[str, str]:
    """Each publication's IRI -> its title and abstract."""
    rows = Client.from_build(synthetic_build_dir).sparql(PREFIXES + """
        SELECT ?p ?t ?a WHERE { ?p a tip:Publication ; dct:title ?t
                                OPTIONAL { ?p dct:abstract ?a } }""").rows
    return {r["p"]: r["t"] + "\n" + (r["a"] or "") for r in rows}


def sparql(client: FlaskClient, query: str) -> tuple[int, dict | str]:
    response = client.post("/sparql", data={"query": query},
                           headers={"Accept": "application/sparql-results+json"})
    body = response.get_data(as_text=True)
    return response.status_code, json.loads(body) if response.status_code == 200 else body


def matching(client: FlaskClient, search: str, more: str = "") -> set[str]:
    """The publications ``?p tip:matches search`` finds through /sparql."""
    quoted = json.dumps(search, ensure_ascii=False)
    status, body = sparql(client, PREFIXES + f"SELECT ?p WHERE {{ ?p tip:matches {quoted} ; "
                          f"a tip:Publication . {more} }}")
    assert status == 200, body
    return {row["p"]["value"] for row in body["results"]["bindings"]}  # type: ignore[index]


def browsed(client: FlaskClient, search: str) -> set[str]:
    """The publications the browse page lists for the search, every page of them."""
    found: set[str] = set()
    page = 1
    while True:
        html = client.get("/browse", query_string={"q": search, "page": page}).get_data(
            as_text=True)
        links = re.findall(r'<a class="title" href="/([^"]*)">', html)
        found.update(BASE + link for link in links)
        if f"page={page + 1}" not in html:
            return found
        page += 1


def folded_words(text: str) -> list[str]:
    """Words as the index reads them: accents and case folded."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text)
                    if not unicodedata.combining(c))
    return re.findall(r"\w+", plain.casefold())


@pytest.mark.parametrize("search", SEARCHES)
def test_sparql_form_finds_what_the_browse_page_finds(app_client: FlaskClient,
                                                      search: str) -> None:
    assert matching(app_client, search) == browsed(app_client, search)


@pytest.mark.parametrize("search", ["forced labour", "traffick", "PROTECTION", "Protéction",
                                    "wages brokers"])
def test_words_match_the_words_they_begin(app_client: FlaskClient, texts: dict[str, str],
                                          search: str) -> None:
    wanted = folded_words(search)
    expected = {uri for uri, text in texts.items()
                if all(any(w.startswith(q) for w in folded_words(text)) for q in wanted)}
    assert matching(app_client, search) == expected
    assert 0 < len(expected) < len(texts) or search == "wages brokers"


@pytest.mark.parametrize("phrase", ["forced labour", "debt bondage", "labour exploitation"])
def test_a_quoted_phrase_matches_its_words_in_a_row(app_client: FlaskClient,
                                                    texts: dict[str, str], phrase: str) -> None:
    wanted = " ".join(folded_words(phrase))
    expected = {uri for uri, text in texts.items()
                if f" {wanted} " in " " + " ".join(folded_words(text)) + " "}
    assert expected
    assert matching(app_client, f'"{phrase}"') == expected
    # the words apart find more: the phrase is not only its words
    assert matching(app_client, phrase) >= expected


def test_boolean_operators_combine_the_hits(app_client: FlaskClient) -> None:
    children, girls = matching(app_client, "children"), matching(app_client, "girls")
    assert matching(app_client, "children OR girls") == children | girls
    assert matching(app_client, "children NOT girls") == children - girls
    assert matching(app_client, "children girls") == children & girls
    assert children - girls and children & girls


def test_it_joins_with_the_rest_of_the_query(app_client: FlaskClient,
                                             synthetic_build_dir: Path) -> None:
    rows = Client.from_build(synthetic_build_dir).sparql(PREFIXES + """
        SELECT ?p ?year WHERE { ?p a tip:Publication ; dct:issued ?year }""").rows
    by_year: dict[str, set[str]] = {}
    for row in rows:
        by_year.setdefault(str(row["year"]), set()).add(row["p"])
    year = max(by_year, key=lambda y: len(by_year[y] & matching(app_client, "protection")))
    joined = matching(app_client, "protection",
                      f'?p dct:issued ?year FILTER(STR(?year) = "{year}")')
    assert joined == matching(app_client, "protection") & by_year[year]
    assert joined
    # with the score, best first, in a predicate-object list with other predicates
    status, body = sparql(app_client, PREFIXES + f"""
        SELECT ?p ?score ?title WHERE {{
          ?p dct:title ?title ;
             tip:matches "protection" ;  # a comment; in the list
             tip:matchScore ?score ;
             dct:issued ?year .
          FILTER(STR(?year) = "{year}")
        }} ORDER BY DESC(?score)""")
    assert status == 200, body
    bindings = body["results"]["bindings"]  # type: ignore[index]
    assert {b["p"]["value"] for b in bindings} == joined
    scores = [float(b["score"]["value"]) for b in bindings]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


@pytest.fixture(scope="module")
def country_and_year(app_client: FlaskClient, synthetic_build_dir: Path) -> tuple[str, str]:
    """The country and the year most publications finding "protection" have together."""
    found = matching(app_client, "protection")
    pairs: Counter[tuple[str, str]] = Counter()
    for row in Client.from_build(synthetic_build_dir).sparql(PREFIXES + """
            SELECT ?p ?c ?y WHERE { ?p a tip:Publication ; tip:statedCountry ?c ;
                                       dct:issued ?y }""").rows:
        if row["p"] in found:
            pairs[(row["c"], str(row["y"]))] += 1
    return pairs.most_common(1)[0][0]


#: Where a query can say what its search's subject must be: each narrows the hits.
NARROWING = [
    "?p tip:statedCountry <{country}> .",
    "?p dct:spatial <{country}> , <{country}> .",
    '?p dct:issued "{year}"^^xsd:gYear .',
    '?p dct:issued ?year . FILTER(?year = "{year}"^^xsd:gYear)',
    '?p dct:issued ?year FILTER((?year = "{year}"^^xsd:gYear) && isIRI(?p)) '
    "?p tip:statedCountry ?c FILTER(?c = <{country}>)",
]


@pytest.mark.parametrize("said", NARROWING)
def test_what_the_group_says_of_the_subject_narrows_the_hits_not_the_answer(
        app_client: FlaskClient, synthetic_build_dir: Path, country_and_year: tuple[str, str],
        said: str) -> None:
    country, year = country_and_year
    said = said.format(country=country, year=year)
    xsd = "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n"
    query = xsd + PREFIXES + """SELECT ?p ?score ?title WHERE {{
      ?p tip:matches "protection" ; tip:matchScore ?score ; dct:title ?title .
      {} }} ORDER BY DESC(?score) ?p"""
    # in a group of its own the same patterns join the same way, but do not narrow
    narrowed, apart = query.format(said), query.format("{ " + said + " }")
    answers = []
    for text in (narrowed, apart):
        status, body = sparql(app_client, text)
        assert status == 200, body
        answers.append([(b["p"]["value"], b["score"]["value"])
                        for b in body["results"]["bindings"]])  # type: ignore[index]
    assert answers[0] == answers[1]
    assert answers[0]
    assert {p for p, _ in answers[0]} < matching(app_client, "protection")
    index = TextIndex.open(synthetic_build_dir / "current" / TEXT_FILE)
    handed = [rewrite(text, index).count(f"<{BASE}publication/") for text in (narrowed, apart)]
    assert handed[0] < handed[1]  # the engine was given fewer hits


@pytest.mark.parametrize("said", [
    "OPTIONAL {{ ?p tip:statedCountry <{country}> BIND(1 AS ?in) }}",
    "{{ ?p tip:statedCountry <{country}> }} UNION {{ ?p a tip:Publication }}",
    "MINUS {{ ?p tip:statedCountry <{country}> }}",
    'FILTER(?p != <{country}> || ?p = <{country}>) OPTIONAL {{ ?p dct:issued ?year }} '
    'FILTER(?year = "{year}"^^xsd:gYear || isIRI(?p))',
])
def test_what_the_group_does_not_require_does_not_narrow(
        app_client: FlaskClient, country_and_year: tuple[str, str], said: str) -> None:
    country, year = country_and_year
    found = matching(app_client, "protection", said.format(country=country, year=year)
                     .replace("xsd:gYear", "<http://www.w3.org/2001/XMLSchema#gYear>"))
    everything = matching(app_client, "protection")
    in_country = matching(app_client, "protection", f"?p tip:statedCountry <{country}>")
    expected = everything - in_country if said.startswith("MINUS") else everything
    assert found == expected and in_country and found


def test_accents_case_and_labels_are_folded(store_with_statistics) -> None:  # type: ignore[no-untyped-def]
    store = store_with_statistics(f"""
        @prefix tip: <https://w3id.org/tipgraph/ontology#> .
        @prefix dct: <http://purl.org/dc/terms/> .
        @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
        <{BASE}publication/a> a tip:Publication ; dct:title "Migration en Côte d'Ivoire"@fr .
        <{BASE}publication/b> a tip:Publication ; dct:title "COTE report"@en ;
            dct:abstract "Zürich and São Paulo."@en .
        <{BASE}place/ci> skos:prefLabel "Côte d'Ivoire"@en .
        <{BASE}place/ng> skos:prefLabel "Nigeria"@en .
    """)
    client = Client(store=store)

    def found(search: str) -> set[str]:
        quoted = json.dumps(search, ensure_ascii=False)
        rows = client.sparql(PREFIXES + f"SELECT ?x WHERE {{ ?x tip:matches {quoted} }}")
        return {row["x"].removeprefix(BASE) for row in rows.rows}

    assert found("cote") == found("CÔTE") == found("Cote") == {
        "publication/a", "publication/b", "place/ci"}
    assert found("zurich sao") == found("ZÜRICH SÃO") == {"publication/b"}
    assert found('"cote d ivoire"') == {"publication/a", "place/ci"}
    assert found("nigeria") == {"place/ng"}
    assert found("") == set()  # no word: nothing is looked for, nothing found


@pytest.mark.parametrize(("query", "said"), [
    ("SELECT ?p WHERE { ?p tip:matches ?text }", "must be a literal"),
    ('SELECT ?p WHERE { ?p tip:matches "a", "b" }', "one object"),
    ("SELECT ?p WHERE { ?p tip:matchScore ?s }", "exactly one tip:matches"),
    ('SELECT ?p WHERE { ?p tip:matches "NOT labour" }', "cannot read"),
])
def test_a_search_it_cannot_answer_is_a_400_that_says_why(app_client: FlaskClient, query: str,
                                                          said: str) -> None:
    status, body = sparql(app_client, PREFIXES + query)
    assert status == 400
    assert said in str(body)


def test_a_constant_subject_is_a_yes_or_no(synthetic_build_dir: Path) -> None:
    index = TextIndex.open(synthetic_build_dir / "current" / TEXT_FILE)
    assert index is not None
    hit = index.hits('"forced labour"')[0][0]
    client = Client.from_build(synthetic_build_dir)
    ask = PREFIXES + "ASK {{ <{}> tip:matches {} }}"
    assert client.sparql(ask.format(hit, json.dumps('"forced labour"'))).boolean is True
    assert client.sparql(ask.format(hit, '"nosuchwordxyz"')).boolean is False


def test_a_build_leaves_its_index_whole_and_merging_as_fts5_does(synthetic_build_dir: Path
                                                                  ) -> None:
    """The build writes the index unmerged and merges it once at the end; FTS5's own
    merging is on again in the file for the rows an incremental build adds (were it left
    off, each such build would add segments no search merges)."""
    with sqlite3.connect(synthetic_build_dir / "current" / TEXT_FILE) as db:
        for table in ("text", "fact"):
            config = dict(db.execute(f"SELECT k, v FROM {table}_config"))
            assert config.get("automerge", textindex.FTS5_AUTOMERGE) == \
                textindex.FTS5_AUTOMERGE == 4
            db.execute(f"CREATE VIRTUAL TABLE temp.{table}_rows "
                       f"USING fts5vocab(main, {table}, row)")
            assert db.execute(f"SELECT count(*) FROM temp.{table}_rows").fetchone()[0] > 10


def test_the_places_a_full_build_numbers_are_those_its_table_holds(synthetic_build_dir: Path
                                                                     ) -> None:
    """A full build numbers the publications first, in the browse order, and says so: the
    first search makes the places without reading them, and they are the table's."""
    path = synthetic_build_dir / "current" / TEXT_FILE
    index = TextIndex.open(path)
    assert index is not None and index._numbered
    with sqlite3.connect(path) as db:
        assert index._places() == textindex._read_places(db)
        assert index.nodes == db.execute("SELECT count(*) FROM node").fetchone()[0]
    assert sorted(index.publication_positions("a OR e OR i OR o")) == \
        sorted(set(index.publication_positions("a OR e OR i OR o")))


def test_the_rewrite_keeps_the_query_around_the_pattern() -> None:
    class Hits:
        def hits(self, text: str, *, scores: bool = True, facts: tuple[str, ...] = ()
                 ) -> list[tuple[str, float]]:
            return [("urn:a", 2.0)]

    query = PREFIXES + """SELECT * WHERE {
      ?s ?p ?o OPTIONAL { ?o ?q ?x }
      # tip:matches in a comment, "tip:matches" in a string: not patterns
      ?o tip:matches "word" ; ?r "tip:matches" .
      FILTER(?o != <urn:b>)
    }"""
    rewritten = rewrite(query, Hits())  # type: ignore[arg-type]
    assert "VALUES ?o { <urn:a> }" in rewritten
    # in the pattern's place, after the OPTIONAL: the left join is the one written
    assert rewritten.index("OPTIONAL") < rewritten.index("VALUES") < rewritten.index("FILTER")
    assert '?o ?r "tip:matches"' in rewritten
    pyoxigraph.Store().query(rewritten)  # valid SPARQL
    assert rewrite("SELECT * WHERE { ?s ?p ?o }", None) == "SELECT * WHERE { ?s ?p ?o }"
    with pytest.raises(TextQueryError, match="has none"):
        rewrite(query, None)


def test_the_form_is_documented_where_clients_look(app_client: FlaskClient) -> None:
    description = app_client.get("/sparql", headers={"Accept": "text/turtle"}).get_data(
        as_text=True)
    graph = pyoxigraph.Store()
    graph.load(description.encode(), pyoxigraph.RdfFormat.TURTLE)
    feature = "https://w3id.org/tipgraph/ontology#matches"
    assert bool(graph.query(f"ASK {{ ?s <http://www.w3.org/ns/sparql-service-description#"
                            f"feature> <{feature}> }}"))
    page = app_client.get("/query").get_data(as_text=True)
    example = html.unescape(re.search(r'<pre class="query">(.*?)</pre>', page, re.S)[1])
    status, body = sparql(app_client, example)
    assert status == 200, body
    found = body["results"]["bindings"]  # type: ignore[index]
    assert found
    # the results page (answered by the view, not the fast path) shows the same
    page = app_client.get("/sparql", query_string={"query": example, "format": "html"})
    assert page.status_code == 200
    assert found[0]["publication"]["value"] in page.get_data(as_text=True)


def test_a_search_over_the_time_limit_is_stopped_with_a_503(
        app_client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search runs in the request's thread; query_timeout stops it as it stops a query
    (here the limit is reached at once: the timer interrupts the search's first step)."""
    class Expired(threading.Timer):
        def start(self) -> None:  # the search's connection is interrupted at its first step
            self.function.__self__.set_progress_handler(lambda: 1, 1)  # type: ignore
            self.finished.set()

    monkeypatch.setattr(textindex.threading, "Timer", Expired)
    status, body = sparql(app_client, PREFIXES + 'SELECT ?p WHERE { ?p tip:matches "labour" }')
    assert status == 503 and "query_timeout" in str(body)
    page = app_client.get("/browse", query_string={"q": "labour"})
    assert page.status_code == 503 and "query_timeout" in page.get_data(as_text=True)
    monkeypatch.undo()
    assert matching(app_client, "labour")
