"""docs/queries.md is what docs/make_queries_doc.py writes: the queries and their real answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tipgraph.client import Client
from tipgraph.queries import shipped_queries

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("make_queries_doc",
                                                  ROOT / "docs" / "make_queries_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_queries_page_is_current(seed_build_dir: Path) -> None:
    expected = _generator().render(Client.from_build(seed_build_dir))
    actual = (ROOT / "docs" / "queries.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/queries.md is stale: run .venv/bin/python " \
        "docs/make_queries_doc.py"


def test_every_shipped_query_is_documented_with_its_answer() -> None:
    page = (ROOT / "docs" / "queries.md").read_text(encoding="utf-8")
    for query in shipped_queries():
        assert f"## {query.title}\n" in page
        assert f"`queries/{query.name}.rq`" in page
    assert "| International Organization for Migration | United Nations High Commissioner " \
           "for Refugees | 1 |" in page
    assert "| tg:place/an | Netherlands Antilles | AN |" in page
