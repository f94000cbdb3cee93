"""Real SPARQL engines on 127.0.0.1: the Oxigraph server and Virtuoso open source.

Each engine starts once per session in a temporary directory, on free loopback
ports, and is stopped at the end (SIGTERM, then SIGKILL of its own session).
An engine whose binary is missing is skipped with the reason, except in CI
(``CI=true``), where a missing engine fails: CI installs both (``.ci/run``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tipgraph import testing
from tipgraph.testing import (
    VIRTUOSO_PUBLISHER,
    VIRTUOSO_SETUP,
    answers_sparql,
    free_port,
    running,
)

STARTUP_LIMIT = 120.0  # seconds an engine may take to answer before the fixture gives up
HERE = Path(__file__).resolve().parent

@dataclass(frozen=True)
class Engine:
    """A running SPARQL engine and how tipgraph publishes to it."""

    name: str
    query: str  # SPARQL query endpoint
    update: str  # SPARQL Update endpoint
    graph_store: str  # Graph Store HTTP Protocol endpoint
    auth: str | None = None

    def publish_args(self) -> list[str]:
        args = ["--endpoint", self.query, "--update", self.update,
                "--graph-store", self.graph_store]
        return args + (["--auth", self.auth] if self.auth else [])


def find_binary(names: tuple[str, ...], why: str) -> str:
    """The first of ``names`` on PATH (or beside this Python); skipped, or failed in CI."""
    found = testing.find_binary(names)
    if found:
        return found
    message = f"{' or '.join(names)} not found: {why}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI installs it: .ci/run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def oxigraph_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The Oxigraph server (PyPI ``oxigraph``), read-write, on a temporary store."""
    binary = find_binary(("oxigraph",), "pip install oxigraph (in the test extra)")
    where = tmp_path_factory.mktemp("oxigraph-server")
    root = f"http://127.0.0.1:{free_port()}"
    command = [binary, "serve", "--location", str(where / "db"),
               "--bind", root.removeprefix("http://")]
    with running(command, lambda: answers_sparql(root + "/query"), cwd=where,
                 name="the Oxigraph server", startup_limit=STARTUP_LIMIT):
        yield Engine("oxigraph", root + "/query", root + "/update", root + "/store")


@pytest.fixture(scope="session")
def virtuoso_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Virtuoso open source (Debian ``virtuoso-opensource-7-bin``) from our own ini:
    both ports on 127.0.0.1, a temporary database, a ``publisher`` user for writing."""
    binary = find_binary(("virtuoso-t",), "apt-get install virtuoso-opensource-7-bin")
    isql = find_binary(("isql-vt", "isql"), "isql comes with virtuoso-opensource-7-bin")
    where = tmp_path_factory.mktemp("virtuoso")
    # ResultSetMaxRows below the seed build's size, so that the dumps of ``serve --store``
    # are read in parts here too
    with testing.virtuoso(where, binary=binary, isql=isql, max_rows=400,
                          startup_limit=STARTUP_LIMIT) as server:
        try:
            server.run_sql(VIRTUOSO_SETUP)
        except RuntimeError as error:
            pytest.fail(f"isql could not set Virtuoso up: {error}")
        root = server.root
        yield Engine("virtuoso", root + "/sparql", root + "/sparql-auth",
                     root + "/sparql-graph-crud-auth", auth=VIRTUOSO_PUBLISHER)


@pytest.fixture(scope="module", params=["oxigraph", "virtuoso"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine in turn (a module's tests run against one, then the other)."""
    return request.getfixturevalue(f"{request.param}_engine")
