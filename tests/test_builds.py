"""One build at a time and no debris: the lock, killed builds, a full disk, the marker;
and the ledger a rollback cannot break."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tipgraph import dumps
from tipgraph.build import run_build
from tipgraph.build_dir import MARKER, PARTIAL, BuildDir
from tipgraph.errors import BuildFailed
from tipgraph.ledger import Ledger
from tipgraph.synth import synthesize, write_catalogue

ENV = {k: v for k, v in os.environ.items() if not k.startswith("TIPGRAPH_")}


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "tipgraph.cli", *map(str, args)]


def tipgraph(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=600, env=ENV)


def catalogue(path: Path, count: int, seed: int = 1) -> Path:
    write_catalogue(synthesize(count, seed=seed), path)
    return path


def build_id(summary: str) -> str:
    """The build id at the end of ``tipgraph build``'s summary line."""
    return summary.strip().rsplit("(", 1)[1].rstrip(")")


def wait_for_line(process: subprocess.Popen[str], words: str) -> str:
    """Read ``process``'s stderr up to the line holding ``words``."""
    assert process.stderr is not None
    for line in process.stderr:
        if words in line:
            return line
    raise AssertionError(f"the process ended without saying {words!r}")


def test_builds_wait_for_the_lock_and_the_last_to_take_it_is_current(tmp_path: Path) -> None:
    out = tmp_path / "build"
    first = catalogue(tmp_path / "first.jsonl", 20, seed=1)
    second = tmp_path / "second.jsonl"
    shutil.copy(first, second)
    builds = BuildDir(out)
    with builds.locked("the test"):
        waiting = [subprocess.Popen(command("build", "--quiet", "--source", source,
                                            "--out", out),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=ENV) for source in (first, second)]
        for process in waiting:
            assert "the test" in wait_for_line(process, "waiting for")
        refused = tipgraph("build", "--quiet", "--no-wait", "--source", first, "--out", out)
        assert refused.returncode != 0
        assert "in use by the test" in refused.stderr
        # read once the lock is taken: the sources as they are then
        more = catalogue(tmp_path / "more.jsonl", 10, seed=2).read_text(encoding="utf-8")
        second.write_text(first.read_text(encoding="utf-8") + more, encoding="utf-8")
    finished = [process.communicate(timeout=600) for process in waiting]
    assert [p.returncode for p in waiting] == [0, 0], finished
    ids = [build_id(stdout) for stdout, _ in finished]
    assert builds.current_id() == max(ids)  # ids are taken with the lock
    assert {b.id: b.status for b in builds.list()} == dict.fromkeys(ids, "published")
    assert sorted(b.publications for b in builds.list()) == [20, 30]


def test_killed_builds_are_cleaned_by_the_next_build_and_by_prune(tmp_path: Path) -> None:
    out = tmp_path / "build"
    source = catalogue(tmp_path / "catalogue.jsonl", 600)
    assert tipgraph("build", "--quiet", "--source", source, "--out", out).returncode == 0
    builds = BuildDir(out)
    current = builds.current_id()
    foreign = builds.builds / "not-ours"  # e.g. something else's files: never deleted
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine", encoding="utf-8")
    (out / "lib").mkdir()  # setuptools' build/lib

    def killed_build() -> str:
        process = subprocess.Popen(command("build", "--source", source, "--out", out),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True, env=ENV, start_new_session=True)
        wait_for_line(process, "statistics ...")  # its indexes process is forked by now
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        partial = [b for b in builds.list() if b.status == "partial"]
        assert len(partial) == 1 and (partial[0].path / PARTIAL).exists()
        return partial[0].id

    debris = killed_build()
    assert builds.current_id() == current
    result = tipgraph("build", "--quiet", "--no-wait", "--source", source, "--out", out)
    assert result.returncode == 0, result.stderr  # the killed build's lock went with it
    assert debris not in {b.id for b in builds.list()}

    debris = killed_build()
    result = tipgraph("builds", "--build", out, "prune", "--keep", "0")
    assert result.returncode == 0, result.stderr
    assert debris in result.stdout
    assert [b.status for b in builds.list()] == ["published", "published"]
    assert (foreign / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert (out / "lib").is_dir()
    assert not list(out.glob(".current.*"))


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 24 MiB tmpfs, unmounted at the end."""
    mount = shutil.which("mount")
    point = tmp_path / "disk"
    point.mkdir()
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run([mount, "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this machine does not let us mount a tmpfs: {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=False)


def test_a_full_disk_fails_in_one_sentence_and_the_next_build_succeeds(
        tmp_path: Path, small_disk: Path) -> None:
    out = small_disk / "build"
    source = catalogue(tmp_path / "catalogue.jsonl", 60)
    assert tipgraph("build", "--quiet", "--source", source, "--out", out).returncode == 0
    builds = BuildDir(out)
    current = builds.current_id()
    filler = small_disk / "filler"
    with filler.open("wb") as fill:  # everything but 256 KiB: too little for a build
        free = shutil.disk_usage(small_disk).free
        fill.write(b"\0" * (free - (256 << 10)))
    bigger = catalogue(tmp_path / "bigger.jsonl", 80)
    result = tipgraph("build", "--quiet", "--source", bigger, "--out", out)
    assert result.returncode != 0
    message = result.stderr.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    assert "disk" in message and "full" in message
    assert builds.current_id() == current
    assert [b.id for b in builds.list()] == [current]  # the partial build removed

    filler.unlink()
    result = tipgraph("build", "--quiet", "--source", bigger, "--out", out)
    assert result.returncode == 0, result.stderr
    assert builds.current_id() != current
    assert BuildDir(out).list()[-1].publications == 80


def test_a_dump_writer_that_finds_the_disk_full_fails_the_build_in_one_sentence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the dumps are written by processes of their own: their full disk is the build's
    out = tmp_path / "build"
    source = catalogue(tmp_path / "catalogue.jsonl", 40)
    run_build([source], out)
    builds = BuildDir(out)
    current = builds.current_id()

    def no_space(data: bytes) -> bytes:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dumps, "_gzip", no_space)  # the writers are forked: they see it
    with pytest.raises(BuildFailed, match=r"disk .* is full") as failed:
        run_build([catalogue(tmp_path / "bigger.jsonl", 50)], out, full=True)
    assert "previous build is still current" in str(failed.value)
    assert builds.current_id() == current
    assert [b.id for b in builds.list()] == [current]  # the partial build removed


def test_a_rolled_back_build_never_mints_a_slug_again(tmp_path: Path) -> None:
    """Slugs by identity live in the ledger: after `builds use` of an older build, a record
    seen only by the later build keeps its slug, and a newcomer with its title does not
    take it."""
    out = tmp_path / "build"
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"id": "a", "title": "Debt bondage", "year": 2020}) + "\n",
                   encoding="utf-8")
    two = tmp_path / "two.jsonl"
    two.write_text(one.read_text(encoding="utf-8") + json.dumps(
        {"id": "b", "title": "Forced labour", "year": 2021}) + "\n", encoding="utf-8")
    for source in (one, two):
        assert tipgraph("build", "--quiet", "--source", source, "--out", out).returncode == 0
    builds = BuildDir(out)
    first, second = (b.id for b in builds.list())
    slugs = Ledger(out).slugs()
    assert tipgraph("builds", "--build", out, "use", first).returncode == 0
    assert builds.current_id() == first
    gone = Ledger(out).uri("https://w3id.org/tipgraph/publication/forced-labour")
    assert gone is not None and gone.retired is not None
    kept = Ledger(out).uri("https://w3id.org/tipgraph/publication/debt-bondage")
    assert kept is not None and kept.retired is None

    three = tmp_path / "three.jsonl"  # a newcomer with the retired record's title
    three.write_text(one.read_text(encoding="utf-8") + json.dumps(
        {"id": "c", "title": "Forced labour", "year": 2022}) + "\n", encoding="utf-8")
    assert tipgraph("build", "--quiet", "--source", three, "--out", out).returncode == 0
    ledger = Ledger(out)
    assert {k: v for k, v in ledger.slugs().items() if k in slugs} == slugs
    assert len(set(ledger.slugs().values())) == len(ledger.slugs())  # no slug given twice
    times = [s.switched_at for s in ledger.switches()]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert [s.how for s in ledger.switches()] == ["build", "build", "use", "build"]
    assert (builds.builds / second / MARKER).is_file()
