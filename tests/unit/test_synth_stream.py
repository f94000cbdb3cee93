"""``tipgraph synth`` streams: a record is written as it is made, so a million need the
memory of one."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tipgraph.cli import cli
from tipgraph.synth import generate, synthesize


def test_records_come_one_at_a_time() -> None:
    # a trillion records could never be made first and handed over after
    first = next(generate(10**12, seed=4))
    assert first == synthesize(1, seed=4)[0]


def test_the_command_writes_the_records_synthesize_makes(tmp_path: Path) -> None:
    out = tmp_path / "catalogue.jsonl"
    result = CliRunner().invoke(cli, ["synth", "--publications", "50", "--seed", "3",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written == synthesize(50, seed=3)
