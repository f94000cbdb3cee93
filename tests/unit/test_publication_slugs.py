"""A publication's slug is its own: when the title's slug and its digest are both taken
(titles cut short at 60 characters share a slug; a digest of 6 hex digits may repeat
among thousands), another digest is drawn, never a slug twice."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from tipgraph.mapping import _publication_slugs


def test_a_taken_digest_is_not_given_twice() -> None:
    publication = SimpleNamespace(title="Same title", description="text")
    digest = hashlib.sha1(b"second|text").hexdigest()[:6]
    slugs = _publication_slugs([publication, publication], ["first", "second"],  # type: ignore[list-item]
                               {"retired": f"same-title-{digest}"})
    assert slugs["first"] == "same-title"
    assert slugs["second"].startswith("same-title-")
    assert len({*slugs.values(), f"same-title-{digest}"}) == 3
