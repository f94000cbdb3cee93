"""The ledger: URIs retired and published again, slugs kept, switch times never back."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from tipgraph import ledger
from tipgraph.ledger import Ledger, changed_lines

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_a_switch_retires_and_restores_uris(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    assert ledger.switches() == [] and not ledger.ever_published("urn:a")
    ledger.record_switch("b1", ["urn:a", "urn:b#x"], {"id-a": "a"}, now=T0)
    ledger.record_switch("b2", ["urn:a"], {"id-a": "other"}, now=T0 + timedelta(hours=1))
    assert ledger.uri("urn:b#x").retired == T0 + timedelta(hours=1)
    assert ledger.ever_published("urn:b", fragments=True)
    assert not ledger.ever_published("urn:b")
    ledger.record_switch("b1", ["urn:a", "urn:b#x"], {}, how="use", now=T0 + timedelta(hours=2))
    restored = ledger.uri("urn:b#x")
    assert restored.retired is None and restored.first_published == T0
    assert ledger.slugs() == {"id-a": "a"}  # the first slug of an identity stays


def test_switch_times_never_go_back(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    first = ledger.record_switch("b1", [], {}, now=T0)
    earlier = ledger.record_switch("b2", [], {}, now=T0 - timedelta(days=1))  # clock set back
    same = ledger.record_switch("b3", [], {}, now=T0)
    assert first.switched_at < earlier.switched_at < same.switched_at
    assert [s.switched_at for s in ledger.switches()] == \
        [first.switched_at, earlier.switched_at, same.switched_at]
    assert ledger.last_switch().build_id == "b3"
    assert [u.uri for u in ledger.uris(since=T0)] == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([f"line{i}" for i in range(30)]), unique=True),
       st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["", "new", "x"])), max_size=4),
       st.booleans(), st.booleans())
def test_changed_lines_are_those_one_file_lacks(before: list[str],
                                                edits: list[tuple[int, str]],
                                                end_before: bool, end_after: bool) -> None:
    """Two files of distinct lines compared only where they differ (their common beginning
    and end skipped) give the lines a set of each file's lines gives."""
    after = list(before)
    for at, what in edits:  # a line taken out, put in, or changed
        if what == "" and after:
            del after[at % len(after)]
        elif what == "new":
            after.insert(at % (len(after) + 1), f"new{at}")
        elif after:
            after[at % len(after)] = f"changed{at}"
    if len(set(after)) != len(after):
        return
    with tempfile.TemporaryDirectory() as directory:
        old, new = Path(directory) / "old", Path(directory) / "new"
        old.write_text("\n".join(before) + "\n" * end_before, encoding="utf-8")
        new.write_text("\n".join(after) + "\n" * end_after, encoding="utf-8")
        with patch.object(ledger, "_BLOCK", 4):  # many blocks alike, and one part of one
            found = changed_lines(old, new)
    assert found is not None
    gone, came = ({line.decode() for line in lines if line} for lines in found)
    assert (gone, came) == (set(before) - set(after), set(after) - set(before))
