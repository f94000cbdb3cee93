"""Fixtures of the security tests: a guarded server with small limits, and hostile inputs.

The servers are the integration suite's own (``start_server`` from
``tests/integration/conftest.py``, loaded here by path), so there is one way
to run ``tipgraph serve`` in the tests.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tipgraph.build import run_build

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("tipgraph_test_servers",
                                               HERE.parent / "integration" / "conftest.py")
servers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(servers)
start_server = servers.start_server
fetch = servers.fetch
free_port = servers.free_port

#: Small limits, so each can be reached with little traffic.
GUARDED = {"query_timeout": 3, "query_workers": 3, "max_concurrent_queries_per_client": 2,
           "max_results": 50, "max_request_bytes": 100_000, "max_query_depth": 100}

#: A query that never ends on any real graph: a cross product of four triple patterns.
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


@pytest.fixture(scope="session")
def guarded_server(seed_build_dir: Path) -> Iterator[str]:
    """``tipgraph serve`` (one gunicorn worker) over the seed build with :data:`GUARDED`."""
    with start_server(seed_build_dir, GUARDED, workers=1) as base:
        yield base


@pytest.fixture(scope="session")
def limits() -> dict:
    """The guarded server's settings."""
    return dict(GUARDED)


@pytest.fixture(scope="session")
def runaway() -> str:
    """:data:`RUNAWAY`."""
    return RUNAWAY


@pytest.fixture(scope="session", name="start_server")
def start_server_fixture():
    """The integration suite's ``start_server``, for a test that needs its own server."""
    return start_server


@pytest.fixture(scope="session")
def http():
    return fetch


class Listener:
    """A TCP socket on 127.0.0.1 that records every connection made to it."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.accepted: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    self.accepted.append(connection.recv(4096))
                except OSError:
                    self.accepted.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A loopback port that must see no connection (SERVICE, LOAD)."""
    watched = Listener()
    yield watched
    watched.close()


#: Deliberately defective inputs: (file name, content). Each record's fate is counted.
HOSTILE_TITLE = "</script><script>alert(1)</script> Trafficking <img src=x onerror=alert(2)>"
DEFECTIVE_SOURCES = {
    "listing.txt": (
        "Trafficking\n\n"
        "A good listing record\n\nAbout it.\nCountry\nNigeria\nYear\n2020\nCategory\n\n"
        "Country\nGhana\nYear\n2019\n\n"  # a block with no title
        "Second listing record\n\nText.\nRegion\nWest and Central Africa\nYear\n20x0\n"),
    "records.jsonl": "\n".join([
        json.dumps({"title": HOSTILE_TITLE, "countries": ["Nigeria"], "year": "2021",
                    "description": "<b onmouseover=alert(3)>hover</b>"}),
        json.dumps({"title": "Record with an unknown place", "countries": ["Atlantis"]}),
        '{"title": "broken json", ',  # cannot be parsed
        json.dumps(["not", "an", "object"]),
        json.dumps({"description": "no title at all"}),
        json.dumps({"title": "", "year": "2000"}),
        json.dumps({"title": "Title with a NUL\u0000 and odd bytes", "authors": ["IOM"]}),
    ]) + "\n",
    "records.csv": (
        "title,countries,year,authors\n"
        "A CSV record,Ghana;Togo,2018,IOM\n"
        ",Ghana,2017,\n"  # no title
        "Another CSV record,Kosovo,2015,UNHCR;IOM\n"
        "\"unterminated quote,Ghana,2016,IOM\n"),  # last: it runs to the end of the file
}


@pytest.fixture(scope="session")
def defective_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("defective-sources")
    for name, text in DEFECTIVE_SOURCES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "bad-bytes.jsonl").write_bytes(
        b'{"title": "Invalid \xff\xfe bytes in a title", "year": "2012"}\n')
    return folder


@pytest.fixture(scope="session")
def defective_build_dir(tmp_path_factory: pytest.TempPathFactory,
                        defective_sources: Path) -> Path:
    out = tmp_path_factory.mktemp("defective-build")
    run_build((defective_sources,), out, base="https://w3id.org/tipgraph/")
    return out
