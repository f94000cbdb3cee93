"""Datestamps move only when a record's content changes, and never go back."""

from __future__ import annotations

from pathlib import Path

from tipgraph.datestamps import BuildRecords, Datestamps, State, served_state
from tipgraph.serving.oai import repository_from

BASE = "https://example.org/"


def _records(**hashes: str) -> BuildRecords:
    return BuildRecords({f"{BASE}publication/{slug}": (digest, ("country:ng",))
                         for slug, digest in hashes.items()}, {"country:ng": "Nigeria"})


def _stamps(state: State) -> dict[str, tuple[int, bool]]:
    return {uri.rsplit("/", 1)[-1]: (s.datestamp, s.deleted) for uri, s in state.stamps.items()}


def test_only_changed_records_move(tmp_path: Path) -> None:
    stamps = Datestamps(tmp_path)
    stamps.record_switch("a", _records(one="1", two="2", three="3"), at=100)
    state = stamps.record_switch("b", _records(one="1", two="changed", four="4"), at=200)
    assert _stamps(state) == {"one": (100, False), "two": (200, False),
                              "three": (200, True), "four": (200, False)}
    assert _stamps(Datestamps(tmp_path).state()) == _stamps(state)  # as written


def test_a_rollback_never_moves_a_datestamp_back(tmp_path: Path) -> None:
    stamps = Datestamps(tmp_path)
    first = _records(one="1", two="2")
    stamps.record_switch("a", first, at=100)
    stamps.record_switch("b", _records(one="1", two="changed"), at=200)
    # back to build a, even with a clock that went back: its record two changed again
    state = stamps.record_switch("a", first, at=150)
    assert _stamps(state) == {"one": (100, False), "two": (201, False)}
    state = stamps.record_switch("a2", first, at=300)
    assert _stamps(state)["two"] == (201, False)  # same content: no change


def test_deleted_is_persistent_and_a_return_is_a_change(tmp_path: Path) -> None:
    stamps = Datestamps(tmp_path)
    stamps.record_switch("a", _records(one="1", two="2"), at=100)
    stamps.record_switch("b", _records(one="1"), at=200)
    state = stamps.record_switch("c", _records(one="1"), at=300)
    assert _stamps(state)["two"] == (200, True)
    state = stamps.record_switch("d", _records(one="1", two="2"), at=400)
    assert _stamps(state)["two"] == (400, False)


def test_a_switch_not_yet_written_is_served_as_it_will_be(tmp_path: Path) -> None:
    stamps = Datestamps(tmp_path)
    stamps.record_switch("a", _records(one="1", two="2"), at=100)
    served = served_state(stamps.state(), "b", _records(one="1", three="3"), 200)
    written = stamps.record_switch("b", _records(one="1", three="3"), at=200)
    assert _stamps(served) == _stamps(written)
    repository = repository_from(written, _records(one="1", three="3"),
                                 repository_id="example.org", base=BASE, build_id="b")
    assert [(e.identifier, e.deleted) for e in repository.select(start=200, count=10).entries] \
        == [("oai:example.org:three", False), ("oai:example.org:two", True)]
    assert repository.select(set_spec="country", start=200, count=10).remaining == 2
    assert repository.earliest == 100
