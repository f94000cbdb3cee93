"""/sparql's fast path (:class:`tipgraph.web.fast_path.FastPath`) answers as the view does.

Each request is sent twice: plain (answered before Flask routes it) and with an
``If-None-Match`` that matches nothing (a conditional request: the whole way,
through the view). Status, body and every header but ``Date`` and ``X-Cache``
must be the same, and Flask must have dispatched only the second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request_started
from flask.testing import FlaskClient

from tipgraph.web import create_app

JSON = "application/sparql-results+json"
SELECT = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 5"


class ClosingClient(FlaskClient):
    """Closes each response once read, as a WSGI server does once it has sent it (a small
    answer is kept in the result cache then)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        response.get_data()
        response.close()
        return response


@pytest.fixture()
def app(seed_build_dir: Path) -> Iterator[Flask]:
    app = create_app({"build_dir": str(seed_build_dir), "max_results": 3})
    app.test_client_class = ClosingClient
    yield app
    from tipgraph.web.context import get_engine

    with app.app_context():
        get_engine().close()


@pytest.fixture()
def views(app: Flask) -> Iterator[list[str]]:
    """Every request Flask dispatched (the fast path did not answer it)."""
    seen: list[str] = []

    def started(sender: Flask, **_: Any) -> None:
        seen.append("view")

    request_started.connect(started, app)
    yield seen
    request_started.disconnect(started, app)


def _both(client: FlaskClient, send: Callable[..., Any], **kwargs: Any) -> tuple[Any, Any]:
    headers = kwargs.pop("headers", {})
    fast = send(**kwargs, headers=headers)
    whole = send(**kwargs, headers={**headers, "If-None-Match": '"matches-nothing"'})
    return fast, whole


def _same(fast: Any, whole: Any) -> None:
    assert fast.status_code == whole.status_code
    assert fast.get_data() == whole.get_data()
    ignored = {"Date", "X-Cache"}
    assert sorted((k, v) for k, v in fast.headers.items() if k not in ignored) == \
        sorted((k, v) for k, v in whole.headers.items() if k not in ignored)


@pytest.mark.parametrize(("method", "kwargs"), [
    ("get", {"query_string": {"query": SELECT}, "headers": {"Accept": JSON}}),
    ("get", {"query_string": {"query": "ASK { ?s ?p ?o }", "format": "xml"}}),
    ("post", {"data": {"query": SELECT}, "headers": {"Accept": "text/csv"}}),
    ("post", {"data": "CONSTRUCT WHERE { ?s ?p ?o } LIMIT 2",
              "headers": {"Content-Type": "application/sparql-query",
                          "Accept": "text/turtle"}}),
    ("get", {"query_string": {"query": "SELECT ?s WHERE { ?s ?p ?o }"},  # cut at 3
             "headers": {"Accept": JSON, "Origin": "https://example.org"}}),
    ("get", {"query_string": [("query", SELECT), ("default-graph-uri", "urn:x:g")],
             "headers": {"Accept": JSON}}),
])
def test_the_fast_path_answers_as_the_view(app: Flask, views: list[str], method: str,
                                           kwargs: dict[str, Any]) -> None:
    client = app.test_client()
    fast, whole = _both(client, getattr(client, method), path="/sparql", **kwargs)
    assert fast.status_code == 200, fast.get_data()
    assert fast.headers["X-Cache"] == "miss" and whole.headers["X-Cache"] == "hit"
    _same(fast, whole)
    assert views == ["view"]  # the conditional request only


def test_a_cut_answer_says_so(app: Flask, views: list[str]) -> None:
    response = app.test_client().get("/sparql", query_string={
        "query": "SELECT ?s WHERE { ?s ?p ?o }"}, headers={"Accept": JSON})
    assert response.headers["X-SPARQL-MaxRows"] == "3"
    assert len(response.get_json()["results"]["bindings"]) == 3
    assert views == []


@pytest.mark.parametrize("query", ["SELECT * WHERE { ?s ?p }", "CONSTRUCT WHERE { ?s ?p ?o }"])
def test_an_error_of_the_query_is_answered_as_the_view_does(app: Flask, views: list[str],
                                                            query: str) -> None:
    client = app.test_client()
    headers = {"Accept": JSON}  # for CONSTRUCT: no RDF format acceptable, 406
    fast, whole = _both(client, client.get, path="/sparql", query_string={"query": query},
                        headers=headers)
    assert fast.status_code in (400, 406)
    _same(fast, whole)
    assert views == ["view"]


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"query_string": {"query": "ASK {" * 200 + "}" * 200}}, 400),  # too deep
    ({"query_string": {"query": "ASK {}", "default-graph-uri": "not an iri"}}, 400),
    ({"query_string": [("query", "ASK {}"), ("query", "ASK {}")]}, 400),
    ({"query_string": {"update": "CLEAR ALL"}}, 403),
    ({"query_string": "query=ASK%20%7B%7D%ff"}, 400),  # not UTF-8
    ({"method": "POST", "data": b"query=ASK%20%7B%7D%ff",
      "content_type": "application/x-www-form-urlencoded"}, 400),
    ({"query_string": {}}, 200),  # the service description
    ({"query_string": {"query": "ASK {}"}, "headers": {"Accept": "text/html"}}, 200),
])
def test_what_the_fast_path_leaves_to_the_view(app: Flask, views: list[str],
                                               kwargs: dict[str, Any], status: int) -> None:
    response = app.test_client().open("/sparql", **kwargs)
    assert response.status_code == status, response.get_data()
    assert views == ["view"]


def test_a_form_body_is_still_readable_by_the_view(app: Flask, views: list[str]) -> None:
    # read by the fast path, which leaves the results page to the view
    response = app.test_client().post("/sparql", data={"query": "ASK { ?s ?p ?o }"},
                                      headers={"Accept": "text/html"})
    assert response.status_code == 200 and b"true" in response.get_data().lower()
    assert views == ["view"]


def test_a_failure_is_a_plain_500_as_through_the_view(app: Flask, views: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tipgraph.store.embedded import OxigraphStore

    def broken(*_: Any) -> Any:
        raise RuntimeError("/srv/secret/path went away")

    monkeypatch.setattr(OxigraphStore, "answer", broken)
    client = app.test_client()
    fast, whole = _both(client, client.get, path="/sparql",
                        query_string={"query": "ASK { ?s ?p ?o }"}, headers={"Accept": JSON})
    assert fast.status_code == 500 and b"secret" not in fast.get_data()
    _same(fast, whole)
    assert views == ["view"]
