"""``tipgraph.nt`` is written sorted in bounded memory: sorted runs merged from disk give the
file one sort of every line gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import BNode, Literal, URIRef

from tipgraph.graphs import ntriples_lines, write_sorted_ntriples
from tipgraph.namespaces import RDF, TIP
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


def many_lines(count: int) -> list[str]:
    """Lines of subjects whose IRIs are prefixes of one another, blank nodes, text beyond
    ASCII and subjects of one line or of many: where halves may meet."""
    lines = []
    for number in range(count):
        subject = (f"_:b{number % 37}" if number % 11 == 0
                   else f"<urn:s/{number % 97}>" if number % 3 else f"<urn:s/{number % 97}/x>")
        obj = (f'"é {number} \u2028"@fr' if number % 5 == 0 else f'"{number}"'
               if number % 2 else f"<urn:o/{number % 13}>")
        lines.append(f"{subject} <urn:p/{number % 7}> {obj} .\n")
    for number in range(300):  # one subject of many lines, each object known elsewhere
        lines.append(f"<urn:big> <urn:p/{number}> <urn:o/{number % 13}> .\n")
    lines.append(f"<urn:big> <{RDF.type}> <{TIP.Publication}> .\n")
    return list(dict.fromkeys(lines))  # each line once, as the build's runs have them


def merged(tmp_path: Path, name: str, lines: list[str], run_lines: int) -> tuple:
    from tipgraph.graphs import SortedRuns
    from tipgraph.serving.indexes import LineCounts

    path = tmp_path / name / "tipgraph.nt"
    path.parent.mkdir()
    meter, counts = Meter(), LineCounts("urn:s/")
    with SortedRuns(path) as runs:
        for start in range(0, len(lines), run_lines):
            runs.add_lines(lines[start:start + run_lines])
        written = runs.merge(meter=meter, counts=counts)
    counts.close()
    assert meter.done == written == len(lines)
    assert [p.name for p in path.parent.iterdir()] == ["tipgraph.nt"]  # no run left behind
    return path.read_bytes(), counts.dataset_counts("urn:s/"), counts.in_space


@pytest.mark.parametrize("run_lines", [50, 333, 1000])
def test_halves_merged_apart_make_the_file_and_counts_of_one_merge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_lines: int) -> None:
    """Many lines are merged in two halves at once (the second by a forked process); the
    file, its counts and the URIs it describes are those of one merge of them all."""
    from tipgraph import graphs

    lines = many_lines(3000)
    shuffled = sorted(lines, key=lambda line: hash(line) % 1009)  # the runs overlap
    one = merged(tmp_path, "one", shuffled, run_lines)
    assert one[0].decode("utf-8") == "".join(sorted(lines))
    monkeypatch.setattr(graphs, "HALVES_LINES", 100)
    halved = []
    whole_way = graphs.SortedRuns._merge_halves
    monkeypatch.setattr(graphs.SortedRuns, "_merge_halves",
                        lambda runs, pivot, *rest: halved.append(pivot) or
                        whole_way(runs, pivot, *rest))
    halves = merged(tmp_path, "halves", shuffled, run_lines)
    assert halved and halves == one
    counts = one[1][0]
    assert counts.triples == len(lines) and counts.example == "urn:big"
    assert counts.distinct_subjects == len({line.split(" ", 1)[0] for line in lines})


@pytest.mark.parametrize("key", [b"<urn:s/5> ", b"<urn:s/5/x> ", b"_:b3 ", b"<", b"~", b""])
def test_a_run_is_cut_where_the_key_begins(tmp_path: Path, key: bytes) -> None:
    from tipgraph.graphs import _first_line_from

    run = tmp_path / "run"
    data = "".join(sorted(many_lines(500))).encode("utf-8")
    run.write_bytes(data)
    lines = data.splitlines(keepends=True)
    expected = sum(len(line) for line in lines if line < key)
    assert _first_line_from(run, key) == expected
