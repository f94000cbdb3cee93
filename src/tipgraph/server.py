"""Running the web app under gunicorn (or Flask's development server with ``--debug``).

gunicorn is run in-process through its application API, so ``tipgraph serve``
needs no second command line; each worker calls :func:`tipgraph.web.create_app`
itself (no ``--preload``), so each opens its own read-only store handle and
its own query processes.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from tipgraph.build_dir import BuildDir
from tipgraph.config import load_settings
from tipgraph.errors import TipgraphError
from tipgraph.front import ACCESS_LOG_FORMAT, worker_options
from tipgraph.store.opening import served_report
from tipgraph.web import create_app
from tipgraph.web.result_cache import answers_directory


class TipgraphServer(BaseApplication):
    """gunicorn serving ``create_app(settings)``."""

    def __init__(self, settings: Mapping[str, object], options: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            if name in self.cfg.settings:  # control_socket_disable is gunicorn >= 25
                self.cfg.set(name, value)

    def load(self) -> Any:
        return create_app(self.settings)


def gunicorn_options(*, host: str, port: int, workers: int, threads: int,
                     timeout: float) -> dict[str, Any]:
    """gunicorn's configuration for tipgraph.

    >>> gunicorn_options(host="127.0.0.1", port=5000, workers=2, threads=4,
    ...                  timeout=30)["limit_request_line"]
    0
    """
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        # requests read whole (and answers sent) by an asyncio loop; threads run the app
        **worker_options(threads),
        # a long SPARQL query in a GET URL: gunicorn refuses request lines over 4094
        # bytes by default; 0 lifts it and the app enforces max_request_bytes (414)
        "limit_request_line": 0,
        "limit_request_field_size": 0,
        # queries are stopped by the app at query_timeout; the worker must outlive that
        "timeout": int(timeout) + 30,
        # a stop (or a recycling) lets the requests in flight finish, none of which runs
        # longer than the query time limit; a worker with none in flight leaves at once
        "graceful_timeout": int(timeout) + 5,
        "accesslog": "-",
        "errorlog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "post_worker_init": _start_query_processes,
        "worker_exit": _leave_worker,
        # gunicorn >= 25 opens one control socket per user by default: two servers clash
        "control_socket_disable": True,
    }


def _start_query_processes(worker: Any) -> None:
    """Start a new worker's query processes now, not on its first query, and have each
    open the build's store: the first query after start-up then costs what it costs.

    First the worker ignores Ctrl-C (SIGINT, sent to the terminal's whole process group):
    the master stops it with SIGQUIT, one signal rather than two racing through its exit,
    and the query processes it starts inherit the ignoring, so a Ctrl-C while they import
    is no KeyboardInterrupt traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from tipgraph.sparql_engine import QueryJob
    from tipgraph.web.context import get_build, get_engine

    with worker.wsgi.app_context():
        engine = get_engine()
        try:
            path = getattr(get_build().store, "path", None)  # None: a remote store
        except TipgraphError:  # no build yet: the processes start, the store opens later
            path = None
        if path is None:
            engine.start()
        else:
            engine.warm(QueryJob("ASK { ?s ?p ?o }", "json", None, 1, store_path=str(path)))


def _leave_worker(server: Any, worker: Any) -> None:
    """The last thing a worker does (stopped, or recycled after its in-flight requests):
    end its query processes, then leave without Python's interpreter teardown.

    A worker that had answered queries died with SIGSEGV in that teardown (in native
    code: the open Oxigraph stores and their threads); ``os._exit`` skips it, with the
    exit status the worker was leaving with (gunicorn calls this hook while the worker's
    ``SystemExit`` propagates). Its requests in flight are finished by then: gunicorn
    waits for them (``graceful_timeout``) before the worker leaves its loop.
    """
    from tipgraph.web.context import ENGINE

    engine = worker.wsgi.extensions.get(ENGINE) if worker.wsgi else None
    if engine is not None and engine._owner == os.getpid():
        engine.close(wait=2.0)
    _exit_worker(sys.exc_info()[1])


def _exit_worker(leaving: BaseException | None) -> None:
    """Leave a worker process at once, with the status ``leaving`` (its exception) means."""
    if isinstance(leaving, SystemExit):
        status = leaving.code if isinstance(leaving.code, int) else int(leaving.code is not None)
    else:
        status = 0 if leaving is None else 1
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


def check_build(build_dir: Path) -> str:
    """Open the current build of ``build_dir`` and read its store once; returns its id.

    Done before the workers start, so a missing or corrupt build is one sentence at
    start-up rather than a traceback in every worker's first request.

    :raises TipgraphError: naming the build and what is wrong with it
    """
    root = BuildDir(Path(build_dir))
    current = root.current()
    if current is None:
        raise TipgraphError(f"no build in {build_dir}: run `tipgraph build --out {build_dir}`")
    how = f"rebuild with `tipgraph build --out {build_dir}`"
    try:
        served_report(current)
    except TipgraphError as error:
        raise TipgraphError(f"{error}; {how}") from error
    store = current / "store"
    if not store.is_dir():
        raise TipgraphError(f"build {current.name} has no store/ directory; {how}")
    import pyoxigraph

    try:
        opened = pyoxigraph.Store.read_only(str(store))
        bool(opened.query("ASK { ?s ?p ?o }"))
        del opened
    except Exception as error:  # pyoxigraph raises OSError, RuntimeError (corruption), ...
        raise TipgraphError(f"the store of build {current.name} cannot be read "
                            f"({str(error).strip() or type(error).__name__}); {how}") from error
    return current.name


def check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once, as gunicorn will, and let it go.

    Done before the build and the workers start, so a port in use is one sentence rather
    than gunicorn's retries and errors.

    :raises TipgraphError: naming the port and how to choose another
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise TipgraphError(f"port {port} is in use; choose another with --port") \
                    from error
            raise TipgraphError(f"cannot listen on {host}:{port} ({error.strerror}); choose "
                                "another --host or --port") from error


def run_server(settings: Mapping[str, object], *, host: str, port: int, workers: int,
               threads: int, timeout: float, debug: bool = False) -> None:
    """Serve until interrupted.

    The workers share one directory of kept answers (setting ``result_cache_dir``);
    unless one is set, it is made here, before they start, and removed when the
    server stops.
    """
    if debug:
        create_app(settings).run(host=host, port=port, debug=True, threaded=True,
                                 use_reloader=False)
        return
    settings = dict(settings)
    made = None
    if not load_settings(settings)["result_cache_dir"]:
        made = settings["result_cache_dir"] = answers_directory()
    master = os.getpid()
    try:
        TipgraphServer(settings, gunicorn_options(host=host, port=port, workers=workers,
                                                  threads=threads, timeout=timeout)).run()
    except BaseException as leaving:
        if os.getpid() != master:  # a worker that left gunicorn's loop some other way
            _exit_worker(leaving)
        raise
    finally:
        if made and os.getpid() == master:  # a worker leaving through here must not
            shutil.rmtree(made, ignore_errors=True)
