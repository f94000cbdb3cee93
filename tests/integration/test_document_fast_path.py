"""Resource documents' fast path (:class:`tipgraph.web.fast_documents.DocumentPath`) answers
as the view does.

Each request is sent twice: plain (answered before Flask routes it) and with an
``If-None-Match`` that matches nothing (a conditional request: the whole way, through the
view). Status, body and every header but ``Date`` (which the WSGI server adds) must be
the same, and Flask must have dispatched only the second.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request_started

from tipgraph.web import create_app

WHOLE_WAY = {"If-None-Match": '"matches-nothing"'}
EXTENSIONS = ("ttl", "jsonld", "rdf", "nt", "nq", "trig")


def _app(build_dir: Path, **settings: Any) -> Flask:
    return create_app({"build_dir": str(build_dir), **settings})


@pytest.fixture(scope="module")
def app(seed_build_dir: Path) -> Flask:
    return _app(seed_build_dir)


@pytest.fixture(scope="module")
def publication(app: Flask) -> str:
    with app.app_context():
        from tipgraph.web.context import get_build

        rows = get_build().store.query(
            "SELECT ?p WHERE { ?p a <https://w3id.org/tipgraph/ontology#Publication> } "
            "ORDER BY ?p LIMIT 1")
        return "/" + next(iter(rows))[0].value.removeprefix("https://w3id.org/tipgraph/")


@contextlib.contextmanager
def _views(app: Flask) -> Iterator[list[str]]:
    """Every request Flask dispatches in the block (the fast path did not answer it)."""
    seen: list[str] = []

    def started(sender: Flask, **_: Any) -> None:
        seen.append("view")

    with request_started.connected_to(started, app):
        yield seen


@pytest.fixture()
def views(app: Flask) -> Iterator[list[str]]:
    with _views(app) as seen:
        yield seen


def _same(fast: Any, whole: Any) -> None:
    assert fast.status_code == whole.status_code == 200
    assert fast.get_data() == whole.get_data()
    assert sorted((k, v) for k, v in fast.headers.items() if k != "Date") == \
        sorted((k, v) for k, v in whole.headers.items() if k != "Date")


@pytest.mark.parametrize("extension", EXTENSIONS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("resource", ["publication", "/place/ng", "/organisation/iom",
                                      "/place/west-and-central-africa"])
def test_the_fast_path_answers_as_the_view(app: Flask, views: list[str], publication: str,
                                           resource: str, method: str, extension: str
                                           ) -> None:
    path = (publication if resource == "publication" else resource) + "." + extension
    client = app.test_client()
    fast = client.open(path, method=method)
    whole = client.open(path, method=method, headers=WHOLE_WAY)
    _same(fast, whole)
    assert views == ["view"]  # the conditional request only
    if method == "GET":
        assert path.removesuffix("." + extension).encode() in fast.get_data()
    else:
        assert fast.get_data() == b"" and int(fast.headers["Content-Length"]) > 0


@pytest.mark.parametrize(("settings", "headers"), [
    ({"cors_origins": ""}, {}),  # no CORS headers at all
    ({"cors_origins": "*"}, {"Origin": "https://example.org"}),
    ({"public_url": "https://data.example.org/tip"}, {}),  # its links, shared caches may keep
    ({"trusted_proxies": 1}, {"Host": "proxied.example.org"}),
    ({}, {"Host": "elsewhere.example.org:8080"}),  # links to that host, kept by no one else
])
def test_settings_and_hosts_are_answered_as_the_view(seed_build_dir: Path, publication: str,
                                                     settings: dict[str, Any],
                                                     headers: dict[str, str]) -> None:
    app = _app(seed_build_dir, **settings)
    client = app.test_client()
    with _views(app) as views:
        fast = client.get(publication + ".ttl", headers=headers)
        whole = client.get(publication + ".ttl", headers={**headers, **WHOLE_WAY})
    _same(fast, whole)
    assert views == ["view"]
    host = headers.get("Host", "localhost")
    root = settings.get("public_url", f"http://{host}")
    assert f"<{root}{publication}.ttl>".encode() in fast.get_data()
    assert fast.headers["Cache-Control"].startswith(
        "private" if not settings.get("public_url") and not settings.get("trusted_proxies")
        else "public")


def test_an_app_mounted_under_a_prefix_links_under_it(seed_build_dir: Path,
                                                      publication: str) -> None:
    app = _app(seed_build_dir)
    client = app.test_client()
    mounted = "http://localhost/tip"
    with _views(app) as views:
        fast = client.get(publication + ".nt", base_url=mounted)
        whole = client.get(publication + ".nt", base_url=mounted, headers=WHOLE_WAY)
    _same(fast, whole)
    assert views == ["view"]
    assert f"</tip{publication}.html>" in fast.headers["Link"]
    assert f"<{mounted}{publication}.nt>".encode() in fast.get_data()


@pytest.mark.parametrize(("target", "kwargs", "status"), [
    ("{publication}.html", {}, 200),  # the page: rendered by the view
    ("{publication}.ttl?page=1", {}, 200),  # any query string
    ("/place/ng.ttl?page=2", {}, 404),
    ("{publication}", {"headers": {"Accept": "text/turtle"}}, 303),  # the thing itself
    ("{publication}.bib", {}, 200),  # a citation
    ("/publication/no-such-publication.ttl", {}, 404),
    ("/place/ng.xyz", {}, 404),
    ("/ontology.ttl", {}, 200),
    ("/place/ng.ttl", {"headers": {"Range": "bytes=0-9"}}, 200),  # a range: not kept
    ("/place/ng.ttl", {"method": "POST"}, 405),
    ("/place/ng.ttl", {"headers": {"Origin": "https://example.org"},
                       "settings": {"cors_origins": "https://example.org"}}, 200),
])
def test_what_the_fast_path_leaves_to_the_view(seed_build_dir: Path, publication: str,
                                               target: str, kwargs: dict[str, Any],
                                               status: int) -> None:
    app = _app(seed_build_dir, **kwargs.pop("settings", {}))
    with _views(app) as views:
        response = app.test_client().open(target.format(publication=publication), **kwargs)
    assert response.status_code == status, response.get_data()[:200]
    assert views == ["view"]
