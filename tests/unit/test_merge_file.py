"""``tipgraph.nt`` of an incremental build: the previous one merged with the lines changed,
found by bisecting the file (few changes) or reading it through (many), alike."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tipgraph import incremental
from tipgraph.incremental import merge_file


@pytest.mark.parametrize("seeks", [True, False])
@pytest.mark.parametrize("case", ["some", "first and last", "none", "all removed", "empty"])
def test_merged_file_is_the_sorted_lines_less_removed_plus_added(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeks: bool, case: str) -> None:
    monkeypatch.setattr(incremental, "MERGE_SEEKS", 10_000 if seeks else 0)
    monkeypatch.setattr(incremental, "MERGE_BLOCK", 1 << 10)  # many blocks
    rng = random.Random(case)
    lines = sorted({f"<https://example.org/s{rng.randrange(10**6)}> <p> \"é {n}\" .\n"
                    for n in range(3000)}) if case != "empty" else []
    others = [f"<https://example.org/s{rng.randrange(10**6)}> <p> \"new\" .\n"
              for _ in range(40)]
    if case == "some":
        removed, added = rng.sample(lines, 50), others + rng.sample(lines, 5)  # 5 held already
    elif case == "first and last":
        removed, added = [lines[0], lines[-1]], ["<a> <p> <o> .\n", "<zzz> <p> <o> .\n"]
    elif case == "all removed":
        removed, added = list(lines), []
    else:
        removed, added = [], others if case == "empty" else []
    removed.append("<https://example.org/never> <p> <o> .\n")  # not there: not counted
    old, new = tmp_path / "old.nt", tmp_path / "new.nt"
    old.write_text("".join(lines), encoding="utf-8", newline="\n")
    written, gone, came = merge_file(old, new, removed, added)
    expected = sorted((set(lines) - set(removed)) | set(added))
    got = new.read_text(encoding="utf-8").splitlines(keepends=True)
    assert got == expected
    assert written in (None, len(expected))
    assert sorted(gone) == sorted(set(removed) & set(lines))
    assert sorted(came) == sorted(set(added) - set(lines))
