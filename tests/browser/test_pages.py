"""The HTML pages in headless Chromium: home, browse with a facet, resources, the query page.

Expected content comes from the seed build's own store, so the pages are checked
against the data, not against strings copied from them.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyoxigraph
import pytest

from tipgraph.build import run_build

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://w3id.org/tipgraph/"
DCT = "http://purl.org/dc/terms/"
TIP = "https://w3id.org/tipgraph/ontology#"


class Tags(HTMLParser):
    """Elements of a DOM dump: tag names with attributes, and table rows as cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(dom: str) -> Tags:
    tags = Tags()
    tags.feed(dom)
    return tags


@pytest.fixture(scope="module")
def store(seed_build_dir: Path) -> pyoxigraph.Store:
    return pyoxigraph.Store.read_only(str(seed_build_dir / "store"))


def _titles(store: pyoxigraph.Store, where: str = "") -> set[str]:
    return {r["t"].value for r in store.query(
        f"SELECT ?t WHERE {{ ?p a <{TIP}Publication> ; <{DCT}title> ?t . {where} }}")}


def test_home_shows_counts_and_charts(browser: Any, page_server: str,
                                      store: pyoxigraph.Store) -> None:
    dom = parse(browser.dom(page_server + "/"))
    browser.screenshot(page_server + "/", "home")
    years = {r["y"].value for r in store.query(
        f"SELECT DISTINCT ?y WHERE {{ ?p <{DCT}issued> ?y }}")}
    charts = [a for t, a in dom.tags if t == "svg" and a.get("class") == "chart"]
    assert len(charts) == 2
    assert [a for t, a in dom.tags if t == "svg" and a.get("class") == "worldmap"]
    span = int(max(years)) - int(min(years)) + 1
    rects = [a for t, a in dom.tags if t == "rect" and a.get("class") == "bar"]
    regions = {r["r"].value for r in store.query(
        f"SELECT DISTINCT ?r WHERE {{ ?p a <{TIP}Publication> ; <{DCT}spatial> ?r . "
        f"?r a <{TIP}Region> }}")}
    assert len(rects) == span + len(regions)
    assert f"{len(_titles(store))} publications" in " ".join("".join(dom.text).split())


def test_browse_with_a_facet_shows_only_matching_publications(
        browser: Any, page_server: str, store: pyoxigraph.Store) -> None:
    region = "west-and-central-africa"
    url = f"{page_server}/browse?region={region}"
    dom = browser.dom(url)
    browser.screenshot(url, "browse-region")
    inside = _titles(store, f"?p <{DCT}spatial> <{BASE}place/{region}>")
    outside = _titles(store) - inside
    assert inside and outside
    links = [a.get("href") for t, a in parse(dom).tags if t == "a"]
    text = " ".join("".join(parse(dom).text).split())
    assert all(" ".join(t.split()) in text for t in inside)
    assert not any(" ".join(t.split()) in text for t in outside)
    assert any(h and "region=" not in h and "/browse" in h for h in links)  # the remove link


def test_publication_and_region_pages(browser: Any, page_server: str,
                                      store: pyoxigraph.Store) -> None:
    row = next(iter(store.query(
        f"SELECT ?p ?t ?c WHERE {{ ?p <{TIP}statedCountry> ?c ; <{DCT}title> ?t }} "
        "ORDER BY ?p LIMIT 1")))
    path = row["p"].value.removeprefix(BASE)
    dom = browser.dom(f"{page_server}/{path}")  # the thing: Chromium follows the 303
    browser.screenshot(f"{page_server}/{path}", "publication")
    tags = parse(dom)
    h1 = dom.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert " ".join(h1.split()) == " ".join(row["t"].value.split())
    hrefs = {a.get("href") for t, a in tags.tags if t == "a"}
    assert "/" + row["c"].value.removeprefix(BASE) in hrefs
    scripts = [a for t, a in tags.tags if t == "script"]
    assert [s.get("type") for s in scripts] == ["application/ld+json"]
    embedded = json.loads(dom.split('<script type="application/ld+json">', 1)[1]
                          .split("</script>", 1)[0])
    assert embedded["@type"] == "CreativeWork" and embedded["@id"] == row["p"].value

    region = "central-and-north-america-and-the-caribbean"
    dom = browser.dom(f"{page_server}/place/{region}")
    browser.screenshot(f"{page_server}/place/{region}", "region")
    text = " ".join("".join(parse(dom).text).split())
    for title in _titles(store, f"?p <{DCT}spatial> <{BASE}place/{region}>"):
        assert " ".join(title.split()) in text


def test_query_page_runs_a_shipped_query(browser: Any, page_server: str,
                                         store: pyoxigraph.Store) -> None:
    dom = browser.dom(page_server + "/query")
    browser.screenshot(page_server + "/query", "query")
    tags = parse(dom)
    assert any(t == "textarea" for t, _ in tags.tags)
    from tipgraph.queries import get_query

    query = get_query("publications-per-year")
    run = next(a["href"] for t, a in tags.tags if t == "a" and a.get("class") == "run"
               and a.get("href") and _unquote(a["href"]).endswith(
                   "format=html") and "Publications per year" in _unquote(a["href"]))
    url = page_server + run.replace("&amp;", "&")
    results = parse(browser.dom(url))
    browser.screenshot(url, "query-results")
    expected = [[r["year"].value, r["publications"].value] for r in store.query(query.bind())]
    assert expected
    assert results.rows[0] == ["year", "publications"]
    shown = [[cell.split()[0] for cell in row] for row in results.rows[1:]]
    assert shown == expected


def _unquote(href: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(href)


PAYLOAD = ("<script>alert(1)</script> <img src=x onerror=\"document.documentElement"
           ".setAttribute('data-pwned','1')\">")


def test_markup_in_the_data_is_shown_as_text(browser: Any, serving: Any,
                                              tmp_path: Path) -> None:
    extra = tmp_path / "hostile.jsonl"
    title = f"Trafficking review {PAYLOAD} in ports"
    extra.write_text(json.dumps({"title": title, "description": f"Abstract {PAYLOAD}",
                                 "countries": ["Ghana"], "authors": ["IOM"], "year": 2022,
                                 "category": "Trafficking"}) + "\n", encoding="utf-8")
    out = tmp_path / "build"
    run_build([ROOT / "data" / "sources", extra], out, base=BASE)
    store = pyoxigraph.Store.read_only(str(out / "store"))
    uri = next(r["p"].value for r in store.query(
        f'SELECT ?p WHERE {{ ?p <{DCT}title> ?t FILTER(CONTAINS(?t, "<script>")) }}'))
    del store
    with serving(out) as base:
        for url in (f"{base}/{uri.removeprefix(BASE)}", f"{base}/browse?q=ports",
                    f"{base}/place/gh", f"{base}/sparql?format=html&query="
                    + _quote(f"SELECT ?t WHERE {{ <{uri}> <{DCT}title> ?t }}")):
            dom = browser.dom(url)
            tags = parse(dom)
            root = next(a for t, a in tags.tags if t == "html")
            assert "data-pwned" not in root, url  # the onerror handler never ran
            assert "<script>alert(1)</script>" in "".join(tags.text), url  # shown, as text
            assert [t for t, a in tags.tags if t == "img"] == [], url
            assert all(a.get("type") == "application/ld+json"
                       for t, a in tags.tags if t == "script"), url
        browser.screenshot(f"{base}/{uri.removeprefix(BASE)}", "hostile-title")


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text)
