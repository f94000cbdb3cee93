"""The answers for what went wrong inside: never a stack trace, never a local path.

An exception no view handled is logged (with its traceback, for the operator)
and answered ``500`` with a plain page that says so in one sentence. A
:class:`~tipgraph.errors.TipgraphError` outside the SPARQL endpoint (no build
in service, a store that cannot be opened) is ``503`` with its message, local
paths removed; a failed store query behind a page keeps its own status. HTTP
errors (404, 405, 413, ...) keep their own pages, which carry no traceback either.
"""

from __future__ import annotations

from flask import Flask, Response, current_app
from markupsafe import escape

from tipgraph.errors import TipgraphError
from tipgraph.guard import redact_paths
from tipgraph.sparql_engine import QueryError

PAGE = ("<!doctype html>\n<html lang=\"en\">\n<meta charset=\"utf-8\">\n"
        "<title>{status} {title}</title>\n<h1>{title}</h1>\n<p>{message}</p>\n"
        "<p><a href=\"/\">tipgraph home</a></p>\n</html>\n")


def init_app(app: Flask) -> None:
    app.register_error_handler(500, _internal_error)
    app.register_error_handler(TipgraphError, _unavailable)
    app.register_error_handler(QueryError, _query_failed)


def plain_page(status: int, title: str, message: str) -> Response:
    body = PAGE.format(status=status, title=escape(title), message=escape(message))
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def _internal_error(error: Exception) -> Response:
    # Flask has logged the original exception with its traceback already
    current_app.logger.debug("answered 500 for %r", error)
    return plain_page(500, "Internal error", "Something went wrong on the server while "
                      "answering this request. It has been logged; please try again later.")


def _query_failed(error: QueryError) -> Response:
    # a store query behind a page failed: its own status (the SPARQL endpoint has its own)
    return plain_page(error.status, error.title, redact_paths(error.message))


def _unavailable(error: TipgraphError) -> Response:
    return plain_page(503, "Service unavailable", redact_paths(str(error)))
