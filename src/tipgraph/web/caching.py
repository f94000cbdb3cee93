"""One caching helper for every page, document, description and dump.

Everything we serve is a function of the build in service and the request's
URL and format, so the ETag is a digest of those: it changes when a new build
is switched in, and ``Last-Modified`` is when it was switched in (the ledger's
switch time, which never goes back, also when an older build is switched in again).
The ETag names the build alone: a build switched in again serves what it served
before, and a remote store serving it gives the same validators. Werkzeug's
``make_conditional`` then answers ``If-None-Match`` / ``If-Modified-Since``
with 304 (and ``Range`` with 206), so re-harvesting costs a header exchange.
"""

from __future__ import annotations

import functools
import hashlib

from flask import Response, request
from werkzeug.http import http_date, quote_etag

from tipgraph.serving import Build
from tipgraph.web.context import from_untrusted_host

#: Seconds a client or proxy may reuse an answer before revalidating it.
MAX_AGE = 300


def etag_for(build: Build, *parts: str) -> str:
    """A strong ETag for what ``build`` serves under ``parts`` (path, format, ...).

    >>> from pathlib import Path
    >>> b = Build("b1", Path("."), None, {}, None)
    >>> etag_for(b, "/x", "text/turtle") != etag_for(b, "/x", "text/html")
    True
    """
    digest = hashlib.sha256("\x1f".join((build.id, *parts)).encode()).hexdigest()
    return digest[:32]


def caching_headers(build: Build, full_path: str, mimetype: str, *parts: str,
                    private: bool = False) -> list[tuple[str, str]]:
    """The headers :func:`conditional` sets on a 200, for a response made without Flask
    (the fast paths of ``/sparql`` and of documents): the same ETag, Last-Modified and
    Cache-Control (``private``: links made from an untrusted ``Host``)."""
    return [("ETag", quote_etag(etag_for(build, full_path, mimetype, *parts))),
            ("Last-Modified", _http_date(build.modified)),
            ("Cache-Control", f"{'private' if private else 'public'}, max-age={MAX_AGE}")]


_http_date = functools.lru_cache(maxsize=8)(http_date)  # a build's switch time, kept


def conditional(response: Response, build: Build, *parts: str) -> Response:
    """Stamp ``response`` with ETag, Last-Modified and Cache-Control; 304 when unchanged.

    :param parts: what besides the build and the request's URL selects the answer
    """
    response.set_etag(etag_for(build, request.full_path, response.mimetype or "", *parts))
    response.last_modified = build.modified
    if from_untrusted_host():  # links made from a Host header: for this client only
        response.cache_control.private = True
    else:
        response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    return response.make_conditional(request)
