"""Record identity, duplicates and the content hash."""

from __future__ import annotations

import json
from pathlib import Path

from tipgraph.identity import content_hash, record_identity
from tipgraph.reconcile import reconcile_records
from tipgraph.reference import load_reference
from tipgraph.sources import read_sources

REFERENCE = load_reference()


def _read(tmp_path: Path, *records: dict, name: str = "records.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return read_sources([path])


def test_identity_is_the_id_then_the_link_then_title_and_year(tmp_path: Path) -> None:
    read = _read(tmp_path,
                 {"id": "iom-42", "title": "A", "source_url": "https://example.org/a"},
                 {"title": "B", "source_url": "https://example.org/b"},
                 {"title": "The  Report!", "year": "2020"})
    publications = reconcile_records(read.records, REFERENCE).publications
    assert [record_identity(p) for p in publications] == [
        "id:iom-42", "url:https://example.org/b", "the report|2020"]


def test_titles_in_other_scripts_keep_their_identity(tmp_path: Path) -> None:
    read = _read(tmp_path, {"title": "تقرير عن الهجرة", "year": "2020"},
                 {"title": "移民报告", "year": "2020"})
    reconciled = reconcile_records(read.records, REFERENCE)
    assert len(reconciled.publications) == 2 and reconciled.duplicates == []


def test_the_first_of_two_records_with_one_identity_is_kept(tmp_path: Path) -> None:
    read = _read(tmp_path, {"title": "Report", "year": "2020", "description": "first"},
                 {"title": "Other"},
                 {"title": "report", "year": "2020", "description": "second"})
    reconciled = reconcile_records(read.records, REFERENCE)
    assert [p.description for p in reconciled.publications] == ["first", None]
    [duplicate] = reconciled.duplicates
    assert (duplicate.line, duplicate.first_line) == (3, 1)
    assert "records.jsonl:1" in str(duplicate) and "records.jsonl:3" in str(duplicate)


def test_one_thousand_identical_records_are_one_built_and_999_duplicates(
        tmp_path: Path) -> None:
    read = _read(tmp_path, *[{"title": "Same", "year": "2021"}] * 1000)
    reconciled = reconcile_records(read.records, REFERENCE)
    assert len(reconciled.publications) == 1 and len(reconciled.duplicates) == 999


def test_the_content_hash_is_of_the_fields_not_the_place(tmp_path: Path) -> None:
    records = [{"title": f"Record {n}", "authors": ["Ada Lovelace"]} for n in range(3)]
    before = _read(tmp_path, *records).records
    after = _read(tmp_path, {"title": "Inserted at the top"}, *records, name="other.jsonl").records
    assert [content_hash(r) for r in before] == [content_hash(r) for r in after[1:]]
    assert len({content_hash(r) for r in after}) == 4
    changed = _read(tmp_path, {"title": "Record 0", "authors": ["Ada Lovelace", "X"]},
                    name="changed.jsonl").records
    assert content_hash(changed[0]) != content_hash(before[0])
    publication = reconcile_records(before, REFERENCE).publications[0]
    assert publication.content_hash == content_hash(before[0])
