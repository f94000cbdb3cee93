"""The gunicorn worker of ``tipgraph serve``: requests read whole before a thread takes them.

gunicorn's threaded worker gives each connection a thread while it reads the request
and writes the answer: a dozen clients sending slowly (or not reading) held every
thread, and pages, ``/health`` and queries waited behind them. :class:`BufferingWorker`
waits on sockets in one asyncio loop instead, which holds no thread per connection:

- a request is read whole (head, then a body of at most ``max_request_bytes``, chunked
  or not) within ``client_timeout`` seconds, else the connection is closed (408 when a
  request was begun; 413 for a body over the limit, 414/431 for a head over it);
- a plain SPARQL query (``/sparql``, one query, a protocol format, no condition, no
  proxy headers, no gzip) is then answered on the loop itself (:class:`_SparqlLane`):
  the same reader, guards, job, result cache, headers and errors as the app's fast
  path, the query process waited for by the loop, the answer's bytes written as they
  are, and the query stopped if its client leaves. No thread, no WSGI environ of
  gunicorn's: a small uncached query costs a sixth to a quarter less CPU in all;
- a plain request for a resource's RDF document (``GET`` or ``HEAD``, no query string,
  no condition, no proxy headers; gzipped when a ``GET`` takes it, as the app's gzip
  layer does: :func:`tipgraph.web.compression.encoded`) is made by the documents' fast path
  (:class:`tipgraph.web.fast_documents.DocumentPath`: the view's code and headers), on
  the loop when that is bounded work (else in a thread of the page lane), and written by
  the loop: no gunicorn parser, WSGI environ or Flask;
- any other request is run by a thread and the app, with gunicorn's own parser, WSGI
  environ and response writer (so headers, keep-alive and the access log are gunicorn's);
- the answer is written out by the loop at the client's pace: the thread is let go
  once the answer is written to the loop's buffer (at most :data:`OUTBOX_BYTES` per
  connection ahead of the client), and a client that reads nothing for
  ``send_timeout`` seconds is closed;
- queries and everything else have their own threads (the query lane and the page
  lane): a page, a document or ``/health`` never waits for a thread behind queries
  that wait for a query process. When the query lane's threads are all taken, the
  next request goes to the client with the fewest requests in the lane (its turn),
  as the query pool itself does (:class:`tipgraph.sparql_engine.QueryEngine`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import os
import re
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.utils import formatdate
from typing import Any, NamedTuple

from gunicorn import SERVER, http
from gunicorn.glogging import Logger
from gunicorn.http import wsgi
from gunicorn.workers.base import Worker

from tipgraph.guard import query_digest
from tipgraph.negotiation import accepts_gzip
from tipgraph.web.compression import encoded, gzipped
from tipgraph.web.fast_path import Reply
from tipgraph.web.limits import publish_pool_state
from tipgraph.web.proxies import client_address

#: Bytes of an answer the loop holds for a slow client before the thread writing it waits.
OUTBOX_BYTES = 4 * 1024 * 1024
#: Bytes of an answer gathered before they are handed to the loop (the rest when it ends).
WRITE_BYTES = 256 * 1024
#: Bytes of request headers accepted besides the request line.
HEAD_BYTES = 64 * 1024
#: Seconds a worker whose query processes all have work waits before it accepts a
#: connection, so that a worker with an idle one takes it.
ACCEPT_DELAY = 0.005
#: Seconds a stopping worker waits for the first request of a connection it accepted.
FIRST_REQUEST_GRACE = 2.0
#: Seconds between two heartbeats to the gunicorn master (and looks at whether to stop).
TICK = 0.5


class BufferingWorker(Worker):
    """A gunicorn worker class (``worker_class``), configured from the app's settings."""

    def init_process(self) -> None:
        self.loop = asyncio.SelectorEventLoop(_exclusive_selector(
            {listener.sock.fileno() for listener in self.sockets}))
        super().init_process()

    def run(self) -> None:
        config = self.wsgi.config["TIPGRAPH"]
        self.client_timeout = float(config["client_timeout"])
        self.send_timeout = float(config["send_timeout"])
        self.max_body = int(config["max_request_bytes"])
        self.trusted_proxies = int(config["trusted_proxies"])
        threads = max(1, int(self.cfg.threads))
        self.pages = ThreadPoolExecutor(threads, thread_name_prefix="tipgraph-page")
        lane = max(2 * threads, 4 * int(config["query_workers"]))
        self.queries = _Lane(lane)
        self.query_threads = ThreadPoolExecutor(lane, thread_name_prefix="tipgraph-query")
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.requests_handled = 0
        self.sparql = _SparqlLane.of(self)
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.pages.shutdown(wait=False)
            self.query_threads.shutdown(wait=False)

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM (a graceful stop, or a recycling): stop accepting at once, so the next
        connection goes to a worker that stays (then finish the requests in hand)."""
        super().handle_exit(sig, frame)
        with contextlib.suppress(RuntimeError):  # the loop closed already
            self.loop.call_soon_threadsafe(self._stop_accepting)

    def _stop_accepting(self) -> None:
        for acceptor in getattr(self, "accepting", ()):
            acceptor.stop()

    async def _serve(self) -> None:
        self.processes = int(self.wsgi.config["TIPGRAPH"]["query_workers"])
        self.accepting = [_Acceptor(self, listener.sock) for listener in self.sockets]
        ppid = self.ppid
        while self.alive:
            self.notify()
            publish_pool_state(self.wsgi)
            if os.getppid() != ppid:
                self.log.info("Parent changed, shutting down: %s", self)
                break
            await asyncio.sleep(TICK)
        self._stop_accepting()
        deadline = time.monotonic() + self.cfg.graceful_timeout
        for connection in list(self.connections):
            connection.stop_after_request()
        while any(c.busy or c.just_opened() for c in self.connections) \
                and time.monotonic() < deadline:
            self.notify()
            await asyncio.sleep(0.1)

    def _accepted(self, sock: socket.socket) -> None:
        task = self.loop.create_task(self._connected(sock))
        self.tasks.add(task)  # kept while it runs (the loop keeps weak references)
        task.add_done_callback(self.tasks.discard)

    async def _connected(self, sock: socket.socket) -> None:
        if len(self.connections) >= self.cfg.worker_connections:
            sock.close()
            return
        reader, writer = await asyncio.open_connection(sock=sock,
                                                       limit=self.max_body + HEAD_BYTES)
        connection = _Connection(self, reader, writer)
        # accepted as the worker began to stop: its request is answered, then it is closed
        connection.stopping = not self.alive
        self.connections.add(connection)
        try:
            await connection.serve()
        except Exception:  # a bug here must not end the loop
            self.log.exception("Error serving a connection")
        finally:
            self.connections.discard(connection)
            writer.close()

    # -- in a thread --------------------------------------------------------------------------

    def handle(self, raw: bytes, connection: _Connection) -> bool:
        """Run the app on one request read whole (``raw``); whether to keep the connection.

        As gunicorn's threaded worker does (``handle_request``), on a socket that reads
        ``raw`` and writes to the connection's outbox.
        """
        sock = _BufferedSocket(raw, connection.outbox)
        resp = req = None
        environ: dict[str, Any] = {}
        try:
            req = next(http.RequestParser(self.cfg, sock, connection.peer))
            started = datetime.now()
            resp, environ = wsgi.create(req, sock, connection.peer, connection.server, self.cfg)
            environ["wsgi.multithread"] = True
            self.requests_handled += 1
            if not self.alive or connection.stopping:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                with contextlib.suppress(OSError):  # (a failed outbox says so to serve())
                    sock.flush()  # the whole answer on its way before the log and the cache
                self.log.access(resp, req, environ, datetime.now() - started)
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:  # the client went away, or read nothing for send_timeout
            return False
        except Exception as error:
            if resp is None:  # the request itself is wrong: gunicorn's answer (400, 431 ...)
                self.handle_error(req, sock, connection.peer, error)
                return False
            self.log.exception("Error handling request")
            if not resp.headers_sent:
                sock.sendall(_plain(500, "Internal Server Error", "Something went wrong on "
                                    "the server while answering this request. It has been "
                                    "logged; please try again later."))
            return False
        finally:
            with contextlib.suppress(OSError):  # an error page written by gunicorn
                sock.flush()
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")


def _exclusive_selector(listeners: set[int]) -> selectors.BaseSelector:
    """The loop's selector: epoll, waiting on the listening sockets ``listeners`` with
    ``EPOLLEXCLUSIVE`` (Linux), so a new connection wakes one waiting worker, not every
    one (each of which woke, found nothing to accept and slept again: with two workers,
    0.6 ms more per connection at load 9); the default selector elsewhere."""
    if not hasattr(select, "EPOLLEXCLUSIVE") or not hasattr(selectors, "EpollSelector"):
        return selectors.DefaultSelector()
    selector = selectors.EpollSelector()
    selector._selector = _ExclusiveEpoll(selector._selector, listeners)  # type: ignore[attr-defined]
    return selector


class _ExclusiveEpoll:
    """An epoll object that registers ``listeners`` with ``EPOLLEXCLUSIVE``."""

    def __init__(self, epoll: Any, listeners: set[int]) -> None:
        self._epoll, self._listeners = epoll, listeners

    def register(self, fd: int, events: int = select.EPOLLIN) -> None:
        if fd in self._listeners:
            events |= select.EPOLLEXCLUSIVE
        self._epoll.register(fd, events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._epoll, name)


class _Acceptor:
    """Accepts connections on one listening socket (shared with the other workers), one
    per wake-up of the loop, from a reader registered with its epoll once.

    Once, not for each connection as ``loop.sock_accept`` does: that cost two
    ``epoll_ctl`` calls a connection, and the workers took sequential connections in
    turns, each finding its caches cold (both at half the CPU, a quarter of the
    ``accept`` calls failing with ``EAGAIN``). Kept registered, the worker that is
    waiting takes the next connection, and a busy one leaves it to an idle one.

    A worker whose query processes all have work leaves the next connection to another
    worker: it stops listening for :data:`ACCEPT_DELAY`, then takes one whatever its
    load, so a connection never waits for ever. (asyncio's own server accepts a burst at
    once in whichever worker wakes first: 16 runaway queries sent together all went to
    one worker, whose queue grew while the other's processes idled.)
    """

    def __init__(self, worker: BufferingWorker, listener: socket.socket) -> None:
        self.worker, self.listener = worker, listener
        self.loop = worker.loop
        self.fd = listener.fileno()
        self.waited = False  # after a pause: take the next connection whatever the load
        self.paused: asyncio.TimerHandle | None = None
        self.stopped = False
        listener.setblocking(False)
        self.loop.add_reader(self.fd, self._acceptable)

    def _acceptable(self) -> None:
        worker = self.worker
        if not self.waited and worker.queries.load() >= worker.processes:
            self._pause(ACCEPT_DELAY)
            return
        self.waited = False
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return  # another worker took it
        except OSError as error:  # too many open files ...: try again in a moment
            worker.log.warning("cannot accept a connection: %s", error)
            self._pause(0.1)
            return
        sock.setblocking(False)
        worker._accepted(sock)

    def _pause(self, seconds: float) -> None:
        self.loop.remove_reader(self.fd)
        self.paused = self.loop.call_later(seconds, self._resume)

    def _resume(self) -> None:
        self.paused = None
        if not self.stopped and self.worker.alive:
            self.waited = True
            self.loop.add_reader(self.fd, self._acceptable)

    def stop(self) -> None:
        self.stopped = True
        if self.paused is not None:
            self.paused.cancel()
        self.loop.remove_reader(self.fd)


class _Connection:
    """One client connection: reads requests whole, hands each to a lane, writes answers."""

    def __init__(self, worker: BufferingWorker, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.worker, self.reader, self.writer = worker, reader, writer
        self.peer = writer.get_extra_info("peername") or ("?", 0)
        self.server = writer.get_extra_info("sockname") or ("?", 0)
        self.loop = asyncio.get_running_loop()
        self.outbox = _Outbox(self.loop, writer, worker.send_timeout)
        self.busy = False
        self.stopping = False
        self.opened = time.monotonic()
        self.answered = 0

    def just_opened(self) -> bool:
        """Whether its first request may still be on its way (a stopping worker waits a
        moment for it rather than drop a connection it accepted)."""
        return not self.answered and time.monotonic() - self.opened < FIRST_REQUEST_GRACE

    def stop_after_request(self) -> None:
        """Close once the request in hand (if any) is answered; an idle connection now,
        unless its first request may still be on its way."""
        self.stopping = True
        if not self.busy and not self.just_opened():
            self.writer.close()

    async def serve(self) -> None:
        worker = self.worker
        while True:  # the first request always (answered with "Connection: close" when
            try:      # the worker stops), then the next ones while it does not
                async with asyncio.timeout(worker.client_timeout):  # (no task, as wait_for)
                    read = await self._read_request()
            except TimeoutError:
                if self.reader._buffer:  # type: ignore[attr-defined]  # a request begun
                    await self._refuse(408, "Request Timeout", "the request did not arrive "
                                       f"within {worker.client_timeout:g} s (setting "
                                       "client_timeout).")
                return
            except (ConnectionError, asyncio.IncompleteReadError):
                return
            if read is None:
                return
            self.busy = True
            try:
                keep = await self._run(read)
                keep = await self.outbox.flushed() and keep
            finally:
                self.busy = False
                self.answered += 1
            if not keep or self.stopping or not worker.alive:
                return

    async def _run(self, request: _Request) -> bool:
        worker, lane = self.worker, request.client
        if lane is None:
            if worker.sparql is not None:
                keep = await worker.sparql.answer_document(request, self)
                if keep is not None:
                    return keep
            return await self.loop.run_in_executor(worker.pages, worker.handle, request.raw,
                                                   self)
        await worker.queries.enter(lane)
        try:
            if worker.sparql is not None:
                keep = await worker.sparql.answer(request, self)
                if keep is not None:
                    return keep
            return await self.loop.run_in_executor(worker.query_threads, worker.handle,
                                                   request.raw, self)
        finally:
            worker.queries.leave(lane)

    def gone(self) -> asyncio.Future[bool]:
        """A future that comes true when the client closes its connection (false when it
        sends more first: a pipelined request, read after this answer)."""
        return self.loop.create_task(self._until_more())

    async def _until_more(self) -> bool:
        reader = self.reader
        if not reader._eof and not reader._buffer:  # type: ignore[attr-defined]
            try:
                await reader._wait_for_data("gone")  # type: ignore[attr-defined]
            except Exception:  # the connection was lost
                return True
        return bool(reader._eof and not reader._buffer)  # type: ignore[attr-defined]

    async def _read_request(self) -> _Request | None:
        """The next request, whole, and the client whose query lane turn it takes (None:
        the page lane); None when the client closed the connection or was refused."""
        reader, worker = self.reader, self.worker
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None  # closed between requests
        except asyncio.LimitOverrunError:
            buffered = bytes(reader._buffer)  # type: ignore[attr-defined]
            if b"\r\n" not in buffered:  # not even the request line ended
                await self._refuse(414, "URI Too Long", "the request line is longer than "
                                   f"{worker.max_body + HEAD_BYTES} bytes (setting "
                                   "max_request_bytes); POST a long query instead.")
                return None
            await self._refuse(431, "Request Header Fields Too Large", "the request line and "
                               f"headers are longer than {worker.max_body + HEAD_BYTES} bytes "
                               "(setting max_request_bytes); POST a long query instead.")
            return None
        if head.startswith(b"\r\n"):  # a stray line break between requests (RFC 9112 2.2)
            head = head.lstrip(b"\r\n")
            if not head:
                return await self._read_request()
        lines = head.split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.setdefault(name.strip().lower(), value.strip())
        body = b""
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        length = headers.get(b"content-length")
        if chunked or length:
            try:
                size = None if chunked else int(length or b"0")
            except ValueError:
                await self._refuse(400, "Bad Request", "the Content-Length is not a number.")
                return None
            if size is not None and (size < 0 or size > worker.max_body):
                await self._too_large()
                return None
            if headers.get(b"expect", b"").lower() == b"100-continue":
                self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # sent once: here
                lines = [line for line in lines if not line.lower().startswith(b"expect:")]
                head = b"\r\n".join(lines)
            if size is not None:
                body = await reader.readexactly(size)
            else:
                body = await self._read_chunked()
                if body is None:
                    return None
                head = b"\r\n".join(
                    [line for line in lines[:-2] if not line.lower().startswith(
                        (b"transfer-encoding:", b"content-length:"))]
                    + [b"Content-Length: %d" % len(body), b"", b""])
        return _Request(head + body, self._query_client(lines[0], headers), lines, body)

    async def _read_chunked(self) -> bytes | None:
        """A chunked body, decoded; None (and 413 sent) when it grows over the limit."""
        parts, total = [], 0
        while True:
            line = await self.reader.readuntil(b"\r\n")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                await self._refuse(400, "Bad Request", "a chunk size is not a number.")
                return None
            total += size
            if total > self.worker.max_body:
                await self._too_large()
                return None
            if size == 0:
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers: ignored
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def _query_client(self, request_line: bytes, headers: dict[bytes, bytes]) -> str | None:
        """Who a query request is from (for its lane turn), or None for any other request."""
        method, _, rest = request_line.partition(b" ")
        target = rest.rpartition(b" ")[0]
        path, _, query = target.partition(b"?")
        if not path.endswith(b"/sparql") or not (method == b"POST" or b"query=" in query):
            return None
        def header(name: bytes) -> str | None:
            value = headers.get(name)
            return None if value is None else value.decode("latin-1")

        return client_address(str(self.peer[0]), header(b"x-forwarded-for"),
                              header(b"forwarded"), self.worker.trusted_proxies)

    async def _too_large(self) -> None:
        await self._refuse(413, "Content Too Large", "the request body is larger than "
                           f"{self.worker.max_body} bytes (setting max_request_bytes).")

    async def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer ``status`` without the app, then close (the rest of the request unread)."""
        self.writer.write(_plain(status, reason, message))
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(self.writer.drain(), self.worker.send_timeout)
        self.worker.log.info('%s "%s" %s (refused before the app)', self.peer[0],
                             reason, status)


class _Request(NamedTuple):
    """A request read whole: its bytes (head and decoded body, for gunicorn's parser),
    whose query lane turn it takes (None: a page), its head's lines and its body."""

    raw: bytes
    client: str | None
    lines: list[bytes]
    body: bytes


#: A header line the loop's lane reads itself (a token, a colon, a value of visible
#: characters, spaces and tabs); any other goes to gunicorn's parser, which says what is
#: wrong with it.
_FIELD = re.compile(rb"([!#$%&'*+.^`|~0-9A-Za-z-]+):[ \t]*([\x21-\x7e\x80-\xff \t]*?)[ \t]*")
#: Headers whose request goes the whole way: proxies' (gunicorn and the app read them),
#: a body's framing (read by the loop already), gunicorn's own SCRIPT_NAME header.
_WHOLE_WAY = ("HTTP_X_FORWARDED", "HTTP_FORWARDED", "HTTP_SCRIPT_NAME")
#: A path the loop hands to the documents' fast path: plain characters, nothing
#: percent-encoded (gunicorn decodes that), no empty segment.
_PLAIN_PATH = re.compile(rb"(?:/[A-Za-z0-9][A-Za-z0-9._~-]*)+")


class _SparqlLane:
    """``/sparql`` answered on the loop itself: a plain protocol query, cached or new
    (and a plain request for a resource's document: :meth:`answer_document`).

    gunicorn's parser, its WSGI environ and response, a thread of the query lane and the
    app's WSGI layers cost about 3 ms of CPU per small query (4 ms in all, against the
    Oxigraph server's 0.6 ms). A GET or POST to ``/sparql`` the fast path would answer
    (:class:`tipgraph.web.fast_path.FastPath`: one query, a protocol format, no
    condition, no proxy headers, no gzip wanted) is answered here instead, by the same
    layers' code: the result cache's :class:`~tipgraph.web.result_cache.Replay`, then
    :meth:`FastPath.plan` (the reader, guards and job) and :meth:`FastPath.reply_soon`
    (the client's slot, the kept answer or the query process, waited for by the loop:
    :meth:`tipgraph.sparql_engine.QueryEngine.run_soon`; the headers, errors and CORS).
    Its bytes are written to the socket as they are; a small new answer is kept after.
    Anything else, and anything the layers decline, goes to a thread and the app, as
    before. A query whose client closes its connection is stopped.
    """

    def __init__(self, worker: BufferingWorker, fast: Any, replay: Any,
                 documents: Any = None) -> None:
        self.worker, self.fast, self.replay, self.documents = worker, fast, replay, documents
        self.script_name = os.environ.get("SCRIPT_NAME", "")  # as gunicorn reads it
        self.path = (self.script_name + "/sparql").encode("latin-1")
        self.script_path = (self.script_name + "/").encode("latin-1")
        # gunicorn's bounds of the headers (its parser refuses more: 400, 431)
        cfg = worker.cfg
        self.max_fields = min(cfg.limit_request_fields, 32768) \
            if cfg.limit_request_fields > 0 else 32768
        self.max_field = cfg.limit_request_field_size \
            if cfg.limit_request_field_size > 0 else 8190

    @classmethod
    def of(cls, worker: BufferingWorker) -> _SparqlLane | None:
        """The lane of ``worker``'s app; None when its requests must all go the whole way
        (an access log of another format, TLS, an app without the fast path)."""
        from tipgraph.web.context import DOCUMENT_PATH, FAST_PATH, REPLAY

        app = worker.wsgi
        extensions = getattr(app, "extensions", {})
        fast = extensions.get(FAST_PATH)
        log = worker.log
        if fast is None or worker.cfg.is_ssl or not isinstance(log, AccessLog) \
                or not log.direct():
            return None
        # the loop's tasks copy its context: the app's is theirs (the query engine is the
        # app's), without a context pushed per request
        app.app_context().push()
        return cls(worker, fast, extensions.get(REPLAY), extensions.get(DOCUMENT_PATH))

    async def answer_document(self, request: _Request, connection: _Connection
                              ) -> bool | None:
        """Answer ``request`` if it is a plain request for a resource's RDF document
        (:class:`tipgraph.web.fast_documents.DocumentPath`), without gunicorn's parser and
        the WSGI stack: made on the loop itself when that is bounded work (an embedded
        store, the read models made: 0.3 ms for a publication, 3 ms for the busiest
        place at a million publications), else in a thread of the page lane (a remote
        store's answers are waited for, a build's first read models take seconds).
        Whether to keep the connection; None: not for here."""
        if self.documents is None:
            return None
        environ = self._environ(request, connection, documents=True)
        if environ is None:
            return None
        started = time.monotonic()
        documents = self.documents
        plan = _planned(documents, environ)
        if plan is None:
            return None
        reply = documents.reply(plan, environ) if plan.quick else \
            await asyncio.get_running_loop().run_in_executor(
                self.worker.pages, documents.reply, plan, environ)
        if reply is None:
            return None
        return await self._send(connection, reply, environ, started)

    async def answer(self, request: _Request, connection: _Connection) -> bool | None:
        """Answer ``request`` here: whether to keep the connection; None: not for here."""
        environ = self._environ(request, connection)
        if environ is None:
            return None
        started = time.monotonic()
        fast, worker = self.fast, self.worker
        key = self.replay.key(environ) if self.replay is not None else None
        replayed = self.replay.replayed(key) if key is not None else None
        if replayed is not None:
            file, headers = replayed
            reply = Reply("200 OK", headers, b"", file)
        else:
            plan = _planned(fast, environ)
            if plan is None:
                return None
            reply = await fast.reply_soon(plan, gone=connection.gone,
                                          executor=worker.query_threads)
            if reply is None:
                return None  # out of slots: the whole way answers 429
            if key is not None and reply.replayable:
                self.replay.remember(key, reply.replayable, reply.status, reply.headers)
        if isinstance(reply.status, str) and reply.status.startswith("499 "):
            worker.requests_handled += 1
            self._log(reply, environ, started)  # stopped: nobody to answer
            return False
        keep = await self._send(connection, reply, environ, started)
        # kept here, but for what would wait (the cache's lock held by another worker, an
        # eviction), which goes to a thread: a thread for every keep cost more CPU
        if reply.keep is not None:
            self._keep(functools.partial(reply.keep, later=self._later))
        return keep

    def _later(self, rest: Callable[[], object]) -> None:
        """Run what is left of a keep in a thread of the page lane."""
        self.worker.pages.submit(self._keep, rest)

    async def _send(self, connection: _Connection, reply: Reply, environ: dict[str, Any],
                    started: float) -> bool:
        """Write ``reply`` and log it; whether to keep the connection."""
        worker = self.worker
        worker.requests_handled += 1
        close = connection.stopping or not worker.alive or _closes(environ)
        try:
            await self._write(connection, reply, environ, close)
        except (OSError, TimeoutError):
            connection.writer.transport.abort()
            close = True
        finally:
            if reply.file is not None:
                reply.file.close()
        self._log(reply, environ, started)
        return not close

    def _keep(self, keep: Callable[[], object]) -> None:
        try:
            keep()
        except OSError:  # shared memory full, the directory gone: a cache miss later
            self.fast.app.logger.exception("could not keep an answer in the result cache")

    def _environ(self, request: _Request, connection: _Connection, *,
                 documents: bool = False) -> dict[str, Any] | None:
        """The WSGI environ the layers read (what gunicorn would make of these keys), or
        None for a request that goes the whole way: a GET or POST of ``/sparql``, or
        (``documents``) a GET or HEAD of a plain path without a query string."""
        line = request.lines[0].split(b" ")
        if len(line) != 3 or line[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            return None
        method, target, version = line
        path, _, query = target.partition(b"?")
        if documents:
            if method not in (b"GET", b"HEAD") or b"?" in target \
                    or not path.startswith(self.script_path) \
                    or _PLAIN_PATH.fullmatch(path) is None:
                return None
            path_info = path[len(self.script_path) - 1:].decode("ascii")
        elif path != self.path or method not in (b"GET", b"POST"):
            return None
        else:
            path_info = "/sparql"
        if len(request.lines) > self.max_fields \
                or max(map(len, request.lines[1:]), default=0) > self.max_field:
            return None  # gunicorn's parser refuses it
        server = connection.server
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method.decode(), "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": target.decode("latin-1"), "SERVER_PROTOCOL": version.decode(),
            "PATH_INFO": path_info, "SCRIPT_NAME": self.script_name,
            "SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1]),
            "REMOTE_ADDR": str(connection.peer[0]), "wsgi.url_scheme": "http"}
        for field in request.lines[1:]:
            if not field:
                continue
            match = _FIELD.fullmatch(field)
            if match is None:
                return None
            name = match[1].decode().upper().replace("-", "_")
            if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                continue  # the body is read (and de-chunked) already
            key = name if name == "CONTENT_TYPE" else "HTTP_" + name
            if key.startswith(_WHOLE_WAY) or "_" in match[1].decode():
                return None
            value = match[2].decode("latin-1")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")) \
                and (not documents or method == b"HEAD"):
            return None  # compressed by the app's outermost layer (a document: here)
        if method == b"POST":
            environ["CONTENT_LENGTH"] = str(len(request.body))
            environ["wsgi.input"] = io.BytesIO(request.body)
        return environ

    async def _write(self, connection: _Connection, reply: Reply, environ: dict[str, Any],
                     close: bool) -> None:
        head = [f"{environ['SERVER_PROTOCOL']} {reply.status}\r\nServer: {SERVER}\r\n"
                f"Date: {_date()}\r\nConnection: {'close' if close else 'keep-alive'}\r\n"]
        # as the app's gzip layer would send it (Vary; a document gzipped when taken)
        wanted = reply.file is None and accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        headers, gzip = encoded(reply.status, reply.headers, wanted=wanted)
        body = reply.body
        if gzip:
            body = gzipped(body)
            headers.append(("Content-Length", str(len(body))))
        head += [f"{name}: {value}\r\n" for name, value in headers]
        head.append("\r\n")
        data = "".join(head).encode("latin-1")
        writer = connection.writer
        if reply.file is None:
            writer.write(data + body)
            return
        writer.write(data)
        timeout = self.worker.send_timeout
        while True:
            chunk = reply.file.read(WRITE_BYTES)
            if not chunk:
                return
            writer.write(chunk)
            if writer.transport.get_write_buffer_size() > OUTBOX_BYTES // 4:
                async with asyncio.timeout(timeout):  # the client reads nothing: closed
                    await writer.drain()

    def _log(self, reply: Reply, environ: dict[str, Any], started: float) -> None:
        self.worker.log.access_direct(  # type: ignore[attr-defined]
            reply.status, reply.headers, environ,
            timedelta(seconds=time.monotonic() - started))



def _planned(layer: Any, environ: dict[str, Any]) -> Any:
    """``layer.plan(environ)`` on the loop (no new build opened there); None: the whole
    way, which also answers (and logs) a bug of the layers."""
    try:
        return layer.plan(environ, switching=False)
    except Exception:
        return None


def _closes(environ: dict[str, Any]) -> bool:
    """Whether the client asks to close the connection after the answer (gunicorn's
    reading: ``Connection`` first, else HTTP/1.0 closes)."""
    connection = environ.get("HTTP_CONNECTION", "").split(",", 1)[0].strip(" \t").lower()
    if connection in ("close", "keep-alive"):
        return connection == "close"
    return environ["SERVER_PROTOCOL"] == "HTTP/1.0"


_dated: list[Any] = [0, ""]


def _date() -> str:
    """The Date header's value, made once a second."""
    now = int(time.time())
    if _dated[0] != now:
        _dated[:] = [now, formatdate(now, usegmt=True)]
    return str(_dated[1])


def _plain(status: int, reason: str, message: str) -> bytes:
    body = f"{reason}: {message}\n".encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class _Lane:
    """Threads for query requests, taken in turn: when all are busy, the next free one
    goes to the waiting client with the fewest requests in the lane, then the earliest."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.inside: dict[str, int] = {}
        self.waiting: list[tuple[str, asyncio.Future[None]]] = []

    def load(self) -> int:
        """Query requests in the lane or waiting for it."""
        return sum(self.inside.values()) + len(self.waiting)

    async def enter(self, client: str) -> None:
        if sum(self.inside.values()) < self.size and not self.waiting:
            self.inside[client] = self.inside.get(client, 0) + 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((client, turn))
        try:
            await turn
        except asyncio.CancelledError:
            if (client, turn) in self.waiting:
                self.waiting.remove((client, turn))
            elif turn.done() and not turn.cancelled():
                self.leave(client)
            raise

    def leave(self, client: str) -> None:
        left = self.inside[client] - 1
        if left:
            self.inside[client] = left
        else:
            del self.inside[client]
        if self.waiting:
            index = min(range(len(self.waiting)),
                        key=lambda i: (self.inside.get(self.waiting[i][0], 0), i))
            client, turn = self.waiting.pop(index)
            self.inside[client] = self.inside.get(client, 0) + 1
            turn.set_result(None)


class _Outbox:
    """What a thread writes for a connection, sent by the loop at the client's pace.

    ``sendall`` (in the thread) waits while more than :data:`OUTBOX_BYTES` are not yet
    taken by the client, and fails when the client takes nothing for ``timeout`` seconds.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, writer: asyncio.StreamWriter,
                 timeout: float) -> None:
        self.loop, self.writer, self.timeout = loop, writer, timeout
        self.pending = 0
        self.failed = False
        self._room = threading.Condition()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()

    def sendall(self, data: bytes) -> None:
        if not data:
            return
        with self._room:
            if not self._room.wait_for(lambda: self.failed or self.pending < OUTBOX_BYTES,
                                       self.timeout) or self.failed:
                self.failed = True
                raise OSError("the client read nothing of its answer for a while")
            self.pending += len(data)
        self.loop.call_soon_threadsafe(self._send, bytes(data))

    def _send(self, data: bytes) -> None:
        self.writer.write(data)
        if not self.writer.transport.get_write_buffer_size():  # all in the socket already
            with self._room:  # (a small answer, a client that reads): nothing to wait for
                self.pending -= len(data)
                self._room.notify_all()
            return
        self._idle.clear()
        task = self.loop.create_task(self._drained(len(data)))
        self._tasks.add(task)  # kept while it runs (the loop keeps weak references)
        task.add_done_callback(self._tasks.discard)

    async def _drained(self, size: int) -> None:
        try:
            await asyncio.wait_for(self.writer.drain(), self.timeout)
        except (TimeoutError, ConnectionError):
            with self._room:
                self.failed = True
                self._room.notify_all()
            self.writer.transport.abort()
        with self._room:
            self.pending -= size
            self._room.notify_all()
            if self.pending <= 0:
                self.loop.call_soon(self._idle.set)

    async def flushed(self) -> bool:
        """Wait until every byte written is handed to the client's socket (the next
        request is read only then, so a client pipelining requests it does not read
        costs one answer); False when it failed or took nothing for ``timeout`` seconds."""
        await self._idle.wait()
        transport = self.writer.transport
        deadline = time.monotonic() + self.timeout
        size = transport.get_write_buffer_size()
        while size and not self.failed:
            await asyncio.sleep(0.02)
            now, left = time.monotonic(), transport.get_write_buffer_size()
            if left < size:
                deadline, size = now + self.timeout, left  # it reads: more time
            elif now > deadline:
                transport.abort()
                return False
        return not self.failed and not transport.is_closing()


class _BufferedSocket:
    """The socket gunicorn's parser and response see: reads the request read whole,
    writes to the connection's :class:`_Outbox`.

    gunicorn writes the head of an answer, then each part of its body (and each chunk's
    size and end, when chunked) with one ``sendall`` each: every one a hand-over to the
    loop. They are gathered here and handed over by :data:`WRITE_BYTES` at least, the
    rest by :meth:`flush` once the answer is complete, so a small answer is one
    hand-over and one ``send``.
    """

    def __init__(self, raw: bytes, outbox: _Outbox) -> None:
        self._in = io.BytesIO(raw)
        self.outbox = outbox
        self._out: list[bytes] = []
        self._size = 0

    def recv(self, size: int) -> bytes:
        return self._in.read(size)

    def sendall(self, data: bytes) -> None:
        if not data:
            return
        self._out.append(bytes(data))
        self._size += len(data)
        if self._size >= WRITE_BYTES:
            self.flush()

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def flush(self) -> None:
        """Hand what was written to the loop."""
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self._size = 0
            self.outbox.sendall(data)

    def setblocking(self, flag: bool) -> None:
        pass

    def gettimeout(self) -> float:
        return 0.0  # non-blocking, as far as gunicorn's writers know

    def fileno(self) -> int:
        raise OSError("no file descriptor: answers are sent by the loop")

    def close(self) -> None:
        pass


#: The access log's lines: client, request line, status, bytes, milliseconds, user agent.
#: The size is the Content-Length sent: gunicorn counts no bytes for a body it sends with
#: ``sendfile`` (kept answers of /sparql), so ``%(b)s`` would log 0 for them.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %({content-length}o)s %(M)sms "%(a)s"'


class AccessLog(Logger):
    """gunicorn's logger with bounded access-log lines: a long URL (a query sent by GET)
    is logged shortened, with its length and hash, instead of whole (1 MB lines).

    Lines in :data:`ACCESS_LOG_FORMAT` (``tipgraph serve``'s) are written directly:
    gunicorn's :meth:`atoms` makes a dictionary of every header and environment entry
    for each line, a sixth of the time a thread spends on a small query.
    """

    LONGEST = 300

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
              ) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "a", "f"):
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = self._short(value)
        return atoms

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
               ) -> None:
        if not self.direct():
            super().access(resp, req, environ, request_time)
        else:
            self.access_direct(resp.status, resp.headers, environ, request_time)

    def direct(self) -> bool:
        """Whether lines are written without gunicorn's request and response objects:
        :data:`ACCESS_LOG_FORMAT` to a file or the console (or no access log at all), not
        a format or logging configuration of one's own."""
        return self.cfg.access_log_format == ACCESS_LOG_FORMAT and (
            bool(self.cfg.accesslog)
            or not (self.cfg.logconfig or self.cfg.logconfig_dict or self.cfg.syslog))

    def access_direct(self, status: str | int, headers: list[tuple[str, str]],
                      environ: dict[str, Any], request_time: Any) -> None:
        """Log a request answered ``status`` with ``headers`` (when :meth:`direct`)."""
        if not self.cfg.accesslog:
            return
        line = self.line(status, headers, environ, request_time)
        handler = self._plain_handler()
        if handler is None:
            self.access_log.info("%s", line)
            return
        handler.acquire()  # what StreamHandler.emit does, without a LogRecord (a tenth
        try:               # of the loop's time on a small query)
            handler.stream.write(line + handler.terminator)
            handler.flush()
        except Exception:
            handler.handleError(logging.makeLogRecord({"msg": line}))
        finally:
            handler.release()

    def _plain_handler(self) -> logging.StreamHandler[Any] | None:
        """The access log's one handler when it writes the message alone (gunicorn's own,
        to a file or the console, no filters); None: logging's way."""
        log = self.access_log
        if len(log.handlers) != 1 or log.filters or not log.isEnabledFor(logging.INFO):
            return None
        handler = log.handlers[0]
        if not isinstance(handler, logging.StreamHandler) or handler.filters \
                or not getattr(handler, "_gunicorn", False) or handler.formatter is None \
                or handler.formatter._fmt != "%(message)s":
            return None
        return handler

    def line(self, status: str | int, headers: list[tuple[str, str]],
             environ: dict[str, Any], request_time: Any) -> str:
        """The access-log line of :data:`ACCESS_LOG_FORMAT`, as gunicorn writes it."""
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        length = next((value for name, value in headers
                       if name.lower() == "content-length"), "-")
        request = self._short(f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} "
                              f"{environ['SERVER_PROTOCOL']}").replace('"', '\\"')
        agent = self._short(environ.get("HTTP_USER_AGENT", "-")).replace('"', '\\"')
        milliseconds = request_time.seconds * 1000 + int(request_time.microseconds / 1000)
        return (f'{environ.get("REMOTE_ADDR", "-")} "{request}" {status} {length} '
                f'{milliseconds}ms "{agent}"')

    def _short(self, value: str) -> str:
        if len(value) > self.LONGEST:
            return f"{value[:self.LONGEST]}… ({query_digest(value)})"
        return value


def worker_options(threads: int) -> dict[str, Callable[..., Any] | Any]:
    """The gunicorn settings :class:`BufferingWorker` needs."""
    return {"worker_class": f"{__name__}.BufferingWorker", "threads": threads,
            "sendfile": False,  # the loop writes the answers, not the threads
            "logger_class": f"{__name__}.AccessLog"}

