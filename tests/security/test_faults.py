"""Faults: a build killed at any stage, a missing or corrupt store, a server restarted.

Each scenario runs real processes (``tipgraph build``, ``tipgraph serve``) on a
copy of the seed build and stops by itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest

#: the stages of a full build (--full), and of an incremental one (the seed build kept its state)
STAGES = {"--full": ("read", "publications", "statistics", "write", "indexes", "load",
                     "validate", "dumps"),
          "": ("read", "reconcile", "map", "reason", "statistics", "write", "indexes", "load",
               "validate", "dumps")}
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
ENV = {k: v for k, v in os.environ.items() if not k.startswith("TIPGRAPH_")}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count(http, base: str) -> tuple[int, str]:
    status, headers, body = http(f"{base}/sparql?{urlencode({'query': COUNT})}",
                                 headers={"Accept": "application/sparql-results+json"})
    assert status == 200
    return int(json.loads(body)["results"]["bindings"][0]["n"]["value"]), \
        headers["x-tipgraph-build"]


@pytest.fixture
def build_copy(seed_build_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "build"
    shutil.copytree(seed_build_dir, copy, symlinks=True)
    return copy


def _kill_build_at(out: Path, stage: str, *options: str) -> None:
    """Run ``tipgraph build`` and SIGKILL it as soon as it says ``stage ...``."""
    build = subprocess.Popen([sys.executable, "-m", "tipgraph.cli", "build", *options,
                              "--out", str(out)],
                             cwd=out, env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in build.stderr:
            seen.append(line)
            if line.startswith(f"{stage} ..."):
                build.send_signal(signal.SIGKILL)
                break
    finally:
        build.kill()
        build.wait()
        build.stderr.close()
    assert any(s.startswith(f"{stage} ...") for s in seen), seen


def test_build_killed_at_each_stage_leaves_the_previous_build(build_copy, start_server,
                                                              http) -> None:
    old = (build_copy / "current").resolve()
    files = {name: _digest(old / name) for name in ("report.json", "tipgraph.ttl",
                                                    "tipgraph.nt", "tipgraph.jsonld")}
    with start_server(build_copy, workers=1) as base:
        before = _count(http, base)
        for option, stages in STAGES.items():
            for stage in stages:
                _kill_build_at(build_copy, stage, *filter(None, [option]))
                assert (build_copy / "current").resolve() == old, stage
                assert {n: _digest(old / n) for n in files} == files, stage
                assert _count(http, base) == before, stage
                assert http(f"{base}/place/ng", headers={"Accept": "text/turtle"})[0] == 303
        # the half-written builds do not stand in the way of the next one
        done = subprocess.run([sys.executable, "-m", "tipgraph.cli", "build", "--quiet",
                               "--out", str(build_copy)], cwd=build_copy, env=ENV,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        new = (build_copy / "current").resolve()
        assert new != old
        count, build_id = _count(http, base)
        assert (count, build_id) == (before[0], new.name)


@pytest.mark.parametrize("damage", ["missing", "corrupt", "empty"])
def test_bad_store_is_a_clear_message_at_start_up(build_copy, damage) -> None:
    store = (build_copy / "current" / "store")
    if damage == "missing":
        shutil.rmtree(store)
    elif damage == "corrupt":
        for part in store.iterdir():
            if part.is_file():
                part.write_bytes(os.urandom(2048))
    else:
        shutil.rmtree(store)
        store.mkdir()
    served = subprocess.run([sys.executable, "-m", "tipgraph.cli", "serve", "--build",
                             str(build_copy), "--host", "127.0.0.1", "--port", "9"],
                            cwd=build_copy, env=ENV, capture_output=True, text=True, timeout=120)
    assert served.returncode == 1
    assert served.stderr.startswith("Error: ")
    assert "store" in served.stderr and "tipgraph build" in served.stderr
    assert "Traceback" not in served.stderr


def test_server_restarted_under_load_comes_back(seed_build_dir, start_server, http) -> None:
    from urllib.parse import urlsplit

    stop = threading.Event()
    answers: list[tuple[str, int]] = []  # (phase, status; 0: no connection)
    phase = ["first"]

    def client(base: str) -> None:
        while not stop.is_set():
            started = phase[0]
            try:
                status = http(f"{base}/sparql?{urlencode({'query': 'ASK { ?s ?p ?o }'})}",
                              headers={"Accept": "application/sparql-results+json"})[0]
            except OSError:
                status = 0
            # a request in flight when the stop began belongs to the restart, whenever it began
            answers.append((started if phase[0] == started else "restarting", status))

    with start_server(seed_build_dir, workers=2) as base:
        port = urlsplit(base).port
        clients = [threading.Thread(target=client, args=(base,)) for _ in range(4)]
        for thread in clients:
            thread.start()
        while len(answers) < 50:
            threading.Event().wait(0.05)
        phase[0] = "restarting"
    with start_server(seed_build_dir, workers=2, port=port):
        phase[0] = "restarted"
        mark = len(answers)
        while len([a for a in answers[mark:] if a == ("restarted", 200)]) < 50:
            threading.Event().wait(0.05)
        stop.set()
        for thread in clients:
            thread.join(60)
    statuses = {status for _, status in answers}
    assert statuses <= {200, 0, 503}  # served, or no connection while down
    assert ("first", 200) in answers and ("restarted", 200) in answers
    assert not [a for a in answers if a[0] != "restarting" and a[1] != 200]
