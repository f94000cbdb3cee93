"""The ledger: URIs retired and published again, slugs kept, switch times never back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tipgraph.ledger import Ledger

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
