"""The fast path of ``/sparql``: a plain protocol query answered before Flask routes it.

The second of the layers :func:`tipgraph.web.sparql.init_app` declares (inside the
result cache's :class:`~tipgraph.web.result_cache.Replay`, outside Flask): it reads
the request, guards it and answers it as the view would (the same reader, job,
headers and error writer: :mod:`tipgraph.web.protocol`), or hands it on.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple

from flask import Flask, has_app_context
from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_current_url, wrap_file

from tipgraph import formats
from tipgraph.errors import TipgraphError
from tipgraph.serving import Build, Service
from tipgraph.sparql_engine import QueryAnswer, QueryError, QueryJob, job_tag
from tipgraph.web.caching import caching_headers
from tipgraph.web.context import LIMITER, RESULT_CACHE
from tipgraph.web.cors import EXPOSED_HEADERS
from tipgraph.web.errors import plain_page
from tipgraph.web.protocol import (
    CONDITIONAL,
    POST_TYPES,
    NoBuild,
    WSGIApp,
    answer_headers,
    checked_queries,
    error_parts,
    make_job,
    protocol_params,
    reason,
)
from tipgraph.web.result_cache import REPLAYABLE


class FastPath:
    """WSGI middleware: a plain protocol query on ``/sparql`` answered without Flask.

    Flask's request context, routing, hooks and response objects, and werkzeug's
    parsing, cost about 1 ms of a trivial query's 2.3 ms (measured at 100,000
    publications), against the Oxigraph server's 0.6 ms for the whole request. A
    GET or POST with one query, answered in a format of the protocol, is read here
    with the same parsers, passes the same guards (:mod:`tipgraph.web.limits`: UTF-8,
    nesting depth, graph IRIs, the client's slot), becomes the same
    :class:`QueryJob` and gets the same headers (ETag, CORS ...) as through the view.

    Everything else goes the whole way, where the view and the hooks answer it
    and say what is wrong: no query (the service description), the results page,
    a conditional request, anything a guard refuses, a client out of slots, an
    ``Origin`` when ``cors_origins`` lists origins, an update. An error of the
    query itself (syntax, time limit, format) is answered here as the view's
    error handler does, since going the whole way would evaluate it again.
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApp, service: Service) -> None:
        self.app, self.wsgi_app, self.service = app, wsgi_app, service
        self.config = app.config["TIPGRAPH"]
        self.max_bytes = int(self.config["max_request_bytes"])
        self.max_depth = int(self.config["max_query_depth"])
        self.max_chain = int(self.config["max_query_chain"])
        self.any_origin = str(self.config["cors_origins"]).strip() == "*"
        self._link = service.builds.link  # None: a remote store, its own pointer
        self._last: tuple[tuple[str, int], Build] | None = None  # current link, its build

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        plan = self.plan(environ) if environ.get("PATH_INFO") == "/sparql" else None
        if plan is not None:
            return self._answer(environ, start_response, plan)
        return self.wsgi_app(environ, start_response)

    def plan(self, environ: dict[str, Any], *, switching: bool = True) -> Plan | None:
        """What a request to ``/sparql`` asks, read and guarded; None: the whole way.

        :param switching: whether a new build in service may be opened here (False on
            the front's loop, where opening one would hold every connection: the whole
            way, in a thread, opens it)
        """
        read = self._read(environ, switching)
        if read is None:
            return None
        query, params, build = read
        job = make_job(query, params, environ.get("HTTP_ACCEPT"), _endpoint_url(
            *(environ.get(name) for name in _URL_PARTS)), self.config)
        if "html" in (job.results_format, job.rdf_format):
            return None  # the results page
        return Plan(job, build, environ.get("REMOTE_ADDR") or "?",
                    environ.get("QUERY_STRING", ""))

    def _read(self, environ: dict[str, Any], switching: bool = True
              ) -> tuple[str, MultiDict[str, str], Build] | None:
        """The query, the protocol parameters and the build, or None: the whole way."""
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "POST") or any(name in environ for name in CONDITIONAL):
            return None
        if not self.any_origin and environ.get("HTTP_ORIGIN"):
            return None  # an origin to check against the list: cors.py decides
        raw = environ.get("QUERY_STRING", "").encode("latin-1")  # as werkzeug reads it
        try:
            media_type, charset, body = self._read_body(environ) if method == "POST" else \
                ("", None, b"")
            params = protocol_params(method, raw, media_type, charset, body, self.max_bytes)
            if len(params.getlist("query")) != 1:
                return None
            queries = checked_queries(params, max_depth=self.max_depth,
                                      max_chain=self.max_chain)
            build = self._current_build() if switching else self._known_build()
        except (TipgraphError, _ReadByTheView):  # the whole way says why (QueryError too)
            return None
        if build is None:
            return None
        return queries[0], params, build

    def build_in_service(self, *, switching: bool = True) -> Build | None:
        """The build in service (for the documents' fast path too); None when there is
        none, or when ``switching`` is False and a new one would have to be opened."""
        try:
            return self._current_build() if switching else self._known_build()
        except TipgraphError:
            return None

    def current_build_id(self) -> str:
        """The id of the build in service (for :class:`Replay`)."""
        return self._current_build().id

    def _current_build(self) -> Build:
        """The build in service, as :meth:`Service.current` says.

        That resolves the ``current`` link's path on every call (44 us, the largest
        cost of a trivial query here); when the link's target, one ``readlink``, is
        the one it pointed to last time, the build it gave then is the build.
        """
        if self._link is None:  # a remote store: its own pointer, its own poll
            return self.service.current()
        try:  # the target and the link itself: a switch back to the same target is a switch
            target = (os.readlink(self._link), os.lstat(self._link).st_ino)
        except OSError:
            return self.service.current()  # no build, or one being switched in
        last = self._last
        if last is not None and last[0] == target:
            return last[1]
        build = self.service.current()
        if build.id == os.path.basename(target[0].rstrip("/")):  # not the old one, kept while
            self._last = (target, build)  # another thread opens the new one
        return build

    def _known_build(self) -> Build | None:
        """The build in service when :meth:`_current_build` knows it already (one
        ``readlink``); None when it would have to open one (a switch, a remote store's
        poll) or there is none."""
        if self._link is None:  # a remote store: its pointer looked at lately
            return self.service.known()
        last = self._last
        try:
            target = (os.readlink(self._link), os.lstat(self._link).st_ino)
        except OSError:
            return None
        if last is not None and last[0] == target:
            return last[1]
        build = self.service.opened  # (the first query: the worker opened it at its start)
        if build is not None and build.id == os.path.basename(target[0].rstrip("/")):
            self._last = (target, build)
            return build
        return None

    def _read_body(self, environ: dict[str, Any]) -> tuple[str, str | None, bytes]:
        """A POST's media type, charset and body, read here when it is plain (a length
        given and within the limit).

        :raises _ReadByTheView: for a body werkzeug should read (chunked, too long ...)
        """
        content_type = environ.get("CONTENT_TYPE", "")
        media_type, options = parse_options_header(content_type)
        media_type = media_type.lower()
        if media_type not in POST_TYPES or environ.get("HTTP_TRANSFER_ENCODING"):
            raise _ReadByTheView
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise _ReadByTheView from None
        if length > self.max_bytes:
            raise _ReadByTheView
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # for the view, should it read it
        return media_type, options.get("charset"), body

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any],
                plan: Plan) -> Iterable[bytes]:
        reply = self.reply(plan, lambda: plan.build.answer(plan.job))
        if reply is None:  # out of slots: the whole way answers 429 with Retry-After
            return self.wsgi_app(environ, start_response)
        if reply.replayable:
            environ[REPLAYABLE] = reply.replayable
        if reply.file is None:
            start_response(reply.status, reply.headers)
            body = [reply.body]
            return body if reply.keep is None else _ThenKeep(body, reply.keep, self.app)
        start_response(reply.status, reply.headers)
        return wrap_file(environ, reply.file, 65536)  # gunicorn's: sent with sendfile

    def reply(self, plan: Plan, evaluate: Callable[[], QueryAnswer]) -> Reply | None:
        """The reply to ``plan``: kept, or ``evaluate()`` (the build's answer) in one of
        the client's slots; None when the client has none left (the whole way: 429)."""
        with self._replying(plan) as replying:
            if replying.wanted:
                with self.app.app_context():  # the engine is the app's
                    replying.answer = evaluate()
        return replying.reply

    async def reply_soon(self, plan: Plan, *, gone: Callable[[], Any] | None,
                         executor: Executor) -> Reply | None:
        """:meth:`reply` from the front's asyncio loop: the query process waited for by
        the loop (:meth:`Build.answer_soon`), everything else the same."""
        with self._replying(plan) as replying:
            if replying.wanted:
                # the engine is the app's: the front's loop has its context already
                with contextlib.nullcontext() if has_app_context() else self.app.app_context():
                    replying.answer = await plan.build.answer_soon(
                        plan.job, plan.client, gone=gone, executor=executor)
        return replying.reply

    @contextlib.contextmanager
    def _replying(self, plan: Plan) -> Iterator[_Replying]:
        """What :meth:`reply` and :meth:`reply_soon` share, whichever way they wait for the
        build: the client's slot held, the kept reply taken, else the answer the block
        sets (``wanted``) settled; an error of either becomes the error's reply."""
        replying = _Replying()
        with self._slot(plan) as slot:
            if slot is None:
                yield replying  # no reply: the client has no slot left
                return
            try:
                kept = self._kept(plan)
                if kept is not None:
                    replying.reply = self._settled(plan, *kept)
                replying.wanted = kept is None
                yield replying
                if replying.wanted:
                    replying.reply = self._settled(plan, replying.answer, None, False)
            except Exception as error:
                replying.reply = self.error_reply(error, plan)

    @contextlib.contextmanager
    def _slot(self, plan: Plan) -> Iterator[bool | None]:
        """One of the client's slots for the block (True), or None when it has none."""
        try:
            slot = self.app.extensions[LIMITER].slot(plan.client)
            slot.__enter__()
        except QueryError:
            yield None
            return
        try:
            yield True
        finally:
            slot.__exit__(None, None, None)

    def _kept(self, plan: Plan) -> tuple[QueryAnswer, BinaryIO | None, bool] | None:
        cache = self.app.extensions.get(RESULT_CACHE)
        kept = cache.get(plan.build.id, plan.job) if cache else None
        return None if kept is None else (kept[0], kept[1], True)

    def _settled(self, plan: Plan, answer: QueryAnswer, file: BinaryIO | None, hit: bool
                 ) -> Reply:
        """The reply of an answer (kept or not); a new one is kept when it fits."""
        build, job = plan.build, plan.job
        cache = self.app.extensions.get(RESULT_CACHE)
        keep = replayable = None
        if not hit and cache:
            if answer.path is None:  # small: sent first, kept after
                keep = functools.partial(cache.keep, build.id, job, answer)
                replayable = (build.id, cache.path_of(build.id, job))
            else:
                answer, file = cache.put(build.id, job, answer)
        content_type = formats.find(answer.format).content_type
        headers = [("Content-Type", content_type),
                   *answer_headers(answer, build, self.config, hit=hit),
                   *caching_headers(build, f"/sparql?{plan.query_string}",
                                    content_type.partition(";")[0].strip().lower(),
                                    job_tag(job))]
        if file is None:
            body = answer.read()
            headers.insert(1, ("Content-Length", str(len(body))))
            return Reply("200 OK", self.cors(headers), body, None, keep, replayable)
        length = os.fstat(file.fileno()).st_size - file.tell()
        if answer.path:
            replayable = (build.id, answer.path)  # the same again: Replay
        headers.insert(1, ("Content-Length", str(length)))
        return Reply("200 OK", self.cors(headers), b"", file, None, replayable)

    def error_reply(self, error: Exception, plan: Plan | None = None) -> Reply:
        """``error`` as the reply the view's error handlers give (QueryError, no build)
        or, for anything else, as Flask does (logged, a plain page)."""
        if isinstance(error, QueryError):
            status, headers, body = error_parts(error)
        elif isinstance(error, TipgraphError):
            status, headers, body = error_parts(NoBuild(str(error)))
        else:
            self.app.logger.error("Exception on /sparql", exc_info=error)
            page = plain_page(500, "Internal error", "Something went wrong on the server "
                              "while answering this request. It has been logged; please "
                              "try again later.")
            status, headers, body = f"500 {reason(500)}", \
                [("Content-Type", page.content_type)], page.get_data()
        headers.insert(1, ("Content-Length", str(len(body))))
        return Reply(status, self.cors(headers), body)

    def cors(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """What :mod:`tipgraph.web.cors` adds (``*`` or no origin: the cases served here)."""
        if self.any_origin:
            headers += [("Access-Control-Allow-Origin", "*"),
                        ("Access-Control-Expose-Headers", EXPOSED_HEADERS)]
        return headers


#: What the endpoint's own URL (the base IRI of a query) is made of, from the environ.
_URL_PARTS = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME",
              "PATH_INFO")


@functools.lru_cache(maxsize=256)
def _endpoint_url(*parts: str | None) -> str:
    """werkzeug's ``get_current_url`` without the query string, kept: it converts the URL
    to an IRI on every call (6% of a small query's time in the worker)."""
    environ = {name: part for name, part in zip(_URL_PARTS, parts, strict=True)
               if part is not None}
    return get_current_url(environ, strip_querystring=True)


@dataclass(frozen=True)
class Plan:
    """A plain protocol query, read and guarded: its job, the build, who asks, and the
    request's query string (part of the ETag)."""

    job: QueryJob
    build: Build
    client: str
    query_string: str


class Reply(NamedTuple):
    """An answer of the fast path: status line, headers, and the body (or the file
    holding it, at the body); ``keep`` keeps a small new answer once it is sent
    (:meth:`ResultCache.keep`, whose ``later`` it takes); ``replayable`` is (build
    id, kept file) for :class:`Replay`."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes
    file: BinaryIO | None = None
    keep: Callable[..., None] | None = None
    replayable: tuple[str, str] | None = None


@dataclass
class _Replying:
    """A reply being made (:meth:`FastPath._replying`): whether the build's answer is
    wanted, that answer once given, and the reply."""

    wanted: bool = False
    answer: QueryAnswer | None = None
    reply: Reply | None = None


class _ReadByTheView(Exception):
    """A request :class:`FastPath` leaves to the view."""


class _ThenKeep:
    """A response body that keeps its answer in the result cache once it has been sent:
    writing and renaming the file then costs the client nothing (gunicorn calls
    ``close`` after the last byte is written)."""

    def __init__(self, body: Iterable[bytes], keep: Callable[[], None], app: Flask) -> None:
        self.body, self.keep, self.app = body, keep, app

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            self.keep()
        except OSError:  # shared memory full, the directory gone: only a cache miss later
            self.app.logger.exception("could not keep an answer in the result cache")
