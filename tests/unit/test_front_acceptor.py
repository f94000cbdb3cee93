"""The front's acceptor: the listening socket registered with the loop once, a connection
taken per wake-up, and a busy worker leaving the next connection to another one a moment."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tipgraph.front import ACCEPT_DELAY, _Acceptor


class _Queries:
    def __init__(self) -> None:
        self.busy = 0

    def load(self) -> int:
        return self.busy


class _Worker:
    """What :class:`_Acceptor` reads of a :class:`BufferingWorker`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.alive, self.processes = loop, True, 1
        self.queries = _Queries()
        self.log = logging.getLogger("test-acceptor")
        self.accepted: list[tuple[socket.socket, float]] = []

    def _accepted(self, sock: socket.socket) -> None:
        self.accepted.append((sock, self.loop.time()))


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def _run(listener: socket.socket, body: Any) -> _Worker:
    loop = asyncio.new_event_loop()
    worker = _Worker(loop)
    try:
        loop.run_until_complete(body(worker, loop))
    finally:
        for sock, _ in worker.accepted:
            sock.close()
        loop.close()
    return worker


def _connect(listener: socket.socket) -> socket.socket:
    return socket.create_connection(listener.getsockname())


async def _until(condition: Any, seconds: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not condition() and loop.time() < end:
        await asyncio.sleep(0.001)


def test_connections_are_accepted_without_registering_the_listener_again(
        listener: socket.socket) -> None:
    clients: list[socket.socket] = []

    async def body(worker: _Worker, loop: asyncio.AbstractEventLoop) -> None:
        acceptor = _Acceptor(worker, listener)  # type: ignore[arg-type]
        key = loop._selector.get_key(listener.fileno())  # type: ignore[attr-defined]
        for n in range(1, 4):
            clients.append(_connect(listener))
            await _until(lambda n=n: len(worker.accepted) == n)
        # the same registration throughout: not removed and added again per connection
        assert loop._selector.get_key(listener.fileno()) is key  # type: ignore[attr-defined]
        acceptor.stop()
        with pytest.raises(KeyError):
            loop._selector.get_key(listener.fileno())  # type: ignore[attr-defined]
        clients.append(_connect(listener))
        await asyncio.sleep(0.05)

    worker = _run(listener, body)
    for client in clients:
        client.close()
    assert len(worker.accepted) == 3  # none after stop: the connection is another worker's


def test_a_busy_worker_waits_a_moment_then_takes_the_connection(
        listener: socket.socket) -> None:
    clients: list[socket.socket] = []
    sent: list[float] = []

    async def body(worker: _Worker, loop: asyncio.AbstractEventLoop) -> None:
        worker.queries.busy = worker.processes  # every query process has work
        acceptor = _Acceptor(worker, listener)  # type: ignore[arg-type]
        sent.append(loop.time())
        clients.append(_connect(listener))
        await _until(lambda: len(worker.accepted) == 1)
        # idle again: the next one at once
        worker.queries.busy = 0
        clients.append(_connect(listener))
        sent.append(loop.time())
        await _until(lambda: len(worker.accepted) == 2)
        acceptor.stop()

    worker = _run(listener, body)
    for client in clients:
        client.close()
    assert len(worker.accepted) == 2
    waited = worker.accepted[0][1] - sent[0]
    assert waited >= ACCEPT_DELAY * 0.9  # left to an idle worker for a moment
    assert waited < 1.0  # but taken, not left for ever
    assert worker.accepted[1][1] - sent[1] < ACCEPT_DELAY + 0.5


def test_a_connection_taken_by_another_worker_is_not_an_error(
        listener: socket.socket) -> None:
    async def body(worker: _Worker, loop: asyncio.AbstractEventLoop) -> None:
        acceptor = _Acceptor(worker, listener)  # type: ignore[arg-type]
        client = _connect(listener)
        taken, _ = listener.accept()  # "another worker" takes it before this loop wakes
        await asyncio.sleep(0.02)
        acceptor._acceptable()  # woken anyway: finds nothing to accept
        taken.close()
        client.close()
        assert loop._selector.get_key(listener.fileno())  # type: ignore[attr-defined]
        acceptor.stop()

    worker = _run(listener, body)
    assert worker.accepted == []
