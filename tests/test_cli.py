"""The command line, through click's CliRunner: exit codes and what the user reads."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tipgraph.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def test_build_prints_summary_and_every_repair(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "10 records read, 10 built, 0 rejected" in result.stdout
    assert "repair    000_9daa3158183ee0eb.txt:142 [countries]: 'Bosnia' and 'Herzegovina'" \
        in result.stderr
    assert (tmp_path / "b" / "tipgraph.ttl").is_file()


def test_build_of_a_missing_source_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "--source", str(tmp_path / "nope.jsonl"),
                                      "--out", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "Error: source nope.jsonl does not exist"


def test_validate_accepts_the_build_and_rejects_a_broken_graph(tmp_path: Path,
                                                               seed_build_dir: Path) -> None:
    ok = CliRunner().invoke(cli, ["validate", str(seed_build_dir / "tipgraph.ttl")])
    assert ok.exit_code == 0, ok.output
    assert "tipgraph.ttl: conforms (0 violations, 3 warnings)" in ok.output
    broken = tmp_path / "broken.ttl"
    broken.write_text("""
        @prefix tip: <https://w3id.org/tipgraph/ontology#> .
        @prefix dct: <http://purl.org/dc/terms/> .
        <https://w3id.org/tipgraph/publication/x> a tip:Publication ;
            dct:issued "twenty"^^<http://www.w3.org/2001/XMLSchema#gYear> .
    """, encoding="utf-8")
    bad = CliRunner().invoke(cli, ["validate", str(broken)])
    assert bad.exit_code == 1
    assert "Violation: <https://w3id.org/tipgraph/publication/x> http://purl.org/dc/terms/title" \
        in bad.output
    assert "does not conform" in bad.output


def test_validate_reports_unparsable_turtle(tmp_path: Path) -> None:
    path = tmp_path / "x.ttl"
    path.write_text("<a> <b> .", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "x.ttl is not valid Turtle" in result.output
