"""A headless Chromium driven over ``--remote-debugging-pipe`` (the DevTools protocol on
file descriptors 3 and 4, JSON messages ended by a NUL byte), for what a DOM dump cannot
tell: where an element is drawn (above the fold or not) and what the page computes."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any


class Page:
    """One Chromium with one page; :meth:`open` a URL, :meth:`evaluate` JavaScript."""

    def __init__(self, chromium: str, flags: tuple[str, ...], profile: Path,
                 wait_limit: float = 60.0) -> None:
        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()

        def as_3_and_4() -> None:  # in the child: its ends of the pipes as fds 3 and 4
            os.dup2(os.dup(to_browser), 3)
            os.dup2(os.dup(from_browser), 4)

        self.process = subprocess.Popen(
            [chromium, *flags, "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "about:blank"], preexec_fn=as_3_and_4, pass_fds=(3, 4),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self.wait_limit = wait_limit
        self._buffer = b""
        self._next = 0
        target = self._send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self._send("Target.attachToTarget", targetId=target,
                                  flatten=True)["sessionId"]

    def _send(self, method: str, *, session: str | None = None, **params: Any) -> Any:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:  # events are not needed: skip them
            while b"\0" not in self._buffer:
                ready, _, _ = select.select([self._answers], [], [], self.wait_limit)
                chunk = os.read(self._answers, 1 << 16) if ready else b""
                if not chunk:
                    raise RuntimeError("Chromium stopped answering")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self._send("Runtime.evaluate", session=self.session, expression=expression,
                            returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Load ``url`` (a server on 127.0.0.1) and wait until the page is complete."""
        assert url.startswith("http://127.0.0.1:"), url
        self._send("Page.navigate", session=self.session, url=url)
        deadline = time.monotonic() + self.wait_limit
        while not self.evaluate("document.readyState === 'complete' && "
                                f"location.href.startsWith({json.dumps(url)})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} never finished loading")
            time.sleep(0.05)

    def screenshot(self, path: Path) -> Path:
        """The viewport as a PNG (what a person sees first)."""
        data = self._send("Page.captureScreenshot", session=self.session, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self._send("Browser.close")
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._answers)
