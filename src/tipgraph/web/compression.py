"""gzip for every answer a client takes it for: pages, documents, descriptions, /sparql.

One WSGI layer, outermost, so it also compresses what ``/sparql``'s fast path and
replay answer before Flask routes them. It compresses a response when the client's
``Accept-Encoding`` takes gzip (:func:`tipgraph.negotiation.accepts_gzip`), the
response is a 200 of a textual type (HTML, RDF, JSON, XML, CSV...) with no encoding
of its own (nor ``Cache-Control: no-transform``), and the request asks no ``Range``
(a range of the identity bytes cannot be re-encoded). Compressed, the answer says
``Content-Encoding: gzip``, drops its ``Content-Length`` (it is streamed, chunk by
chunk, never held whole) and carries an ETag of its own (``"...-gzip"``, RFC 9110
section 8.8.3: another representation); ``If-None-Match`` with that tag is read as
the identity tag, so revalidation still answers 304. Every compressible answer says
``Vary: Accept-Encoding``.

Dumps are never compressed here: the dump view serves a build's precompressed
``.gz`` file when there is one, and marks the request (:data:`NOT_COMPRESSED`).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tipgraph.negotiation import accepts_gzip, bare

#: Set in the WSGI environ by a view whose answer must go out as it is (dumps).
NOT_COMPRESSED = "tipgraph.not_compressed"
#: The ETag suffix of a gzip-encoded representation.
SUFFIX = "-gzip"
#: Below this many bytes (when the length is known) gzip saves nothing worth a header.
MIN_BYTES = 256
#: zlib's level: 6 is its default, about a third of level 9's CPU for nearly its ratio.
LEVEL = 6

_TEXTUAL_SUFFIXES = ("+json", "+xml")
_TEXTUAL = {"application/json", "application/xml", "application/javascript",
            "application/n-triples", "application/n-quads", "application/trig",
            "application/sparql-query", "image/svg+xml",
            # citations (BibTeX, RIS; CSL-JSON is +json)
            "application/x-bibtex", "application/x-research-info-systems"}

StartResponse = Callable[..., Any]


def compressible(content_type: str | None) -> bool:
    """Whether a response of ``content_type`` is text worth compressing.

    >>> compressible("text/turtle; charset=utf-8"), compressible("application/gzip")
    (True, False)
    >>> compressible("application/sparql-results+json")
    True
    """
    if not content_type:
        return False
    kind = bare(content_type)
    return kind.startswith("text/") or kind in _TEXTUAL or kind.endswith(_TEXTUAL_SUFFIXES)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _without(headers: list[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in names]


def _vary(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with ``Accept-Encoding`` in ``Vary`` (one header, values kept)."""
    values = [v.strip() for k, vs in headers if k.lower() == "vary" for v in vs.split(",")
              if v.strip()]
    if "*" in values or any(v.lower() == "accept-encoding" for v in values):
        return headers
    return [*_without(headers, "vary"), ("Vary", ", ".join([*values, "Accept-Encoding"]))]


def gzip_etag(etag: str) -> str:
    """The ETag of the gzip representation of what ``etag`` tags.

    >>> gzip_etag('"abc"'), gzip_etag('W/"abc"')
    ('"abc-gzip"', 'W/"abc-gzip"')
    """
    return etag[:-1] + SUFFIX + '"' if etag.endswith('"') else etag + SUFFIX


def _identity_tags(if_none_match: str) -> str:
    """``If-None-Match`` with our gzip tags read as the identity tags they stand for."""
    return if_none_match.replace(SUFFIX + '"', '"')


def encoded(status: str, headers: list[tuple[str, str]], *, wanted: bool,
            sent_gzip_tag: bool = False, as_is: bool = False
            ) -> tuple[list[tuple[str, str]], bool]:
    """The headers of an answer (``status``, ``headers``) as this layer sends it, and
    whether it gzips the body; for the front's own answers too, which do not pass through
    it (:func:`gzipped` makes their body).

    :param wanted: the client takes gzip and asks no range
    :param sent_gzip_tag: its ``If-None-Match`` names a gzip representation's tag
    :param as_is: the view marked the answer not to be compressed (:data:`NOT_COMPRESSED`)
    """
    if as_is or _header(headers, "content-encoding") \
            or "no-transform" in (_header(headers, "cache-control") or ""):
        return headers, False
    code = int(status.split(" ", 1)[0])
    if code == 304:
        if wanted and sent_gzip_tag:  # the client holds the gzip representation
            etag = _header(headers, "etag")
            if etag:
                headers = [*_without(headers, "etag"), ("ETag", gzip_etag(etag))]
            headers = _vary(headers)
        return headers, False
    if not _textual(_header(headers, "content-type")):
        return headers, False
    headers = _vary(headers)
    length = _header(headers, "content-length")
    small = length is not None and int(length) < MIN_BYTES
    if not wanted or code != 200 or small or _header(headers, "content-range"):
        return headers, False
    etag = _header(headers, "etag")
    headers = _without(headers, "content-length", "etag")
    if etag:
        headers.append(("ETag", gzip_etag(etag)))
    headers.append(("Content-Encoding", "gzip"))
    return headers, True


def gzipped(body: bytes, level: int = LEVEL) -> bytes:
    """``body`` gzipped, byte for byte as this layer writes it when it comes in one piece
    (as a view's or the fast paths' answers do)."""
    encoder = _encoder(level)
    return encoder.compress(body) + encoder.flush()


def _encoder(level: int) -> Any:
    return zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip header


_textual = functools.lru_cache(maxsize=64)(compressible)


class Compression:
    """WSGI middleware: gzip what :func:`compressible` says, when the client takes it."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
                 *, level: int = LEVEL) -> None:
        self.app = app
        self.level = level

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        wanted = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")) \
            and not environ.get("HTTP_RANGE")
        sent_gzip_tag = False
        if wanted and environ.get("HTTP_IF_NONE_MATCH"):
            tags = environ["HTTP_IF_NONE_MATCH"]
            sent_gzip_tag = SUFFIX + '"' in tags
            environ["HTTP_IF_NONE_MATCH"] = _identity_tags(tags)
        decision: dict[str, bool] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers, decision["gzip"] = encoded(status, headers, wanted=wanted,
                                                sent_gzip_tag=sent_gzip_tag,
                                                as_is=bool(environ.get(NOT_COMPRESSED)))
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        if not decision.get("gzip"):
            return body
        if environ.get("REQUEST_METHOD") == "HEAD":
            return _Closing(iter(()), body)
        return _Closing(self._compressed(body), body)

    def _compressed(self, body: Iterable[bytes]) -> Iterator[bytes]:
        encoder = _encoder(self.level)
        for chunk in body:
            if chunk:
                out = encoder.compress(chunk)
                if out:
                    yield out
        yield encoder.flush()


class _Closing:
    """An iterable that closes the application's body when the server closes it: a body
    may do its work on ``close`` (the result cache keeps an answer then)."""

    def __init__(self, chunks: Iterator[bytes], body: Iterable[bytes]) -> None:
        self.chunks, self.body = chunks, body

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


def init_app(app: Any) -> None:
    """Compress the answers of ``app`` (call last: outermost, around the fast path)."""
    app.wsgi_app = Compression(app.wsgi_app)
