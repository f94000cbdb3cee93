"""Errors a person understands: one sentence, a non-zero exit, nothing half-written.

Each case of issue 15's list, through the command line as a user types it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tipgraph.cli import cli
from tipgraph.testing import fetch, serving


@pytest.fixture(scope="module")
def server(seed_build_dir: Path) -> Iterator[str]:
    with serving(seed_build_dir, workers=1) as base:
        yield base


def _error(result: Result) -> str:
    """The one line the user reads, checked to be the only line of stderr."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_a_base_that_is_not_a_uri_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "b"
    result = CliRunner().invoke(cli, ["build", "--base", "not a uri", "--out", str(out)])
    assert result.exit_code == 1
    assert _error(result) == ("Error: base URI 'not a uri' is not an absolute http or https "
                              "URI ending in / (such as https://w3id.org/tipgraph/)")
    assert not out.exists()


def test_synth_into_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "catalogue.jsonl"
    result = CliRunner().invoke(cli, ["synth", "--publications", "3", "--out", str(target)])
    assert result.exit_code == 1
    assert _error(result) == (f"Error: cannot write {target}: folder {target.parent} "
                              "does not exist")
    assert not target.parent.exists()


def test_synth_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "catalogue.csv"
    result = CliRunner().invoke(cli, ["synth", "--publications", "3", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["catalogue.csv"]


def test_a_port_out_of_range(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--build", str(tmp_path), "--port", "99999"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "Error: Invalid value for '--port': 99999 is not in the range 1<=x<=65535."
    assert not any(tmp_path.iterdir())  # no build started


def test_a_port_in_use_is_named_before_anything_is_built(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--build", str(tmp_path / "b"),
                                          "--port", str(port)])
    assert result.exit_code == 1
    assert _error(result) == f"Error: port {port} is in use; choose another with --port"
    assert not (tmp_path / "b").exists()


def test_a_port_in_use_by_a_running_server(seed_build_dir: Path, server: str) -> None:
    """The case users meet: a second `tipgraph serve` on the port of the first."""
    port = server.rsplit(":", 1)[1]
    second = subprocess.run([sys.executable, "-m", "tipgraph", "serve", "--build",
                             str(seed_build_dir), "--port", port],
                            capture_output=True, text=True, timeout=120)
    assert fetch(server + "/health")[0] == 200  # the first goes on
    assert second.returncode == 1
    assert second.stderr.strip() == f"Error: port {port} is in use; choose another with --port"


def test_validate_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.ttl"
    empty.write_text("", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(empty)])
    assert result.exit_code == 1
    assert _error(result) == "Error: empty.ttl holds no triples: there is nothing to validate"


@pytest.mark.parametrize("name", ["tipgraph.nt", "tipgraph.jsonld"])
def test_validate_reads_the_format_its_extension_names(seed_build_dir: Path,
                                                       name: str) -> None:
    result = CliRunner().invoke(cli, ["validate", str(seed_build_dir / name)])
    assert result.exit_code == 0, result.output
    assert f"{name}: conforms (0 violations, " in result.output


def test_validate_names_the_line_of_a_turtle_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttl"
    lines = ["@prefix ex: <http://example.org/> .", "", "ex:a ex:b ex:c .",
             "# a comment", "ex:a ex:b ex:c ex:d .", "ex:e ex:f ex:g ."]
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(broken)])
    assert result.exit_code == 1
    message = _error(result)
    assert message.startswith("Error: broken.ttl is not valid Turtle: ")
    assert "line 5 " in message


def test_validate_names_the_line_of_an_ntriples_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.nt"
    broken.write_text("<http://e.org/a> <http://e.org/b> <http://e.org/c> .\n"
                      "<http://e.org/a> <http://e.org/b> .\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(broken)])
    assert result.exit_code == 1
    message = _error(result)
    assert message.startswith("Error: broken.nt is not valid N-Triples: ")
    assert "line 2 " in message


def test_an_update_is_refused_by_name(seed_build_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["query", "--build", str(seed_build_dir), "--query",
                                      "PREFIX ex: <http://e.org/> INSERT DATA { ex:a ex:b ex:c }"])
    assert result.exit_code == 1
    assert _error(result) == ("Error: updates are not accepted: only SELECT, CONSTRUCT, ASK "
                              "and DESCRIBE queries are run")


def test_406_says_an_ask(server: str) -> None:
    status, _, body = fetch(server + "/sparql?query=ASK%7B%3Fs%20%3Fp%20%3Fo%7D",
                            headers={"Accept": "text/turtle"})
    form_status, _, form_body = fetch(
        server + "/sparql", method="POST", data=b"format=json",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 406
    assert b"carry an ASK answer" in body
    assert form_status == 400
    assert b"the form has no query parameter" in form_body


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_example_of_serve_help_works_as_printed(server: str) -> None:
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    lines = help_text[help_text.index("curl "):].splitlines()
    command = lines[0].strip()
    while command.endswith("\\"):  # the example's continued lines
        lines.pop(0)
        command = command[:-1] + " " + lines[0].strip()
    assert "http://127.0.0.1:5000/sparql" in command
    command = command.replace("http://127.0.0.1:5000", server)
    answered = subprocess.run(["bash", "-c", command + " --silent --show-error --fail"],
                              capture_output=True, text=True, timeout=60)
    assert answered.returncode == 0, answered.stderr
    assert '"boolean": true' in answered.stdout


def test_python_m_runs_every_command() -> None:
    for module in ("tipgraph", "tipgraph.cli"):
        listed = subprocess.run([sys.executable, "-m", module, "query", "--list"],
                                capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0, listed.stderr
        assert "publications-per-year" in listed.stdout


def test_settings_says_where_the_file_is_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    absent = CliRunner().invoke(cli, ["settings"]).output.splitlines()[0]
    (tmp_path / "tipgraph.toml").write_text("query_timeout = 5\n", encoding="utf-8")
    present = CliRunner().invoke(cli, ["settings"]).output.splitlines()[0]
    where = str((tmp_path / "tipgraph.toml").resolve())
    assert where in absent and "none there" in absent
    assert where in present and "(found)" in present
