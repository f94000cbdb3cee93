"""The formats table: lookup by every name, content negotiation, and the writers."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pyoxigraph
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rdflib import Graph
from rdflib.compare import isomorphic

from tipgraph import formats
from tipgraph.formats import find, negotiate, rdf_format, results_format

EX = "http://example.org/"


@pytest.mark.parametrize(("token", "name"), [
    ("ttl", "turtle"), ("turtle", "turtle"), ("text/turtle", "turtle"), (".ttl", "turtle"),
    ("n3", "turtle"), ("nt", "ntriples"), ("application/n-triples", "ntriples"),
    ("jsonld", "jsonld"), ("json-ld", "jsonld"), ("application/ld+json", "jsonld"),
    ("json", "jsonld"), ("rdf", "rdfxml"), ("rdf+xml", "rdfxml"), ("xml", "rdfxml"),
    ("application/rdf+xml; charset=utf-8", "rdfxml"), ("TEXT/TURTLE", "turtle"),
])
def test_rdf_format_by_every_name(token: str, name: str) -> None:
    assert rdf_format(token).name == name


@pytest.mark.parametrize(("token", "name"), [
    ("json", "json"), ("application/sparql-results+json", "json"), ("application/json", "json"),
    ("xml", "xml"), ("application/sparql-results+xml", "xml"), ("csv", "csv"),
    ("text/csv", "csv"), ("tsv", "tsv"), ("text/tab-separated-values", "tsv"),
])
def test_results_format_by_every_name(token: str, name: str) -> None:
    assert results_format(token).name == name


def test_unknown_names_are_none() -> None:
    assert rdf_format("csv") is None
    assert results_format("turtle") is None
    assert find("image/png") is None


def test_every_format_has_distinct_names_within_its_kind() -> None:
    for kind in ("results", "rdf"):
        names = [n for f in formats.formats_of(kind)
                 for n in {f.name, f.extension, *f.aliases}]
        media = [m for f in formats.formats_of(kind) for m in set(f.media_types)]
        assert len(names) == len(set(names))
        assert len(media) == len(set(media))


@pytest.mark.parametrize(("accept", "offered", "chosen"), [
    (None, ["a/b", "c/d"], "a/b"),
    ("", ["a/b", "c/d"], "a/b"),
    ("c/d", ["a/b", "c/d"], "c/d"),
    ("c/d;q=0.5, a/b;q=0.9", ["c/d", "a/b"], "a/b"),
    ("*/*", ["a/b", "c/d"], "a/b"),
    ("c/*", ["a/b", "c/d"], "c/d"),
    ("text/*;q=0.3, text/csv;q=0", ["text/csv", "text/plain"], "text/plain"),
    ("a/b;q=0", ["a/b"], None),
    ("x/y", ["a/b"], None),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
     ["text/turtle", "text/html"], "text/html"),
    ("application/sparql-results+json,application/json,text/javascript",
     ["application/sparql-results+xml", "application/sparql-results+json"],
     "application/sparql-results+json"),
    ("a/b;q=oops, c/d", ["a/b", "c/d"], "c/d"),
])
def test_negotiate(accept: str | None, offered: list[str], chosen: str | None) -> None:
    assert negotiate(accept, offered) == chosen


@given(st.lists(st.sampled_from(["a/b", "c/d", "e/f", "*/*", "c/*"]), max_size=4),
       st.lists(st.floats(0, 1), min_size=4, max_size=4))
def test_negotiate_never_picks_a_refused_type(types: list[str], qs: list[float]) -> None:
    accept = ", ".join(f"{t};q={q:.2f}" for t, q in zip(types, qs, strict=False))
    chosen = negotiate(accept, ["a/b", "c/d"])
    if not types:
        assert chosen == "a/b"  # no preference: the server's first offer
    elif chosen is not None:
        assert chosen in ("a/b", "c/d")
        assert any(t in (chosen, "*/*", chosen.split("/")[0] + "/*") and round(q, 2) > 0
                   for t, q in zip(types, qs, strict=False))


ROWS = [
    (pyoxigraph.NamedNode(EX + "a"), pyoxigraph.Literal("chaîne, \"quoted\"", language="fr")),
    (pyoxigraph.BlankNode("b1"), pyoxigraph.Literal(
        "3", datatype=pyoxigraph.NamedNode("http://www.w3.org/2001/XMLSchema#integer"))),
    (pyoxigraph.NamedNode(EX + "c"), None),
]


def test_results_writers_agree_with_pyoxigraph_reader() -> None:
    """Each results format reads back (with pyoxigraph's own parser) to the same rows."""
    for name in ("json", "xml", "tsv"):
        body = formats.write_results(results_format(name), ["s", "o"], ROWS)
        parsed = pyoxigraph.parse_query_results(
            body, format=getattr(pyoxigraph.QueryResultsFormat, name.upper()))
        assert [tuple(row) for row in parsed] == [tuple(r) for r in ROWS], name


def test_csv_writer_writes_plain_values() -> None:
    body = formats.write_results(results_format("csv"), ["s", "o"], ROWS).decode()
    assert list(csv.reader(io.StringIO(body))) == [
        ["s", "o"], [EX + "a", 'chaîne, "quoted"'], ["_:b1", "3"], [EX + "c", ""]]


def test_boolean_writers() -> None:
    assert json.loads(formats.write_boolean(results_format("json"), True)) == {
        "head": {}, "boolean": True}
    root = ET.fromstring(formats.write_boolean(results_format("xml"), False))
    assert root.find("{http://www.w3.org/2005/sparql-results#}boolean").text == "false"
    assert formats.write_boolean(results_format("csv"), True).split() == [b"_askResult",
                                                                           b"true"]


def test_rdf_writers_round_trip() -> None:
    triples = [pyoxigraph.Triple(pyoxigraph.NamedNode(EX + "s"), pyoxigraph.NamedNode(EX + "p"),
                                 o) for o in (pyoxigraph.Literal("x", language="en"),
                                              pyoxigraph.NamedNode(EX + "o"))]
    reference = Graph().parse(data=formats.write_rdf(rdf_format("nt"), triples), format="nt")
    assert len(reference) == 2
    for fmt in formats.formats_of("rdf"):
        body = formats.write_rdf(fmt, triples, {"ex": EX})
        assert isomorphic(Graph().parse(data=body, format=fmt.rdflib), reference), fmt.name
