"""What the list of builds reads of a build's report is what the report says, whichever
way it was written, without parsing the whole report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tipgraph.build import BuildReport
from tipgraph.build_dir import SUMMARY_KEYS, _write_json, report_entries, report_summary
from tipgraph.errors import Problem, TipgraphError
from tipgraph.server import check_build
from tipgraph.store.opening import SERVED_KEYS
from tipgraph.validation import ShapeResult, ValidationReport


def a_report() -> BuildReport:
    report = BuildReport(build_id="20260101T000000000000Z", base="https://example.org/",
                         sources=["a.jsonl"], records_read=3, records_built=2, triples=41,
                         status="refused", reason='it would lose 1 of 2 ("x"), say,')
    # entries deeper in the report that look like the summary's, on lines of their own
    report.repairs = [Problem("a.jsonl", 1, "status", '\n  "status": "published",', "repair")]
    report.shacl = ValidationReport(True, [], [ShapeResult(
        "Warning", "https://example.org/p/a", None, '}\n  "triples": 1,', file="a.jsonl",
        line=1)])
    return report


@pytest.mark.parametrize("writer", ["build", "switch", "one line"])
def test_the_summary_is_what_the_report_says(tmp_path: Path, writer: str) -> None:
    path = tmp_path / "report.json"
    report = a_report()
    whole = report.as_dict()
    if writer == "build":
        report.write(path)
    elif writer == "switch":
        _write_json(path, whole)
    else:
        path.write_text(json.dumps(whole), encoding="utf-8")
    summary = report_summary(path)
    assert {key: summary[key] for key in SUMMARY_KEYS} == {key: whole[key] for key in SUMMARY_KEYS}
    # what a web worker reads of the build it serves (not the whole report: 335 MB at a
    # million records, 880 MiB parsed in every worker)
    served = report_summary(path, SERVED_KEYS)
    assert {key: served[key] for key in SERVED_KEYS} == {key: whole[key] for key in SERVED_KEYS}
    assert report_summary(tmp_path / "none.json") == {}
    # an entry over many lines (what an incremental build reads of the previous report),
    # the last entry, and one that no other entry follows at its indent
    for key in ("repairs", "shacl", "files", "peak_memory_mb"):
        assert report_entries(path, [key])[key] == whole[key]


def test_the_report_is_written_as_its_dict(tmp_path: Path) -> None:
    """The problems, written by a template of their own (a report has 100,000s), are
    written as the encoder writes their dicts."""
    from tipgraph.build import json_lines

    report = a_report()
    report.rejected = [Problem("é\"\\.jsonl", None, None, "a\tb\u2028", "error")]
    report.warnings = [Problem("a.jsonl", 0, "title", "", "warning"),
                       Problem("a.jsonl", 7, "title", "'x' is \"y\"\n", "warning")]
    path = tmp_path / "report.json"
    report.write(path)
    assert path.read_text(encoding="utf-8") == json_lines(report.as_dict()) + "\n"
    assert json.loads(path.read_text(encoding="utf-8")) == report.as_dict()


def test_serving_a_build_whose_report_says_nothing_is_refused_in_one_sentence(
        tmp_path: Path) -> None:
    current = tmp_path / "builds" / "20260101T000000000000Z"
    current.mkdir(parents=True)
    (tmp_path / "current").symlink_to(current)
    (current / "report.json").write_text("{\n}\n", encoding="utf-8")
    with pytest.raises(TipgraphError, match=r"no readable report.json \(it lacks base, "
                       r"build_id, status, triples\); rebuild with `tipgraph build"):
        check_build(tmp_path)
