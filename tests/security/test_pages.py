"""Paths, pages and errors: no traversal, no script injection, no trace or local path."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pyoxigraph
import pytest

from tipgraph.web import create_app

#: What must never come back: a system file, the build's own files, our source.
SECRETS = (b"root:x:0:0", b"records_read", b"def create_app", b"[build-system]",
           b"Traceback", b"File \"/")

TRAVERSALS = ("../", "..%2f", "%2e%2e/", "%2e%2e%2f", "..%252f", "%252e%252e%252f", "..\\",
              "..%5c", "%c0%ae%c0%ae/", "....//")


def _routes(step: str) -> list[str]:
    up = step * 6
    return [
        f"/dumps/{up}report.json", f"/dumps/{up}etc/passwd", f"/dumps/{step}tipgraph.ttl",
        f"/static/{up}pyproject.toml", f"/static/{up}src/tipgraph/web/__init__.py",
        f"/static/{up}etc/passwd", f"/place/{up}etc/passwd", f"/place/ng/{up}report.json",
        f"/publication/{up}store/CURRENT", f"/place/ng.ttl/{up}etc/passwd",
        f"/ontology.{up}etc/passwd", f"/ontology/{up}report.json", f"/shapes.{up}report.json",
        f"/dataset.{up}report.json", f"/{up}etc/passwd", f"/{up}report.json",
        f"/place/{up}report.json%00.ttl", f"/source/{up}data/sources",
    ]


@pytest.mark.parametrize("step", TRAVERSALS)
def test_no_path_reads_outside(guarded_server, http, step) -> None:
    for path in _routes(step):
        status, _, body = http(guarded_server + path)
        assert status < 500, path
        for secret in SECRETS:
            assert secret not in body, (path, secret)


def test_control_characters_in_resource_paths(guarded_server, http) -> None:
    for path in ("/place/ng%00.ttl", "/place/ng%0d%0aSet-Cookie:x=1", "/place/%01",
                 "/organisation/a%09b.html", "/ontology.%00"):
        status, headers, body = http(guarded_server + path)
        assert status in (400, 404), path
        assert "set-cookie" not in headers
        assert b"Traceback" not in body


# -- script injection -------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"


@pytest.mark.parametrize("path", [
    "/browse?q=" + quote(SCRIPT) + "&country=" + quote('"><svg onload=alert(1)>'),
    "/browse?year=" + quote(SCRIPT) + "&organisation=" + quote("'><script>x</script>"),
    "/place/" + quote(SCRIPT),
    "/place/" + quote(SCRIPT) + ".html",
    "/publication/x" + quote('"><img src=x onerror=alert(1)>'),
    "/dumps/" + quote(SCRIPT),
    "/dataset." + quote(SCRIPT),
    "/sparql?query=" + quote("SELECT ?x WHERE { BIND(\"" + SCRIPT + "\" AS ?x) }"),
    "/sparql?query=" + quote(SCRIPT),
    "/sparql?query=" + quote("SELECT * WHERE { ?s ?p ?o } # " + SCRIPT),
])
def test_query_parameters_do_not_inject_script(guarded_server, http, path) -> None:
    status, _, body = http(guarded_server + path, headers={"Accept": "text/html"})
    assert status < 500
    text = body.decode("utf-8", "replace")
    assert SCRIPT not in text
    assert "<svg onload" not in text and "<img src=x" not in text
    assert "<script>x</script>" not in text


@pytest.fixture(scope="module")
def defective_client(defective_build_dir: Path):
    app = create_app({"build_dir": str(defective_build_dir), "query_timeout": 10})
    yield app.test_client()
    from tipgraph.web.context import get_engine

    with app.app_context():
        get_engine().close()


def test_data_does_not_inject_script_into_pages(defective_client, defective_build_dir) -> None:
    store = pyoxigraph.Store.read_only(str(defective_build_dir / "current" / "store"))
    hostile = [row["p"].value for row in store.query(
        "SELECT ?p WHERE { ?p <http://purl.org/dc/terms/title> ?t "
        "FILTER(CONTAINS(?t, '<script>')) }")]
    assert hostile  # the hostile record was built, so its page exists
    base = "https://w3id.org/tipgraph/"
    pages = [p.removeprefix(base) for p in hostile]
    pages = ["/" + p + ".html" for p in pages] + ["/", "/browse", "/browse?q=trafficking",
                                                   "/place/ng.html"]
    for page in pages:
        response = defective_client.get(page)
        text = response.get_data(as_text=True)
        assert response.status_code == 200, page
        assert "<script>alert(" not in text, page
        assert "<img src=x" not in text and "<b onmouseover" not in text, page
        # exactly the page's own script elements: the title never closes one early
        assert text.count("</script>") == text.count("<script"), page
    text = defective_client.get(pages[0]).get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # shown, as text


def test_html_query_results_escape_data(defective_client) -> None:
    response = defective_client.get(
        "/sparql",
        query_string={"query": "SELECT ?t WHERE { ?p <http://purl.org/dc/terms/title> ?t }"},
        headers={"Accept": "text/html"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>alert(" not in text and "&lt;script&gt;alert(1)" in text


# -- errors ------------------------------------------------------------------------------------

def test_an_unexpected_error_shows_no_trace_or_path(seed_build_dir: Path) -> None:
    app = create_app({"build_dir": str(seed_build_dir)})

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError(f"cannot read {seed_build_dir}/secret.txt")

    response = app.test_client().get("/boom")
    text = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Traceback" not in text and "RuntimeError" not in text
    assert str(seed_build_dir) not in text and "secret.txt" not in text
    assert "went wrong" in text


def test_no_build_is_a_503_without_local_paths(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    client = create_app({"build_dir": str(empty)}).test_client()
    for path in ("/", "/browse", "/place/ng", "/dataset", "/dumps/tipgraph.ttl",
                 "/sparql?query=ASK%7B%7D", "/health"):
        response = client.get(path)
        text = response.get_data(as_text=True)
        assert response.status_code == 503, path
        assert str(tmp_path) not in text and "Traceback" not in text, path
