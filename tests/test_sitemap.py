"""/sitemap.xml: one sitemap while the pages fit in one (the sitemaps.org protocol allows
50,000 URLs), else a sitemap index of parts; listed from the build's index file, or from
its store for a build without one."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from tipgraph.build_dir import INDEX_FILE
from tipgraph.web import create_app, dataset

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture(params=["file", "store"])
def client(request: pytest.FixtureRequest, seed_build_dir: Path, tmp_path: Path
           ) -> FlaskClient:
    """A client of the seed build, with its index file or (a copy) without it."""
    build_dir = seed_build_dir
    if request.param == "store":
        build_dir = tmp_path / "build"
        shutil.copytree(seed_build_dir, build_dir, symlinks=True)
        (build_dir / "current" / INDEX_FILE).unlink()
    return create_app({"build_dir": str(build_dir)}).test_client()


def _read(client: FlaskClient, path: str, kind: str) -> list[str]:
    """The locations a sitemap (``kind`` "url") or sitemap index ("sitemap") lists."""
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.content_type == "application/xml; charset=utf-8"
    root = ET.fromstring(response.data)
    assert root.tag == SITEMAP + ("urlset" if kind == "url" else "sitemapindex")
    entries = list(root)
    assert all(entry.tag == SITEMAP + kind for entry in entries)
    assert all(entry.find(SITEMAP + "lastmod") is not None for entry in entries)
    return [entry.findtext(SITEMAP + "loc") or "" for entry in entries]


def test_a_sitemap_too_long_for_one_file_is_an_index_of_parts(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _read(client, "/sitemap.xml", "url")
    assert len(whole) == len(set(whole)) > 20
    assert client.get("/sitemap-1.xml").status_code == 404  # one file: no parts
    limit = len(whole) // 3 - 1
    monkeypatch.setattr(dataset, "SITEMAP_URLS", limit)
    parts = _read(client, "/sitemap.xml", "sitemap")
    assert len(parts) == -(-len(whole) // limit) >= 3
    listed: list[str] = []
    for n, loc in enumerate(parts, 1):
        assert loc == f"http://localhost/sitemap-{n}.xml"
        urls = _read(client, urlsplit(loc).path, "url")
        assert 0 < len(urls) <= limit
        listed += urls
    assert listed == whole
    for missing in (0, len(parts) + 1):
        response = client.get(f"/sitemap-{missing}.xml")
        assert response.status_code == 404
        assert "/sitemap.xml lists parts 1 to" in response.get_data(as_text=True)


def test_the_index_and_its_parts_are_conditional(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset, "SITEMAP_URLS", 10)
    for path in ("/sitemap.xml", "/sitemap-2.xml"):
        first = client.get(path)
        assert first.status_code == 200 and first.headers["ETag"]
        again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert robots.strip().endswith("Sitemap: http://localhost/sitemap.xml")
