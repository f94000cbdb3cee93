"""The front's own lane for ``/sparql`` (:class:`tipgraph.front._SparqlLane`) answers as the
app does, and stops a query whose client has gone.

A plain query request is answered on the front's loop; the same request with a header
that sends it the whole way (``X-Forwarded-For``, which the server ignores without
trusted proxies) is answered by the app in a thread. Status, body and headers (but
``Date`` and ``X-Cache``) must be the same.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import uuid
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest

from tipgraph.testing import fetch

JSON = "application/sparql-results+json"
FORM = "application/x-www-form-urlencoded"
#: A query that does not end on any real graph: a cross product of four triple patterns.
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
WHOLE_WAY = {"X-Forwarded-For": "127.0.0.1"}


def _send(base: str, method: str, target: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    parts = urlsplit(base)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def _comparable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name.lower(), value) for name, value in headers
            if name.lower() not in ("date", "x-cache")]


def _unique(query: str) -> str:
    return f"{query}\n# {uuid.uuid4().hex}"


CASES = [
    ("GET", lambda q: f"/sparql?{urlencode({'query': q})}", None,
     {"Accept": JSON, "Accept-Encoding": "identity"}, "SELECT * WHERE { ?s ?p ?o } LIMIT 3"),
    ("POST", lambda q: "/sparql", lambda q: urlencode({"query": q}).encode(),
     {"Content-Type": FORM, "Accept": "text/csv"}, "SELECT ?s WHERE { ?s ?p ?o } LIMIT 2"),
    ("POST", lambda q: "/sparql", lambda q: q.encode(),
     {"Content-Type": "application/sparql-query", "Accept": "text/turtle"},
     "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 2"),
    ("GET", lambda q: f"/sparql?{urlencode({'query': q, 'format': 'xml'})}", None, {},
     "ASK { ?s ?p ?o }"),
    ("GET", lambda q: f"/sparql?query={quote(q)}", None, {"Accept": JSON},
     "SELECT * WHERE { ?s ?p "),  # malformed: 400, said in words
    ("GET", lambda q: f"/sparql?query={quote(q)}", None, {"Accept": "image/png"},
     "ASK { ?s ?p ?o }"),  # no format of the protocol: 406
    ("GET", lambda q: f"/sparql?query={quote(q)}", None, {"Accept": JSON},
     "SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }"),  # refused
    ("GET", lambda q: f"/sparql?query={quote(q)}", None, {"Accept": JSON},  # text search
     "PREFIX tip: <https://w3id.org/tipgraph/ontology#> "
     "SELECT ?p WHERE { ?p tip:matches \"trafficking\" } ORDER BY ?p LIMIT 3"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_loop_answers_as_the_app(live_server: str, case: int) -> None:
    method, target, body, headers, query = CASES[case]
    query = _unique(query)
    data = body(query) if body else None
    loop = _send(live_server, method, target(query), data, headers)
    app = _send(live_server, method, target(query), data, {**headers, **WHOLE_WAY})
    assert loop[0] == app[0]
    assert loop[2] == app[2]
    assert _comparable(loop[1]) == _comparable(app[1])
    assert sum(1 for name, _ in loop[1] if name.lower() == "date") == 1


def test_repeated_and_new_answers_say_so(live_server: str) -> None:
    """The per-build result cache answers a repeat, on the loop too (a small answer is kept
    once it is sent, so the very next request may just miss it)."""
    target = f"/sparql?{urlencode({'query': _unique('ASK { ?s ?p ?o }')})}"
    answers = [_send(live_server, "GET", target, None, {"Accept": JSON}) for _ in range(6)]
    said = [dict(answer[1])["X-Cache"] for answer in answers]
    assert said[0] == "miss" and said[-1] == "hit"
    assert {answer[2] for answer in answers} == {b'{"head": {}, "boolean": true}'}


def test_keep_alive_and_close_as_asked(live_server: str) -> None:
    """Several queries on one connection; ``Connection: close`` closes it after the answer."""
    parts = urlsplit(live_server)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        for _ in range(3):
            connection.request("GET", f"/sparql?{urlencode({'query': _unique('ASK {}')})}",
                               headers={"Accept": JSON})
            response = connection.getresponse()
            assert response.status == 200 and response.getheader("Connection") == "keep-alive"
            response.read()
        connection.request("GET", f"/sparql?{urlencode({'query': _unique('ASK {}')})}",
                           headers={"Accept": JSON, "Connection": "close"})
        response = connection.getresponse()
        assert response.getheader("Connection") == "close"
        response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def patient_server(start_server, seed_build_dir: Path) -> Iterator[str]:
    """One worker, one query process, a time limit far off."""
    with start_server(seed_build_dir, {"query_timeout": 600, "query_workers": 1},
                      workers=1) as base:
        yield base


def _queries(base: str) -> dict:
    return json.loads(fetch(f"{base}/health")[2])["queries"]


def test_a_query_whose_client_leaves_is_stopped(patient_server: str) -> None:
    """Its query process is stopped and replaced (the time limit is 10 minutes away), and
    the next query is answered."""
    replaced = _queries(patient_server)["replaced"]
    parts = urlsplit(patient_server)
    client = socket.create_connection((parts.hostname, parts.port))
    client.sendall(f"GET /sparql?{urlencode({'query': _unique(RUNAWAY)})} HTTP/1.1\r\n"
                   f"Host: {parts.netloc}\r\nAccept: {JSON}\r\n\r\n".encode())
    for _ in range(600):  # it runs
        if _queries(patient_server)["busy"]:
            break
        time.sleep(0.05)
    client.close()
    for _ in range(600):
        if _queries(patient_server)["replaced"] > replaced:
            break
        time.sleep(0.05)
    assert _queries(patient_server)["replaced"] == replaced + 1
    status, _, body = fetch(f"{patient_server}/sparql?{urlencode({'query': 'ASK {}'})}",
                            headers={"Accept": JSON})
    assert status == 200 and b"true" in body


@pytest.fixture(scope="module")
def strict_server(start_server, seed_build_dir: Path) -> Iterator[str]:
    """One worker, a time limit of one second."""
    with start_server(seed_build_dir, {"query_timeout": 1}, workers=1) as base:
        yield base


def test_a_long_query_leaves_its_connection_usable(strict_server: str) -> None:
    """A query stopped at the time limit (its client watched meanwhile), then another on
    the same kept-alive connection."""
    parts = urlsplit(strict_server)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        for query, status in ((RUNAWAY, 503), ("ASK { ?s ?p ?o }", 200), (RUNAWAY, 503),
                              ("ASK { ?s ?p ?o }", 200)):
            connection.request("GET", f"/sparql?{urlencode({'query': _unique(query)})}",
                               headers={"Accept": JSON})
            response = connection.getresponse()
            response.read()
            assert response.status == status
    finally:
        connection.close()


#: Documents the loop answers (through the documents' fast path), of kinds and formats.
DOCUMENTS = ["/place/ng.ttl", "/organisation/iom.jsonld", "/place/west-and-central-africa.nt",
             "/place/ng.rdf"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", DOCUMENTS)
def test_the_loop_answers_documents_as_the_app(live_server: str, path: str,
                                               method: str) -> None:
    """A plain request for a document is answered by the loop; with a condition that
    matches nothing it goes the whole way, to the view: the same answer."""
    headers = {"Accept-Encoding": "identity"}
    loop = _send(live_server, method, path, None, headers)
    app = _send(live_server, method, path, None, {**headers, "If-None-Match": '"nothing"'})
    assert loop[0] == app[0] == 200
    assert loop[2] == app[2] and (loop[2] == b"") == (method == "HEAD")
    assert _comparable(loop[1]) == _comparable(app[1])
    assert sum(1 for name, _ in loop[1] if name.lower() == "date") == 1


def test_documents_and_queries_share_a_kept_alive_connection(live_server: str) -> None:
    parts = urlsplit(live_server)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        for target in ["/place/ng.ttl", f"/sparql?{urlencode({'query': _unique('ASK {}')})}",
                       "/organisation/iom.nt", "/place/ng.html", "/place/nowhere.ttl"]:
            connection.request("GET", target, headers={"Accept": JSON})
            response = connection.getresponse()
            body = response.read()
            assert response.getheader("Connection") == "keep-alive"
            assert response.status == (404 if "nowhere" in target else 200), body[:200]
    finally:
        connection.close()


@pytest.mark.parametrize("path", DOCUMENTS)
def test_a_document_taken_gzipped_is_the_apps_gzip(live_server: str, path: str) -> None:
    """What most crawlers send (``Accept-Encoding: gzip``): the loop answers with the
    bytes the app's gzip layer writes (in one piece, with its length, where the app
    streams them in chunks), the same ETag of the gzip representation and Vary."""
    headers = {"Accept-Encoding": "gzip, deflate"}
    loop = _send(live_server, "GET", path, None, headers)
    app = _send(live_server, "GET", path, None, {**headers, "If-None-Match": '"nothing"'})
    assert loop[0] == app[0] == 200
    assert loop[2] == app[2] and gzip.decompress(loop[2]) == _send(
        live_server, "GET", path, None, {"Accept-Encoding": "identity"})[2]
    framing = ("content-length", "transfer-encoding")
    assert [h for h in _comparable(loop[1]) if h[0] not in framing] == \
        [h for h in _comparable(app[1]) if h[0] not in framing]
    assert dict(_comparable(loop[1]))["content-encoding"] == "gzip"
    assert int(dict(_comparable(loop[1]))["content-length"]) == len(loop[2])
