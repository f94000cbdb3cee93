"""An incremental build publishes what a full build of the same sources publishes: the
same triples, dumps, report counts, web indexes, URIs (with their 410s) and OAI-PMH
records; after a rollback too."""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pyoxigraph
import pytest
from click.testing import CliRunner

from tipgraph import dumps, incremental
from tipgraph.build import run_build
from tipgraph.build_dir import INDEX_FILE, BuildDir
from tipgraph.cli import cli
from tipgraph.incremental import STATE_FILE, StateWriter, read_state
from tipgraph.ledger import Ledger
from tipgraph.serving import oai_records
from tipgraph.serving.indexes import read_indexes
from tipgraph.statistics import TALLY_FILE, Tally
from tipgraph.synth import synthesize, write_catalogue

from .conftest import BASE
from .test_build_equivalence import blank_blind, quads

VOLATILE = {"build_id", "timings_seconds", "cpu_seconds", "peak_memory_mb"}


def first_catalogue() -> list[dict[str, object]]:
    records = synthesize(120, seed=26)
    records[5]["authors"] = ["Alison Jobe"]  # one person named by two records, spelt
    records[6]["authors"] = ["Alison Jobe", "Migration Policy Institute"]  # alike
    records[50]["year"] = 1901  # the only publication of its year and of its organisation:
    records[50]["authors"] = ["Only Once Institute"]  # removed in the second catalogue
    return records


def second_catalogue() -> list[dict[str, object]]:
    """The first with records changed, added and removed."""
    records = first_catalogue()
    records[3]["year"] = 1999  # a corrected year
    records[10]["title"] = "Aaaa: a title that comes first"  # every sort key moves
    records[20]["authors"] = ["A New Author", "Another Org Institute"]
    records[30]["countries"] = ["Nigeria"]
    records[6]["authors"] = ["Alison JOBE"]  # the same node, named by the last record
    records[40]["regions"] = []
    del records[100:104]  # removed at the end of the file: no line moves
    del records[50]  # removed in the middle: the lines below move
    added = synthesize(5, seed=99)
    for n, record in enumerate(added):
        record["source_url"] = f"https://example.org/added/{n}"
    added[0]["authors"] = ["Alison Jobe", "Someone Else"]
    added[1]["authors"] = ["ALISON JOBE"]  # the last to name her: her name
    records += added
    records.append(dict(records[7]))  # a duplicate
    records.append({"title": "", "year": 2001})  # a record to reject
    return records


def third_catalogue() -> list[dict[str, object]]:
    records = first_catalogue()
    records[12]["description"] = "A description corrected after the rollback."
    records[60]["authors"] = ["Alison Jobe"]
    del records[0]
    return records


def build(out: Path, source: Path, records: list[dict[str, object]], *,
          full: bool = False) -> list[str]:
    write_catalogue(records, source)
    said: list[str] = []
    run_build([source], out, base=BASE, progress=said.append, full=full)
    return said


def published(out: Path) -> dict[str, object]:
    """What the build directory ``out`` publishes, as two directories can be compared."""
    current = BuildDir(out).current()
    assert current is not None
    report = json.loads((current / "report.json").read_text(encoding="utf-8"))
    indexes = read_indexes(current / INDEX_FILE)
    assert indexes is not None
    with sqlite3.connect(out / "oai.sqlite") as db:
        last = db.execute("SELECT switched_at FROM applied").fetchone()[0]
        oai = sorted((uri, digest, deleted, sets, stamp == last) for uri, digest, stamp,
                     deleted, sets in db.execute("SELECT * FROM records"))
    with gzip.open(current / "tipgraph.nt.gz", "rt", encoding="utf-8") as gz:
        gzipped = gz.read()
    return {
        "triples": blank_blind((current / "tipgraph.nt").read_text("utf-8").splitlines()),
        "gzip": blank_blind(gzipped.splitlines()),
        "turtle": quads(current / "tipgraph.ttl", pyoxigraph.RdfFormat.TURTLE),
        "jsonld": quads(current / "tipgraph.jsonld", pyoxigraph.RdfFormat.JSON_LD),
        "store": blank_blind(pyoxigraph.Store.read_only(str(current / "store"))),
        "report": {k: v for k, v in report.items() if k not in VOLATILE},
        "uris": (current / "uris.txt").read_text(encoding="utf-8"),
        "slugs": json.loads((current / "slugs.json").read_text(encoding="utf-8")),
        "retired": sorted((r.uri, r.retired is None) for r in Ledger(out).uris()),
        "oai records": json.loads((current / "oai-records.json").read_text("utf-8")),
        "oai datestamps": oai,
        "dataset counts": indexes.counts,
        "labels": (indexes.labels.titles, indexes.labels.others),
        "properties": indexes.properties,
        "pages": indexes.pages,
        "catalogue": indexes.catalogue.indexed(),
        # what the file keeps of the catalogue's counts: the browse page's and a facet
        # value's (an incremental build changes the rows of the values it touched)
        "totals": indexes.catalogue.totals(),
        "value pairs": dict(indexes.catalogue.pairs.items()),
        "counted pairs": indexes.catalogue.value_pairs(),
        "text": (indexes.text.publications, indexes.text.nodes),
        "text rows": text_rows(current / "text.sqlite"),
        "searches": [sorted(indexes.text.publication_positions(words))
                     for words in ("a", "labour", "alison", "aaaa title")],
        "tally": tally(current),
    }


def text_rows(path: Path) -> dict[str, object]:
    """What the text index holds of each node (by IRI, whatever its number): its place
    among the publications, each word where it is, its facts."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, text, instance)")
        db.execute("CREATE VIRTUAL TABLE temp.facts USING fts5vocab(main, fact, instance)")
        iri = dict(db.execute("SELECT id, iri FROM node"))
        return {
            "nodes": sorted(db.execute("SELECT iri, position FROM node"), key=str),
            "words": sorted((iri[doc], term, col, offset) for term, doc, col, offset
                            in db.execute("SELECT * FROM temp.words")),
            "facts": sorted((iri[doc], term) for term, doc, _, _
                            in db.execute("SELECT * FROM temp.facts")),
            # but whether ids are the places (a full build's numbering, not an update's)
            "meta": sorted(db.execute("SELECT * FROM meta WHERE key != 'numbered'")),
        }


def tally(build: Path) -> tuple[object, ...]:
    """The statistics' tally the build kept for the next one."""
    kept = Tally.load(build / TALLY_FILE)
    assert kept is not None
    return kept.counts(), kept.titles, kept.members, kept.order, kept.keys, kept.digests


def sort_keys(out: Path) -> dict[str, int]:
    """Each publication's ``tip:sortKey`` in the build in service of ``out``."""
    store = pyoxigraph.Store.read_only(str(BuildDir(out).current() / "store"))
    return {row["p"].value: int(row["k"].value) for row in store.query(
        "SELECT ?p ?k WHERE { ?p <https://w3id.org/tipgraph/ontology#sortKey> ?k }")}


def assert_same(incremental: dict[str, object], full: dict[str, object]) -> None:
    for name in full:
        if isinstance(full[name], Counter):
            assert incremental[name] - full[name] == Counter(), name
            assert full[name] - incremental[name] == Counter(), name
        assert incremental[name] == full[name], name


def test_an_incremental_build_publishes_what_a_full_build_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dumps, "SEGMENT_LINES", 200)  # many segments, most of them unchanged
    source = tmp_path / "catalogue.jsonl"
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    for out in (incremental, full):
        build(out, source, first_catalogue())
        assert (BuildDir(out).current() / STATE_FILE).is_file()
    first_uris = read_indexes(BuildDir(full).current() / INDEX_FILE).catalogue.uris
    first_keys = sort_keys(full)
    with monkeypatch.context() as patch:  # the OAI-PMH records of the entries kept copied
        patch.setattr(oai_records, "build_records", None)
        said = build(incremental, source, second_catalogue())
    assert any(line.startswith("incremental: from build") for line in said), said
    assert not any("cannot be updated" in line for line in said), said  # updated, not remade
    said = build(full, source, second_catalogue(), full=True)
    assert not any(line.startswith("incremental") for line in said), said
    got, expected = published(incremental), published(full)
    assert_same(got, expected)
    # the dumps' segments whose lines did not change were linked, not written again
    segments = list((BuildDir(incremental).current() / dumps.SEGMENTS).glob("*.nt.gz"))
    linked = [s for s in segments if s.stat().st_nlink > 1]
    assert len(segments) > 10 and 0 < len(linked) < len(segments)
    # what the changes did, seen from outside: a retired URI, a duplicate, a rejection, a
    # publication first in title order, a year and an organisation no longer counted
    uris, shown = expected["catalogue"][0], expected["catalogue"][4]
    moved = uris[[title for title, _, _ in shown].index("Aaaa: a title that comes first")]
    assert uris.index(moved) < first_uris.index(moved) - 20
    assert "1901" not in expected["catalogue"][2]["year"]
    assert not any("only-once" in key for key in expected["catalogue"][2]["organisation"])
    assert any(not live for _, live in expected["retired"])
    assert expected["report"]["records_duplicate"] == 1
    assert expected["report"]["records_rejected"] == 1
    # the sort keys (equal in both, with the triples) still list the publications in title
    # order, and only the publications added, removed or retitled changed theirs
    keys = sort_keys(incremental)
    assert sorted(keys, key=keys.__getitem__) == uris
    changed = {uri for uri in keys.keys() | first_keys.keys()
               if keys.get(uri) != first_keys.get(uri)}
    added = keys.keys() - first_keys.keys()
    removed = first_keys.keys() - keys.keys()
    assert len(added) == 5 and len(removed) == 5
    assert changed == added | removed | {moved}
    # and an incremental build of the same sources changes nothing
    said = build(incremental, source, second_catalogue())
    assert any("0 publications changed" in line for line in said), said
    again = published(incremental)
    for name in ("triples", "report", "uris", "retired", "oai records", "dataset counts",
                 "catalogue", "text rows", "labels", "tally"):
        assert again[name] == got[name], name


def test_full_and_incremental_agree_after_a_rollback(tmp_path: Path) -> None:
    source = tmp_path / "catalogue.jsonl"
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    for out in (incremental, full):
        build(out, source, first_catalogue())
        first = BuildDir(out).current_id()
        first_keys = sort_keys(out)
        build(out, source, second_catalogue())
        result = CliRunner().invoke(cli, ["builds", "--build", str(out), "use", first,
                                          "--allow-shrink"])
        assert result.exit_code == 0, result.output
        assert BuildDir(out).current_id() == first
    said = build(incremental, source, third_catalogue())
    assert any(line.startswith("incremental: from build") for line in said), said
    build(full, source, third_catalogue(), full=True)
    assert_same(published(incremental), published(full))
    # the keys are those of the build in service (the first, used again), not of the
    # second, where a title had moved: only the publication removed lost its key
    keys = sort_keys(incremental)
    assert keys.items() <= first_keys.items() and len(keys) == len(first_keys) - 1


@pytest.mark.parametrize("compact", [False, True])
def test_the_state_an_incremental_build_keeps_is_a_full_builds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compact: bool) -> None:
    """An incremental build appends what changed to a copy of the state in service (or,
    once the changes appended are many, writes it whole): read back, it is what a full
    build of the same sources keeps, build after build."""
    # the changes are many for 120 records (a removal moves the lines below): appended
    # however many, or the state written whole however few
    monkeypatch.setattr(incremental, "COMPACT_AFTER", 0 if compact else 100)
    source = tmp_path / "catalogue.jsonl"
    incremental_out, full = tmp_path / "incremental", tmp_path / "full"
    for out in (incremental_out, full):  # the same slugs published before
        build(out, source, first_catalogue())
    for records in (second_catalogue(), third_catalogue()):
        said = build(incremental_out, source, records)
        assert any(line.startswith("incremental: from build") for line in said), said
        build(full, source, records, full=True)
        got = read_state(BuildDir(incremental_out).current())
        expected = read_state(BuildDir(full).current())
        assert got is not None and expected is not None
        assert (got.fingerprint, got.records, got.built) == \
            (expected.fingerprint, expected.records, expected.built)
        assert (got.appended == 0) == compact
    if not compact:  # and written whole after MAX_CHANGES builds appended theirs
        for n in range(incremental.MAX_CHANGES - 1):
            build(incremental_out, source, first_catalogue() if n % 2 else third_catalogue())
        state = read_state(BuildDir(incremental_out).current())
        assert state is not None and state.changes == 0


@pytest.mark.parametrize("what", ["cut short", "not a state", "an older format"])
def test_a_damaged_or_older_state_gives_a_full_build(tmp_path: Path, what: str) -> None:
    source = tmp_path / "catalogue.jsonl"
    out = tmp_path / "build"
    build(out, source, first_catalogue())
    state = BuildDir(out).current() / STATE_FILE
    if what == "cut short":
        state.write_bytes(state.read_bytes()[:len(state.read_bytes()) // 2])
    elif what == "not a state":
        state.write_bytes(b"SQLite format 3\x00" + bytes(100))
    else:  # format 2: the parts untagged
        import pickle
        with state.open("wb") as file:
            pickle.dump(("tipgraph incremental 2", "a fingerprint"), file)
            pickle.dump(([], []), file)
    assert read_state(state.parent) is None
    said = build(out, source, second_catalogue())
    assert not any(line.startswith("incremental") for line in said), said
    assert read_state(BuildDir(out).current()) is not None


@pytest.mark.parametrize("what", ["no state", "another base"])
def test_a_build_without_a_state_to_start_from_is_a_full_one(tmp_path: Path, what: str
                                                             ) -> None:
    source = tmp_path / "catalogue.jsonl"
    out = tmp_path / "build"
    build(out, source, first_catalogue())
    if what == "no state":
        (BuildDir(out).current() / STATE_FILE).unlink()
        said = build(out, source, second_catalogue())
    else:
        write_catalogue(second_catalogue(), source)
        said = []
        run_build([source], out, base="https://example.org/other/", progress=said.append,
                  allow_shrink=True)
    assert not any(line.startswith("incremental") for line in said), said
    assert (BuildDir(out).current() / STATE_FILE).is_file()


def test_a_full_build_whose_state_cannot_be_kept_is_published(tmp_path: Path,
                                                              monkeypatch) -> None:
    """The state is written as the full build goes: when that fails, the build is still
    published, without it, and the next build is a full one."""
    source = tmp_path / "catalogue.jsonl"
    out = tmp_path / "build"

    def no_room(self, value) -> None:
        raise OSError(28, "No space left on device (the state only)")

    with monkeypatch.context() as patch:
        patch.setattr(StateWriter, "_dump", no_room)
        said = build(out, source, first_catalogue())
    assert any("was not kept" in line for line in said), said
    current = BuildDir(out).current()
    assert not (current / STATE_FILE).exists()
    assert not [p for p in current.iterdir() if STATE_FILE in p.name]  # no partial file
    said = build(out, source, second_catalogue())
    assert not any(line.startswith("incremental") for line in said), said
    assert (BuildDir(out).current() / STATE_FILE).is_file()


def raw_lines(records: list[dict[str, object]]) -> list[str]:
    """JSON Lines as a curator's file may hold them: a line that is not JSON, a blank line,
    an unknown field, a value that is not text, a link to percent-encode, a record without
    a title; what reading them says is the report's, build after build."""
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    lines[2] = lines[2][:-1] + ', "shelf": "B2"}'  # an unknown field
    lines[4] = lines[4][:-1] + ', "year": {"y": 1}}'  # not text
    lines[6] = lines[6][:-1] + ', "source_url": "https://example.org/a b"}'  # a repair
    return [*lines, "{not json", "", json.dumps({"title": "", "year": 2001})]


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_only_the_lines_that_changed_are_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line of JSON Lines read by the build in service is neither parsed nor checked
    again: what it gave then (its record, its problems) is taken. A line whose text
    changes but not its record, lines added and removed, the files given in another
    order: the build is the full build's, and so is the state it keeps."""
    from tipgraph.sources import curated

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    lines = raw_lines(synthesize(40, seed=7))
    others = [json.dumps(r, ensure_ascii=False) for r in synthesize(10, seed=8)]
    incremental_out, full = tmp_path / "incremental", tmp_path / "full"
    write_lines(first, lines)
    write_lines(second, others)
    for out in (incremental_out, full):
        run_build([first, second], out, base=BASE)
    parsed: list[int] = []
    parse = curated.jsonl_line

    def counted(line: str, number: int, *args: object) -> object:
        if line.strip():  # a blank line is no record, read or not
            parsed.append(number)
        return parse(line, number, *args)

    monkeypatch.setattr("tipgraph.sources.jsonl_line", counted)
    changed = json.loads(lines[10])
    changed["year"] = 1999
    lines[10] = json.dumps(changed)  # a corrected year
    lines[11] = json.dumps(json.loads(lines[11]), sort_keys=True, indent=None,
                           separators=(" ,", " : "))  # written otherwise, the same record
    del lines[30]  # removed: the lines below it move up one
    lines.insert(35, json.dumps(synthesize(1, seed=9)[0]))  # added
    write_lines(first, lines)
    said: list[str] = []
    run_build([second, first], incremental_out, base=BASE, progress=said.append)
    assert any(line.startswith("incremental: from build") for line in said), said
    # the lines read again: the two changed, and those below the one removed up to the
    # one added (their place changed); not one of the second file's
    assert sorted(parsed) == [11, 12, *range(31, 37)], parsed
    run_build([second, first], full, base=BASE, full=True)
    got, expected = published(incremental_out), published(full)
    assert_same(got, expected)
    report = expected["report"]
    assert report["records_rejected"] == 2
    assert any("shelf" in w["why"] for w in report["warnings"])
    assert any("percent-encoded" in r["why"] for r in report["repairs"])
    state, full_state = (read_state(BuildDir(out).current()) for out in (incremental_out, full))
    assert state is not None and full_state is not None
    assert (state.records, state.built, state.lines) == \
        (full_state.records, full_state.built, full_state.lines)
    assert len(state.lines) == len(lines) + len(others) - 1  # every line but the blank one


def test_a_state_that_lost_a_record_it_read_gives_a_full_build(tmp_path: Path) -> None:
    """Were the state to say a line was read and kept but hold no record for it, the
    build is a full one, never one without that record."""
    import pickle

    source = tmp_path / "catalogue.jsonl"
    out = tmp_path / "build"
    build(out, source, first_catalogue())
    path = BuildDir(out).current() / STATE_FILE
    state = read_state(path.parent)
    assert state is not None
    lost = next(key for key in state.records if key[1] == 7)
    with path.open("ab") as file:  # appended as an incremental build appends its changes
        pickle.dump(("changes", [lost], [], state.built, [], {}), file)
    said = build(out, source, first_catalogue())
    assert any("not whole" in line and "a full build" in line for line in said), said
    assert not any("publications changed" in line for line in said), said
    assert len(read_state(BuildDir(out).current()).records) == len(first_catalogue())
    assert BuildDir(out).current_id() is not None


def test_a_change_to_most_records_gives_a_full_build(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The first record removed: every record below has a new line (a new
    ``tip:sourceLine``), so each is remade; past ``REMAKE_AT_MOST`` that is a full build,
    and it publishes what ``--full`` does."""
    monkeypatch.setattr(incremental, "REMAKE_AT_MOST", (5, 0.1))
    source = tmp_path / "catalogue.jsonl"
    records = first_catalogue()
    del records[0]
    outs = tmp_path / "default", tmp_path / "full"
    for out in outs:
        build(out, source, first_catalogue())
    said = build(outs[0], source, records)
    assert any("records are new or changed" in line and "a full build" in line
               for line in said), said
    assert not any("publications changed" in line for line in said), said
    build(outs[1], source, records, full=True)
    assert_same(published(outs[0]), published(outs[1]))


def test_a_switch_records_only_what_changed(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A switch from the build the ledger and the datestamps last recorded reads and
    writes only the URIs, slugs and OAI-PMH records that differ from that build's
    (compared line by line); they then say what a switch reading every one says."""
    from tipgraph import build_dir, datestamps

    source = tmp_path / "catalogue.jsonl"
    told, whole = tmp_path / "told", tmp_path / "whole"
    recorded = {"told": 0, "stamped": 0}
    record_change, record_switch = Ledger.record_change, datestamps.Datestamps.record_switch

    def counted(self: Ledger, *args: object, **kwargs: object) -> object:
        switch = record_change(self, *args, **kwargs)  # type: ignore[arg-type]
        recorded["told"] += switch is not None
        return switch

    def stamped(self: datestamps.Datestamps, *args: object, **kwargs: object) -> object:
        state = record_switch(self, *args, **kwargs)  # type: ignore[arg-type]
        recorded["stamped"] += state is not None and kwargs.get("since") is not None
        return state

    def snapshot(out: Path) -> tuple[object, ...]:
        with sqlite3.connect(out / "oai.sqlite") as db:
            last = db.execute("SELECT switched_at FROM applied").fetchone()[0]
            oai = sorted((uri, digest, deleted, sets, stamp == last) for uri, digest, stamp,
                         deleted, sets in db.execute("SELECT * FROM records"))
        with sqlite3.connect(out / "ledger.sqlite") as db:
            slugs = sorted(db.execute("SELECT identity, slug FROM slugs"))
        return oai, slugs, sorted((r.uri, r.retired is None) for r in Ledger(out).uris())

    seen: dict[Path, list[tuple[object, ...]]] = {told: [], whole: []}
    for out in (told, whole):
        with monkeypatch.context() as patch:
            if out == whole:  # every URI, slug and record read
                patch.setattr(build_dir.BuildDir, "_record_change", lambda *_: None)
                patch.setattr(datestamps, "changed_records", lambda *_: None)
            else:
                patch.setattr(Ledger, "record_change", counted)
                patch.setattr(datestamps.Datestamps, "record_switch", stamped)
            build(out, source, first_catalogue())
            first = BuildDir(out).current_id()
            seen[out].append(snapshot(out))
            build(out, source, second_catalogue())
            seen[out].append(snapshot(out))
            result = CliRunner().invoke(cli, ["builds", "--build", str(out), "use", first,
                                              "--allow-shrink"])
            assert result.exit_code == 0, result.output
            seen[out].append(snapshot(out))
            build(out, source, third_catalogue(), full=True)
            seen[out].append(snapshot(out))
    assert recorded == {"told": 3, "stamped": 3}  # each switch but the first
    assert seen[told] == seen[whole]
    oai, _, retired = seen[told][1]
    assert any(not live for _, live in retired)  # a URI retired
    assert any(deleted for _, _, deleted, _, _ in oai)  # a record deleted
