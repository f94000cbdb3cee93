"""A few clients cannot take the site down, with the default settings.

Each test is a liveness condition: what must happen while the site is under a given
abuse, with generous bounds and no timed assertion. Clients come from several loopback
addresses (127.0.0.2, 127.0.0.3, ... are all loopback on Linux), so the server sees
several clients.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

pytestmark = pytest.mark.slow

JSON = {"Accept": "application/sparql-results+json"}
#: Never ends on the seed build (a cross product of four patterns) and uses little memory.
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
#: 53 bytes that sort a cross product: gigabytes within seconds.
HUNGRY = "SELECT * { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c"


@pytest.fixture(scope="module")
def server(seed_build_dir: Path, start_server) -> Iterator[str]:
    """``tipgraph serve`` with the default settings (two workers), once both serve."""
    with start_server(seed_build_dir) as base:
        assert _until(lambda: health(base)[1]["queries"]["workers"] == 2)
        yield base


def request(base: str, path: str, *, source: str = "127.0.0.1", method: str = "GET",
            body: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 120) -> tuple[int, dict[str, str], bytes]:
    """One request from the loopback address ``source``; status, headers, body."""
    parts = urlsplit(base)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, \
            response.read()
    finally:
        connection.close()


def query(base: str, text: str, source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    return request(base, "/sparql?" + urlencode({"query": text}), source=source, headers=JSON)


class Clients:
    """Requests sent from threads; each outcome kept as it arrives."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.outcomes: list[tuple[int, dict[str, str], bytes]] = []

    def send(self, ask: Callable[[], tuple[int, dict[str, str], bytes]]) -> None:
        thread = threading.Thread(target=lambda: self.outcomes.append(ask()), daemon=True)
        thread.start()
        self.threads.append(thread)

    def running(self) -> int:
        return sum(t.is_alive() for t in self.threads)

    def join(self) -> list[int]:
        for thread in self.threads:
            thread.join(180)
        return sorted(status for status, _, _ in self.outcomes)


def health(base: str, ready: bool = False, source: str = "127.0.0.9") -> tuple[int, dict]:
    status, _, body = request(base, "/health?ready" if ready else "/health", source=source)
    return status, json.loads(body)


def _until(condition: Callable[[], bool], limit: float = 90.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_runaway_queries_from_several_addresses_leave_others_served(server: str) -> None:
    runaways = Clients()
    for address in range(2, 6):  # four addresses, four runaway queries each
        for _ in range(4):
            runaways.send(lambda a=address: query(server, RUNAWAY, f"127.0.0.{a}"))
    seen: list[tuple[int, dict]] = []

    def saturated() -> bool:
        seen.append(health(server, ready=True))
        return seen[-1][0] == 503

    assert _until(saturated), "/health?ready never said the query processes were saturated"
    status, state = seen[-1]  # (queued queries are refused after query_wait: it may pass)
    # meanwhile another address is served: a cheap query, a page, /health
    cheap = query(server, "ASK { ?s ?p ?o }", "127.0.0.9")
    page = request(server, "/", source="127.0.0.9")
    alive, body = health(server)
    still_running = runaways.running()
    statuses = runaways.join()
    assert cheap[0] == 200 and json.loads(cheap[2])["boolean"] is True, cheap
    assert page[0] == 200 and alive == 200 and body["status"] == "ok"
    assert still_running > 0  # they completed before the runaway queries did
    assert status == 503 and state["queries"]["saturated"]
    assert state["queries"]["busy"] == state["queries"]["processes"]
    assert set(statuses) <= {429, 503}, statuses  # stopped (time limit, turn) or refused, never 500
    # a query refused, or stopped for another client's turn, says when to come back
    turned = [h for status, h, body in runaways.outcomes
              if status == 429 or b"query_share_seconds" in body]
    assert turned, "no runaway query gave its process to the other address's query"
    assert all(int(h["retry-after"]) >= 1 for h in turned)


def test_eight_clients_behind_one_address_get_answers(server: str) -> None:
    """Eight clients behind one NAT (or one proxy), each sending its queries one after
    another, at the same time: ordinary uncached queries, all answered."""

    def client(number: int) -> list[int]:
        return [query(server, f"SELECT ?s ?o WHERE {{ ?s ?p ?o }} ORDER BY ?o "
                      f"LIMIT {5 + n} OFFSET {number * 10 + n}", "127.0.0.20")[0]
                for n in range(4)]  # each its own (no cached answer)

    answered: list[list[int]] = []
    threads = [threading.Thread(target=lambda n=n: answered.append(client(n)), daemon=True)
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert answered == [[200] * 4] * 8


def test_a_query_eating_memory_is_stopped_and_others_are_served(server: str) -> None:
    before = health(server)[1]["queries"]["over_memory"]
    status, _, body = query(server, HUNGRY, "127.0.0.30")
    assert status == 503 and b"query_memory_mb" in body
    # each worker publishes its pool's state twice a second: /health says so soon after
    assert _until(lambda: health(server)[1]["queries"]["over_memory"] >= before + 1)
    assert query(server, "ASK { ?s ?p ?o }", "127.0.0.31")[0] == 200
    assert all(query(server, f"SELECT * {{ ?s ?p ?o }} LIMIT {n}", "127.0.0.31")[0] == 200
               for n in range(1, 5))  # whichever worker and process answers


def _slow_connections(base: str, kind: str, count: int) -> list[socket.socket]:
    parts = urlsplit(base)
    opened = []
    for n in range(count):
        connection = socket.socket()
        if kind == "reader":  # asks for a dump and reads nothing of it
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.bind((f"127.0.1.{1 + n % 250}", 0))
        connection.connect((parts.hostname, parts.port))
        connection.sendall({
            "headers": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",
            "body": b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                    b"sparql-query\r\nContent-Length: 1000\r\n\r\nSELECT",
            "reader": b"GET /dumps/tipgraph.nt HTTP/1.1\r\nHost: x\r\n\r\n" * 10,
        }[kind])
        opened.append(connection)
    return opened


@pytest.mark.parametrize("kind", ["headers", "body", "reader"])
def test_slow_connections_leave_other_clients_served(server: str, kind: str) -> None:
    held = _slow_connections(server, kind, 100)
    try:
        answers = [request(server, "/health", source="127.0.0.40")[0],
                   request(server, "/", source="127.0.0.40")[0],
                   query(server, "ASK { ?s ?p ?o }", "127.0.0.40")[0],
                   request(server, "/dumps/tipgraph.nt", source="127.0.0.40")[0]]
    finally:
        for connection in held:
            connection.close()
    assert answers == [200] * 4


def test_a_slow_request_is_closed_after_the_client_timeout(server: str) -> None:
    """The default client_timeout (10 s) closes a request that never ends: 408."""
    parts = urlsplit(server)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408") and b"client_timeout" in answer


def test_a_chunked_body_over_the_limit_is_refused(server: str) -> None:
    chunk = b"#" * 65536
    parts = urlsplit(server)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as connection:
        connection.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           b"application/sparql-query\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(20):  # 1.3 MB, over max_request_bytes (1,000,000)
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # refused before the last chunk
        answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413") and b"max_request_bytes" in answer


def test_a_chunked_query_within_the_limit_is_answered(server: str) -> None:
    text = b"ASK { ?s ?p ?o }"
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(text), text)
    status, _, answer = request(server, "/sparql", method="POST", body=body, headers={
        **JSON, "Content-Type": "application/sparql-query", "Transfer-Encoding": "chunked"})
    assert status == 200 and json.loads(answer)["boolean"] is True


def test_an_operator_chain_is_refused_not_crashing_a_query_process(server: str) -> None:
    chain = "ASK { ?s ?p ?o FILTER(" + "!" * 20_000 + "?o) }"
    status, _, body = request(server, "/sparql", method="POST", body=chain.encode(),
                              headers={**JSON, "Content-Type": "application/sparql-query"})
    assert status == 400 and b"max_query_chain" in body
    assert health(server)[1]["queries"]["replaced"] == 0 or query(
        server, "ASK { ?s ?p ?o }")[0] == 200


def test_page_numbers_and_browse_parameters_are_bounded(server: str) -> None:
    huge = str(2 ** 63 + 5)
    status, _, _ = request(server, f"/place/ng.ttl?page={huge}")
    assert status == 400
    assert request(server, f"/browse?page={huge}")[0] == 400
    many = "&".join(f"country=c{n}" for n in range(500))
    status, _, body = request(server, f"/browse?{many}")
    assert status == 400 and len(body) < 100_000
    assert request(server, "/browse?q=" + "x" * 5000)[0] == 400


def test_access_log_lines_are_bounded() -> None:
    """A 200 KB query sent by GET is logged shortened, with its hash."""
    from gunicorn.config import Config
    from gunicorn.glogging import SafeAtoms

    from tipgraph.front import AccessLog
    from tipgraph.server import ACCESS_LOG_FORMAT

    target = "/sparql?query=" + "x" * 200_000
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": target, "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": "/sparql", "QUERY_STRING": target[8:], "REMOTE_ADDR": "127.0.0.1"}

    class Answer:
        status, status_code, sent, headers = "200 OK", 200, 10, [("Content-Length", "10")]
        response_length = 10

    from datetime import timedelta

    log = AccessLog(Config())
    atoms = log.atoms(Answer(), [], environ, timedelta(seconds=0.01))
    line = ACCESS_LOG_FORMAT % atoms
    assert len(line) < 2000 and "sha256" in line and line.startswith('127.0.0.1 "GET /sparql')
    # the line tipgraph serve writes (directly) is the one gunicorn would write
    environ["HTTP_USER_AGENT"] = 'a "quoted" agent'
    assert log.line(Answer.status, Answer.headers, environ, timedelta(seconds=0.01)) == \
        ACCESS_LOG_FORMAT % SafeAtoms(log.atoms(Answer(), [], environ, timedelta(seconds=0.01)))
