"""The loop's HTTP client of a remote store, on the wire: bodies by length, in chunks or
until the store closes; a kept connection reused, or replaced when the store closed it;
a body read on from a thread. The store here is a socket on 127.0.0.1 that answers
what each test scripts (the engines themselves: tests/remote)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tipgraph.store.loop_http import LoopClient, LoopResponse


class ScriptedStore:
    """Answers each request with the next scripted reply: (bytes, close after it)."""

    def __init__(self, replies: list[tuple[bytes, bool]]) -> None:
        self.replies = replies
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.replies:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while self.replies:
                    while b"\r\n\r\n" not in data:
                        more = conn.recv(65536)
                        if not more:
                            break
                        data += more
                    if b"\r\n\r\n" not in data:
                        break
                    head, _, data = data.partition(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    while len(data) < length:
                        data += conn.recv(65536)
                    self.requests.append(head + b"\r\n\r\n" + data[:length])
                    data = data[length:]
                    reply, close = self.replies.pop(0)
                    conn.sendall(reply)
                    if close:
                        break

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _ask(loop: asyncio.AbstractEventLoop, client: LoopClient, size: int = 1 << 20
         ) -> tuple[LoopResponse, bytes]:
    async def go() -> tuple[LoopResponse, bytes]:
        response = await client.post("/sparql", b"query=ASK%7B%7D",
                                     {"Accept": "application/sparql-results+json"})
        await response.fill(size)
        body = response.read()
        response.close()
        return response, body
    return loop.run_until_complete(go())


def _ok(body: bytes, *extra: str) -> bytes:
    return ("HTTP/1.1 200 OK\r\nServer: Virtuoso/07.20.3240\r\nContent-Type: text/plain\r\n"
            + "".join(f"{h}\r\n" for h in extra)
            + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def test_a_body_by_its_length_and_the_connection_kept(
        loop: asyncio.AbstractEventLoop) -> None:
    store = ScriptedStore([(_ok(b"first"), False), (_ok(b"second"), False)])
    client = LoopClient("127.0.0.1", store.port, f"127.0.0.1:{store.port}")
    response, body = _ask(loop, client)
    assert (response.status, response.reason, body) == (200, "OK", b"first")
    assert response.getheader("server") == response.getheader("Server") == \
        "Virtuoso/07.20.3240"
    assert _ask(loop, client)[1] == b"second"
    assert store.connections == 1  # the second query on the first connection
    assert store.requests[0].startswith(b"POST /sparql HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Content-Length: 15\r\n" in store.requests[0]
    assert b"Accept-Encoding: identity\r\n" in store.requests[0]  # no compressed answer
    assert store.requests[0].endswith(b"\r\n\r\nquery=ASK%7B%7D")
    store.close()


def test_a_chunked_body_with_extensions_and_trailer(loop: asyncio.AbstractEventLoop) -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;name=x\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: y\r\n\r\n")
    store = ScriptedStore([(chunked, False), (_ok(b"again"), False)])
    client = LoopClient("127.0.0.1", store.port, "h")
    assert _ask(loop, client)[1] == b"hello world"
    assert _ask(loop, client)[1] == b"again"
    assert store.connections == 1
    store.close()


def test_a_body_until_the_store_closes_is_not_kept(loop: asyncio.AbstractEventLoop) -> None:
    store = ScriptedStore([(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it",
                            True), (_ok(b"new"), False)])
    client = LoopClient("127.0.0.1", store.port, "h")
    response, body = _ask(loop, client)
    assert body == b"all of it" and not response.kept
    assert _ask(loop, client)[1] == b"new"
    assert store.connections == 2


def test_a_kept_connection_the_store_closed_is_replaced(
        loop: asyncio.AbstractEventLoop) -> None:
    store = ScriptedStore([(_ok(b"one"), True), (_ok(b"two"), False)])
    client = LoopClient("127.0.0.1", store.port, "h")
    assert _ask(loop, client)[1] == b"one"
    assert len(client.idle) == 1  # kept: the store said nothing of closing it
    loop.run_until_complete(asyncio.sleep(0.05))  # the store has closed it by now
    assert _ask(loop, client)[1] == b"two"  # sent again, once, on a new connection
    assert store.connections == 2 and len(store.requests) == 2


def test_a_store_that_cannot_be_reached_or_is_not_http(
        loop: asyncio.AbstractEventLoop) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(OSError):
        _ask(loop, LoopClient("127.0.0.1", port, "h"))
    store = ScriptedStore([(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", True)])
    with pytest.raises(ConnectionError, match="not HTTP"):
        _ask(loop, LoopClient("127.0.0.1", store.port, "h"))
    store.close()


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel"], ids=["size", "chunk", "length"])
def test_a_cut_or_malformed_body_is_a_connection_error(
        reply: bytes, loop: asyncio.AbstractEventLoop) -> None:
    """What the store answering with a broken body says: an OSError, which the remote
    store turns into "store unavailable" (not a bug of ours, a 500)."""
    store = ScriptedStore([(reply, True)])
    with pytest.raises(ConnectionError, match=r"cut or malformed|closed the connection"):
        _ask(loop, LoopClient("127.0.0.1", store.port, "h"))
    store.close()


def test_the_rest_of_a_large_body_is_read_from_a_thread(
        loop: asyncio.AbstractEventLoop) -> None:
    body = bytes(range(256)) * 2000  # 512,000 bytes
    store = ScriptedStore([(_ok(body), False), (_ok(b"next"), False)])
    client = LoopClient("127.0.0.1", store.port, "h")

    async def go() -> bytes:
        response = await client.post("/sparql", b"q", {})
        assert not await response.fill(1000)  # more than the loop takes
        start = response.read()
        with pytest.raises(RuntimeError):
            response.read()  # the rest, on the loop: it would wait for itself

        def rest() -> bytes:
            parts = []
            while piece := response.read(4096):
                parts.append(piece)
            response.close()
            return b"".join(parts)
        with ThreadPoolExecutor(1) as pool:
            return start + await loop.run_in_executor(pool, rest)
    assert loop.run_until_complete(go()) == body
    loop.run_until_complete(asyncio.sleep(0))  # the release, asked from the thread
    assert _ask(loop, client)[1] == b"next"
    assert store.connections == 1  # read to its end, the connection was kept
    store.close()
