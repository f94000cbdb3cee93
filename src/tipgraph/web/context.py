"""What a view needs of the app, found through ``current_app`` (as Flask's tutorial keeps
``get_db`` in ``db.py``): the service and the build a request is served from, this
process's query engine and result cache, and the URLs the site is reached at.

Each is attached to the app by :func:`tipgraph.web.create_app` under one
``app.extensions`` key; views never import them as globals.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import abort, current_app, g, request

from tipgraph.serving import Build, Service
from tipgraph.serving.catalogue import FACETS, Catalogue, Selection
from tipgraph.serving.textindex import TextQueryError
from tipgraph.sparql_engine import QueryEngine
from tipgraph.web.errors import plain_page
from tipgraph.web.result_cache import ResultCache

SERVICE = "tipgraph"
ENGINE = "tipgraph.queries"
RESULT_CACHE = "tipgraph.result_cache"
LIMITER = "tipgraph.limiter"
#: The layers of ``/sparql`` before Flask, which the front's loop answers with too.
FAST_PATH = "tipgraph.fast_path"
REPLAY = "tipgraph.replay"
#: The documents' fast path before Flask, which the front's loop answers with too.
DOCUMENT_PATH = "tipgraph.document_path"

_engine_lock = threading.Lock()

#: The largest ``?page=`` a page or document may be asked for (no catalogue has a million
#: pages of anything); a larger one is refused with 400 before it reaches an index or store.
MAX_PAGE = 1_000_000
#: Most facet values one browse request may choose, all facets together (400 beyond).
MAX_CHOSEN = 50
#: Longest search text (and facet value) of a browse request, in characters (400 beyond).
MAX_SEARCH_CHARS = 1000


def get_service() -> Service:
    return current_app.extensions[SERVICE]


def get_build() -> Build:
    """The build this request is served from."""
    return get_service().current()


def get_settings() -> dict[str, Any]:
    return current_app.config["TIPGRAPH"]


def get_result_cache() -> ResultCache | None:
    """The cache of ``/sparql`` answers, or None when the setting turns it off."""
    return current_app.extensions.get(RESULT_CACHE)


def get_engine() -> QueryEngine:
    """This process's query engine, started on first use (each gunicorn worker has its own)."""
    engine = current_app.extensions.get(ENGINE)
    if engine is None or engine._owner != os.getpid():
        with _engine_lock:
            engine = current_app.extensions.get(ENGINE)
            if engine is None or engine._owner != os.getpid():
                config = get_settings()
                cache = get_result_cache()  # answers are written where they are kept
                engine = QueryEngine(processes=config["query_workers"],
                                     timeout=config["query_timeout"],
                                     spool=str(cache.spool) if cache else None,
                                     memory_mb=config["query_memory_mb"],
                                     wait=config["query_wait"],
                                     share=config["query_share_seconds"])
                current_app.extensions[ENGINE] = engine
    return engine


def public_root() -> str:
    """Where this server is reached: the ``public_url`` setting, or the request's own root
    (its ``Host``, or what ``trusted_proxies`` say). A root taken from a ``Host`` no trusted
    proxy vouches for is noted (:func:`from_untrusted_host`): the answer then tells shared
    caches not to keep it, so a forged ``Host`` cannot poison the links others are sent."""
    root = get_settings().get("public_url")
    if not root:
        root = request.host_url.rstrip("/") + request.script_root
        if not int(get_settings()["trusted_proxies"]):
            g.tipgraph_untrusted_host = True
    return root.rstrip("/") + "/"


def from_untrusted_host() -> bool:
    """Whether this request's answer holds a URL made from an untrusted ``Host``."""
    return bool(g.get("tipgraph_untrusted_host"))


def browse_url(**params: str | list[str]) -> str:
    """The browse page filtered by ``params`` (facet -> value or values, ``q``, ``page``)."""
    return _url("/browse", params)


def _url(path: str, params: dict[str, Any]) -> str:
    """``path`` on this server with ``params`` (name -> value or values; empty ones left
    out) as its query string."""
    pairs = [(k, v) for k, values in params.items()
             for v in ([values] if isinstance(values, str) else values) if v]
    return request.script_root + path + (f"?{urlencode(pairs)}" if pairs else "")


@dataclass
class BrowseState:
    """What a browse URL asks for: words, chosen facet values, expanded facets, the order
    of the facets' values; every view of the browse page (and its exports) is a URL of
    these."""

    query: str
    chosen: dict[str, list[str]]
    expanded: list[str]
    order: str  # "label" (the default) or "count"

    @classmethod
    def from_request(cls) -> BrowseState:
        """The browse view this request asks for; aborts with 400 when it asks for more
        than a page can show (:meth:`refused`)."""
        state = cls(request.args.get("q", "").strip(),
                    {name: request.args.getlist(name) for name in FACETS},
                    [name for name in request.args.getlist("all") if name in FACETS],
                    "count" if request.args.get("sort") == "count" else "label")
        refused = state.refused()
        if refused:
            abort(plain_page(400, "Bad request", refused))
        return state

    def refused(self) -> str | None:
        """Why this view asks for more than a page can show, or None. Each facet link
        carries every value chosen, so a page grows with the square of their number (a
        41 KB URL once made a 159 MB page): a request is bounded before anything is
        selected."""
        values = sum(len(v) for v in self.chosen.values())
        if values > MAX_CHOSEN:
            return f"At most {MAX_CHOSEN} facet values may be chosen at once ({values} were)."
        if len(self.query) > MAX_SEARCH_CHARS:
            return f"A search may be at most {MAX_SEARCH_CHARS} characters long."
        if any(len(v) > MAX_SEARCH_CHARS for chosen in self.chosen.values() for v in chosen):
            return f"A facet value may be at most {MAX_SEARCH_CHARS} characters long."
        return None

    def url(self, path: str = "/browse", **changes: Any) -> str:
        """This view's URL at ``path`` (the browse page, or one of its exports), with
        ``changes`` to its parameters."""
        return _url(path, {"q": self.query, **self.chosen, "all": self.expanded,
                           "sort": "count" if self.order == "count" else "", **changes})

    def select(self, cat: Catalogue) -> Selection:
        try:
            return cat.select(self.query, self.chosen)
        except TextQueryError:  # an operator without its words: nothing matches it
            return Selection(0, cat)


def requested_page() -> int | None:
    """The ``?page=`` of this request: 1 when absent, None when it is not a whole number.

    Aborts with 400 when it is over :data:`MAX_PAGE` (``?page=`` beyond 2^63 once reached a
    store's OFFSET and failed there with 500)."""
    text = request.args.get("page", "1").strip()
    if not re.fullmatch(r"-?[0-9]+", text):
        return None
    if len(text) > len(str(MAX_PAGE)) or int(text) > MAX_PAGE:
        abort(plain_page(400, "Bad request", f"Page numbers go up to {MAX_PAGE:,}."))
    return int(text)
