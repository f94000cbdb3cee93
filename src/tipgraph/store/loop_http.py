"""HTTP/1.1 POSTs to a store from an asyncio loop, on connections kept open.

The front (:mod:`tipgraph.front`) answers a plain ``/sparql`` request on its loop. In
front of a remote store, a query then went to a thread, which asked the store with
``http.client`` and woke the loop with the answer: the hand-over both ways and
``http.client``'s parsing (headers through the ``email`` package) were a fifth of the
web worker's time for a small query. :class:`LoopClient` sends the request and reads the
answer on the loop itself, and hands the body on as a :class:`LoopResponse`, which reads
like the ``HTTPResponse`` a thread gets (``read(n)``, ``close()``): so what is done with
an answer is the same code either way (:class:`tipgraph.store.remote.RemoteSparqlStore`).

Plain HTTP only: a store behind credentials, a proxy or TLS is asked from a thread as
before. The answer's body is read on the loop up to a size the caller chooses; a larger
one is read on by a thread, each read asked of the loop (:meth:`LoopResponse.read`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Mapping

#: Bytes of a response's head (status line and headers) read at most.
HEAD_BYTES = 64 * 1024
#: Bytes of a body asked of the connection at a time.
PIECE = 65536


class LoopClient:
    """POSTs to one ``host:port`` from the loop that first uses it, each on a connection
    kept open from the one before (a new one when none is idle, or when the store closed
    the one kept before answering: a query is sent again once)."""

    def __init__(self, host: str, port: int, netloc: str) -> None:
        self.host, self.port, self.netloc = host, port, netloc
        self.loop: asyncio.AbstractEventLoop | None = None
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, target: str, body: bytes, headers: Mapping[str, str]
                   ) -> LoopResponse:
        """The store's response to a POST of ``body``: its head read, its body not yet.

        :raises OSError: when the store cannot be reached, or closes the connection
            before answering
        """
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # a connection serves the loop that opened it only
            self.loop, self.idle = loop, []
        # without Accept-Encoding a server may compress the answer (as http.client, ask
        # for none: the answer's bytes are passed on or parsed as they are)
        headers = {"Accept-Encoding": "identity", **headers}
        head = "".join([f"POST {target} HTTP/1.1\r\nHost: {self.netloc}\r\n",
                        *(f"{name}: {value}\r\n" for name, value in headers.items()),
                        f"Content-Length: {len(body)}\r\n\r\n"]).encode("latin-1")
        for fresh in ((False, True) if self.idle else (True,)):
            if fresh:
                reader, writer = await asyncio.open_connection(self.host, self.port,
                                                               limit=HEAD_BYTES)
                sock = writer.get_extra_info("socket")
                if sock is not None:  # the body is sent with the head: no delayed ACK
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            else:
                reader, writer = self.idle.pop()
            try:
                writer.write(head + body)
                raw = await reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                writer.close()
                if fresh:
                    raise ConnectionError(str(error) or type(error).__name__) from error
                continue  # closed by the store while kept: once more, on a new one
            except asyncio.LimitOverrunError as error:
                writer.close()
                raise ConnectionError("the store's answer has a head over "
                                      f"{HEAD_BYTES} bytes") from error
            except BaseException:
                writer.close()
                raise
            return LoopResponse(self, reader, writer, raw)
        raise AssertionError("unreachable")


class LoopResponse:
    """A store's response read by the loop (:meth:`fill`), then by anyone (:meth:`read`).

    :attr:`status`, :attr:`reason` and :attr:`headers` (names in lower case) are read;
    the body is read by :meth:`fill` on the loop, and by :meth:`read` where the loop
    read it (from a thread, more is asked of the loop: never on the loop itself, which
    would wait for itself). Once read to its end, :meth:`close` keeps the connection
    for the client's next request.
    """

    def __init__(self, client: LoopClient, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, raw: bytes) -> None:
        self.client, self.reader, self.writer = client, reader, writer
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, self.reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit():
            writer.close()
            raise ConnectionError(f"the store answered {lines[0][:80]!r}, not HTTP/1.1")
        self.status = int(code)
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                self.headers[name.strip().lower()] = value.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length", "")
        #: bytes left of the body (of its chunk, when chunked); None: until the store closes
        self.left: int | None = int(length) if length.isdigit() and not self.chunked else None
        self.kept = (self.chunked or self.left is not None) \
            and "close" not in self.headers.get("connection", "").lower()
        self.done = self.left == 0
        self._in_chunk = False
        self.buffer = bytearray()
        self.closed = False
        #: when a read from a thread stops waiting (``time.monotonic()``); None: never
        self.deadline: float | None = None

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    async def fill(self, size: int) -> bool:
        """Read the body until its end or more than ``size`` bytes are held; whether the
        end was reached."""
        while not self.done and len(self.buffer) <= size:
            self.buffer += await self._piece()
        return self.done

    async def _piece(self) -> bytes:
        """The next bytes of the body (b"" at its end).

        :raises ConnectionError: when the store ends the connection within the body, or
            sends what is not HTTP/1.1's chunked coding
        """
        try:
            return await self._next_piece()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            self.kept = False
            raise ConnectionError(f"the store's answer is cut or malformed: {error}"
                                  ) from error

    async def _next_piece(self) -> bytes:
        if self.done:
            return b""
        reader = self.reader
        if self.chunked:
            if not self._in_chunk:
                line = await reader.readline()
                size = int(line.split(b";")[0].strip(), 16)  # ValueError: not a size
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # the trailer's fields
                    self.done = True
                    return b""
                self.left, self._in_chunk = size, True
            assert self.left is not None
            data = await reader.read(min(self.left, PIECE))
            if not data:
                raise ConnectionError("the store closed the connection within its answer")
            self.left -= len(data)
            if self.left == 0:
                await reader.readexactly(2)  # the chunk's CRLF
                self._in_chunk = False
            return data
        data = await reader.read(PIECE if self.left is None else min(self.left, PIECE))
        if self.left is None:
            self.done = not data
            return data
        if not data:
            raise ConnectionError("the store closed the connection within its answer")
        self.left -= len(data)
        self.done = self.left == 0
        return data

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the body (all the rest: -1); b"" at its end.

        :raises TimeoutError: when the store sends nothing for the client's time limit
            (the caller's deadline is checked between reads)
        """
        if not self.buffer and not self.done:
            if threading.get_ident() == self._loop_thread:
                raise RuntimeError("the loop reads a body it has not filled")
            asked = asyncio.run_coroutine_threadsafe(self._piece(), self.loop)
            wait = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            try:
                self.buffer += asked.result(wait)
            except concurrent.futures.TimeoutError:
                asked.cancel()
                self.kept = False  # the rest is still on its way: the connection is closed
                raise TimeoutError("the store sent nothing until the deadline") from None
        if size < 0 or size >= len(self.buffer):
            data, self.buffer = bytes(self.buffer), bytearray()
        else:
            data = bytes(self.buffer[:size])
            del self.buffer[:size]
        return data

    def close(self) -> None:
        """Done with the response: its connection kept (read to its end) or closed."""
        if self.closed:
            return
        self.closed = True
        if threading.get_ident() == self._loop_thread:
            self._release()
        else:
            self.loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        if self.done and self.kept and not self.reader.at_eof() \
                and self.client.loop is self.loop:
            self.client.idle.append((self.reader, self.writer))
        else:
            self.writer.close()
