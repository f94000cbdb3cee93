"""Who the client is and where the site is: trusted proxy headers, ``public_url``, and
answers shared caches may keep (no ``Host`` copied into them); bounded browse requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tipgraph.web import create_app

FORGED = "evil.example"


def _app(build_dir: Path, **settings: object) -> Iterator[Flask]:
    app = create_app({"build_dir": str(build_dir), **settings})
    yield app
    from tipgraph.web.context import get_engine  # closed only if a test started it

    with app.app_context():
        get_engine().close()


@pytest.fixture(scope="module")
def direct(seed_build_dir: Path) -> Iterator[Flask]:
    """No proxy trusted, no public_url: the defaults."""
    yield from _app(seed_build_dir)


@pytest.fixture(scope="module")
def proxied(seed_build_dir: Path) -> Iterator[Flask]:
    yield from _app(seed_build_dir, trusted_proxies=1)


@pytest.fixture(scope="module")
def public(seed_build_dir: Path) -> Iterator[Flask]:
    yield from _app(seed_build_dir, public_url="https://data.example.org/tg/")


@pytest.mark.parametrize("path", ["/sitemap.xml", "/robots.txt", "/dataset.ttl",
                                  "/place/world.html"])
def test_a_forged_host_is_never_in_an_answer_shared_caches_keep(direct: Flask,
                                                                 path: str) -> None:
    response = direct.test_client().get(path, headers={"Host": FORGED})
    assert response.status_code == 200
    assert path != "/sitemap.xml" or FORGED in response.get_data(as_text=True)
    if FORGED in response.get_data(as_text=True):
        assert "public" not in response.headers["Cache-Control"]
        assert "private" in response.headers["Cache-Control"]


def test_public_url_makes_links_and_lets_shared_caches_keep_them(public: Flask) -> None:
    response = public.test_client().get("/sitemap.xml", headers={"Host": FORGED})
    body = response.get_data(as_text=True)
    assert FORGED not in body and "https://data.example.org/tg/" in body
    assert "public" in response.headers["Cache-Control"]


def test_forwarded_headers_are_ignored_unless_proxies_are_trusted(direct: Flask,
                                                                  proxied: Flask) -> None:
    headers = {"X-Forwarded-Host": "proxy.example.org", "X-Forwarded-Proto": "https"}
    ignored = direct.test_client().get("/robots.txt", headers=headers).get_data(as_text=True)
    assert "proxy.example.org" not in ignored
    response = proxied.test_client().get("/robots.txt", headers=headers)
    assert "Sitemap: https://proxy.example.org/sitemap.xml" in response.get_data(as_text=True)
    assert "public" in response.headers["Cache-Control"]  # a trusted proxy's host


def test_rfc_7239_forwarded_is_read_as_the_x_forwarded_headers(proxied: Flask) -> None:
    response = proxied.test_client().get("/robots.txt", headers={
        "Forwarded": 'for="192.0.2.60:4711";proto=https;host=proxy.example.org'})
    assert "Sitemap: https://proxy.example.org/sitemap.xml" in response.get_data(as_text=True)


def test_the_client_address_comes_from_a_trusted_proxy(proxied: Flask, direct: Flask) -> None:
    from flask import request

    seen = {}

    def remember() -> None:
        seen["address"] = request.remote_addr

    for app, expected in ((proxied, "203.0.113.7"), (direct, "127.0.0.1")):
        app.before_request_funcs.setdefault(None, []).insert(0, remember)
        try:
            app.test_client().get("/robots.txt", headers={
                "X-Forwarded-For": "198.51.100.1, 203.0.113.7"},
                environ_base={"REMOTE_ADDR": "127.0.0.1"})
        finally:
            app.before_request_funcs[None].remove(remember)
        assert seen["address"] == expected


def test_page_numbers_beyond_any_page_are_refused(direct: Flask) -> None:
    client = direct.test_client()
    huge = str(2 ** 63 + 5)
    assert client.get(f"/place/world.ttl?page={huge}").status_code == 400
    assert client.get(f"/place/world.html?page={huge}").status_code == 400
    assert client.get(f"/browse?page={huge}").status_code == 400
    assert client.get("/place/world.ttl?page=--5").status_code == 404  # not a number
    assert client.get("/browse?page=2").status_code == 200


def test_browse_requests_are_bounded(direct: Flask) -> None:
    client = direct.test_client()
    many = "&".join(f"country=c{n}" for n in range(500))
    response = client.get(f"/browse?{many}")
    assert response.status_code == 400 and len(response.data) < 10_000
    assert client.get("/browse?q=" + "x" * 5000).status_code == 400
    assert client.get("/browse?country=ng&country=gh&q=traffic").status_code == 200
