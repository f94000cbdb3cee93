"""Real servers for the integration tests: ``tipgraph serve`` (gunicorn) on 127.0.0.1.

``live_server`` serves the seed build for the whole session; ``start_server``
starts another one (its own build directory or settings) for a module.
Every server listens on a free loopback port and is stopped at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tipgraph.testing import fetch, free_port, serving
from tipgraph.testing import health as server_health

__all__ = ["fetch", "free_port", "start_server"]

# One way to run servers, shared with the other test folders and the benchmarks.
start_server = serving


@pytest.fixture(scope="session")
def live_server(seed_build_dir: Path) -> Iterator[str]:
    """``tipgraph serve`` over the seed build; yields ``"http://127.0.0.1:PORT"``."""
    with start_server(seed_build_dir) as base:
        yield base


@pytest.fixture(scope="session")
def live_health(live_server: str) -> dict:
    """What ``/health`` of the live server says: its build id and triple count."""
    health = server_health(live_server)
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
