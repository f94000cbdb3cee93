"""The query page and the results page as the server writes them (what a browser without
scripts gets): the query kept with its error, pages of a long answer, the chart, the
400 a protocol client gets."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pyoxigraph
import pytest
from flask.testing import FlaskClient
from markupsafe import escape

from tipgraph.queries import get_query, shipped_queries
from tipgraph.web import create_app
from tipgraph.web.sparql import RESULTS_PAGE

BROKEN = "SELECT ?s WHERE {\n  ?s ?p ?o .\n  FILTER(?o = )\n}"


@pytest.fixture(scope="module")
def client(seed_build_dir: Path) -> FlaskClient:
    return create_app({"build_dir": str(seed_build_dir)}).test_client()


@pytest.fixture(scope="module")
def store(seed_build_dir: Path) -> pyoxigraph.Store:
    return pyoxigraph.Store.read_only(str(seed_build_dir / "store"))


def column_of(page: str, column: int) -> list[str]:
    """The cells of one column of the results table, as markup."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<td>(.*?)</td>", row, re.S)[column]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def cells(page: str, column: int) -> list[str]:
    """The text of one column of the results table."""
    return [unescape(re.sub(r"<[^>]+>", "", cell)) for cell in column_of(page, column)]


def test_query_page_offers_every_shipped_query_as_it_is_stored(client: FlaskClient) -> None:
    page = client.get("/query").get_data(as_text=True)
    for query in shipped_queries():
        assert f'data-example="{query.name}"' in page
        assert str(escape(query.description)) in page  # as the template escapes it
    chosen = client.get("/query?example=publications-in-region").get_data(as_text=True)
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", chosen, re.S)
    assert textarea and unescape(textarea[1]) == get_query("publications-in-region").text


def test_syntax_error_asked_as_html_keeps_the_query_and_names_the_place(
        client: FlaskClient) -> None:
    response = client.get("/sparql", query_string={"query": BROKEN, "format": "html"})
    assert response.status_code == 400
    assert response.content_type == "text/html; charset=utf-8"
    page = response.get_data(as_text=True)
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S)
    assert textarea and unescape(textarea[1]) == BROKEN
    error = re.search(r'<div id="query-error"[^>]*data-line="(\d+)" data-column="(\d+)">(.*?)'
                      r"</div>", page, re.S)
    assert error, page
    line, column = int(error[1]), int(error[2])
    assert 1 <= line <= BROKEN.count("\n") + 1 and column >= 1
    assert "Malformed query" in error[3] and f"error at {line}:{column}" in error[3]


def test_syntax_error_to_a_protocol_client_is_plain_text_with_the_position(
        client: FlaskClient) -> None:
    response = client.get("/sparql", query_string={"query": BROKEN},
                          headers={"Accept": "application/sparql-results+json"})
    assert response.status_code == 400
    assert response.content_type.startswith("text/plain")
    assert re.search(r"Malformed query: .*error at \d+:\d+", response.get_data(as_text=True))


def test_long_answer_comes_a_page_at_a_time(client: FlaskClient,
                                            store: pyoxigraph.Store) -> None:
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(isIRI(?s)) } ORDER BY ?s ?p ?o"
    expected = [r["s"].value for r in store.query(query)]
    pages = -(-len(expected) // RESULTS_PAGE)
    assert pages >= 3
    for page in (1, 2, pages):
        html = client.post("/sparql", data={"query": query, "format": "html",
                                            "page": str(page)}).get_data(as_text=True)
        shown = [re.search(r'title="([^"]+)"', cell)[1] for cell in column_of(html, 0)]
        assert shown == expected[(page - 1) * RESULTS_PAGE:page * RESULTS_PAGE]
        assert f"page {page} of {pages}" in html
        assert ('rel="next"' in html) == (page < pages)
        assert ('rel="prev"' in html) == (page > 1)
    # the downloads are the whole answer, as before
    assert 'format=csv' in html and 'format=json' in html


def test_count_answer_has_a_chart_and_a_list_has_none(client: FlaskClient,
                                                      store: pyoxigraph.Store) -> None:
    query = get_query("publications-per-year")
    html = client.post("/sparql", data={"query": query.text, "format": "html"}
                       ).get_data(as_text=True)
    titles = re.findall(r"<title>([^<]+)</title>", html.split('<figure class="answer-chart">')[1])
    assert titles == [f"{r['year'].value}: {r['publications'].value}"
                      for r in store.query(query.text)]
    # values are shown plain; their tag is the cell's title
    assert cells(html, 0) == [r["year"].value for r in store.query(query.text)]
    assert 'title="xsd:gYear"' in html and "xsd:integer</small>" not in html
    listing = client.post("/sparql", data={"query": get_query("edited-volumes").text,
                                           "format": "html"}).get_data(as_text=True)
    assert "answer-chart" not in listing and "<tbody>" in listing
