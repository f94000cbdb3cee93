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

import functools
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

#: A key that is an absolute IRI, or the IRI value of ``@id`` / ``@type``.
_IRI = re.compile(rb'"(@id|@type)":"([^"\\]+)"|"([a-zA-Z][a-zA-Z0-9+.-]*:[^"\\]*)":')

#: Where a node object starts: never inside a string (there its quotes would be escaped,
#: and ``@id`` outside a string is no JSON), and no match of :data:`_IRI` spans it.
_NODE = b'{"@id":"'


def compact(expanded: bytes, prefixes: Mapping[str, str]) -> bytes:
    """Expanded JSON-LD (an array of node objects) compacted with ``prefixes`` as context.

    Only prefixes ending in ``/`` or ``#`` are used (JSON-LD treats those as prefixes);
    the context lists them all.

    >>> compact(b'[{"@id":"http://ex.org/a","http://ex.org/p":[{"@id":"http://ex.org/b"},'
    ...         b'{"@value":"\\\\"http://ex.org/c\\\\":"}]}]', {"ex": "http://ex.org/"})
    b'{"@context":{"ex":"http://ex.org/"},"@graph":[{"@id":"ex:a","ex:p":[{"@id":"ex:b"},{"@value":"\\\\"http://ex.org/c\\\\":"}]}]}'
    """
    context, rewrite = _compactor(prefixes)
    return b'{"@context":' + context + b',"@graph":' + rewrite(expanded.strip() or b"[]") + b"}"


def compact_file(expanded: Path, out: Path, prefixes: Mapping[str, str],
                 chunk: int = 1 << 22) -> None:
    """:func:`compact` from file to file, ``chunk`` bytes at a time: a dump of a million
    publications is compacted in the memory of a few chunks, not of the whole text.

    Each piece ends where a node object starts (:data:`_NODE`), so no IRI is cut in two.
    """
    context, rewrite = _compactor(prefixes)
    with expanded.open("rb") as source, out.open("wb") as target:
        target.write(b'{"@context":' + context + b',"@graph":')
        pending, empty = b"", True
        while block := source.read(chunk):
            if empty:
                block = block.lstrip()
                empty = not block
            pending += block
            cut = pending.rfind(_NODE)
            if cut > 0:
                target.write(rewrite(pending[:cut]))
                pending = pending[cut:]
        target.write(rewrite(pending.rstrip()) if not empty else b"[]")
        target.write(b"}")


def document_head(prefixes: Mapping[str, str]) -> bytes:
    """The start of a compacted document whose ``@graph`` the caller writes, node objects
    (:func:`node_objects`) apart by commas, and ends with ``]}``."""
    return b'{"@context":' + _compactor(prefixes)[0] + b',"@graph":['


def node_objects(expanded: bytes, prefixes: Mapping[str, str]) -> bytes:
    """The node objects of expanded JSON-LD (an array), compacted, without the array's
    brackets: a part of the ``@graph`` of :func:`document_head` (empty for no node).

    >>> node_objects(b'[{"@id":"http://ex.org/a"}]', {"ex": "http://ex.org/"})
    b'{"@id":"ex:a"}'
    """
    text = expanded.strip()
    return _compactor(prefixes)[1](text[1:-1].strip()) if text else b""


def _compactor(prefixes: Mapping[str, str]) -> tuple[bytes, Callable[[bytes], bytes]]:
    """The context of ``prefixes`` as JSON, and the rewrite of expanded JSON-LD text (one
    per set of prefixes, kept: what it has rewritten it remembers, across documents)."""
    return _compactor_of(tuple(prefixes.items()))


#: The most rewritten matches a compactor remembers (the properties and classes recur in
#: every document; most instance IRIs once).
_REMEMBERED = 1 << 15


@functools.lru_cache(maxsize=8)
def _compactor_of(prefixes: tuple[tuple[str, str], ...]
                  ) -> tuple[bytes, Callable[[bytes], bytes]]:
    spaces = sorted(((ns, prefix) for prefix, ns in prefixes
                     if ns.endswith(("/", "#"))), key=lambda item: -len(item[0]))
    done: dict[bytes, bytes] = {}  # a whole match -> its rewrite

    def rewrite(match: re.Match[bytes]) -> bytes:
        found = done.get(match[0])
        if found is None:
            if match[1]:
                found = (b'"' + match[1] + b'":"'
                         + _shorten(match[2].decode("utf-8"), spaces).encode("utf-8") + b'"')
            else:
                found = b'"' + _shorten(match[3].decode("utf-8"), spaces).encode("utf-8") + b'":'
            if len(done) >= _REMEMBERED:
                done.clear()
            done[match[0]] = found
        return found

    context = json.dumps({prefix: ns for ns, prefix in sorted(spaces, key=lambda s: s[1])},
                         ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return context, functools.partial(_IRI.sub, rewrite)


def _shorten(iri: str, spaces: list[tuple[str, str]]) -> str:
    for namespace, prefix in spaces:
        if iri.startswith(namespace):
            local = iri[len(namespace):]
            # "p://x" would be read as an absolute IRI; "p:" alone is fine but unhelpful
            return f"{prefix}:{local}" if local and not local.startswith("//") else iri
    return iri
