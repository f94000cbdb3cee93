"""Headless Chromium (Debian's ``chromium``) against real servers on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Flags that keep Chromium off the network except for the page we give it.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--window-size=1280,1400")


def _integration_servers():
    """``tests/integration/conftest.py``, loaded by path: one way to start servers."""
    path = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("tipgraph_test_servers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


start_server = _integration_servers().start_server


class Browser:
    """Runs Chromium once per page: the DOM after scripts ran, or a screenshot."""

    def __init__(self, profile: Path, shots: Path) -> None:
        self.profile, self.shots = profile, shots

    def _run(self, *args: str) -> str:
        assert CHROMIUM is not None
        result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", *args],
                                capture_output=True, text=True, timeout=120, check=True)
        return result.stdout

    def dom(self, url: str) -> str:
        assert url.startswith("http://127.0.0.1:"), url
        return self._run("--dump-dom", url)

    def screenshot(self, url: str, name: str) -> Path:
        assert url.startswith("http://127.0.0.1:"), url
        path = self.shots / f"{name}.png"
        self._run(f"--screenshot={path}", url)
        assert path.is_file() and path.stat().st_size > 1000
        return path


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    return Browser(tmp_path_factory.mktemp("chromium-profile"),
                   tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="session")
def page_server(seed_build_dir: Path) -> Iterator[str]:
    """A server over the seed build for the browser."""
    with start_server(seed_build_dir, workers=1) as base:
        yield base


@pytest.fixture(scope="session")
def serving():
    """``serving(build_dir)``: a context manager running a server over another build."""
    return lambda build_dir: start_server(build_dir, workers=1)
