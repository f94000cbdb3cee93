"""Progress: a terminal sees each long stage move; a pipe, a log or CI sees none of it."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from tipgraph import progress
from tipgraph.build import run_build
from tipgraph.progress import Display, Meter
from tipgraph.sources import SourceStream
from tipgraph.synth import synthesize, write_catalogue

#: What a drawn line looks like: carriage return, erase line, "<stage>...: ..."
DRAWN = re.compile(r"\r\x1b\[K(read|publications|statistics|load|validate)\b[^\r]*: ")


def build_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "tipgraph", "build", "--out", str(out)]


def environment() -> dict[str, str]:
    # every stage is drawn at once, however short it is on this machine
    return {**os.environ, "TIPGRAPH_PROGRESS_AFTER": "0"}


def test_a_terminal_sees_the_build_progress(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    with subprocess.Popen(build_command(tmp_path / "build"), stdin=subprocess.DEVNULL,
                          stdout=follower, stderr=follower, env=environment()) as build:
        os.close(follower)
        received = bytearray()
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the build closed the terminal
                break
            if not chunk:
                break
            received += chunk
        build.wait()
    os.close(leader)
    text = received.decode("utf-8", "replace")
    assert build.returncode == 0, text
    stages = {match.group(1) for match in DRAWN.finditer(text)}
    assert {"read", "publications", "load", "validate"} <= stages, text
    # each line is wiped before the stage's own "done" message
    assert re.search(r"\r\x1b\[Kpublications done in", text), text


def test_a_pipe_gets_no_progress(tmp_path: Path) -> None:
    build = subprocess.run(build_command(tmp_path / "build"), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, env=environment(), check=True)
    assert "publications done in" in build.stderr  # the messages a log keeps
    assert "\x1b[K" not in build.stderr + build.stdout
    assert not DRAWN.search(build.stderr)
    assert " left" not in build.stderr and "so far" not in build.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_json_lines_catalogue_shows_how_long_its_publications_have_left(
        tmp_path: Path, monkeypatch) -> None:
    # the longest stage of a big build: its records counted against the catalogue's lines
    catalogue = tmp_path / "catalogue.jsonl"
    write_catalogue(synthesize(1200, seed=3), catalogue)
    monkeypatch.setattr(progress, "INTERVAL", 0.001)  # drawn as often as it can be
    screen = _Terminal()
    run_build([catalogue], tmp_path / "build", display=Display(screen, show_after=0))
    drawn = [line for line in screen.getvalue().split("\r\x1b[K")
             if line.startswith("publications")]
    assert any(re.fullmatch(r"publications: [\d,]+ / 1,200 records, [\d,]+/s, \d+:\d\d left",
                            line) for line in drawn), drawn


def test_the_records_expected_are_the_json_lines_lines_or_unknown(tmp_path: Path) -> None:
    lines = tmp_path / "a.jsonl"
    lines.write_text('{"title": "One"}\n\n{"title": "Two"}', encoding="utf-8")
    other = tmp_path / "b.jsonl"
    other.write_text('{"title": "Three"}\n', encoding="utf-8")
    assert SourceStream([lines, other]).expected == 4  # a blank line is counted: about
    table = tmp_path / "c.csv"
    table.write_text("title\nFour\n", encoding="utf-8")
    assert SourceStream([lines, table]).expected is None
    broken = tmp_path / "d.jsonl"
    broken.write_bytes(b'{"title": "\xff"}\n{"title": "Five"}')  # not UTF-8: read whole
    assert SourceStream([broken]).expected == 2


def test_the_line_says_done_of_total_rate_and_time_left() -> None:
    meter = Meter(total=100, unit="records")
    meter.advance(25)
    meter.started -= 10  # 25 records in 10 s: 2.5 a second, 75 left take 30 s
    assert meter.line("reconcile", 10) == "reconcile: 25 / 100 records, 2/s, 0:30 left"
    meter.step("parsing", total=200_000_000, unit="bytes")
    meter.advance(50_000_000)
    meter.started -= 5
    assert meter.line("load", 12) == "load (parsing): 50 MB / 200 MB, 10 MB/s, 0:15 left"
    meter.step("writing")
    assert meter.line("load", 75) == "load (writing): 1:15 so far"


def test_a_stream_that_is_no_terminal_is_never_drawn_on() -> None:
    stream = io.StringIO()
    display = Display(stream, show_after=0)
    assert display.run("reason", Meter(total=10)) is None
    assert stream.getvalue() == ""
