"""The result cache of /sparql: repeated queries answered from kept files (by every worker,
replayed before routing), 304s, a new build, one budget for all workers."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tipgraph.build_dir import BuildDir
from tipgraph.web import create_app

COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
JSON = {"Accept": "application/sparql-results+json"}


@pytest.fixture()
def build_dir(seed_build_dir: Path, tmp_path: Path) -> Path:
    """A copy of the seed build directory, so a test may switch in a new build."""
    root = tmp_path / "builds"
    shutil.copytree(seed_build_dir, root, symlinks=True)
    return root


class ClosingClient(FlaskClient):
    """A test client that closes each response once read, as a WSGI server does once it
    has sent it: a small answer is kept in the cache then (after it was sent)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        response.get_data()
        response.close()
        return response


@contextlib.contextmanager
def _app(build_dir: Path, **settings: object) -> Iterator[Flask]:
    app = create_app({"build_dir": str(build_dir), **settings})
    app.test_client_class = ClosingClient
    try:
        yield app
    finally:
        from tipgraph.web.context import get_engine

        with app.app_context():
            get_engine().close()


@pytest.fixture()
def app(build_dir: Path) -> Iterator[Flask]:
    with _app(build_dir) as app:
        yield app


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _health(client: FlaskClient) -> dict:
    return client.get("/health").get_json()["result_cache"]


def test_a_repeated_query_is_answered_from_the_cache(client: FlaskClient) -> None:
    first = client.get("/sparql", query_string={"query": COUNT}, headers=JSON)
    second = client.get("/sparql", query_string={"query": COUNT}, headers=JSON)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert second.data == first.data
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert _health(client)["hits"] == 1


def test_another_format_is_another_answer(client: FlaskClient) -> None:
    json = client.get("/sparql", query_string={"query": COUNT}, headers=JSON)
    csv = client.get("/sparql", query_string={"query": COUNT}, headers={"Accept": "text/csv"})
    assert csv.headers["X-Cache"] == "miss"
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.headers["ETag"] != json.headers["ETag"]


def test_a_post_shares_the_answer_of_a_get(client: FlaskClient) -> None:
    client.get("/sparql", query_string={"query": COUNT}, headers=JSON)
    posted = client.post("/sparql", data=COUNT, headers={
        **JSON, "Content-Type": "application/sparql-query"})
    assert posted.headers["X-Cache"] == "hit"


def test_a_conditional_request_gets_304(client: FlaskClient) -> None:
    first = client.get("/sparql", query_string={"query": COUNT}, headers=JSON)
    etag = first.headers["ETag"]
    again = client.get("/sparql", query_string={"query": COUNT},
                       headers={**JSON, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    other = client.get("/sparql", query_string={"query": COUNT + " LIMIT 1"},
                       headers={**JSON, "If-None-Match": etag})
    assert other.status_code == 200


def test_a_new_build_misses(client: FlaskClient, build_dir: Path) -> None:
    first = client.get("/sparql", query_string={"query": COUNT}, headers=JSON)
    builds = BuildDir(build_dir)
    new = builds.new_build()
    current = builds.current()
    assert current is not None
    shutil.rmtree(new)  # made with its marker: the copy brings its own
    shutil.copytree(current, new)
    builds.publish(new)
    after = client.get("/sparql", query_string={"query": COUNT}, headers=JSON)
    assert after.headers["X-Tipgraph-Build"] == new.name != first.headers["X-Tipgraph-Build"]
    assert after.headers["X-Cache"] == "miss"
    assert after.headers["ETag"] != first.headers["ETag"]
    assert client.get("/sparql", query_string={"query": COUNT},
                      headers={**JSON, "If-None-Match": first.headers["ETag"]}).status_code == 200
    assert _health(client)["entries"] == 1  # the old build's answers are gone


def test_the_budget_evicts_the_least_recently_used(build_dir: Path) -> None:
    with _app(build_dir, result_cache_mb=0.002) as app:  # about 2 KiB: two small answers
        client = app.test_client()
        queries = [f"SELECT ?n WHERE {{ BIND({n} AS ?n) }}" for n in range(4)]
        for query in queries:
            client.get("/sparql", query_string={"query": query}, headers=JSON)
        stats = _health(client)
        assert stats["evictions"] >= 1
        assert stats["bytes"] <= stats["budget"]
        newest = client.get("/sparql", query_string={"query": queries[-1]}, headers=JSON)
        oldest = client.get("/sparql", query_string={"query": queries[0]}, headers=JSON)
        assert (newest.headers["X-Cache"], oldest.headers["X-Cache"]) == ("hit", "miss")


def test_a_budget_of_zero_turns_the_cache_off(build_dir: Path) -> None:
    with _app(build_dir, result_cache_mb=0) as app:
        client = app.test_client()
        for _ in range(2):
            answer = client.get("/sparql", query_string={"query": COUNT}, headers=JSON)
            assert answer.headers["X-Cache"] == "miss"
        assert "result_cache" not in client.get("/health").get_json()


def test_a_replayed_answer_is_the_answer(build_dir: Path) -> None:
    """A request answered again before routing has the same status, headers and body; a
    request differing in what selects the answer (Accept, Origin, body) is not replayed."""
    with _app(build_dir, cors_origins="https://a.example, https://b.example") as app:
        client = app.test_client()
        post = {**JSON, "Content-Type": "application/sparql-query", "Origin": "https://a.example"}
        answers = [client.post("/sparql", data=COUNT, headers=post) for _ in range(3)]
        assert [a.headers["X-Cache"] for a in answers] == ["miss", "hit", "hit"]

        def same(response: Any) -> tuple:
            return response.status_code, response.data, sorted(
                (k, v) for k, v in response.headers.items() if k not in ("Date", "X-Cache"))

        assert same(answers[0]) == same(answers[1]) == same(answers[2])
        other = client.post("/sparql", data=COUNT, headers={**post, "Origin": "https://b.example"})
        assert other.headers["Access-Control-Allow-Origin"] == "https://b.example"
        csv = client.post("/sparql", data=COUNT, headers={**post, "Accept": "text/csv"})
        assert csv.headers["Content-Type"].startswith("text/csv")
        longer = client.post("/sparql", data=COUNT + " LIMIT 1", headers=post)
        assert longer.headers["X-Cache"] == "miss"


# -- over real HTTP: gunicorn's workers share one cache ---------------------------------------


def _ask(base: str, query: str, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection, as most clients send them (any worker may take it)."""
    from urllib.parse import urlencode

    from tipgraph.testing import fetch

    return fetch(f"{base}/sparql?{urlencode({'query': query})}",
                 headers={**JSON, **(headers or {})})


def test_an_answer_is_served_by_every_worker(build_dir: Path) -> None:
    """What one worker computed, the other serves: one miss, then only hits, the same bytes."""
    from tipgraph.testing import serving

    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 300"
    with serving(build_dir, workers=2) as base:
        status, first, body = _ask(base, query)
        assert (status, first["x-cache"]) == (200, "miss")
        answers = [_ask(base, query) for _ in range(12)]
        assert {(s, h["x-cache"]) for s, h, _ in answers} == {(200, "hit")}
        assert {b for _, _, b in answers} == {body}
        assert {h["content-length"] for _, h, _ in answers} == {str(len(body))}
        assert {h["etag"] for _, h, _ in answers} == {first["etag"]}
        for _ in range(6):  # a conditional request gets 304 whichever worker takes it
            status, headers, again = _ask(base, query, {"If-None-Match": first["etag"]})
            assert (status, again) == (304, b"")
            assert headers["access-control-allow-origin"] == "*"


def test_the_workers_keep_within_one_budget(build_dir: Path) -> None:
    """Two workers, a budget of 16 KiB for both: the answers kept never pass it."""
    from tipgraph.testing import health, serving

    budget = 16 * 1024
    with serving(build_dir, {"result_cache_mb": budget / 2**20}, workers=2) as base:
        queries = [f"SELECT ?n WHERE {{ BIND({n} AS ?n) }}" for n in range(60)]
        for query in queries:  # each answer costs about 600 bytes
            assert _ask(base, query)[0] == 200
        stats = health(base)["result_cache"]
        assert stats["budget"] == budget
        assert 0 < stats["bytes"] <= budget
        assert 10 < stats["entries"] < 60
        newest = _ask(base, queries[-1])[1]
        oldest = _ask(base, queries[0])[1]
        assert (newest["x-cache"], oldest["x-cache"]) == ("hit", "miss")
