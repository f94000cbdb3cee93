"""The SPARQL endpoint against hostile and careless clients, over real HTTP.

Every test talks to ``guarded_server`` (``tipgraph serve``, one worker, small
limits: see ``conftest.GUARDED``) on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from http.client import HTTPConnection
from urllib.parse import quote, urlencode, urlsplit

import pytest

JSON = {"Accept": "application/sparql-results+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded", **JSON}
DIRECT = {"Content-Type": "application/sparql-query", **JSON}


def ask(http, base: str, query: str, *, how: str = "get", headers=None):
    if how == "get":
        return http(f"{base}/sparql?{urlencode({'query': query})}", headers=headers or JSON)
    if how == "form":
        return http(f"{base}/sparql", method="POST", headers=headers or FORM,
                    data=urlencode({"query": query}).encode())
    return http(f"{base}/sparql", method="POST", headers=headers or DIRECT,
                data=query.encode("utf-8"))


def triple_count(http, base: str) -> int:
    status, _, body = ask(http, base, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert status == 200
    return int(json.loads(body)["results"]["bindings"][0]["n"]["value"])


# -- no outbound request ------------------------------------------------------------------

def service_queries(port: int) -> list[str]:
    here = f"http://127.0.0.1:{port}"
    return [
        f"SELECT * WHERE {{ SERVICE <{here}/sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE SILENT <{here}/> {{ ?s ?p ?o }} }}",
        f"PREFIX x: <{here}/> SELECT * WHERE {{ SERVICE x:sparql {{ ?s ?p ?o }} }}",
        f"BASE <{here}/> SELECT * WHERE {{ SERVICE <sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ ?a ?b ?c {{ SELECT * WHERE {{ sErViCe <{here}/q> {{ ?s ?p ?o }} }} }}"
        " }",
        f"SELECT * WHERE {{ BIND(<{here}/> AS ?e) SERVICE ?e {{ ?s ?p ?o }} }}",
        "SELECT * WHERE { SERVICE <https://example.org/sparql> { ?s ?p ?o } }",
        "SELECT * WHERE { SERVICE <file:///etc/passwd> { ?s ?p ?o } }",
        f"SELECT * WHERE {{ OPTIONAL {{ SERVICE <http://localhost:{port}/> {{ ?s ?p ?o }} }} }}",
    ]


@pytest.mark.parametrize("how", ["get", "form", "direct"])
def test_service_makes_no_outbound_request(guarded_server, http, listener, how) -> None:
    for query in service_queries(listener.port):
        status, _, body = ask(http, guarded_server, query, how=how)
        assert status == 403, (query, body)
        assert b"SERVICE" in body and b"root:" not in body
    assert listener.accepted == []


@pytest.mark.parametrize("update", [
    "LOAD <http://127.0.0.1:{port}/data.ttl>",
    "LOAD SILENT <file:///etc/passwd> INTO GRAPH <http://x/g>",
    "INSERT DATA { <http://x/s> <http://x/p> <http://x/o> }",
    "DELETE WHERE { ?s ?p ?o }",
    "DELETE { ?s ?p ?o } INSERT { ?s ?p 1 } WHERE { ?s ?p ?o }",
    "CLEAR ALL",
    "CLEAR DEFAULT",
    "DROP ALL",
    "DROP SILENT GRAPH <http://x/g>",
    "PREFIX x: <http://x/> # comment\nINSERT DATA { x:s x:p x:o }",
])
def test_updates_are_refused(guarded_server, http, listener, update) -> None:
    before = triple_count(http, guarded_server)
    text = update.replace("{port}", str(listener.port))
    answers = [
        ask(http, guarded_server, text, how="get"),
        ask(http, guarded_server, text, how="form"),
        ask(http, guarded_server, text, how="direct"),
        http(f"{guarded_server}/sparql", method="POST", data=urlencode({"update": text}).encode(),
             headers=FORM),
        http(f"{guarded_server}/sparql", method="POST", data=text.encode(),
             headers={"Content-Type": "application/sparql-update"}),
    ]
    for status, _, body in answers:
        assert status == 403, body
        assert b"read-only" in body
    assert listener.accepted == []
    assert triple_count(http, guarded_server) == before


# -- runaway queries and result caps --------------------------------------------------------

def test_runaway_query_is_stopped_while_others_are_served(guarded_server, http, runaway) -> None:
    stopped: list = []
    thread = threading.Thread(target=lambda: stopped.append(ask(http, guarded_server, runaway)))
    thread.start()
    served = []
    for query in ("ASK { ?s ?p ?o }", "SELECT ?s WHERE { ?s ?p ?o } LIMIT 3",
                  "SELECT (COUNT(*) AS ?n) WHERE { ?s a ?t }"):
        served.append(ask(http, guarded_server, query)[0])
    still_running = thread.is_alive()
    thread.join(60)
    assert served == [200, 200, 200]
    assert still_running  # the others were answered while the runaway query ran
    status, _, body = stopped[0]
    assert status == 503
    assert b"stopped" in body and b"query_timeout" in body
    assert ask(http, guarded_server, "ASK { ?s ?p ?o }")[0] == 200  # a fresh process took over


@pytest.mark.parametrize(("query", "accept"), [
    ("SELECT * WHERE { ?s ?p ?o }", "application/sparql-results+json"),
    ("SELECT * WHERE { ?s ?p ?o }", "text/csv"),
    ("CONSTRUCT WHERE { ?s ?p ?o }", "application/n-triples"),
])
def test_answers_are_cut_at_max_results(guarded_server, http, query, accept, limits) -> None:
    status, headers, body = ask(http, guarded_server, query, headers={"Accept": accept})
    limit = limits["max_results"]
    assert status == 200
    assert headers["x-sparql-maxrows"] == str(limit)
    if accept.endswith("json"):
        assert len(json.loads(body)["results"]["bindings"]) == limit
    elif accept == "text/csv":
        assert len(body.decode().strip().splitlines()) == limit + 1  # the header row
    else:
        assert len(body.decode().strip().splitlines()) == limit


# -- oversized and malformed requests ----------------------------------------------------------

def test_oversized_body_is_refused(guarded_server, http, limits) -> None:
    big = "SELECT * WHERE { ?s ?p ?o } #" + "x" * (limits["max_request_bytes"] + 10)
    assert ask(http, guarded_server, big, how="direct")[0] == 413
    assert ask(http, guarded_server, big, how="form")[0] == 413


def test_oversized_query_string_is_refused(guarded_server, http, limits) -> None:
    big = "ASK { ?s ?p ?o } #" + "x" * (limits["max_request_bytes"] + 10)
    status, _, body = ask(http, guarded_server, big)
    assert status == 414
    assert b"max_request_bytes" in body


def test_huge_request_line_is_refused(guarded_server, http) -> None:
    status, _, _ = http(f"{guarded_server}/sparql?query=" + "x" * 3_000_000)
    assert status in (400, 414)


@pytest.mark.parametrize("headers", [
    {"X-Padding": "x" * 100_000},
    {f"X-Many-{i}": "y" for i in range(300)},
    {"Accept": "text/html;q=0.5, " * 10_000},
])
def test_oversized_headers_are_refused(guarded_server, http, headers) -> None:
    status, _, body = http(f"{guarded_server}/sparql?query=ASK%7B%7D", headers=headers)
    assert status in (400, 431)
    assert b"Traceback" not in body
    assert http(f"{guarded_server}/health")[0] == 200


@pytest.mark.parametrize(("how", "raw"), [
    ("get", b"/sparql?query=SELECT%20*%20%7B%3Fs%20%3Fp%20%22%FF%FE%22%7D"),
    ("form", b"query=SELECT%20*%20%7B%3Fs%20%3Fp%20%22%C3%28%22%7D"),
    ("direct", b'SELECT * { ?s ?p "\xc3\x28\xff" }'),
])
def test_invalid_utf8_is_a_400(guarded_server, http, how, raw) -> None:
    if how == "get":
        status, _, body = http(guarded_server + raw.decode("ascii"), headers=JSON)
    else:
        status, _, body = http(f"{guarded_server}/sparql", method="POST", data=raw,
                               headers=FORM if how == "form" else DIRECT)
    assert status == 400
    assert b"UTF-8" in body


@pytest.mark.parametrize("query", [
    "SELECT * WHERE { ?s ?p ?o }\x00",
    "SELECT * WHERE { ?s ?p \"a\x00b\" }",
    "\x00\x00\x00",
    "SELECT * WHERE { ?s ?p \"" + "a" * 90_000 + "\" }",
    "SELECT * WHERE { ?s ?p <http://x/" + "a" * 90_000 + "> }",
    "SELECT * WHERE { ?s ?p \"\"\"" + "{[(" * 8_000 + "\"\"\" }",
    "SELECT * WHERE { ?s ?p ?o FILTER(REGEX(?o, \"" + "(a*)*" * 2_000 + "b\")) } LIMIT 1",
])
def test_odd_queries_get_an_answer_not_a_crash(guarded_server, http, query) -> None:
    for how in ("direct", "form"):
        status, _, body = ask(http, guarded_server, query, how=how)
        assert status in (200, 400, 503), body[:300]
        assert b"Traceback" not in body
    assert ask(http, guarded_server, "ASK { ?s ?p ?o }")[0] == 200


@pytest.mark.parametrize(("open_", "close"), [("{", "}"), ("(", ")"), ("[", "]")])
def test_deep_nesting_is_refused_before_parsing(guarded_server, http, open_, close) -> None:
    if open_ == "{":
        query = "SELECT * WHERE " + "{" * 5000 + " ?s ?p ?o " + "}" * 5000
    elif open_ == "(":
        query = "SELECT * WHERE { ?s ?p ?o FILTER" + "(" * 5000 + "?o" + ")" * 5000 + " }"
    else:
        query = "SELECT * WHERE { ?s ?p " + "[ ?p " * 5000 + "?o" + " ]" * 5000 + " }"
    for how in ("get", "form", "direct"):
        status, _, body = ask(http, guarded_server, query, how=how)
        assert status == 400, body[:300]
        assert b" deep" in body and b"max_query_depth" in body
    # every query process is alive: three queries at once are all answered
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(
        ask(http, guarded_server, "ASK { ?s ?p ?o }")[0])) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [200, 200]


def test_nesting_within_the_limit_is_answered(guarded_server, http) -> None:
    query = "SELECT * WHERE " + "{" * 90 + " ?s ?p ?o " + "}" * 90 + " LIMIT 1"
    assert ask(http, guarded_server, query)[0] == 200


def test_bad_graph_iris_are_a_400(guarded_server, http) -> None:
    for name in ("default-graph-uri", "named-graph-uri"):
        url = (f"{guarded_server}/sparql?query=ASK%7B%7D&{name}=" + quote(" not an iri<>"))
        status, _, body = http(url, headers=JSON)
        assert status == 400, body


# -- fair share -----------------------------------------------------------------------------------

def _ask_from(base: str, source: str, query: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=60,
                                source_address=(source, 0))
    try:
        connection.request("GET", "/sparql?" + urlencode({"query": query}), headers=JSON)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_one_client_cannot_take_every_query_process(guarded_server, limits, runaway) -> None:
    limit = limits["max_concurrent_queries_per_client"]
    answers: list = []
    greedy = [threading.Thread(target=lambda: answers.append(
        _ask_from(guarded_server, "127.0.0.1", runaway))) for _ in range(limit + 4)]
    for thread in greedy:
        thread.start()
    refused: list = []
    while len(refused) < 4 and any(t.is_alive() for t in greedy):
        refused = [a for a in list(answers) if a[0] == 429]
        threading.Event().wait(0.05)
    # another client (another loopback address) is served meanwhile
    other = _ask_from(guarded_server, "127.0.0.2", "ASK { ?s ?p ?o }")
    greedy_running = sum(t.is_alive() for t in greedy)
    for thread in greedy:
        thread.join(60)
    assert other[0] == 200
    assert greedy_running == limit
    statuses = sorted(a[0] for a in answers)
    assert statuses == [429] * 4 + [503] * limit
    for status, headers, body in answers:
        if status == 429:
            assert int(headers["retry-after"]) >= 1
            assert b"max_concurrent_queries_per_client" in body
