"""Switching a remote store to a new build: only when it is complete; a killed publish
leaves the previous graph serving, answers unchanged.

For each engine: the seed build is published and served by ``tipgraph serve --store``;
``tipgraph publish`` of a second, larger build is killed (SIGKILL) halfway; the
server's answers are still the seed's. Publishing the second build again completes
and the server switches to it without a restart.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tipgraph.build import run_build
from tipgraph.cli import cli
from tipgraph.client import Client
from tipgraph.queries import shipped_queries
from tipgraph.store import RemoteSparqlStore, current_graph
from tipgraph.synth import synthesize, write_catalogue
from tipgraph.testing import fetch
from tipgraph.testing import serving as start_server

from .conftest import Engine
from .test_remote_serving import answer, without_virtuoso_booleans

GRAPHS = "https://w3id.org/tipgraph/graph/switching/"
ROOT = Path(__file__).resolve().parents[2]
QUERIES = [q for q in shipped_queries() if q.name in (
    "publications-per-year", "publications-per-country", "publications-per-region",
    "publication-record")]


@pytest.fixture(scope="module")
def second_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed catalogue and 40 synthetic records: a different, larger build."""
    out = tmp_path_factory.mktemp("second-build")
    extra = out.parent / f"{out.name}-extra.jsonl"
    write_catalogue(synthesize(40, seed=8), extra)
    run_build((ROOT / "data" / "sources", extra), out, base="https://w3id.org/tipgraph/")
    return out


def _answers(client: Client, reference: Client, engine: Engine) -> dict[str, tuple]:
    found = {}
    for query in QUERIES:
        there, here = client.run(query), reference.run(query)
        if engine.name == "virtuoso":
            there = without_virtuoso_booleans(there, here)
        found[query.name] = answer(there)
    return found


def _health(site: str) -> str:
    import json

    status, _, body = fetch(site + "/health")
    assert status == 200, body
    return json.loads(body)["build"]


def test_killed_publish_leaves_the_previous_graph_serving(
        engine: Engine, seed_build_dir: Path, second_build_dir: Path,
        tmp_path: Path) -> None:
    first = CliRunner().invoke(cli, ["publish", "--build", str(seed_build_dir), "--graph",
                                     GRAPHS, *engine.publish_args()])
    assert first.exit_code == 0, first.output
    seed_id = (seed_build_dir / "current").resolve().name
    second_id = (second_build_dir / "current").resolve().name
    seed, second = Client.from_build(seed_build_dir), Client.from_build(second_build_dir)
    settings = {"store_url": engine.query, "store_graphs": GRAPHS, "store_poll": 0}
    with start_server(tmp_path, settings, workers=1) as site:
        served = Client(site + "/sparql", timeout=60)
        assert _health(site) == seed_id
        before = _answers(served, seed, engine)
        assert before == {q.name: answer(seed.run(q)) for q in QUERIES}

        # one triple per request, so there are hundreds of requests still to go at the kill
        publishing = subprocess.Popen(
            [sys.executable, "-m", "tipgraph.cli", "publish", "--build", str(second_build_dir),
             "--graph", GRAPHS, "--chunk", "1", *engine.publish_args()],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for line in publishing.stderr:
                if line.startswith("chunk 3/"):
                    publishing.send_signal(signal.SIGKILL)
                    break
        finally:
            publishing.kill()
            publishing.wait()
        assert publishing.returncode == -signal.SIGKILL, "the publish ended before the kill"

        store = RemoteSparqlStore(engine.query)
        partial = f"{GRAPHS}{second_id}"
        sent = int(next(iter(store.query(
            f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{partial}> {{ ?s ?p ?o }} }}")))["n"].value)
        total = sum(1 for _ in (second_build_dir / "tipgraph.nt").open())
        assert 0 < sent < total  # killed halfway: part of the new graph is in the store ...
        assert current_graph(store, GRAPHS).build_id == seed_id  # ... and not in service
        assert _health(site) == seed_id
        assert _answers(served, seed, engine) == before

        again = CliRunner().invoke(cli, ["publish", "--build", str(second_build_dir),
                                         "--graph", GRAPHS, *engine.publish_args()])
        assert again.exit_code == 0, again.output
        assert _health(site) == second_id
        after = _answers(served, second, engine)
        assert after == {q.name: answer(second.run(q)) for q in QUERIES}
        assert after != before
