"""What a view needs of the app, found through ``current_app`` (as Flask's tutorial keeps
``get_db`` in ``db.py``): the service and the build a request is served from, this
process's query engine and result cache, and the URLs the site is reached at.

Each is attached to the app by :func:`tipgraph.web.create_app` under one
``app.extensions`` key; views never import them as globals.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import current_app, request

from tipgraph.serving import Build, Service
from tipgraph.serving.catalogue import FACETS, Catalogue, Selection
from tipgraph.serving.textindex import TextQueryError
from tipgraph.sparql_engine import QueryEngine
from tipgraph.web.result_cache import ResultCache

SERVICE = "tipgraph"
ENGINE = "tipgraph.queries"
RESULT_CACHE = "tipgraph.result_cache"
LIMITER = "tipgraph.limiter"

_engine_lock = threading.Lock()


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
                                     spool=str(cache.spool) if cache else None)
                current_app.extensions[ENGINE] = engine
    return engine


def public_root() -> str:
    """Where this server is reached (the ``public_url`` setting, or the request's own root)."""
    root = get_settings().get("public_url") or (request.host_url.rstrip("/")
                                                + request.script_root)
    return root.rstrip("/") + "/"


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
        return cls(request.args.get("q", "").strip(),
                   {name: request.args.getlist(name) for name in FACETS},
                   [name for name in request.args.getlist("all") if name in FACETS],
                   "count" if request.args.get("sort") == "count" else "label")

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
