"""Compacting JSON-LD as text: IRIs become ``prefix:local`` without building the document.

pyoxigraph writes expanded JSON-LD in Rust, fast and streaming. Compacting it
with the usual JSON-LD algorithm means loading the whole document into Python
objects: for the dump of 100,000 publications that is gigabytes and tens of
seconds. Every JSON-LD we write (dumps, documents, CONSTRUCT answers) goes
through here. Our
context is prefixes only, so compaction is a rewrite of IRIs in two places,
property keys and the values of ``@id`` and ``@type``, which a regular
expression finds exactly: in JSON text an unescaped ``"`` always starts or ends
a string, an IRI holds no ``"`` or ``\\``, and only a key is followed by ``:``,
so no literal's text is ever touched. Expanding the result with the same
context gives back exactly the input's triples (``tests/unit/test_jsonld.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

#: A key that is an absolute IRI, or the IRI value of ``@id`` / ``@type``.
_IRI = re.compile(rb'"(@id|@type)":"([^"\\]+)"|"([a-zA-Z][a-zA-Z0-9+.-]*:[^"\\]*)":')


def compact(expanded: bytes, prefixes: Mapping[str, str]) -> bytes:
    """Expanded JSON-LD (an array of node objects) compacted with ``prefixes`` as context.

    Only prefixes ending in ``/`` or ``#`` are used (JSON-LD treats those as prefixes);
    the context lists them all.

    >>> compact(b'[{"@id":"http://ex.org/a","http://ex.org/p":[{"@id":"http://ex.org/b"},'
    ...         b'{"@value":"\\\\"http://ex.org/c\\\\":"}]}]', {"ex": "http://ex.org/"})
    b'{"@context":{"ex":"http://ex.org/"},"@graph":[{"@id":"ex:a","ex:p":[{"@id":"ex:b"},{"@value":"\\\\"http://ex.org/c\\\\":"}]}]}'
    """
    spaces = sorted(((ns, prefix) for prefix, ns in prefixes.items()
                     if ns.endswith(("/", "#"))), key=lambda item: -len(item[0]))
    done: dict[bytes, bytes] = {}

    def short(iri: bytes) -> bytes:
        found = done.get(iri)
        if found is None:
            found = done[iri] = _shorten(iri.decode("utf-8"), spaces).encode("utf-8")
        return found

    def rewrite(match: re.Match[bytes]) -> bytes:
        if match.group(1):
            return b'"' + match.group(1) + b'":"' + short(match.group(2)) + b'"'
        return b'"' + short(match.group(3)) + b'":'

    context = json.dumps({prefix: ns for ns, prefix in sorted(spaces, key=lambda s: s[1])},
                         ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    graph = _IRI.sub(rewrite, expanded.strip() or b"[]")
    return b'{"@context":' + context + b',"@graph":' + graph + b"}"


def _shorten(iri: str, spaces: list[tuple[str, str]]) -> str:
    for namespace, prefix in spaces:
        if iri.startswith(namespace):
            local = iri[len(namespace):]
            # "p://x" would be read as an absolute IRI; "p:" alone is fine but unhelpful
            return f"{prefix}:{local}" if local and not local.startswith("//") else iri
    return iri
