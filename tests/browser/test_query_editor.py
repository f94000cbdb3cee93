"""The query editor in headless Chromium, off the network: used as a person uses it.

Chromium is driven over the DevTools protocol (``devtools``): it clicks the page's
links and buttons, types into the editor and waits for what the page shows. It can
reach nothing but the server on 127.0.0.1, and every URL it asks for is checked to be
that server's. Expected rows come from the seed build's own store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyoxigraph
import pytest

from tipgraph.queries import get_query

pytestmark = pytest.mark.browser

BASE = "https://w3id.org/tipgraph/"
SCREENSHOT = Path("query-editor.png")

ROWS = "Array.from(document.querySelectorAll('#results table.results tbody tr'), " \
       "tr => Array.from(tr.cells, td => td.textContent.trim()))"
IRIS = "Array.from(document.querySelectorAll('#results table.results tbody tr'), " \
       "tr => Array.from(tr.cells, td => (td.querySelector('[title]') || {}).title || null))"


@pytest.fixture(scope="module")
def store(seed_build_dir: Path) -> pyoxigraph.Store:
    return pyoxigraph.Store.read_only(str(seed_build_dir / "store"))


@pytest.fixture(scope="module")
def editor(devtools: Any, page_server: str) -> Any:
    """The query page, open in Chromium with the editor ready."""
    devtools.open(page_server + "/query")
    devtools.wait_for("window.tipgraphEditor !== undefined")
    return devtools


def run(page: Any, query: str) -> None:
    """Type ``query`` into the editor (replacing its text), press Run, wait for the page."""
    page.evaluate(f"tipgraphEditor.setValue({json.dumps(query)})")
    before = page.evaluate("document.querySelector('#results').innerHTML.length")
    page.evaluate("document.getElementById('run').click()")
    page.wait_for("!document.querySelector('#results').hasAttribute('aria-busy')")
    page.wait_for(f"!document.getElementById('query-error').hidden || "
                  f"document.querySelector('#results').innerHTML.length !== {before} || "
                  "document.querySelector('#results table')")


def only_local_requests(page: Any, page_server: str) -> None:
    asked = [url for url in page.requests if not url.startswith("data:")]
    assert asked
    assert [url for url in asked if not url.startswith(page_server + "/")] == []


def test_editor_loads_from_the_app_alone(editor: Any, page_server: str) -> None:
    assert editor.evaluate("document.querySelectorAll('.CodeMirror').length") == 1
    assert editor.evaluate("document.getElementById('query').hidden") is True
    # highlighting: SPARQL keywords are marked up as such
    assert editor.evaluate("document.querySelectorAll('.CodeMirror .cm-keyword').length") > 0
    assert f"{page_server}/static/editor/yasqe.min.js" in editor.requests
    only_local_requests(editor, page_server)


def test_editor_declares_a_project_prefix_when_typed(editor: Any) -> None:
    editor.evaluate("tipgraphEditor.setValue('SELECT * WHERE {\\n  ?p a ')")
    editor.evaluate("tipgraphEditor.getDoc().setCursor({line: 1, ch: 7});"
                    "tipgraphEditor.replaceSelection('tip:')")
    declared = editor.wait_for("tipgraphEditor.getPrefixesFromQuery().tip")
    assert declared == "https://w3id.org/tipgraph/ontology#"


def test_a_shipped_query_runs_in_the_page(editor: Any, page_server: str,
                                          store: pyoxigraph.Store) -> None:
    query = get_query("publications-per-country")
    editor.evaluate(f"document.querySelector('a.run[data-example=\"{query.name}\"]').click()")
    editor.wait_for("document.querySelector('#results table.results tbody tr')")
    assert editor.evaluate("location.pathname") == "/query"  # the page was not left
    assert editor.evaluate("tipgraphEditor.getValue()") == query.text
    expected = list(store.query(query.text))
    assert expected
    rows, iris = editor.evaluate(ROWS), editor.evaluate(IRIS)
    assert [row[1] for row in rows] == [r["name"].value for r in expected]
    assert [row[3] for row in rows] == [r["publications"].value for r in expected]
    # a resource is a link to its page here; a value shows no tag, its tag is on hover
    assert [row[0] for row in iris] == [r["country"].value for r in expected]
    links = editor.evaluate("Array.from(document.querySelectorAll('#results tbody tr "
                            "td:first-child a'), a => a.getAttribute('href'))")
    assert links == ["/" + r["country"].value.removeprefix(BASE) for r in expected]
    assert "@en" not in " ".join(cell for row in rows for cell in row)
    assert {row[1] for row in iris} == {"@en"}
    assert {row[3] for row in iris} == {"xsd:integer"}
    only_local_requests(editor, page_server)


def test_a_long_answer_is_paged_in_the_page(editor: Any, store: pyoxigraph.Store) -> None:
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(isIRI(?s)) } ORDER BY ?s ?p ?o"
    expected = [r["s"].value for r in store.query(query)]
    assert len(expected) > 250
    run(editor, query)
    pages = -(-len(expected) // 100)
    assert editor.wait_for("document.querySelector('#results .pages span').textContent") \
        == f"page 1 of {pages}"
    assert [row[0] for row in editor.evaluate(IRIS)] == expected[:100]
    editor.evaluate("document.querySelector('#results a.page[rel=next]').click()")
    editor.wait_for("document.querySelector('#results .pages span').textContent"
                    " === 'page 2 of ' + " + str(pages))
    assert [row[0] for row in editor.evaluate(IRIS)] == expected[100:200]
    assert editor.evaluate("location.pathname") == "/query"
    editor.evaluate("document.querySelector('#results a.page[rel=prev]').click()")
    editor.wait_for("document.querySelector('#results .pages span').textContent"
                    " === 'page 1 of ' + " + str(pages))


def test_a_syntax_error_is_shown_inline_with_the_query_kept(
        editor: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    broken = "SELECT ?s WHERE {\n  ?s ?p ?o .\n  FILTER(?o = )\n}"
    run(editor, broken)
    message = editor.wait_for("!document.getElementById('query-error').hidden && "
                              "document.getElementById('query-error').textContent")
    assert "Malformed query" in message
    # the server's parser names the furthest place it reached (here the closing brace);
    # the editor marks and names where the query goes wrong: the ")" of line 3
    line = int(editor.evaluate("document.getElementById('query-error').dataset.line"))
    column = int(editor.evaluate("document.getElementById('query-error').dataset.column"))
    assert (line, column) == (3, 15)
    assert f"(line {line}, column {column})" in message
    assert editor.evaluate("location.pathname") == "/query"
    assert editor.evaluate("tipgraphEditor.getValue()") == broken
    # that place is marked in the editor, and the mark goes with the edit
    assert editor.evaluate(f"tipgraphEditor.lineInfo({line - 1}).bgClass") == "query-error-line"
    assert editor.evaluate("document.querySelector('.query-error-mark').textContent") == ")"
    assert editor.evaluate("document.querySelector('#results table')") is None
    shot = editor.screenshot(tmp_path_factory.mktemp("query-editor") / "query-error.png")
    assert shot.stat().st_size > 10_000
    editor.evaluate("tipgraphEditor.replaceRange(' 1', {line: 2, ch: 13})")
    assert editor.evaluate("document.getElementById('query-error').hidden") is True
    assert editor.evaluate(f"tipgraphEditor.lineInfo({line - 1}).bgClass") is None


def test_a_count_query_draws_a_bar_chart(editor: Any, page_server: str,
                                         store: pyoxigraph.Store,
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    query = get_query("publications-per-region")
    editor.evaluate(f"document.querySelector('a.run[data-example=\"{query.name}\"]').click()")
    editor.wait_for("document.querySelector('#results svg.chart')")
    bars = editor.evaluate("Array.from(document.querySelectorAll('#results svg.chart g'), "
                           "g => [g.querySelector('title').textContent, "
                           "g.querySelector('a').getAttribute('href')])")
    expected = list(store.query(query.text))
    assert bars == [[f"{r['name'].value}: {r['publications'].value}",
                     "/" + r["region"].value.removeprefix(BASE)] for r in expected]
    widths = editor.evaluate("Array.from(document.querySelectorAll('#results svg.chart rect'),"
                             " r => Number(r.getAttribute('width')))")
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    shot = editor.screenshot(tmp_path_factory.mktemp("query-editor") / SCREENSHOT)
    assert shot.stat().st_size > 10_000
    # a list of publications has no number column: no chart
    editor.evaluate("document.querySelector('a.run[data-example=\"historical-entities\"]')"
                    ".click()")
    editor.wait_for("document.querySelector('#results table') && "
                    "!document.querySelector('#results svg.chart')")
    only_local_requests(editor, page_server)


def test_chromium_here_is_off_the_network(editor: Any) -> None:
    # what the tests above show holds with no other host reachable (last: it asks one)
    for url in ("https://example.org/", "http://192.0.2.1/"):
        outcome = editor.evaluate(f"fetch({json.dumps(url)}, {{mode: 'no-cors'}})"
                                  ".then(() => 'reached', () => 'unreachable')")
        assert outcome == "unreachable", url
