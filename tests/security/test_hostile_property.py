"""Property: whatever a record's fields hold, it changes no other publication and never
raises (random text: printable, control characters, lone surrogates, line and paragraph
separators, ``<>"`` and IRI-like pieces)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyoxigraph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipgraph.graphs import ntriples_lines
from tipgraph.mapping import map_records
from tipgraph.reconcile import reconcile_records
from tipgraph.reference import load_reference
from tipgraph.sources import FIELDS, LIST_FIELDS, read_sources

BASE = "https://w3id.org/tipgraph/"
VICTIM = {"title": "Victim report", "year": "2019", "description": "The real abstract.",
          "source_url": "https://example.org/victim"}
REFERENCE = load_reference()

_PIECES = st.sampled_from([
    "<", ">", '"', "\\", " .", "\n", "\r", "\u2028", "\u2029", "\x85", "\x00", "\x1b",
    "\ud800", "\udfff", "https://", "javascript:", f"{BASE}publication/victim-report",
    "http://purl.org/dc/terms/abstract", "%", "%zz", "#", "@en", "^^", "'", "\t", "é",
    "e\u0301", "Nigeria", "Victim report", "2019",
])
TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=8).map("".join)
RECORD = st.fixed_dictionaries({}, optional={
    field: st.lists(TEXT, max_size=3) if field in LIST_FIELDS else TEXT for field in FIELDS})


def _publication_triples(triples: list, subject: str) -> set[str]:
    return {line for line in ntriples_lines(triples) if line.startswith(f"<{subject}> ")}


def _build(path: Path) -> tuple[list, str]:
    read = read_sources([path])
    reconciled = reconcile_records(read.records, REFERENCE)
    mapped = map_records(reconciled.publications, REFERENCE, base=BASE)
    victim_slug = mapped.slugs[next(iter(mapped.slugs))]  # the victim is read first
    return list(mapped.triples), f"{BASE}publication/{victim_slug}"


def _check(tmp_path: Path, name: str, text: bytes) -> None:
    (tmp_path / "alone").mkdir(exist_ok=True)
    victim_file = tmp_path / "alone" / name  # the same name: the same provenance node
    path = tmp_path / name
    path.write_bytes(text)
    triples, victim = _build(path)
    lines = ntriples_lines(triples)
    # the writer's text is N-Triples pyoxigraph reads back, triple for triple
    parsed = list(pyoxigraph.parse("".join(lines).encode("utf-8"),
                                   format=pyoxigraph.RdfFormat.N_TRIPLES))
    assert len(parsed) == len(lines)
    alone = text.split(b"\n", 1)[0] + b"\n"
    if name.endswith(".csv"):
        alone = b"\n".join(text.split(b"\n", 2)[:2]) + b"\n"
    victim_file.write_bytes(alone)
    clean, _ = _build(victim_file)
    assert _publication_triples(triples, victim) == _publication_triples(clean, victim)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=RECORD)
def test_random_json_lines_record_changes_no_other_publication(tmp_path: Path,
                                                               record: dict) -> None:
    lines = [json.dumps(VICTIM), json.dumps(record)]  # ensure_ascii: lone surrogates escaped
    _check(tmp_path, "records.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=RECORD)
def test_random_csv_record_changes_no_other_publication(tmp_path: Path, record: dict) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    writer.writerow([VICTIM.get(f, "") for f in FIELDS])
    writer.writerow([";".join(v) if isinstance(v, list) else v
                     for v in (record.get(f, "") for f in FIELDS)])
    # lone surrogates become bytes no UTF-8 decoder takes: the reader replaces them
    _check(tmp_path, "records.csv", out.getvalue().encode("utf-8", "surrogatepass"))
