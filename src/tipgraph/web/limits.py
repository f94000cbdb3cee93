"""What a ``/sparql`` query must pass before it reaches a store, and each client's fair share.

Registered on the app by :func:`init_app`, around the endpoint of
:mod:`tipgraph.web.sparql` (which stays about the protocol):

- before the request: the raw query string and form body must be UTF-8, the
  query may nest at most ``max_query_depth`` deep (:func:`tipgraph.guard.query_depth`:
  no parser has seen it yet), ``default-graph-uri`` / ``named-graph-uri`` must be
  IRIs; each is a 400 with a sentence. Then the client (its remote address) takes
  one of its ``max_concurrent_queries_per_client`` slots in this process, or is
  answered 429 with ``Retry-After``;
- after the request, whatever happened, the slot is given back.
"""

from __future__ import annotations

import glob
import json
import os
import time
from typing import Any

from flask import Flask, Response, current_app, g, request

from tipgraph.guard import check_utf8
from tipgraph.sparql_engine import QueryError
from tipgraph.web.context import ENGINE, LIMITER
from tipgraph.web.protocol import FORM, checked_queries, error_response, request_params

ENDPOINT = "sparql.sparql"


def init_app(app: Flask) -> None:
    """Run the guards before each request to ``/sparql``'s view, and give its slot back
    after (the limiter itself is one of the ``/sparql`` layers' resources: made where they
    are declared, :func:`tipgraph.web.sparql.init_app`)."""
    app.before_request(_check_query)
    app.teardown_request(_release)


def _check_query() -> Response | None:
    if request.endpoint != ENDPOINT or request.method not in ("GET", "POST"):
        return None
    config = current_app.config["TIPGRAPH"]
    try:
        check_utf8(request.query_string, "the query string")
        if request.mimetype == FORM:
            check_utf8(request.get_data(cache=True), "the form body")
        if not checked_queries(request_params(), max_depth=int(config["max_query_depth"]),
                               max_chain=int(config["max_query_chain"])):
            return None
        slot = current_app.extensions[LIMITER].slot(request.remote_addr or "?")
        slot.__enter__()
    except QueryError as error:
        return error_response(error)
    g.tipgraph_slot = slot
    return None


def _release(_exc: BaseException | None) -> None:
    slot = g.pop("tipgraph_slot", None)
    if slot is not None:
        slot.__exit__(None, None, None)


# -- the query pool's state, for /health ------------------------------------------------------

#: The file in which each web worker publishes its query pool's state (shared directory).
_POOL_FILE = "pool-{pid}.json"
#: Seconds after which a worker's published state no longer counts (it has gone).
_POOL_STALE = 5.0


def publish_pool_state(app: Flask) -> None:
    """Write this worker's query pool state where every worker's ``/health`` reads it
    (the shared answers directory); called by the server's loop twice a second."""
    directory = app.config["TIPGRAPH"].get("result_cache_dir")
    engine = app.extensions.get(ENGINE)
    if not directory or engine is None or engine._owner != os.getpid():
        return
    path = os.path.join(directory, _POOL_FILE.format(pid=os.getpid()))
    try:
        with open(path + ".part", "w", encoding="utf-8") as out:
            json.dump(engine.state(), out)
        os.replace(path + ".part", path)
    except OSError:  # the directory gone (the server stopping): nothing to report
        pass


def pool_state(app: Flask) -> dict[str, Any]:
    """The query processes of the whole server: how many, busy, queries waiting, the
    longest wait, and ``saturated`` (none idle and queries waiting: a new query could not
    start soon). Summed over the workers that published lately; this worker's own state
    when none has (e.g. a development server)."""
    directory = app.config["TIPGRAPH"].get("result_cache_dir")
    states = []
    if directory:
        now = time.time()
        for path in glob.glob(os.path.join(directory, _POOL_FILE.format(pid="*"))):
            try:
                if now - os.stat(path).st_mtime <= _POOL_STALE:
                    with open(path, encoding="utf-8") as file:
                        states.append(json.load(file))
            except (OSError, ValueError):
                continue
    if not states:
        engine = app.extensions.get(ENGINE)
        if engine is not None and engine._owner == os.getpid():
            states = [engine.state()]
    total: dict[str, Any] = {"workers": len(states)}
    for name in ("processes", "busy", "queued", "replaced", "preempted", "over_memory",
                 "refused"):
        total[name] = sum(int(state.get(name, 0)) for state in states)
    total["waiting_seconds"] = max((s.get("waiting_seconds", 0.0) for s in states), default=0.0)
    total["saturated"] = bool(states) and total["busy"] >= total["processes"] \
        and total["queued"] > 0
    return total
