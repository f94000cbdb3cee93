"""The browse page's index: search by word beginnings, facet counts by bitmaps, long facets cut.

In-process (Flask's test client) over the seed build: what the index answers is
checked against the seed build's own store, not against strings copied from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph
import pytest
from flask.testing import FlaskClient

from tipgraph.serving.catalogue import Catalogue, load_catalogue, words
from tipgraph.store import OxigraphStore
from tipgraph.web import create_app, pages

DCT = "http://purl.org/dc/terms/"
TIP = "https://w3id.org/tipgraph/ontology#"


@pytest.fixture(scope="module")
def client(seed_build_dir: Path) -> Iterator[FlaskClient]:
    yield create_app({"build_dir": str(seed_build_dir)}).test_client()


@pytest.fixture(scope="module")
def texts(seed_build_dir: Path) -> dict[str, str]:
    """Each publication's title -> its title and abstract."""
    store = pyoxigraph.Store.read_only(str(seed_build_dir / "store"))
    rows = store.query(f"SELECT ?t ?a WHERE {{ ?p a <{TIP}Publication> ; <{DCT}title> ?t "
                       f"OPTIONAL {{ ?p <{DCT}abstract> ?a }} }}")
    found = {r["t"].value: r["t"].value + "\n" + (r["a"].value if r["a"] else "") for r in rows}
    del store
    return found


@pytest.fixture(scope="module")
def catalogue(seed_build_dir: Path) -> Catalogue:
    return load_catalogue(OxigraphStore.open(seed_build_dir / "current" / "store"))


def _listed(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", t) for t in re.findall(r'<a class="title" href="[^"]*">([^<]*)</a>',
                                                       page)]


@pytest.mark.parametrize("query", ["traffick", "exploit", "labour exploitation", "TRAFFICKING",
                                   "no-such-word-anywhere"])
def test_search_finds_the_publications_having_words_that_begin_so(
        client: FlaskClient, texts: dict[str, str], query: str) -> None:
    wanted = words(query)
    expected = {re.sub(r"\s+", " ", title) for title, text in texts.items()
                if all(any(w.startswith(q) for w in words(text)) for q in wanted)}
    page = client.get("/browse", query_string={"q": query}).get_data(as_text=True)
    assert set(_listed(page)) == {t.replace("&", "&amp;") for t in expected}
    if not expected:
        assert "No publication matches" in page


def test_counts_under_a_filter_are_those_of_a_scan(catalogue: Catalogue) -> None:
    for query, facets in (("", {}), ("traffick", {}), ("", {"region": ["world"]}),
                          ("report", {"year": ["2020"]})):
        selection = catalogue.select(query, facets)
        assert catalogue.counts(selection) == catalogue.counts(list(selection))
        assert len(list(selection)) == len(selection)


def test_pages_of_a_selection_follow_the_title_order(catalogue: Catalogue) -> None:
    selection = catalogue.select("")
    whole = [e.uri for e in selection]
    assert whole == [e.uri for e in catalogue.entries]
    assert [e.uri for e in selection.page(0, 4)] + [e.uri for e in selection.page(4, 100)] \
        == whole
    assert selection.page(len(whole), 5) == []
    assert all(e.abstract for e in selection.page(0, 3))  # read from the store for the page


def test_a_long_facet_lists_its_most_frequent_values_and_links_to_all(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue) -> None:
    monkeypatch.setattr(pages, "FACET_VALUES", 5)
    countries = catalogue.counts(catalogue.select(""))["country"]
    assert len(countries) > 5

    def listed(page: str) -> list[str]:
        section = page.split('data-facet="country"', 1)[1].split("</section>", 1)[0]
        return re.findall(r'[?;]country=([a-z-]+)', section)

    page = client.get("/browse").get_data(as_text=True)  # the most frequent, by name
    assert listed(page) == [key for key, _, _ in sorted(countries[:5],
                                                        key=lambda r: r[1].casefold())]
    by_count = client.get("/browse?sort=count").get_data(as_text=True)
    assert listed(by_count) == [key for key, _, _ in sorted(  # ties by name
        countries[:5], key=lambda r: (-r[2], r[1].casefold()))]
    assert f"all {len(countries)} values" in page
    everything = client.get("/browse?all=country").get_data(as_text=True)
    assert len(listed(everything)) == len(countries)
    rare = countries[-1][0]  # chosen, it stays listed although it is not among the first 5
    chosen = client.get(f"/browse?country={rare}").get_data(as_text=True)
    assert f">{catalogue.labels['country'][rare]}</a>" in chosen.split('data-facet="country"')[1]
