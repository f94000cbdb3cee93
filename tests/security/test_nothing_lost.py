"""Nothing lost: every input record is either in the graph or in the report's rejects."""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph

#: The records in the defective inputs (see conftest.DEFECTIVE_SOURCES), counted by hand.
RECORDS = {"listing.txt": 3, "records.jsonl": 7, "records.csv": 4, "bad-bytes.jsonl": 1}
#: The ones that must be rejected: (file, line) -> words of the reason.
REJECTED = {
    ("listing.txt", 12): "no title",
    ("records.jsonl", 3): "not a JSON object",
    ("records.jsonl", 4): "not a JSON object",
    ("records.jsonl", 5): "no title",
    ("records.jsonl", 6): "no title",
    ("records.csv", 3): "no title",
}


def _report(build_dir: Path) -> dict:
    return json.loads((build_dir / "report.json").read_text(encoding="utf-8"))


def test_every_record_is_built_or_rejected(defective_build_dir: Path) -> None:
    report = _report(defective_build_dir)
    assert report["records_read"] == sum(RECORDS.values())
    assert report["records_built"] + report["records_rejected"] == report["records_read"]
    assert report["records_rejected"] == len(report["rejected"]) == len(REJECTED)


def test_each_reject_names_its_place_and_reason(defective_build_dir: Path) -> None:
    rejected = {(p["file"], p["line"]): p["why"] for p in _report(defective_build_dir)["rejected"]}
    assert set(rejected) == set(REJECTED)
    for where, words in REJECTED.items():
        assert words in rejected[where], where


def test_every_built_record_is_in_the_graph(defective_build_dir: Path) -> None:
    report = _report(defective_build_dir)
    store = pyoxigraph.Store.read_only(str(defective_build_dir / "current" / "store"))
    rows = store.query("SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { "
                       "?p a <https://w3id.org/tipgraph/ontology#Publication> }")
    assert int(next(iter(rows))["n"].value) == report["records_built"]
    titles = {row["t"].value for row in store.query(
        "SELECT ?t WHERE { ?p <http://purl.org/dc/terms/title> ?t }")}
    for expected in ("A good listing record", "Second listing record", "A CSV record",
                     "Another CSV record", "Record with an unknown place"):
        assert expected in titles


def test_repairs_and_dropped_values_are_reported(defective_build_dir: Path) -> None:
    warnings = [(p["file"], p["why"]) for p in _report(defective_build_dir)["warnings"]]
    assert any(f == "bad-bytes.jsonl" and "U+FFFD" in why for f, why in warnings)
    assert any(f == "records.jsonl" and "Atlantis" in why for f, why in warnings)
    assert any(f == "listing.txt" and "20x0" in why for f, why in warnings)
