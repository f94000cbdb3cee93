"""Real servers for the integration tests: ``tipgraph serve`` (gunicorn) on 127.0.0.1.

``live_server`` serves the seed build for the whole session; ``start_server``
starts another one (its own build directory or settings) for a module.
Every server listens on a free loopback port and is stopped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from http.client import HTTPConnection
from pathlib import Path

import pytest

STARTUP_LIMIT = 90.0  # seconds a server may take to answer /health before the fixture gives up


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _health(base: str) -> dict | None:
    try:
        with urllib.request.urlopen(base + "/health", timeout=5) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def start_server(build_dir: Path, settings: Mapping[str, object] | None = None, *,
                 workers: int = 2, port: int | None = None) -> Iterator[str]:
    """Run ``tipgraph serve`` on ``build_dir`` until the block ends; yields its base URL.

    :param port: the port to listen on (a free one when None; given, to restart a server)
    """
    port = port or free_port()
    command = [sys.executable, "-m", "tipgraph.cli", "serve", "--build", str(build_dir),
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    for name, value in (settings or {}).items():
        command += ["--setting", name, str(value)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPGRAPH_")}
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=build_dir, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + STARTUP_LIMIT
            while _health(base) is None:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"tipgraph serve did not start:\n{log.read().decode()[-3000:]}")
                time.sleep(0.2)
            yield base
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)  # its own session: only what it started
                server.wait()


@pytest.fixture(scope="session")
def live_server(seed_build_dir: Path) -> Iterator[str]:
    """``tipgraph serve`` over the seed build; yields ``"http://127.0.0.1:PORT"``."""
    with start_server(seed_build_dir) as base:
        yield base


@pytest.fixture(scope="session")
def live_health(live_server: str) -> dict:
    """What ``/health`` of the live server says: its build id and triple count."""
    health = _health(live_server)
    assert health is not None
    return health


@pytest.fixture(scope="session")
def http():
    """:func:`fetch`: one HTTP request, returning status, headers and body (errors too)."""
    return fetch


@pytest.fixture(scope="session", name="start_server")
def start_server_fixture():
    """:func:`start_server`, for a module that needs a server of its own."""
    return start_server


def fetch(url: str, *, method: str = "GET", data: bytes | None = None,
          headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request, sent as given (no headers added); returns status, headers, body.

    Header names come back lower-case; error statuses are returned, not raised.
    """
    parts = urllib.parse.urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=data, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, \
            response.read()
    finally:
        connection.close()
