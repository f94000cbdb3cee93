"""``tipgraph serve`` answers from the indexes the build wrote beside its store.

The build's index file is changed in one place the store does not share (the title
of one publication): a page showing the changed title was served from the file, not
from indexes the worker made out of the store.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

BASE = "https://w3id.org/tipgraph/"
TITLE = "Zz the title in the index file"


@pytest.fixture(scope="module")
def retitled(seed_build_dir: Path, tmp_path_factory: pytest.TempPathFactory,
             retitle: Callable[[Path, str], tuple[str, str]]) -> tuple[Path, str, str]:
    """A copy of the seed build whose index file retitles a publication: (build, the
    publication's URI, the path of a node it links to)."""
    copy = tmp_path_factory.mktemp("served-indexes") / "build"
    shutil.copytree(seed_build_dir, copy, symlinks=True)
    uri, linked = retitle(copy, TITLE)
    return copy, uri, linked


def test_a_served_build_answers_browse_and_documents_from_its_file(
        retitled: tuple[Path, str, str], start_server, http) -> None:
    build, uri, linked = retitled
    with start_server(build, workers=2) as base:
        # the first requests of both workers: each read the file when it started
        for _ in range(2):
            status, _, body = http(f"{base}/browse")
            assert status == 200
            page = body.decode()
            assert TITLE in page
            assert page.count('<a class="title"') == 10
            status, _, body = http(f"{base}/{linked}.ttl", headers={"Accept": "text/turtle"})
            assert status == 200
            assert f"<{uri}>" in body.decode() or uri.removeprefix(BASE) in body.decode()
            assert TITLE in body.decode()
