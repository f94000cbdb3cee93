"""Reverse proxies in front of the server: whose headers are believed (``trusted_proxies``).

With ``trusted_proxies`` = N > 0, the last N values of ``X-Forwarded-For``, ``-Proto``,
``-Host``, ``-Port`` and ``-Prefix`` are what the N proxies saw (werkzeug's
:class:`~werkzeug.middleware.proxy_fix.ProxyFix`): the client's address (its fair share
of the query processes, its slots) and the URLs the site links to come from them. A
proxy that sends RFC 7239 ``Forwarded`` instead is read the same way. With 0 (the
default) those headers are ignored: the peer address is the client, and an answer
holding a URL made from ``Host`` is not kept by shared caches
(:func:`tipgraph.web.context.public_root`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import parse_list_header
from werkzeug.middleware.proxy_fix import ProxyFix

from tipgraph.web.protocol import WSGIApp

#: ``Forwarded`` parameters and the ``X-Forwarded-*`` header each stands for.
_FORWARDED = {"for": "HTTP_X_FORWARDED_FOR", "proto": "HTTP_X_FORWARDED_PROTO",
              "host": "HTTP_X_FORWARDED_HOST"}


def behind_proxies(app: WSGIApp, trusted: int) -> WSGIApp:
    """``app`` reading the headers of ``trusted`` proxies (``app`` itself when 0)."""
    if trusted <= 0:
        return app
    fixed = ProxyFix(app, x_for=trusted, x_proto=trusted, x_host=trusted, x_port=trusted,
                     x_prefix=trusted)
    return _Forwarded(fixed)


def client_address(peer: str, forwarded_for: str | None, forwarded: str | None,
                   trusted: int) -> str:
    """The client's address as :func:`behind_proxies` gives it to the app (for the
    server's own turns, read before the app: :mod:`tipgraph.front`).

    >>> client_address("10.0.0.1", "198.51.100.1, 203.0.113.7", None, 1)
    '203.0.113.7'
    >>> client_address("10.0.0.1", None, 'for="192.0.2.60:4711";proto=https', 1)
    '192.0.2.60'
    >>> client_address("10.0.0.1", "203.0.113.7", None, 0)
    '10.0.0.1'
    """
    if trusted <= 0:
        return peer
    if forwarded_for:
        values = [value.strip() for value in forwarded_for.split(",")]
    elif forwarded:
        values = [dict(_pair(part) for part in element.split(";") if "=" in part).get("for", "")
                  for element in parse_list_header(forwarded)]
    else:
        return peer
    return (values[-trusted] or peer) if len(values) >= trusted else peer


class _Forwarded:
    """``Forwarded: for=...;proto=...;host=...`` read as the ``X-Forwarded-*`` headers it
    stands for, when a request has none of those (one reading: :class:`ProxyFix`'s)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        header = environ.get("HTTP_FORWARDED")
        if header and not any(name in environ for name in _FORWARDED.values()):
            values: dict[str, list[str]] = {name: [] for name in _FORWARDED}
            for element in parse_list_header(header):  # one element per proxy, in order
                pairs = dict(_pair(part) for part in element.split(";") if "=" in part)
                for name in _FORWARDED:
                    values[name].append(pairs.get(name, ""))
            for name, key in _FORWARDED.items():
                if any(values[name]):
                    environ[key] = ", ".join(values[name])
        return self.app(environ, start_response)


def _pair(part: str) -> tuple[str, str]:
    name, _, value = part.strip().partition("=")
    value = value.strip().strip('"')
    if value.startswith("[") and "]" in value:  # for="[2001:db8::1]:4711"
        value = value[1:value.index("]")]
    elif name.strip().lower() == "for" and value.count(":") == 1:  # for="192.0.2.1:4711"
        value = value.split(":", 1)[0]
    return name.strip().lower(), value
