"""The one function that finds the shipped files finds every one of them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tipgraph.build import DEFAULT_SOURCES
from tipgraph.queries import QUERIES_DIR, shipped_queries
from tipgraph.reasoning import ONTOLOGY_PATH
from tipgraph.reference import COUNTRIES_TABLE, DATA_DIR
from tipgraph.shipped import SHIPPED_FOLDERS, shipped
from tipgraph.validation import SHAPES_PATH

ROOT = Path(__file__).resolve().parents[2]


def _tracked(folder: str) -> list[str]:
    """The checkout's files in ``folder`` (those git tracks), relative to it."""
    listed = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    if listed.returncode != 0 or not listed.stdout.strip():
        pytest.skip("not a git checkout")
    return [line.removeprefix(f"{folder}/") for line in listed.stdout.splitlines()]


@pytest.mark.parametrize("folder", SHIPPED_FOLDERS)
def test_the_finder_locates_every_shipped_file(folder: str) -> None:
    for name in _tracked(folder):
        found = shipped(folder, *name.split("/"))
        assert found.is_file(), found
        assert found.read_bytes() == (ROOT / folder / name).read_bytes()


def test_every_module_finds_its_files_through_it() -> None:
    assert shipped("ontology", "tipgraph.ttl") == ONTOLOGY_PATH and ONTOLOGY_PATH.is_file()
    assert shipped("shapes", "tipgraph.ttl") == SHAPES_PATH and SHAPES_PATH.is_file()
    assert shipped("data") == DATA_DIR and (DATA_DIR / COUNTRIES_TABLE).is_file()
    assert (shipped("data", "sources"),) == DEFAULT_SOURCES
    assert any(DEFAULT_SOURCES[0].iterdir())
    assert shipped("queries") == QUERIES_DIR
    assert len(shipped_queries()) == len(list(QUERIES_DIR.glob("*.rq"))) > 0


def test_an_unknown_folder_is_refused() -> None:
    with pytest.raises(ValueError, match="not a shipped folder"):
        shipped("src")
