"""Headless Chromium (Debian's ``chromium``) against real servers on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# -- a page driven through the DevTools protocol, for pages that are used, not only read ----

#: Chromium reaches nothing but the servers on 127.0.0.1: no host name resolves, and any
#: other address goes to a proxy that is not there (loopback bypasses proxies).
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
           "--proxy-server=127.0.0.1:9")


class DevTools:
    """One headless Chromium driven over ``--remote-debugging-pipe`` (the DevTools
    protocol on file descriptors 3 and 4: JSON messages ended by a NUL byte), so a test
    can click, type and wait as a person would. Every URL the page asks for is kept in
    :attr:`requests`."""

    def __init__(self, profile: Path, wait_limit: float = 60.0,
                 flags: tuple[str, ...] | None = None) -> None:
        """:param flags: Chromium's flags (the window size ...); :data:`FLAGS` by default"""
        import fcntl

        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()

        def fds_3_and_4() -> None:  # in the child, before exec: its pipe ends as 3 and 4
            reading = fcntl.fcntl(to_browser, fcntl.F_DUPFD, 10)
            writing = fcntl.fcntl(from_browser, fcntl.F_DUPFD, 10)
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        assert CHROMIUM is not None
        self.process = subprocess.Popen(
            [CHROMIUM, *(FLAGS if flags is None else flags), *OFFLINE, "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=fds_3_and_4, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self.wait_limit = wait_limit
        self.requests: list[str] = []
        self._replies: dict[int, dict[str, Any]] = {}
        self._next = 0
        self._buffer = b""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable", session=self.session)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._answers], [], [], self.wait_limit)
            chunk = os.read(self._answers, 1 << 16) if ready else b""
            if not chunk:
                raise RuntimeError("Chromium stopped answering")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its reply; events met meanwhile are kept."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while self._next not in self._replies:
            reply = self._read()
            if reply.get("method") == "Network.requestWillBeSent":
                self.requests.append(reply["params"]["request"]["url"])
            elif "id" in reply:
                self._replies[reply["id"]] = reply
        reply = self._replies.pop(self._next)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = self.send("Runtime.evaluate", session=self.session, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        """Wait until ``expression`` is truthy in the page, and return its value (an
        element found is ``True``)."""
        deadline = time.monotonic() + self.wait_limit
        while time.monotonic() < deadline:
            value = self.evaluate(f"(value => value instanceof Node || value)({expression})")
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"the page never came to: {expression}")

    def open(self, url: str) -> None:
        """Load ``url`` (a server on 127.0.0.1; where it redirects to a longer URL, that)
        and wait until the page is complete."""
        assert url.startswith("http://127.0.0.1:"), url
        self.send("Page.navigate", session=self.session, url=url)
        self.wait_for(f"location.href.startsWith({json.dumps(url)}) && "
                      "document.readyState === 'complete'")

    def screenshot(self, path: Path, *, whole: bool = True) -> Path:
        """The page as a PNG: the whole of it, or (``whole=False``) the window only, what
        a person sees first."""
        data = self.send("Page.captureScreenshot", session=self.session, format="png",
                         captureBeyondViewport=whole)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._answers)


@pytest.fixture(scope="module")
def devtools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    """A Chromium off the network, driven as a person would use it; closed at the end."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    driver = DevTools(tmp_path_factory.mktemp("chromium-devtools"))
    yield driver
    driver.close()
