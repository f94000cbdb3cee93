"""Dumps in segments: cut where a subject starts, cut again where the build before cut,
served as one file each."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pyoxigraph
import pytest

from tipgraph import dumps
from tipgraph.dumps import NTRIPLES, SEGMENTS, SEGMENTS_FILE, segments, write_dumps


def write_nt(build: Path, subjects: range, extra: str = "") -> list[str]:
    build.mkdir()
    lines = sorted([f"<urn:s{n:03}> <urn:p{k}> \"{n}{extra if n == 50 else ''}\" .\n"
                    for n in subjects for k in range(3)])
    (build / NTRIPLES).write_text("".join(lines), encoding="utf-8")
    return lines


def test_segments_end_where_a_subject_ends_and_are_cut_again_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dumps, "SEGMENT_LINES", 10)
    lines = write_nt(tmp_path / "a", range(100))
    write_dumps(tmp_path / "a")
    first = list(segments(tmp_path / "a"))
    # their bytes are the lines, each once, in order; no subject cut in two
    assert b"".join(segment.data for segment in first) == "".join(lines).encode()
    assert all(segment.data.count(b"\n") == segment.lines for segment in first)
    assert all(segment.lines % 3 == 0 for segment in first)
    assert all(segment.data.startswith(segment.start.encode()) for segment in first)
    # named by the digest of their bytes
    assert all(segment.digest == hashlib.sha256(segment.data).hexdigest()[:32]
               for segment in first)
    # a later build: one subject changed, a few added; cut where the first was
    write_nt(tmp_path / "b", range(105), extra="x")
    write_dumps(tmp_path / "b", previous=tmp_path / "a")
    listed = json.loads((tmp_path / "b" / SEGMENTS / SEGMENTS_FILE).read_text("utf-8"))
    before = json.loads((tmp_path / "a" / SEGMENTS / SEGMENTS_FILE).read_text("utf-8"))
    assert [start for start, _, _ in listed] == [start for start, _, _ in before]
    changed = [s for s, b in zip(listed, before, strict=True) if s[1] != b[1]]
    assert len(changed) == 2  # the one with subject 50, the last (with the new subjects)
    linked = [p for p in (tmp_path / "b" / SEGMENTS).glob("*.ttl") if p.stat().st_nlink > 1]
    assert len(linked) == len(listed) - 2


def test_the_served_files_are_one_document_each(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dumps, "SEGMENT_LINES", 10)
    lines = write_nt(tmp_path / "a", range(40))
    write_dumps(tmp_path / "a")
    assert len(list((tmp_path / "a" / SEGMENTS).glob("*.nt.gz"))) > 3
    with gzip.open(tmp_path / "a" / "tipgraph.nt.gz", "rt", encoding="utf-8") as gz:
        assert gz.read() == "".join(lines)  # the members are one stream
    expected = set(pyoxigraph.parse(path=str(tmp_path / "a" / NTRIPLES),
                                    format=pyoxigraph.RdfFormat.N_TRIPLES))
    for name, kind in (("tipgraph.ttl", pyoxigraph.RdfFormat.TURTLE),
                       ("tipgraph.jsonld", pyoxigraph.RdfFormat.JSON_LD)):
        assert set(pyoxigraph.parse(path=str(tmp_path / "a" / name), format=kind)) == expected
    document = json.loads((tmp_path / "a" / "tipgraph.jsonld").read_text("utf-8"))
    assert len(document["@graph"]) == 40


@pytest.mark.parametrize("change", ["one subject", "first and last gone, new ones",
                                    "a whole segment gone", "nothing"])
def test_dumps_made_from_the_changes_are_those_made_from_the_graph(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """An incremental build hands the dumps the lines removed and added, not the graph:
    the same segments, files and listing as made from its whole ``tipgraph.nt``."""
    monkeypatch.setattr(dumps, "SEGMENT_LINES", 10)
    old = write_nt(tmp_path / "a", range(1, 100))
    write_dumps(tmp_path / "a")
    subjects = {"one subject": range(1, 100), "first and last gone, new ones": range(2, 120),
                "a whole segment gone": [n for n in range(1, 100) if not 20 <= n < 40],
                "nothing": range(1, 100)}[change]
    new = write_nt(tmp_path / "b", subjects, extra="x" if change == "one subject" else "")
    if change == "first and last gone, new ones":  # a subject before the first cut too
        new = sorted([*new, '<urn:s000> <urn:p0> "0" .\n'])
        (tmp_path / "b" / NTRIPLES).write_text("".join(new), encoding="utf-8")
    write_dumps(tmp_path / "b", previous=tmp_path / "a")
    (tmp_path / "c").mkdir()
    dumps.update_dumps(tmp_path / "c", tmp_path / "a", sorted(set(old) - set(new)),
                       sorted(set(new) - set(old)))
    for name in (f"{SEGMENTS}/{SEGMENTS_FILE}", "tipgraph.nt.gz", "tipgraph.ttl",
                 "tipgraph.jsonld"):
        assert (tmp_path / "c" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), \
            name
    made = {p.name for p in (tmp_path / "c" / SEGMENTS).iterdir()}
    assert made == {p.name for p in (tmp_path / "b" / SEGMENTS).iterdir()}
    linked = [p for p in (tmp_path / "c" / SEGMENTS).glob("*.ttl") if p.stat().st_nlink > 1]
    listed = json.loads((tmp_path / "c" / SEGMENTS / SEGMENTS_FILE).read_text("utf-8"))
    assert (len(linked) == len(listed)) == (change == "nothing")


@pytest.mark.parametrize("read_bytes", [1, 37, 200, 1 << 22])
def test_segments_are_the_same_whatever_is_read_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_bytes: int) -> None:
    """The lines are read a block at a time: a cut does not depend on where blocks end,
    also where the build before cut (a subject that ends a block may go on in the next)."""
    monkeypatch.setattr(dumps, "SEGMENT_LINES", 10)
    write_nt(tmp_path / "a", range(100))
    write_dumps(tmp_path / "a")
    write_nt(tmp_path / "b", range(3, 120), extra="x")
    expected = [[s[:3] for s in segments(tmp_path / name, previous)]
                for name, previous in (("a", None), ("b", tmp_path / "a"))]
    monkeypatch.setattr(dumps, "READ_BYTES", read_bytes)
    for (name, previous), wanted in zip((("a", None), ("b", tmp_path / "a")), expected,
                                        strict=True):
        assert [s[:3] for s in segments(tmp_path / name, previous)] == wanted
    assert len(expected[0]) == 25 and all(s[2] == 12 for s in expected[0])
