"""Negotiation by RFC 9110: one table of Accept headers for every kind of answer."""

from __future__ import annotations

import pytest

from tipgraph.formats import find, formats_of
from tipgraph.negotiation import accepts_gzip, choose

#: The documents of a resource, in the server's order (HTML first).
DOCUMENTS = [find(n) for n in ("html", "turtle", "jsonld", "rdfxml", "ntriples", "nquads",
                               "trig")]
#: The description (/dataset): the same formats, data first.
DESCRIPTION = DOCUMENTS[1:] + DOCUMENTS[:1]
#: A SELECT answer at /sparql.
RESULTS = formats_of("results", "html")
#: A CONSTRUCT answer at /sparql.
GRAPHS = formats_of("rdf", "html")

CASES = [
    # (offered, Accept, chosen format name or None for 406)
    (DOCUMENTS, None, "html"),
    (DOCUMENTS, "", "html"),
    (DOCUMENTS, "*/*", "html"),
    (DESCRIPTION, "*/*", "turtle"),  # CKAN's harvester sends */*
    (DESCRIPTION, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "html"),
    # an alias type is not reached through a wildcard: application/* is not HTML
    (DOCUMENTS, "application/*", "jsonld"),
    # the most specific range decides: text/html;q=0 excludes HTML whatever */* says
    (DOCUMENTS, "text/html;q=0, */*", "turtle"),
    (DESCRIPTION, "text/turtle;q=0, */*", "jsonld"),
    # exact types rank above wildcards at the same q
    (DOCUMENTS, "*/*, text/turtle", "turtle"),
    (DOCUMENTS, "text/*, application/rdf+xml", "rdfxml"),
    # the client's order among its exact types, not the server's
    (DOCUMENTS, "application/n-triples, text/turtle", "ntriples"),
    (DOCUMENTS, "text/turtle, application/n-triples", "turtle"),
    # an alias the client names counts as the client placed it
    (DOCUMENTS, "text/plain, text/turtle", "ntriples"),
    (DOCUMENTS, "text/turtle, text/plain", "turtle"),
    (DOCUMENTS, "text/turtle;q=0.5, application/xhtml+xml", "html"),
    # q-values
    (DOCUMENTS, "text/turtle;q=0.5, application/ld+json;q=0.9", "jsonld"),
    (DOCUMENTS, "text/turtle;q=0", None),
    (DOCUMENTS, "*/*;q=0", None),
    # application/json gets JSON-LD for graphs, results JSON for SELECT
    (DOCUMENTS, "application/json", "jsonld"),
    (GRAPHS, "application/json", "jsonld"),
    (RESULTS, "application/json", "json"),
    (DOCUMENTS, "application/n-quads", "nquads"),
    (DOCUMENTS, "application/trig", "trig"),
    (GRAPHS, "application/n-quads", "nquads"),
    # nothing can carry these: 406
    (DOCUMENTS, "image/png", None),
    (RESULTS, "text/turtle", None),
    (GRAPHS, "text/csv", None),
    (RESULTS, "application/sparql-results+json,application/json,text/javascript", "json"),
    (RESULTS, "text/csv;q=0.9, text/tab-separated-values", "tsv"),
    (RESULTS, "*/*", "json"),
    # parameters and case are ignored; a malformed q is 0
    (DOCUMENTS, "Text/Turtle; charset=utf-8", "turtle"),
    (DOCUMENTS, "text/turtle;q=oops, application/rdf+xml", "rdfxml"),
]


@pytest.mark.parametrize(("offered", "accept", "chosen"), CASES)
def test_negotiation_table(offered: list, accept: str | None, chosen: str | None) -> None:
    fmt = choose(accept, offered)
    assert (fmt.name if fmt else None) == chosen


@pytest.mark.parametrize(("header", "gzip"), [
    ("gzip", True), ("gzip, deflate, br", True), ("x-gzip", True), ("*", True),
    ("br", False), ("", False), (None, False), ("gzip;q=0", False), ("gzip;q=0, *", False),
    ("*;q=0", False), ("identity", False), ("deflate, *;q=0.1", True),
])
def test_accept_encoding(header: str | None, gzip: bool) -> None:
    assert accepts_gzip(header) is gzip
