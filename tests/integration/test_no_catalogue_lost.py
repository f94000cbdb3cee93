"""No catalogue lost: with `tipgraph serve` running, a build that would empty or shrink the
catalogue is refused and the site goes on serving the previous one; `tipgraph builds use`
switches back, from the next request, with 410 for what only later builds published and a
Last-Modified that never goes back; prune keeps the current build and the one before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tipgraph.build_dir import BuildDir
from tipgraph.synth import synthesize, write_catalogue
from tipgraph.testing import fetch, serving

BASE = "https://w3id.org/tipgraph/"
COUNT = ("SELECT (COUNT(DISTINCT ?p) AS ?n) "
         "WHERE { ?p a <https://w3id.org/tipgraph/ontology#Publication> }")


def tipgraph(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``tipgraph ARGS`` in a process of its own: its exit code and messages as a user sees."""
    return subprocess.run([sys.executable, "-m", "tipgraph.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("TIPGRAPH_")})


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 synthetic records, one per line."""
    path = tmp_path_factory.mktemp("catalogue") / "catalogue.jsonl"
    write_catalogue(synthesize(60, seed=3), path)
    return path


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory, catalogue: Path) -> Path:
    out = tmp_path_factory.mktemp("served") / "build"
    result = tipgraph("build", "--quiet", "--source", catalogue, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def site(out: Path) -> Iterator[str]:
    with serving(out, workers=2) as url:
        yield url


def publications(site: str) -> int:
    status, _, body = fetch(f"{site}/sparql?{urllib.parse.urlencode({'query': COUNT})}",
                            headers={"Accept": "application/sparql-results+json"})
    assert status == 200
    return int(json.loads(body)["results"]["bindings"][0]["n"]["value"])


def lines(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def subset(catalogue: Path, path: Path, keep: int) -> Path:
    return lines(path, "".join(catalogue.read_text(encoding="utf-8").splitlines(True)[:keep]))


# a case's source, the reason its message names, and whether a build was made and kept
# (a CSV without a title column is refused when it is read, before any build is made)
REFUSALS = {
    "empty": (lambda c, d: lines(d / "empty.jsonl", ""), "no publication"),
    "no title column": (lambda c, d: lines(d / "no-title.csv",
                                           "name,year\nA study,2001\nAnother,2002\n"),
                        "the CSV header has no 'title' column"),
    "utf-16": (lambda c, d: (d / "utf16.jsonl").write_bytes(
        c.read_text(encoding="utf-8").encode("utf-16")) and d / "utf16.jsonl", "rejected"),
    "shrink": (lambda c, d: subset(c, d / "forty.jsonl", 40),
               "would remove 20 of the 60 publications"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_build_keeps_serving_the_catalogue(site: str, out: Path, catalogue: Path,
                                                   tmp_path: Path, case: str) -> None:
    make, reason = REFUSALS[case]
    before, current = publications(site), BuildDir(out).current_id()
    result = tipgraph("build", "--quiet", "--source", make(catalogue, tmp_path), "--out", out)
    assert result.returncode != 0
    assert reason in result.stderr
    assert publications(site) == before == 60
    assert BuildDir(out).current_id() == current
    if case != "no title column":
        refused = BuildDir(out).list()[-1]
        assert refused.status == "refused" and reason in (refused.reason or "")


def test_allow_shrink_publishes(site: str, out: Path, catalogue: Path, tmp_path: Path) -> None:
    forty = subset(catalogue, tmp_path / "forty.jsonl", 40)
    result = tipgraph("build", "--quiet", "--allow-shrink", "--source", forty, "--out", out)
    assert result.returncode == 0, result.stderr
    assert publications(site) == 40
    # within max_shrink / min_shrink: 50 of 60 back, then a build losing 5 of 55 publishes
    assert tipgraph("build", "--quiet", "--source", catalogue, "--out", out).returncode == 0
    assert publications(site) == 60
    fifty_five = subset(catalogue, tmp_path / "fifty-five.jsonl", 55)
    assert tipgraph("build", "--quiet", "--source", fifty_five, "--out", out).returncode == 0
    assert publications(site) == 55
    assert tipgraph("build", "--quiet", "--source", catalogue, "--out", out).returncode == 0
    assert publications(site) == 60


def test_builds_use_switches_back(site: str, out: Path, catalogue: Path,
                                  tmp_path: Path) -> None:
    builds = BuildDir(out)
    old = builds.current_id()
    extra = tmp_path / "extra.jsonl"
    write_catalogue(synthesize(5, seed=99), extra)
    assert tipgraph("build", "--quiet", "--source", catalogue, "--source", extra,
                    "--out", out).returncode == 0
    later = builds.current_id()
    assert publications(site) == 65
    old_uris = set((builds.builds / old / "uris.txt").read_text(encoding="utf-8").split())
    only_later = sorted(set((builds.builds / later / "uris.txt").read_text(encoding="utf-8")
                            .split()) - old_uris)
    new_publication = next(u for u in only_later if "/publication/" in u)
    path = new_publication.removeprefix(BASE)
    assert fetch(f"{site}/{path}.ttl")[0] == 200
    modified_later = parsedate_to_datetime(fetch(f"{site}/dataset")[1]["last-modified"])
    etag_later = fetch(f"{site}/dataset")[1]["etag"]

    result = tipgraph("builds", "--build", out, "use", old)
    assert result.returncode == 0, result.stderr
    assert publications(site) == 60  # the next request
    assert fetch(f"{site}/{path}.ttl")[0] == 410
    assert fetch(f"{site}/{path}", headers={"Accept": "text/turtle"})[0] == 410
    assert fetch(f"{site}/publication/never-published-anything")[0] == 404
    for _ in range(4):  # every worker
        status, headers, _ = fetch(f"{site}/dataset")
        assert status == 200
        assert parsedate_to_datetime(headers["last-modified"]) > modified_later
        assert headers["etag"] != etag_later
        assert fetch(f"{site}/dataset", headers={"If-Modified-Since": headers["last-modified"]}
                     )[0] == 304

    listed = tipgraph("builds", "--build", out)
    assert f"* {old}" in listed.stdout
    result = tipgraph("builds", "--build", out, "prune", "--keep", "0")
    assert result.returncode == 0, result.stderr
    assert [b.id for b in builds.list()] == sorted([old, later])  # current, and the one before
    assert publications(site) == 60
