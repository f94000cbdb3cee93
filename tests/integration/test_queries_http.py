"""The shipped queries over HTTP: our endpoint and the Oxigraph server give the local answers.

Each query runs three ways: on the build's store directly, through our running
endpoint with SPARQLWrapper (:class:`tipgraph.client.Client`), and through
``tipgraph query --endpoint`` against the Oxigraph server from PyPI, started here
on 127.0.0.1 and loaded with our N-Triples dump. And each ``.rq`` file, sent as it is
stored to both servers, gives the rows ``tipgraph query NAME`` gives.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph
import pytest
from click.testing import CliRunner

from tipgraph.cli import cli
from tipgraph.client import Client, Results
from tipgraph.queries import Query, shipped_queries
from tipgraph.serving.text_sparql import uses_text_search
from tipgraph.testing import answers_sparql, free_port, running

STARTUP_LIMIT = 60.0  # seconds the Oxigraph server may take to answer
QUERIES = shipped_queries()
# a value with quotes and braces, bound into each query that takes a parameter
HOSTILE = 'x" } UNION { ?s ?p ?o } #'


def answer(results: Results) -> tuple:
    """What must be equal: the variables and the solutions in order, or the set of triples."""
    if results.form in ("CONSTRUCT", "DESCRIBE"):
        return results.form, frozenset(str(t) for t in results.triples)
    return results.form, results.variables, results.terms, results.boolean


@pytest.fixture(scope="module")
def local(seed_build_dir: Path) -> Client:
    return Client.from_build(seed_build_dir)


@pytest.fixture(scope="module")
def remote(live_server: str) -> Client:
    return Client(live_server + "/sparql", timeout=60)


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_endpoint_gives_the_local_answer(query: Query, local: Client, remote: Client) -> None:
    here = local.run(query)
    there = remote.run(query)
    assert answer(there) == answer(here)
    assert there.serialize("ttl" if here.form == "CONSTRUCT" else "json") == \
        here.serialize("ttl" if here.form == "CONSTRUCT" else "json")


def test_endpoint_answers_are_real(remote: Client) -> None:
    nigeria = remote.run("publications-in-region", region="West and Central Africa")
    assert [row["countryName"] for row in nigeria.rows] == ["Nigeria"]
    pairs = remote.run("co-publishing-organisations")
    assert ("International Organization for Migration",
            "United Nations High Commissioner for Refugees") in [
        (row["first"], row["second"]) for row in pairs.rows]


TEXT_PARAMS = [q for q in QUERIES if any(p.type != "integer" for p in q.params)]


@pytest.mark.parametrize("query", TEXT_PARAMS, ids=[q.name for q in TEXT_PARAMS])
def test_hostile_value_is_a_literal_over_http(query: Query, local: Client,
                                              remote: Client) -> None:
    # an integer parameter refuses such a value before any request (tests/test_queries.py)
    values = {param.name: HOSTILE for param in query.params if param.type != "integer"}
    there = remote.run(query, values)
    assert len(there) == 0
    assert answer(there) == answer(local.run(query, values))


# -- another SPARQL server: Oxigraph's own, from PyPI --------------------------------------------


def _oxigraph() -> str | None:
    beside = Path(sys.executable).parent / "oxigraph"
    return str(beside) if beside.is_file() else shutil.which("oxigraph")


@pytest.fixture(scope="module")
def oxigraph_endpoint(seed_build_dir: Path, tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[str]:
    """``oxigraph serve-read-only`` on a free 127.0.0.1 port, loaded with our dump."""
    binary = _oxigraph()
    if binary is None:
        pytest.skip("the Oxigraph server is not installed (pip install oxigraph, in .[test])")
    location = tmp_path_factory.mktemp("oxigraph")
    subprocess.run([binary, "load", "--location", str(location), "--file",
                    str(seed_build_dir / "tipgraph.nt")], check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/query"
    command = [binary, "serve-read-only", "--location", str(location),
               "--bind", f"127.0.0.1:{port}"]
    with running(command, lambda: answers_sparql(url), name="the Oxigraph server"):
        yield url


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_query_command_against_the_oxigraph_server(query: Query, oxigraph_endpoint: str,
                                                   seed_build_dir: Path) -> None:
    output = "ttl" if query.form == "CONSTRUCT" else "json"
    there = CliRunner().invoke(cli, ["query", query.name, "--endpoint", oxigraph_endpoint,
                                     "--format", output])
    if uses_text_search(query.text):  # tipgraph's extension: said, not an empty answer
        assert there.exit_code != 0
        assert "does not answer tip:matches" in there.output
        return
    here = CliRunner().invoke(cli, ["query", query.name, "--build", str(seed_build_dir),
                                    "--format", output])
    assert there.exit_code == 0, there.output
    assert here.exit_code == 0, here.output
    assert there.stdout_bytes == here.stdout_bytes
    assert len(there.stdout_bytes) > 40


# -- each .rq file as stored, sent unchanged: the rows `tipgraph query NAME` gives -------------


def post_unchanged(endpoint: str, query: Query) -> tuple:
    """POST the file's bytes as they are (``application/sparql-query``) and read the answer."""
    assert query.path is not None
    construct = query.form in ("CONSTRUCT", "DESCRIBE")
    accept = "application/n-triples" if construct else "application/sparql-results+json"
    request = urllib.request.Request(endpoint, data=query.path.read_bytes(), method="POST",
                                     headers={"Content-Type": "application/sparql-query",
                                              "Accept": accept})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    if construct:
        triples = pyoxigraph.parse(body, format=pyoxigraph.RdfFormat.N_TRIPLES)
        return answer(Results("CONSTRUCT", triples=list(triples)))
    return answer(Results.from_json(json.loads(body)))


def query_command_answer(query: Query, build_dir: Path) -> tuple:
    """``tipgraph query NAME`` with its default parameters, read back."""
    construct = query.form in ("CONSTRUCT", "DESCRIBE")
    result = CliRunner().invoke(cli, ["query", query.name, "--build", str(build_dir),
                                      "--format", "ttl" if construct else "json"])
    assert result.exit_code == 0, result.output
    if construct:
        triples = pyoxigraph.parse(result.stdout_bytes, format=pyoxigraph.RdfFormat.TURTLE)
        return answer(Results("CONSTRUCT", triples=list(triples)))
    return answer(Results.from_json(json.loads(result.stdout_bytes)))


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_query_file_as_stored_runs_on_both_servers(query: Query, live_server: str,
                                                    oxigraph_endpoint: str,
                                                    seed_build_dir: Path) -> None:
    expected = query_command_answer(query, seed_build_dir)
    assert len(expected[2] if expected[0] == "SELECT" else expected[1]) > 0 \
        or query.name == "countries-outside-stated-regions"  # the seed is consistent
    assert post_unchanged(live_server + "/sparql", query) == expected
    if uses_text_search(query.text):  # tipgraph's extension: valid SPARQL, but another
        # server has no tip:matches triple to find
        assert post_unchanged(oxigraph_endpoint, query)[2] == []
    else:
        assert post_unchanged(oxigraph_endpoint, query) == expected
