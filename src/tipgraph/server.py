"""Running the web app under gunicorn (or Flask's development server with ``--debug``).

gunicorn is run in-process through its application API, so ``tipgraph serve``
needs no second command line; each worker calls :func:`tipgraph.web.create_app`
itself (no ``--preload``), so each opens its own read-only store handle and
its own query processes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from tipgraph.builds import BuildDir
from tipgraph.config import load_settings
from tipgraph.errors import TipgraphError
from tipgraph.web import create_app
from tipgraph.web.result_cache import answers_directory

#: The size is the Content-Length sent: gunicorn counts no bytes for a body it sends with
#: ``sendfile`` (kept answers of /sparql), so ``%(b)s`` would log 0 for them.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %({content-length}o)s %(M)sms "%(a)s"'


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
        "worker_class": "gthread",  # a thread waits on its query process; others go on
        "threads": threads,
        # a long SPARQL query in a GET URL: gunicorn refuses request lines over 4094
        # bytes by default; 0 lifts it and the app enforces max_request_bytes (414)
        "limit_request_line": 0,
        "limit_request_field_size": 0,
        # queries are stopped by the app at query_timeout; the worker must outlive that
        "timeout": int(timeout) + 30,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "post_worker_init": _start_query_processes,
        # gunicorn >= 25 opens one control socket per user by default: two servers clash
        "control_socket_disable": True,
    }


def _start_query_processes(worker: Any) -> None:
    """Start a new worker's query processes now, not on its first query, and have each
    open the build's store: the first query after start-up then costs what it costs."""
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
        json.loads((current / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TipgraphError(f"build {current.name} has no readable report.json ({error}); "
                            f"{how}") from error
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
    finally:
        if made and os.getpid() == master:  # a worker leaving through here must not
            shutil.rmtree(made, ignore_errors=True)
