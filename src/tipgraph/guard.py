"""Checks a query passes in the web worker, before any engine sees it, and fair share.

pyoxigraph parses a query recursively, in the process that evaluates it: a
query nested a few thousand groups deep overflows the stack and kills that
process (measured with pyoxigraph 0.5: 3,000 nested ``{`` abort the
interpreter). :func:`query_depth` measures the nesting with a small lexer
that skips strings, IRIs and comments, so the endpoint can refuse a deep
query with a 400 before it is parsed at all (setting ``max_query_depth``).
The parser recurses once per operator of a chain too (measured: 10,000 ``!``,
``/``, ``||``, ``+1``, ``.``, ``;``, ``,`` or ``UNION`` in a row kill it with
SIGSEGV; 3,000 pass): :func:`query_chain` measures those (setting
``max_query_chain``). A refusal is logged (the query's size and hash, not the query).

:class:`ClientLimiter` bounds how many queries one client (its remote
address) runs at once in one web worker process (setting
``max_concurrent_queries_per_client``); the next one is answered 429 with
``Retry-After``. gunicorn's gthread threads share their process, so the
count is per process: with ``--workers N`` a client may have up to N times
the limit running in all, never every query process of every worker unless
the limit is set that high.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import unquote_to_bytes

import pyoxigraph

from tipgraph.queries import tokens
from tipgraph.sparql_engine import CLIENT, QueryError, QuerySyntaxError, TooBusy

log = logging.getLogger(__name__)

#: Single characters that chain operands (operators, separators of triples and paths).
_CHAIN_MARKS = frozenset(".;,/|^!&+-*=<>")
#: Keywords that chain groups.
_CHAIN_WORDS = frozenset({"UNION", "OPTIONAL", "MINUS"})


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


def query_chain(text: str) -> int:
    """The longest chain of operators and separators in ``text``, summed along its nested
    groups (what the parser recurses through), outside strings, IRIs and comments.

    >>> query_chain("SELECT ?s { ?s <http://x/a/b.c> ?o . ?s ?p 'a;b' }")
    1
    >>> query_chain("ASK { ?s ?p ?o FILTER(" + "!" * 50 + "?o) }")
    50
    >>> query_chain("ASK { ?a ?b ?c . { ?d ?e ?f . ?g ?h ?i } }")
    2
    """
    counts = [0]
    longest = 0
    for kind, token, _ in tokens(text):
        if kind == "other":
            if token in "{([":
                counts.append(0)
                continue
            if token in "})]":
                if len(counts) > 1:
                    counts.pop()
                continue
            if token not in _CHAIN_MARKS:
                continue
        elif not ((kind == "number" and token[0] in "+-")
                  or (kind == "word" and token.upper() in _CHAIN_WORDS)):
            continue
        counts[-1] += 1
        longest = max(longest, sum(counts))
    return longest


def check_query(text: str, *, max_depth: int, max_chain: int = 0) -> None:
    """Refuse a query nested deeper than ``max_depth``, or chaining more than ``max_chain``
    operators (0: no limit), before any parser sees it; the refusal is logged.

    :raises QuerySyntaxError: naming the depth or chain, the limit and its setting
    """
    if sum(map(text.count, "{([")) > max_depth:  # opening brackets bound the depth
        depth = query_depth(text)
        if depth > max_depth:
            _refused(text, f"nests {depth} deep")
            raise QuerySyntaxError(
                f"The query nests groups, brackets or parentheses {depth} deep; this "
                f"endpoint accepts at most {max_depth} (setting max_query_depth).")
    if max_chain and _chain_bound(text) > max_chain:  # most queries: no lexing
        chain = query_chain(text)
        if chain > max_chain:
            _refused(text, f"chains {chain} operators")
            raise QuerySyntaxError(
                f"The query chains {chain} operators or separators (such as . ; , / | ! && "
                f"|| + UNION); this endpoint accepts at most {max_chain} (setting "
                "max_query_chain).")


def _chain_bound(text: str) -> int:
    """At least :func:`query_chain` of ``text``, counted without lexing."""
    upper = text.upper()
    return sum(map(text.count, _CHAIN_MARKS)) + sum(map(upper.count, _CHAIN_WORDS))


def query_digest(text: str) -> str:
    """A short stable name of a query for the logs: its length and a hash.

    >>> query_digest("ASK {}")
    '6 chars, sha256 819ea91ed5f1'
    """
    digest = hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()[:12]
    return f"{len(text)} chars, sha256 {digest}"


def _refused(text: str, why: str) -> None:
    log.warning("refused a query from %s before parsing: it %s (%s: %s)", CLIENT.get(),
                why, query_digest(text), shortened(text))


def shortened(text: str, limit: int = 200) -> str:
    """``text`` on one line, at most ``limit`` characters (the rest said as "…").

    >>> shortened("SELECT *\\n{ ?s ?p ?o }", 12)
    'SELECT * { …'
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


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


class TooManyQueries(TooBusy):
    """A client already runs as many queries as it may; it should retry later (a 429 with
    ``Retry-After``, as when the pool has no process free)."""


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
        token = CLIENT.set(client)  # the query pool's fair share is by this client
        try:
            if self.limit < 1:
                yield
                return
            with self._counted(client):
                yield
        finally:
            CLIENT.reset(token)

    @contextmanager
    def _counted(self, client: str) -> Iterator[None]:
        with self._lock:
            held = self._running.get(client, 0)
            if held >= self.limit:
                raise TooManyQueries(
                    f"this client already has {held} queries running or waiting, the most "
                    f"one client may have at once (setting max_concurrent_queries_per_client); "
                    f"retry when one has finished.", self.retry_after)
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
