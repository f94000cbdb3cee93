"""A clean stop: Ctrl-C or SIGTERM after SPARQL queries, and workers recycled on the way.

``tipgraph serve`` runs in its own session, as from a terminal; Ctrl-C is SIGINT to the
whole process group (gunicorn's master, its workers and their query processes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from tipgraph.testing import fetch, free_port, health

pytestmark = pytest.mark.slow


def _ask(base: str) -> int:
    body = urllib.parse.urlencode({"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 5"}).encode()
    return fetch(base + "/sparql", method="POST", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/sparql-results+json"})[0]


def _serve_then_stop(build_dir: Path, stop: signal.Signals, *, recycle: bool) -> tuple[int, str]:
    """Serve, answer queries (recycling the workers with SIGHUP between them when asked),
    send ``stop``; the exit status and everything the server printed."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPGRAPH_")}
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tipgraph", "serve", "--build", str(build_dir),
             "--port", str(port), "--workers", "2"], stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True)
        try:
            while health(base) is None:
                assert server.poll() is None, "tipgraph serve ended before it answered"
                time.sleep(0.2)
            assert [_ask(base) for _ in range(4)] == [200] * 4
            if recycle:  # new workers take over; the old ones finish and leave
                os.kill(server.pid, signal.SIGHUP)
                while _booted(log) < 4:
                    assert server.poll() is None
                    time.sleep(0.2)
                assert [_ask(base) for _ in range(4)] == [200] * 4
            if stop == signal.SIGINT:
                os.killpg(server.pid, signal.SIGINT)  # Ctrl-C in the terminal
            else:
                server.send_signal(stop)
            status = server.wait(timeout=120)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.seek(0)
        return status, log.read().decode(errors="replace")


def _booted(log) -> int:
    log.seek(0)
    return log.read().count(b"Booting worker")


@pytest.mark.parametrize(("stop", "recycle"), [(signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["ctrl-c-after-recycling", "sigterm"])
def test_the_server_stops_cleanly(seed_build_dir: Path, stop: signal.Signals,
                                  recycle: bool) -> None:
    status, printed = _serve_then_stop(seed_build_dir, stop, recycle=recycle)
    assert status == 0, printed
    assert "Traceback" not in printed and "KeyboardInterrupt" not in printed, printed
    assert "was sent SIG" not in printed, printed  # gunicorn: a worker killed by a signal
    assert printed.count("Worker exiting") == (4 if recycle else 2), printed
    assert "Shutting down: Master" in printed
