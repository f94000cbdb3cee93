"""Links are safe in every page, whatever the store holds: only ``http``/``https`` IRIs
(and this server's own paths) become links; ``javascript:``, ``data:`` and ``vbscript:``
IRIs written into the store directly are shown as text, never as a link."""

from __future__ import annotations

import gc
import html
import json
import re
from urllib.parse import quote

import pyoxigraph
import pytest

from tipgraph.build import run_build
from tipgraph.build_dir import INDEX_FILE
from tipgraph.web import create_app

BASE = "https://w3id.org/tipgraph/"
PUBLICATION = f"{BASE}publication/a-report"
HOSTILE = ("javascript:alert(1)", "JavaScript:alert(2)", "data:text/html,%3Cb%3Ex%3C/b%3E",
           "vbscript:msgbox(1)")
_ATTRIBUTE = re.compile(r"""\b(?:href|src|action|formaction|xlink:href)\s*=\s*["']([^"']*)""",
                        re.IGNORECASE)


def _n(iri: str) -> pyoxigraph.NamedNode:
    return pyoxigraph.NamedNode(iri)


def _hostile_quads() -> list[pyoxigraph.Quad]:
    schema, dct, tip = "https://schema.org/", "http://purl.org/dc/terms/", f"{BASE}ontology#"
    rdf_type = _n("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    label = _n("http://www.w3.org/2004/02/skos/core#prefLabel")
    pub, place = _n(PUBLICATION), _n(f"{BASE}place/ng")
    quads = []
    for n, iri in enumerate(HOSTILE):
        node = _n(iri)
        quads += [
            pyoxigraph.Quad(pub, _n(schema + "url"), node),
            pyoxigraph.Quad(pub, _n("http://www.w3.org/ns/prov#wasDerivedFrom"), node),
            pyoxigraph.Quad(pub, _n(dct + "creator"), node),
            pyoxigraph.Quad(pub, _n(dct + "spatial"), node),
            pyoxigraph.Quad(pub, node, pyoxigraph.Literal(f"a hostile property {n}")),
            pyoxigraph.Quad(node, rdf_type, _n(schema + "Person")),
            pyoxigraph.Quad(node, _n(schema + "name"), pyoxigraph.Literal(f"Hostile {n}")),
            pyoxigraph.Quad(node, rdf_type, _n(tip + "Publication")),
            pyoxigraph.Quad(node, _n(dct + "title"), pyoxigraph.Literal(f"Hostile title {n}",
                                                                         language="en")),
            pyoxigraph.Quad(node, _n(dct + "spatial"), place),
            pyoxigraph.Quad(node, _n(dct + "references"), pub),
            pyoxigraph.Quad(node, label, pyoxigraph.Literal(f"Hostile place {n}")),
        ]
    return quads


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("links")
    source = root / "records.jsonl"
    source.write_text(json.dumps({"title": "A report", "year": "2020", "countries": ["Nigeria"],
                                  "authors": ["Ada Lovelace"]}) + "\n", encoding="utf-8")
    run_build([source], root / "build", base=BASE)
    current = root / "build" / "current"
    store = pyoxigraph.Store(str(current / "store"))
    store.extend(_hostile_quads())
    store.flush()
    del store
    gc.collect()
    (current / INDEX_FILE).unlink()  # the pages read the store as it is now
    app = create_app({"build_dir": str(root / "build")})
    yield app.test_client()
    from tipgraph.web.context import get_engine

    with app.app_context():
        get_engine().close()


PAGES = [
    "/publication/a-report.html", "/place/ng.html", "/person/ada-lovelace.html", "/browse",
    "/browse?country=ng", "/browse?q=hostile", "/",
    "/sparql?format=html&query=" + quote(f"SELECT ?p ?o WHERE {{ <{PUBLICATION}> ?p ?o }}"),
    "/sparql?format=html&query=" + quote("SELECT ?s WHERE { ?s ?p ?o }"),
]


@pytest.mark.parametrize("page", PAGES)
def test_only_web_iris_become_links(client, page: str) -> None:
    response = client.get(page, headers={"Accept": "text/html"})
    assert response.status_code == 200, page
    text = response.get_data(as_text=True)
    targets = [html.unescape(t).strip().lower() for t in _ATTRIBUTE.findall(text)]
    assert targets
    for target in targets:
        scheme = re.match(r"[a-z][a-z0-9+.\-]*:", target)
        assert scheme is None or scheme.group() in ("http:", "https:"), (page, target)
        assert not target.startswith("//"), (page, target)


def test_the_hostile_values_are_shown_as_text(client) -> None:
    text = client.get("/publication/a-report.html").get_data(as_text=True)
    assert "Hostile 0" in text or "javascript:alert(1)" in text
