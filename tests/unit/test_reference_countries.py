"""A country the countries' table gains before regions.toml does: reported, not fatal."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

import tipgraph.build
from tipgraph.cli import cli
from tipgraph.reference import DATA_DIR, load_reference


def _data_with_new_country(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("sources", "*.py"))
    with (data / "countries.csv").open("a", encoding="utf-8") as table:
        table.write("QZ,99999999,Newland\n")
    return data


def test_a_country_in_no_region_is_reported_and_left_out(tmp_path: Path) -> None:
    reference = load_reference(_data_with_new_country(tmp_path))
    assert "QZ" not in reference.countries
    assert "XK" in reference.countries  # the others are all there
    assert [(p.file, p.field) for p in reference.problems] == [("countries.csv", "code")]
    assert "QZ (Newland) is in no region" in reference.problems[0].why


def test_the_build_goes_on_and_reports_it(tmp_path: Path, monkeypatch) -> None:
    data = _data_with_new_country(tmp_path)
    monkeypatch.setattr(tipgraph.build, "load_reference", lambda: load_reference(data))
    result = CliRunner().invoke(cli, ["build", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "countries.csv" in result.stderr and "QZ (Newland)" in result.stderr
    assert "10 records read, 10 built" in result.stdout
