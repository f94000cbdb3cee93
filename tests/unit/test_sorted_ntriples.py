"""``tipgraph.nt`` is written sorted in bounded memory: sorted runs merged from disk give the
file one sort of every line gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import BNode, Literal, URIRef

from tipgraph.graphs import ntriples_lines, write_sorted_ntriples
from tipgraph.progress import Meter


def triples() -> list[tuple]:
    made = []
    for number in range(1000):
        subject = URIRef(f"urn:s{number * 7919 % 1000}")
        made.append((subject, URIRef("urn:p"), Literal(f"line {number}\r\nbreak\u2028sep")))
        made.append((subject, URIRef("urn:q"), Literal(f"é {number}", lang="fr")))
    made.append((BNode("b1"), URIRef("urn:p"), URIRef("urn:o")))
    return made


@pytest.mark.parametrize("run_lines", [7, 1000, 2001, 10**6])
def test_runs_merged_are_the_whole_sort(tmp_path: Path, run_lines: int) -> None:
    path = tmp_path / "tipgraph.nt"
    meter = Meter()
    written = write_sorted_ntriples(iter(triples()), path, run_lines=run_lines, meter=meter)
    expected = sorted(ntriples_lines(triples()))
    assert written == len(expected) == 2001
    assert path.read_text(encoding="utf-8").split("\n") == "".join(expected).split("\n")
    assert [p.name for p in tmp_path.iterdir()] == ["tipgraph.nt"]  # no run left behind
    if run_lines < written:
        assert meter.step_name == "merging" and meter.done == written


def test_no_triples_make_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "tipgraph.nt"
    assert write_sorted_ntriples([], path, run_lines=5) == 0
    assert path.read_bytes() == b""
