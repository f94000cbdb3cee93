"""A lookup (a query anchored by what it names: :mod:`tipgraph.lookups`) is answered by
the web worker itself: while the only query process is held by a runaway query, a
researcher's lookup of one record is still answered, over real HTTP, the same as before;
a query that is not a lookup still waits for a query process (and is refused when it
waits too long), so the runaway query keeps its hard stop.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from SPARQLWrapper import JSON, SPARQLWrapper

from tipgraph.testing import fetch

RESULTS = "application/sparql-results+json"
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
TIP = "PREFIX tip: <https://w3id.org/tipgraph/ontology#>\n"


@pytest.fixture(scope="module")
def one_process_server(start_server, seed_build_dir: Path) -> Iterator[str]:
    """One worker, one query process, a time limit far off, a short wait for a process."""
    with start_server(seed_build_dir, {"query_timeout": 600, "query_workers": 1,
                                       "query_wait": 1}, workers=1) as base:
        yield base


def _queries(base: str) -> dict:
    return json.loads(fetch(f"{base}/health")[2])["queries"]


def _select(base: str, query: str) -> tuple[int, dict | None]:
    status, _, body = fetch(f"{base}/sparql?{urlencode({'query': query})}",
                            headers={"Accept": RESULTS})
    return status, json.loads(body) if status == 200 else None


def test_a_lookup_is_answered_while_every_query_process_is_busy(one_process_server) -> None:
    base = one_process_server
    status, found = _select(base, TIP + "SELECT ?p WHERE { ?p a tip:Publication } LIMIT 1")
    assert status == 200 and found is not None
    publication = found["results"]["bindings"][0]["p"]["value"]
    record = f"SELECT ?p ?o WHERE {{ <{publication}> ?p ?o }} ORDER BY ?p ?o"
    before = _select(base, record)
    assert before[0] == 200 and before[1] is not None and before[1]["results"]["bindings"]

    parts = urlsplit(base)
    runaway = socket.create_connection((parts.hostname, parts.port))
    try:
        runaway.sendall(f"GET /sparql?{urlencode({'query': RUNAWAY})} HTTP/1.1\r\n"
                        f"Host: {parts.netloc}\r\nAccept: {RESULTS}\r\n\r\n".encode())
        for _ in range(600):  # it holds the only query process
            if _queries(base)["busy"]:
                break
            time.sleep(0.05)
        assert _queries(base)["busy"] == 1

        # the lookup, uncached (its own comment), by a real SPARQL client: the same rows
        client = SPARQLWrapper(f"{base}/sparql")
        client.setQuery(f"{record}\n# {uuid.uuid4().hex}")
        client.setReturnFormat(JSON)
        during = client.queryAndConvert()
        assert during["results"]["bindings"] == before[1]["results"]["bindings"]
        described = fetch(f"{base}/sparql?{urlencode({'query': f'DESCRIBE <{publication}>'})}",
                          headers={"Accept": "application/n-triples"})
        assert described[0] == 200 and f"<{publication}>".encode() in described[2]

        # not a lookup: it waits for the query process, and is refused after query_wait
        status, _ = _select(base, "SELECT ?o WHERE { ?s ?p ?o FILTER(isLiteral(?o)) } LIMIT 1"
                            f"\n# {uuid.uuid4().hex}")
        assert status == 429
        assert _queries(base)["busy"] == 1  # the runaway query still runs: nothing waited on it
    finally:
        runaway.close()
    for _ in range(600):  # its client gone, the runaway query is stopped
        if not _queries(base)["busy"]:
            break
        time.sleep(0.05)
    assert not _queries(base)["busy"]
