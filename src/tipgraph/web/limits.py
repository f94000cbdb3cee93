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

from flask import Flask, Response, current_app, g, request

from tipgraph.guard import check_utf8
from tipgraph.sparql_engine import QueryError
from tipgraph.web.context import LIMITER
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
        if not checked_queries(request_params(), max_depth=int(config["max_query_depth"])):
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
