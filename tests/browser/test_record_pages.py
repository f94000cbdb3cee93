"""The catalogue record in headless Chromium: what a researcher sees first on a
publication's page, browse's facets, the world map, and the site's own pages.

Expected content comes from the seed build's store, not from strings copied from pages.
Screenshots go to the session's screenshot folder (``SCREENSHOT_DIR`` names another: not a
``TIPGRAPH_*`` variable, which the app would read as a setting).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyoxigraph
import pytest

from tipgraph.dumps import SERVED_FROM

pytestmark = pytest.mark.browser


def _module(name: str) -> Any:
    """A module beside this one, loaded by path (the tests are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"tipgraph_browser_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_conftest = _module("conftest")
CHROMIUM, FLAGS = _conftest.CHROMIUM, _conftest.FLAGS
DevTools = _conftest.DevTools

BASE = "https://w3id.org/tipgraph/"
DCT = "http://purl.org/dc/terms/"
TIP = "https://w3id.org/tipgraph/ontology#"
SCHEMA = "https://schema.org/"
SKOS = "http://www.w3.org/2004/02/skos/core#"
#: A laptop's window: "above the fold" is within its first 800 pixels.
LAPTOP = (*(f for f in FLAGS if not f.startswith("--window-size")), "--window-size=1280,800")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    driver = DevTools(tmp_path_factory.mktemp("chromium-record"), flags=LAPTOP)
    yield driver
    driver.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("record-screenshots")


@pytest.fixture(scope="module")
def store(seed_build_dir: Path) -> pyoxigraph.Store:
    return pyoxigraph.Store.read_only(str(seed_build_dir / "store"))


def _label(store: pyoxigraph.Store, uri: str) -> str:
    rows = list(store.query(f"SELECT ?l WHERE {{ <{uri}> <{SKOS}prefLabel>|<{SCHEMA}name> ?l }}"
                            " ORDER BY ?l LIMIT 1"))
    return rows[0]["l"].value


def _richest_publication(store: pyoxigraph.Store) -> dict[str, Any]:
    """The seed publication with the most authors and a stated country: the page with the
    most to show above the fold."""
    row = next(iter(store.query(
        f"SELECT ?p ?t ?y (COUNT(DISTINCT ?a) AS ?n) WHERE {{ ?p a <{TIP}Publication> ; "
        f"<{DCT}title> ?t ; <{DCT}issued> ?y ; <{DCT}creator> ?a ; <{TIP}statedCountry> ?c }} "
        "GROUP BY ?p ?t ?y ORDER BY DESC(?n) ?p LIMIT 1")))
    uri = row["p"].value
    authors = [r["a"].value for r in store.query(
        f"SELECT ?a WHERE {{ <{uri}> <{DCT}creator> ?a }}")]
    places = [r["s"].value for r in store.query(
        f"SELECT ?s WHERE {{ <{uri}> <{DCT}spatial> ?s }}")]
    return {"uri": uri, "title": row["t"].value, "year": row["y"].value,
            "authors": {_label(store, a) for a in authors},
            "places": {_label(store, p) for p in places}}


#: Each element's text and whether it is drawn within the first screen.
FOLD = """JSON.stringify(Object.fromEntries(%s.map(s => {
  const e = document.querySelector(s);
  if (!e) return [s, null];
  const box = e.getBoundingClientRect();
  return [s, {text: e.innerText, visible: box.height > 0 && box.bottom <= innerHeight}];
})))"""


def test_record_page_shows_the_record_and_its_citation_above_the_fold(
        page: Any, page_server: str, store: pyoxigraph.Store, shots: Path) -> None:
    record = _richest_publication(store)
    page.open(f"{page_server}/{record['uri'].removeprefix(BASE)}")
    page.screenshot(shots / "record.png", whole=False)
    parts = ["h1", "dd.authors", "dd.year", "dd.places.countries", "dd.places.regions",
             ".cite .reference"]
    seen = json.loads(page.evaluate(FOLD % json.dumps(parts)))
    assert all(seen[p] and seen[p]["visible"] for p in parts), seen
    assert " ".join(seen["h1"]["text"].split()) == " ".join(record["title"].split())
    assert seen["dd.year"]["text"] == record["year"]
    assert all(name in seen["dd.authors"]["text"] for name in record["authors"])
    shown_places = seen["dd.places.countries"]["text"] + seen["dd.places.regions"]["text"]
    assert all(place in shown_places for place in record["places"])
    assert record["year"] in seen[".cite .reference"]["text"]
    # the statements are there, folded, with the internal keys only there
    folded = page.evaluate("document.querySelector('details.statements').open")
    assert folded is False
    outside = page.evaluate("[...document.querySelectorAll('main > :not(details)')]"
                            ".map(e => e.innerText).join(' ')")
    assert "sortKey" not in outside and "line-" not in outside


def test_citation_meta_tags_hold_what_the_record_holds(
        browser: Any, page_server: str, store: pyoxigraph.Store) -> None:
    for row in store.query(f"SELECT ?p WHERE {{ ?p a <{TIP}Publication> }}"):
        uri = row["p"].value
        dom = browser.dom(f"{page_server}/{uri.removeprefix(BASE)}.html")
        meta: dict[str, list[str]] = {}
        for name, content in re.findall(r'<meta name="([^"]+)" content="([^"]*)"', dom):
            meta.setdefault(name, []).append(content.replace("&amp;", "&").replace("&#39;", "'"))
        title = next(iter(store.query(f"SELECT ?t WHERE {{ <{uri}> <{DCT}title> ?t }}")))
        assert meta["citation_title"] == [title["t"].value]
        years = [r["y"].value for r in store.query(
            f"SELECT ?y WHERE {{ <{uri}> <{DCT}issued> ?y }}")]
        assert meta.get("citation_publication_date", []) == years
        names = {_label(store, r["a"].value) for r in store.query(
            f"SELECT ?a WHERE {{ <{uri}> <{DCT}creator> ?a }}")}
        authors = meta.get("citation_author", [])
        assert len(authors) == len(names)  # every author, once
        for name in names:  # a person as "Family, Given", an organisation whole
            family = name.split()[-1]
            assert name in authors or any(a.startswith(family + ",") for a in authors), name


def test_browse_shows_the_person_facet_and_countries_by_name(
        browser: Any, page_server: str, store: pyoxigraph.Store, page: Any,
        shots: Path) -> None:
    dom = browser.dom(f"{page_server}/browse")
    page.open(f"{page_server}/browse")
    page.screenshot(shots / "browse.png", whole=False)

    def facet(name: str) -> list[str]:
        section = dom.split(f'data-facet="{name}"', 1)[1].split("</section>", 1)[0]
        return [re.sub(r"\s+", " ", t).strip() for t in
                re.findall(r'<li[^>]*><a href="[^"]*">([^<]*)</a>', section)]

    persons = {_label(store, r["a"].value) for r in store.query(
        f"SELECT DISTINCT ?a WHERE {{ ?p <{DCT}creator> ?a . ?a a <{SCHEMA}Person> }}")}
    assert set(facet("person")) == persons
    countries = facet("country")
    assert countries == sorted(countries, key=str.casefold) and len(countries) > 3


def test_map_draws_every_country_with_publications_linked_to_its_page(
        page: Any, page_server: str, store: pyoxigraph.Store, shots: Path) -> None:
    codes = {r["c"].value.rsplit("/", 1)[-1] for r in store.query(
        f"SELECT DISTINCT ?c WHERE {{ ?p <{TIP}statedCountry> ?c }}")}
    page.open(f"{page_server}/")
    page.evaluate("document.querySelector('figure.map').scrollIntoView()")
    page.screenshot(shots / "map.png", whole=False)
    links = json.loads(page.evaluate("""JSON.stringify([...document.querySelectorAll(
        'svg.worldmap a.country')].map(a => [a.dataset.code, a.getAttribute('href'),
        a.getBoundingClientRect().width]))"""))
    drawn = {code for code, _, width in links if width > 0}
    assert drawn == codes - {"an", "cs"}  # historical entities have no shape today
    assert all(href == f"/place/{code}" for code, href, _ in links)
    grey = page.evaluate("document.querySelectorAll('svg.worldmap path.country').length")
    assert grey > 150  # the rest of the world is drawn too


def test_country_page_shows_its_region_and_publications_by_year(
        page: Any, page_server: str, store: pyoxigraph.Store, shots: Path) -> None:
    row = next(iter(store.query(
        f"SELECT ?c (COUNT(?p) AS ?n) WHERE {{ ?p <{TIP}statedCountry> ?c }} GROUP BY ?c "
        "ORDER BY DESC(?n) ?c LIMIT 1")))
    country = row["c"].value
    region = next(iter(store.query(
        f"SELECT ?r WHERE {{ <{country}> <https://www.geonames.org/ontology#parentFeature> ?r }}"
    )))["r"].value
    page.open(f"{page_server}/{country.removeprefix(BASE)}")
    page.screenshot(shots / "country.png", whole=False)
    text = page.evaluate("document.querySelector('main').innerText")
    assert f"Region: {_label(store, region)}" in text
    years = page.evaluate("[...document.querySelectorAll('ul.years a')].map(a => a.innerText)")
    assert years and years == sorted(years, reverse=True)


def test_dumps_and_an_unknown_page_in_the_site_template(
        browser: Any, page_server: str, seed_build_dir: Path) -> None:
    dom = browser.dom(f"{page_server}/dumps/")
    assert '<header class="site">' in dom
    listed = set(re.findall(r'href="[^"]*/dumps/([^"/]+)"', dom))
    files = {p.name for p in (seed_build_dir / "current").glob("tipgraph.*")}
    # and the dumps served from those files as another type (N-Quads, TriG)
    assert listed == files | {name for name, file in SERVED_FROM.items() if file in files}
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{page_server}/no/such/page")
    assert missing.value.code == 404
    body = missing.value.read().decode()
    assert '<header class="site">' in body and "Browse every publication" in body
    request = urllib.request.Request(f"{page_server}/browse", method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 405 and "GET" in refused.value.headers["Allow"]
    assert '<header class="site">' in refused.value.read().decode()
    with urllib.request.urlopen(f"{page_server}/favicon.ico") as icon:
        assert icon.headers["Content-Type"] == "image/vnd.microsoft.icon"
