"""Real SPARQL clients against the real server: SPARQLWrapper, roqet, plain HTTP.

Also the endpoint's limits: malformed queries, unacceptable formats, wrong
media types and methods, SERVICE, SPARQL Update, the row cap, and a runaway
query stopped at the time limit while another client is answered.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from rdflib import Graph
from rdflib.compare import isomorphic
from rdflib.util import from_n3
from SPARQLWrapper import CSV, JSON, JSONLD, N3, RDFXML, TSV, TURTLE, XML, SPARQLWrapper

PUBLICATIONS = """PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX dct: <http://purl.org/dc/terms/>
SELECT ?publication ?title WHERE { ?publication a tip:Publication ; dct:title ?title }
ORDER BY ?publication"""
GRAPH_QUERY = """PREFIX tip: <https://w3id.org/tipgraph/ontology#>
CONSTRUCT { ?p ?property ?value } WHERE { ?p a tip:Publication ; ?property ?value }"""
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


def _client(base: str, query: str, fmt: str) -> Any:
    client = SPARQLWrapper(base + "/sparql")
    client.setQuery(query)
    client.setReturnFormat(fmt)
    return client.query()


def _rows_from_json(data: dict) -> list[tuple[str, str]]:
    return [(b["publication"]["value"], b["title"]["value"]) for b in data["results"]["bindings"]]


@pytest.fixture(scope="module")
def expected_rows(live_server: str, http: Any) -> list[tuple[str, str]]:
    status, _, body = http(f"{live_server}/sparql?{urlencode({'query': PUBLICATIONS})}",
                           headers={"Accept": "application/sparql-results+json"})
    assert status == 200
    rows = _rows_from_json(json.loads(body))
    assert len(rows) == 10  # the seed catalogue's ten publications
    return rows


def test_sparqlwrapper_json(live_server: str, expected_rows: list) -> None:
    assert _rows_from_json(_client(live_server, PUBLICATIONS, JSON).convert()) == expected_rows


def test_sparqlwrapper_xml(live_server: str, expected_rows: list) -> None:
    document = _client(live_server, PUBLICATIONS, XML).convert()  # a minidom Document
    rows = []
    for result in document.getElementsByTagName("result"):
        values = {b.getAttribute("name"): b.firstChild.firstChild.data
                  for b in result.getElementsByTagName("binding")}
        rows.append((values["publication"], values["title"]))
    assert rows == expected_rows


def test_sparqlwrapper_csv(live_server: str, expected_rows: list) -> None:
    text = _client(live_server, PUBLICATIONS, CSV).convert().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["publication", "title"]
    assert [tuple(r) for r in rows[1:]] == expected_rows


def test_sparqlwrapper_tsv(live_server: str, expected_rows: list) -> None:
    text = _client(live_server, PUBLICATIONS, TSV).convert().decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == "?publication\t?title"
    rows = [line.split("\t") for line in lines[1:]]
    decoded = [(str(from_n3(iri)), str(from_n3(literal))) for iri, literal in rows]
    assert decoded == expected_rows


@pytest.mark.parametrize("fmt", [TURTLE, N3, RDFXML, JSONLD, XML])
def test_sparqlwrapper_graph_formats_agree(live_server: str, http: Any, fmt: str) -> None:
    status, _, body = http(f"{live_server}/sparql?{urlencode({'query': GRAPH_QUERY})}",
                           headers={"Accept": "application/n-triples"})
    assert status == 200
    reference = Graph().parse(data=body, format="nt")
    assert len(reference) > 50
    answer = _client(live_server, GRAPH_QUERY, fmt).convert()
    # SPARQLWrapper parses RDF/XML and JSON-LD itself and hands Turtle/N3 back as bytes
    graph = answer if isinstance(answer, Graph) else Graph().parse(data=answer, format="turtle")
    assert isomorphic(graph, reference)


def test_sparqlwrapper_ask(live_server: str) -> None:
    assert _client(live_server, "ASK { ?s ?p ?o }", JSON).convert()["boolean"] is True


def test_get_form_post_and_direct_post_agree(live_server: str, http: Any) -> None:
    accept = {"Accept": "application/sparql-results+json"}
    answers = [
        http(f"{live_server}/sparql?{urlencode({'query': PUBLICATIONS})}", headers=accept),
        http(f"{live_server}/sparql", method="POST",
             data=urlencode({"query": PUBLICATIONS}).encode(),
             headers={**accept, "Content-Type": "application/x-www-form-urlencoded"}),
        http(f"{live_server}/sparql", method="POST", data=PUBLICATIONS.encode(),
             headers={**accept, "Content-Type": "application/sparql-query"}),
    ]
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert len({body for _, _, body in answers}) == 1


def test_long_get_query_is_served(live_server: str, http: Any) -> None:
    """gunicorn's default request-line limit (4094 bytes) would refuse this one."""
    padding = "# " + "x" * 6000 + "\n"
    status, _, body = http(f"{live_server}/sparql?{urlencode({'query': padding + 'ASK {}'})}",
                           headers={"Accept": "application/sparql-results+json"})
    assert status == 200
    assert json.loads(body)["boolean"] is True


def test_malformed_query_says_where(live_server: str, http: Any) -> None:
    query = "SELECT ?s\nWHERE { ?s ?p }"
    status, headers, body = http(f"{live_server}/sparql?{urlencode({'query': query})}")
    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    assert b"2:" in body and b"Malformed query" in body  # line 2, with its column


@pytest.mark.parametrize(("query", "accept"), [
    ("SELECT * { ?s ?p ?o } LIMIT 1", "text/turtle"),
    ("CONSTRUCT WHERE { ?s ?p ?o } LIMIT 1", "text/csv"),
    ("ASK {}", "image/png"),
])
def test_unacceptable_format_is_406(live_server: str, http: Any, query: str,
                                    accept: str) -> None:
    status, _, body = http(f"{live_server}/sparql?{urlencode({'query': query})}",
                           headers={"Accept": accept})
    assert status == 406
    assert b"offers" in body


def test_format_parameter_overrides_accept(live_server: str, http: Any) -> None:
    for value, media_type in [("csv", "text/csv"), ("tsv", "text/tab-separated-values"),
                              ("xml", "application/sparql-results+xml"),
                              ("application/sparql-results+json",
                               "application/sparql-results+json")]:
        url = f"{live_server}/sparql?{urlencode({'query': 'SELECT * {} ', 'format': value})}"
        status, headers, _ = http(url, headers={"Accept": "text/html"})
        assert status == 200
        assert headers["content-type"].startswith(media_type)
    for value, media_type in [("ttl", "text/turtle"), ("nt", "application/n-triples"),
                              ("json-ld", "application/ld+json"),
                              ("rdf+xml", "application/rdf+xml")]:
        query = {"query": "CONSTRUCT WHERE { ?s ?p ?o } LIMIT 1", "format": value}
        status, headers, _ = http(f"{live_server}/sparql?{urlencode(query)}")
        assert status == 200
        assert headers["content-type"].startswith(media_type)


def test_q_values_are_honoured(live_server: str, http: Any) -> None:
    url = f"{live_server}/sparql?{urlencode({'query': 'SELECT * {}'})}"
    _, headers, _ = http(url, headers={"Accept": "text/csv;q=0.4, application/sparql-results"
                                                 "+xml;q=0.9, */*;q=0.1"})
    assert headers["content-type"].startswith("application/sparql-results+xml")
    _, headers, _ = http(url)  # no Accept: JSON
    assert headers["content-type"].startswith("application/sparql-results+json")
    construct = f"{live_server}/sparql?{urlencode({'query': 'CONSTRUCT WHERE {?s ?p ?o}'})}"
    _, headers, _ = http(construct)  # no Accept: Turtle
    assert headers["content-type"].startswith("text/turtle")


def test_post_of_another_media_type_is_415(live_server: str, http: Any) -> None:
    status, _, body = http(f"{live_server}/sparql", method="POST", data=b"ASK {}",
                           headers={"Content-Type": "application/json"})
    assert status == 415
    assert b"application/sparql-query" in body


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(live_server: str, http: Any, method: str) -> None:
    status, headers, _ = http(f"{live_server}/sparql", method=method)
    assert status == 405
    assert "GET" in headers["allow"] and "POST" in headers["allow"]


def test_head_works_where_get_does(live_server: str, http: Any) -> None:
    for path in ("/sparql", "/health", "/query", f"/sparql?{urlencode({'query': 'ASK {}'})}"):
        status, headers, body = http(live_server + path, method="HEAD")
        assert status == 200, path
        assert body == b""
        assert headers["content-type"]


def test_update_is_refused_read_only(live_server: str, http: Any) -> None:
    status, _, body = http(f"{live_server}/sparql", method="POST",
                           data=urlencode({"query": "CLEAR ALL"}).encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403
    assert b"read-only" in body
    status, _, _ = http(f"{live_server}/sparql?{urlencode({'query': 'ASK {?s ?p ?o}'})}")
    assert status == 200


def test_cors_and_preflight(live_server: str, http: Any) -> None:
    status, headers, _ = http(f"{live_server}/sparql", method="OPTIONS",
                              headers={"Origin": "https://yasgui.example",
                                       "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type"})
    assert status == 200
    assert headers["access-control-allow-origin"] == "*"
    assert "POST" in headers["access-control-allow-methods"]
    assert "content-type" in headers["access-control-allow-headers"].lower()
    _, headers, _ = http(f"{live_server}/sparql?{urlencode({'query': 'ASK {}'})}",
                         headers={"Origin": "https://yasgui.example"})
    assert headers["access-control-allow-origin"] == "*"


def test_health_names_the_build(live_server: str, live_health: dict,
                                seed_build_dir: Path) -> None:
    assert live_health["status"] == "ok"
    assert live_health["build"] == (seed_build_dir / "current").resolve().name
    report = json.loads((seed_build_dir / "report.json").read_text(encoding="utf-8"))
    assert live_health["triples"] == report["triples"] > 0


def test_browser_gets_query_page_and_html_results(live_server: str, http: Any) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    status, headers, body = http(f"{live_server}/sparql", headers=browser)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"<form" in body and b"<textarea" in body
    query = 'SELECT ?x WHERE { BIND("<script>alert(1)</script>" AS ?x) }'
    status, headers, body = http(f"{live_server}/sparql?{urlencode({'query': query})}",
                                 headers=browser)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"<table" in body
    assert b"<script>" not in body and b"&lt;script&gt;" in body


def test_service_description_for_any_client(live_server: str, http: Any) -> None:
    status, headers, body = http(f"{live_server}/sparql", headers={"Accept": "*/*"})
    assert status == 200 and headers["content-type"].startswith("text/turtle")
    graph = Graph().parse(data=body, format="turtle")
    sd = "http://www.w3.org/ns/sparql-service-description#"
    void = "http://rdfs.org/ns/void#"
    answer = graph.query(f"""SELECT ?triples WHERE {{
        ?service <{sd}endpoint> <{live_server}/sparql> ; <{sd}defaultDataset> ?dataset ;
                 <{sd}resultFormat> <http://www.w3.org/ns/formats/SPARQL_Results_CSV> .
        ?dataset a <{void}Dataset> ; <{sd}defaultGraph> [ <{void}triples> ?triples ] }}""")
    assert [int(row[0]) for row in answer] == [json.loads(
        http(f"{live_server}/health")[2])["triples"]]


# -- SERVICE makes no outbound request -------------------------------------------------------


@pytest.fixture
def listening_socket() -> Iterator[tuple[socket.socket, list]]:
    """A socket on 127.0.0.1 that records every connection made to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    connections: list = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            connections.append(conn.recv(1024))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server, connections
    stop.set()
    thread.join(2)
    server.close()


@pytest.mark.parametrize("template", [
    "SELECT * WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
    "SELECT * WHERE {{ SERVICE SILENT <{url}> {{ ?s ?p ?o }} }}",
    "PREFIX e: <{url}> ASK {{ {{ SELECT * {{ SERVICE e:x {{ ?s ?p ?o }} }} }} }}",
    "select * where {{ ?s ?p ?o OPTIONAL {{ sErViCe <{url}> {{ ?s ?q ?r }} }} }} LIMIT 1",
    "SELECT * WHERE {{ BIND(<{url}> AS ?e) SERVICE ?e {{ ?s ?p ?o }} }}",
])
def test_service_makes_no_outbound_request(live_server: str, http: Any, listening_socket: tuple,
                                           template: str) -> None:
    server, connections = listening_socket
    url = f"http://127.0.0.1:{server.getsockname()[1]}/sparql"
    query = template.format(url=url)
    status, _, body = http(f"{live_server}/sparql?{urlencode({'query': query})}")
    assert status == 403
    assert b"service_allowlist" in body
    # the refusal came before evaluation; one more query through the same workers, then look
    http(f"{live_server}/sparql?{urlencode({'query': 'ASK {}'})}")
    assert connections == []


def test_the_word_service_in_a_literal_is_fine(live_server: str, http: Any) -> None:
    query = 'ASK { FILTER(CONTAINS("victim services", "service")) }'
    status, _, body = http(f"{live_server}/sparql?{urlencode({'query': query})}",
                           headers={"Accept": "application/sparql-results+json"})
    assert status == 200
    assert json.loads(body)["boolean"] is True


# -- limits: a server of its own with a short time limit and a small row cap ----------------------


@pytest.fixture(scope="module")
def limited_server(seed_build_dir: Path, start_server: Any) -> Iterator[str]:
    with start_server(seed_build_dir, {"query_timeout": 2, "max_results": 5,
                                       "query_workers": 2}, workers=1) as base:
        yield base


def test_row_cap_is_reported(limited_server: str, http: Any) -> None:
    query = "SELECT * WHERE { ?s ?p ?o }"
    status, headers, body = http(f"{limited_server}/sparql?{urlencode({'query': query})}",
                                 headers={"Accept": "application/sparql-results+json"})
    assert status == 200
    assert len(json.loads(body)["results"]["bindings"]) == 5
    assert headers["x-sparql-maxrows"] == "5"
    assert "max_results" in headers["warning"]


@pytest.mark.parametrize(("accept", "rows"), [
    ("application/sparql-results+json", lambda body: len(json.loads(body)["results"]["bindings"])),
    ("application/sparql-results+xml", lambda body: body.count(b"<result>")),
    ("text/csv", lambda body: len(list(csv.reader(io.StringIO(body.decode())))) - 1),
    ("text/tab-separated-values", lambda body: body.count(b"\n") - 1),
    ("text/html", lambda body: body.count(b"<tr>") - 1),
])
def test_row_cap_in_every_format(limited_server: str, http: Any, accept: str, rows: Any) -> None:
    """The native writers' answers are cut at max_results too, and say so."""
    for query, cut in (("SELECT ?s ?p ?o WHERE { ?s ?p ?o }", True),
                       ("SELECT ?s WHERE { ?s ?p ?o } LIMIT 5", False),
                       ("SELECT ?s WHERE { ?s ?p ?o } LIMIT 4", False)):
        status, headers, body = http(f"{limited_server}/sparql?{urlencode({'query': query})}",
                                     headers={"Accept": accept})
        assert status == 200, body
        assert rows(body) == (5 if cut else int(query[-1]))
        assert ("x-sparql-maxrows" in headers) == cut


@pytest.mark.parametrize("accept", ["application/n-triples", "text/turtle"])
def test_row_cap_of_a_graph(limited_server: str, http: Any, accept: str) -> None:
    """CONSTRUCT answers are cut at max_results triples too (N-Triples by the native writer)."""
    for query, cut, count in (("CONSTRUCT WHERE { ?s ?p ?o }", True, 5),
                              ("CONSTRUCT WHERE { ?s ?p ?o } LIMIT 5", False, 5),
                              ("CONSTRUCT WHERE { ?s ?p ?o } LIMIT 3", False, 3)):
        status, headers, body = http(f"{limited_server}/sparql?{urlencode({'query': query})}",
                                     headers={"Accept": accept})
        assert status == 200, body
        syntax = {"application/n-triples": "nt"}.get(accept, "turtle")
        assert len(Graph().parse(data=body.decode(), format=syntax)) == count
        assert ("x-sparql-maxrows" in headers) == cut


def test_a_cut_around_values_that_look_like_separators(limited_server: str, http: Any) -> None:
    """A value holding "},{" or a line break does not fool the cut."""
    query = ('SELECT ?s ?v WHERE { ?s ?p ?o BIND("a},{b\\r\\n},{c" AS ?v) }')
    for accept in ("application/sparql-results+json", "text/csv"):
        status, headers, body = http(f"{limited_server}/sparql?{urlencode({'query': query})}",
                                     headers={"Accept": accept})
        assert status == 200
        assert headers["x-sparql-maxrows"] == "5"
        if accept.endswith("json"):
            assert len(json.loads(body)["results"]["bindings"]) == 5
        else:
            assert len(list(csv.reader(io.StringIO(body.decode(), newline="")))) == 6


@pytest.mark.parametrize("query", [
    "SELECT ?t ?s WHERE { ?s a ?t } ORDER BY DESC(?s) LIMIT 7",
    "SELECT * WHERE { ?s a ?t . ?s ?p ?o } ORDER BY ?o ?p ?s",
    "SELECT DISTINCT ?t (COUNT(?s) AS ?n) (STR(?t) AS $label) WHERE { ?s a ?t } GROUP BY ?t "
    "ORDER BY DESC(?n) ?t",
    "PREFIX : <http://example.org/>\n# a comment with SELECT and {\nSELECT ?x WHERE "
    "{ VALUES ?x { :a :b } } # ends in a comment",
    "SELECT ?x WHERE { ?s ?p ?o } LIMIT 3 VALUES ?x { 1 2 }",
    "SELECT ?o WHERE { ?s ?p ?o FILTER(isLiteral(?o)) } ORDER BY ?o OFFSET 2 LIMIT 4",
    "SELECT ?s (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?s "
    "HAVING (COUNT(*) > 2 && EXISTS { ?s a ?t }) ORDER BY DESC(?n) ?s LIMIT 6",
])
@pytest.mark.parametrize("cut", [3, 10000])
def test_a_bounded_query_answers_as_the_query(seed_build_dir: Path, query: str,
                                               cut: int) -> None:
    """The query the native writer runs (as sent, with a LIMIT, or as a sub-query) has the
    query's variables, and its solutions in the same order up to one past the cut."""
    import pyoxigraph

    from tipgraph.sparql_engine import bounded_select

    store = pyoxigraph.Store.read_only(str(seed_build_dir / "current" / "store"))
    bounded = bounded_select(query, cut)
    assert bounded is not None
    plain, wrapped = store.query(query), store.query(bounded)
    assert [v.value for v in wrapped.variables] == [v.value for v in plain.variables]
    assert [[s[v] for v in plain.variables] for s in wrapped] == \
        [[s[v] for v in plain.variables] for s in plain][:cut + 1]


def test_a_select_the_wrapper_cannot_take_is_answered_too(live_server: str, http: Any) -> None:
    """FROM, or a malformed query: the query as sent decides, as before."""
    query = "SELECT ?s FROM <http://example.org/none> WHERE { ?s ?p ?o }"
    status, _, body = http(f"{live_server}/sparql?{urlencode({'query': query})}",
                           headers={"Accept": "application/sparql-results+json"})
    assert status == 200 and json.loads(body)["results"]["bindings"] == []
    malformed = urlencode({"query": "SELECT ?s WHERE { ?s ?p"})
    status, _, body = http(f"{live_server}/sparql?{malformed}")
    assert status == 400 and b"not valid SPARQL" in body


def test_runaway_query_is_stopped_while_another_client_is_served(limited_server: str,
                                                                  http: Any) -> None:
    outcome: dict[str, tuple] = {}

    def runaway() -> None:
        outcome["runaway"] = http(f"{limited_server}/sparql?{urlencode({'query': RUNAWAY})}")

    thread = threading.Thread(target=runaway)
    thread.start()
    simple = []
    while thread.is_alive() and len(simple) < 50:  # answered while the runaway one runs
        simple.append(http(f"{limited_server}/sparql?{urlencode({'query': 'ASK {?s ?p ?o}'})}",
                           headers={"Accept": "application/sparql-results+json"}))
    thread.join(60)
    assert simple, "the runaway query ended before a second query could be sent"
    assert all(status == 200 and json.loads(body)["boolean"] for status, _, body in simple)
    status, headers, body = outcome["runaway"]
    assert status == 503
    assert headers["content-type"].startswith("text/plain")
    assert b"query_timeout" in body
    # the killed query process was replaced: the endpoint still answers
    status, _, body = http(f"{limited_server}/sparql?{urlencode({'query': 'ASK {}'})}",
                           headers={"Accept": "application/sparql-results+json"})
    assert status == 200 and json.loads(body)["boolean"] is True


# -- rasqal's roqet ----------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("roqet") is None,
                    reason="roqet is not installed (Debian package rasqal-utils)")
def test_roqet_queries_the_endpoint(live_server: str, expected_rows: list) -> None:
    result = subprocess.run(["roqet", "-p", f"{live_server}/sparql", "-e", PUBLICATIONS,
                             "-r", "csv"], capture_output=True, text=True, timeout=60,
                            check=True)
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert [tuple(r) for r in rows[1:]] == expected_rows
