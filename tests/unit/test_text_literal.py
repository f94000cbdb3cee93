"""The build's own literals are rdflib's literals: equal, hashed and written alike."""

from __future__ import annotations

import pytest
from rdflib import Literal, URIRef

from tipgraph.graphs import ntriples_lines, text_literal

TEXTS = ["", "A title", "Été à Paris", "tab\tnew\nline \"quoted\" \\", "1990", "true",
         "  spaced  ", "\x00\x7f", "😀 emoji", "x\ud800y", "https://example.org/a"]


@pytest.mark.parametrize("lang", [None, "en"])
@pytest.mark.parametrize("text", TEXTS)
def test_a_text_literal_is_the_literal_rdflib_makes(text: str, lang: str | None) -> None:
    made, rdflib_made = text_literal(text, lang), Literal(text, lang=lang)
    assert type(made) is type(rdflib_made)
    assert made == rdflib_made and hash(made) == hash(rdflib_made)
    assert (str(made), made.language, made.datatype, made.value, made.ill_typed) == (
        str(rdflib_made), rdflib_made.language, rdflib_made.datatype, rdflib_made.value,
        rdflib_made.ill_typed)
    assert made.n3() == rdflib_made.n3()
    if "\ud800" not in text:
        assert made.toPython() == rdflib_made.toPython()
    assert {made} == {rdflib_made}
    triple = (URIRef("urn:s"), URIRef("urn:p"), made)
    assert ntriples_lines([triple]) == ntriples_lines([(*triple[:2], rdflib_made)])
