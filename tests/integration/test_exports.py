"""Exports reference managers read, over the seed build: a publication's BibTeX, RIS and
CSL-JSON by extension and by ``Accept``; a browse selection and a shipped query's answer
as lists; the expected publications read from the store."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import bibtexparser
import pyoxigraph
import pytest
import rispy
from flask.testing import FlaskClient

from tipgraph.citation import format_references
from tipgraph.web import create_app

BASE = "https://w3id.org/tipgraph/"
DCT = "http://purl.org/dc/terms/"
TIP = "https://w3id.org/tipgraph/ontology#"
MEDIA = {"bib": "application/x-bibtex", "ris": "application/x-research-info-systems",
         "csl.json": "application/vnd.citationstyles.csl+json"}


@pytest.fixture(scope="module")
def client(seed_build_dir: Path) -> Iterator[FlaskClient]:
    yield create_app({"build_dir": str(seed_build_dir)}).test_client()


@pytest.fixture(scope="module")
def store(seed_build_dir: Path) -> pyoxigraph.Store:
    return pyoxigraph.Store.read_only(str(seed_build_dir / "store"))


def _titles(store: pyoxigraph.Store, where: str = "") -> dict[str, str]:
    return {r["p"].value: r["t"].value for r in store.query(
        f"SELECT ?p ?t WHERE {{ ?p a <{TIP}Publication> ; <{DCT}title> ?t . {where} }}")}


@pytest.mark.parametrize("extension", sorted(MEDIA))
def test_every_publication_is_a_citation_by_accept_and_by_extension(
        client: FlaskClient, store: pyoxigraph.Store, extension: str) -> None:
    for uri, title in _titles(store).items():
        path = "/" + uri.removeprefix(BASE)
        answer = client.get(path, headers={"Accept": MEDIA[extension]})
        assert answer.status_code == 303
        assert answer.headers["Location"].endswith(f"{path}.{extension}")
        assert "Accept" in answer.headers["Vary"]
        document = client.get(f"{path}.{extension}")
        assert document.status_code == 200
        assert document.headers["Content-Type"].startswith(MEDIA[extension])
        text = document.get_data(as_text=True)
        if extension == "bib":
            entry = bibtexparser.parse_string(text).entries[0]
            assert entry["url"] == uri
        elif extension == "ris":
            assert rispy.loads(text)[0]["title"] == title
        else:
            items = json.loads(text)
            assert items[0]["title"] == title
            assert format_references(items, "chicago-author-date")[0].text


def test_html_stays_the_default_and_other_types_are_refused(client: FlaskClient,
                                                            store: pyoxigraph.Store) -> None:
    path = "/" + next(iter(_titles(store))).removeprefix(BASE)
    assert client.get(path, headers={"Accept": "text/html,*/*;q=0.8"}).headers[
        "Location"].endswith(".html")
    assert client.get(path, headers={"Accept": "image/png"}).status_code == 406
    assert client.get("/place/ng", headers={"Accept": MEDIA["bib"]}).status_code == 406
    assert client.get("/place/ng.bib").status_code == 404  # only publications are cited


def test_a_browse_selection_exports_its_publications(client: FlaskClient,
                                                     store: pyoxigraph.Store) -> None:
    region = "west-and-central-africa"
    expected = _titles(store, f"?p <{DCT}spatial> <{BASE}place/{region}>")
    assert expected and len(expected) < len(_titles(store))
    rows = list(csv.DictReader(io.StringIO(
        client.get(f"/browse.csv?region={region}").get_data(as_text=True))))
    assert {r["uri"]: r["title"] for r in rows} == expected
    bib = client.get(f"/browse.bib?region={region}")
    assert bib.headers["X-Total-Count"] == str(len(expected))
    assert {e["url"] for e in bibtexparser.parse_string(bib.get_data(as_text=True)).entries} \
        == set(expected)
    everything = rispy.loads(client.get("/browse.ris").get_data(as_text=True))
    assert {r["title"] for r in everything} == set(_titles(store).values())


def test_the_browse_page_links_its_exports_with_its_filters(client: FlaskClient) -> None:
    page = client.get("/browse?country=ng&sort=count").get_data(as_text=True)
    assert 'href="/browse.bib?country=ng"' in page
    assert 'href="/browse.csv?country=ng"' in page


def test_a_shipped_query_that_lists_publications_exports_them(
        client: FlaskClient, store: pyoxigraph.Store) -> None:
    answer = client.get("/queries/publications-in-region.ris",
                        query_string={"region": "South-Eastern Europe, Eastern Europe and "
                                                "Central Asia"})
    assert answer.status_code == 200
    expected = _titles(store, f"?p <{DCT}spatial> <{BASE}place/south-eastern-europe-eastern-"
                              "europe-and-central-asia>")
    assert {r["title"] for r in rispy.loads(answer.get_data(as_text=True))} \
        == set(expected.values())
    assert client.get("/queries/no-such-query.bib").status_code == 404
    assert client.get("/queries/publications-per-year.bib").status_code == 404  # no list
