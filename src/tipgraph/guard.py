"""Checks a query passes in the web worker, before any engine sees it, and fair share.

pyoxigraph parses a query recursively, in the process that evaluates it: a
query nested a few thousand groups deep overflows the stack and kills that
process (measured with pyoxigraph 0.5: 3,000 nested ``{`` abort the
interpreter). :func:`query_depth` measures the nesting with a small lexer
that skips strings, IRIs and comments, so the endpoint can refuse a deep
query with a 400 before it is parsed at all (setting ``max_query_depth``).

:class:`ClientLimiter` bounds how many queries one client (its remote
address) runs at once in one web worker process (setting
``max_concurrent_queries_per_client``); the next one is answered 429 with
``Retry-After``. gunicorn's gthread threads share their process, so the
count is per process: with ``--workers N`` a client may have up to N times
the limit running in all, never every query process of every worker unless
the limit is set that high.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import unquote_to_bytes

import pyoxigraph

from tipgraph.queries import tokens
from tipgraph.sparql_engine import QueryError, QuerySyntaxError


# Tokens that can hold a bracket which is not one: strings (long ones first),
# IRIs, comments. Everything else is skipped by the search itself.
def query_depth(text: str) -> int:
    """How deep ``{``, ``(`` and ``[`` nest in ``text``, outside strings, IRIs and comments.

    >>> query_depth("SELECT * { ?s ?p ?o FILTER(?o != '{{{') } # {{{{")
    2
    >>> query_depth("SELECT * WHERE " + "{" * 5000 + "}" * 5000)
    5000
    >>> query_depth("ASK { ?a ?b ?c FILTER(?c < 3 && ?c != <http://x/a(b)>) }")
    2
    """
    depth = deepest = 0
    for kind, token, _ in tokens(text):  # the shipped queries' lexer: one SPARQL lexer
        if kind != "other":
            continue
        if token in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "})]":
            depth = max(0, depth - 1)
    return deepest


def check_query(text: str, *, max_depth: int) -> None:
    """Refuse a query nested deeper than ``max_depth`` (before any parser sees it).

    :raises QuerySyntaxError: naming the depth, the limit and its setting
    """
    if sum(map(text.count, "{([")) <= max_depth:  # opening brackets bound the depth
        return  # most queries: no lexing
    depth = query_depth(text)
    if depth > max_depth:
        raise QuerySyntaxError(
            f"The query nests groups, brackets or parentheses {depth} deep; this endpoint "
            f"accepts at most {max_depth} (setting max_query_depth).")


def check_utf8(raw: bytes, what: str) -> None:
    """Refuse URL-encoded parameters (a query string, a form body) that are not UTF-8.

    Werkzeug decodes them with replacement characters; the query must mean what
    the client sent, so the raw bytes are checked first.

    >>> check_utf8(b"query=ASK%7B%7D", "the query string")
    >>> check_utf8(b"query=%ff", "the form body")
    Traceback (most recent call last):
    ...
    tipgraph.guard.MalformedRequest: the form body is not valid UTF-8.
    """
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest(f"{what} is not valid UTF-8.") from None


def check_graph_iris(iris: Iterable[str]) -> None:
    """Refuse ``default-graph-uri`` / ``named-graph-uri`` values that are not IRIs.

    :raises MalformedRequest: naming the first bad value
    """
    for iri in iris:
        try:
            pyoxigraph.NamedNode(iri)
        except ValueError as error:
            raise MalformedRequest(f"{iri!r} is not an IRI ({error}); default-graph-uri "
                                   "and named-graph-uri take absolute IRIs.") from None


class MalformedRequest(QueryError):
    title = "Malformed request"


class TooManyQueries(QueryError):
    """A client already runs as many queries as it may; it should retry later."""

    status = 429
    title = "Too many queries"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ClientLimiter:
    """At most ``limit`` queries at once per client key, in this process.

    >>> limiter = ClientLimiter(1, retry_after=2)
    >>> with limiter.slot("127.0.0.1"):
    ...     try:
    ...         with limiter.slot("127.0.0.1"):
    ...             pass
    ...     except TooManyQueries as error:
    ...         print(error.status, error.retry_after)
    429 2
    >>> limiter.running("127.0.0.1")
    0
    """

    def __init__(self, limit: int, *, retry_after: int = 1) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def running(self, client: str) -> int:
        return self._running.get(client, 0)

    @contextmanager
    def slot(self, client: str) -> Iterator[None]:
        """Hold one of ``client``'s slots for the block (no limit when ``limit`` < 1).

        :raises TooManyQueries: when ``client`` holds every slot already
        """
        if self.limit < 1:
            yield
            return
        with self._lock:
            held = self._running.get(client, 0)
            if held >= self.limit:
                raise TooManyQueries(
                    f"this client already has {held} queries running, the most one client "
                    f"may run at once (setting max_concurrent_queries_per_client); retry "
                    f"when one has finished.", self.retry_after)
            self._running[client] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._running[client] - 1
                if left:
                    self._running[client] = left
                else:
                    del self._running[client]


_LOCAL_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/'\"<>:]+/)+[^\s/'\"<>:]*")


def redact_paths(message: str) -> str:
    """``message`` with absolute local paths replaced, fit for a stranger to read.

    IRIs keep their paths (a path that follows ``:`` or ``/`` is not local).

    >>> redact_paths("cannot open /srv/tipgraph/build/store: No such file, see http://x/a/b")
    'cannot open …: No such file, see http://x/a/b'
    """
    return _LOCAL_PATH.sub("…", message)
