"""The dumps' JSON-LD compaction: expanding it gives back exactly the triples written."""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph
from hypothesis import given, settings
from hypothesis import strategies as st
from pyld import jsonld as pyld

from tipgraph.formats import jsonld_context
from tipgraph.jsonld import compact, compact_file

CONTEXT = jsonld_context()
TIP = "https://w3id.org/tipgraph/"
IRIS = [f"{TIP}publication/a", f"{TIP}place/ng", "https://schema.org/name",
        "http://purl.org/dc/terms/title", "http://example.org/not-in-the-context",
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#type", f"{TIP}ontology#Publication"]
nodes = st.sampled_from(IRIS).map(pyoxigraph.NamedNode)
#: literal text meant to look like what the compaction rewrites
texts = st.one_of(st.text(), st.sampled_from([
    '"@id":"https://w3id.org/tipgraph/place/ng"', '"http://purl.org/dc/terms/title":[',
    'https://w3id.org/tipgraph/place/ng', '\\"@type\\":\\"x\\"', 'a\\', '"']))
literals = st.one_of(
    texts.map(pyoxigraph.Literal),
    texts.map(lambda t: pyoxigraph.Literal(t, language="en")),
    st.integers().map(lambda n: pyoxigraph.Literal(str(n), datatype=pyoxigraph.NamedNode(
        "http://www.w3.org/2001/XMLSchema#integer"))))
triples = st.lists(st.builds(pyoxigraph.Triple, nodes, nodes, st.one_of(nodes, literals)),
                   max_size=12)


def expanded_with_pyld(document: dict) -> set[pyoxigraph.Triple]:
    """The document's triples as pyld reads them, never fetching a context."""
    def refuse(url: str, options: object) -> None:
        raise AssertionError(f"tried to fetch {url}")
    nquads = pyld.to_rdf(document, {"format": "application/n-quads", "documentLoader": refuse})
    return {quad.triple for quad in pyoxigraph.parse(input=nquads.encode(),
                                                     format=pyoxigraph.RdfFormat.N_QUADS)}


@settings(max_examples=150, deadline=None)
@given(triples)
def test_compacted_jsonld_expands_to_exactly_the_triples(graph: list[pyoxigraph.Triple]) -> None:
    expanded = pyoxigraph.serialize(graph, format=pyoxigraph.RdfFormat.JSON_LD)
    document = json.loads(compact(expanded, CONTEXT))
    assert expanded_with_pyld(document) == set(graph)


def test_iris_in_the_context_are_written_as_prefixed_names() -> None:
    label = "http://www.w3.org/2004/02/skos/core#prefLabel"
    graph = [pyoxigraph.Triple(pyoxigraph.NamedNode(label), pyoxigraph.NamedNode(label),
                               pyoxigraph.Literal(label, language="en"))]
    expanded = pyoxigraph.serialize(graph, format=pyoxigraph.RdfFormat.JSON_LD)
    node = json.loads(compact(expanded, CONTEXT))["@graph"][0]
    assert node == {"@id": "skos:prefLabel",
                    "skos:prefLabel": [{"@value": label, "@language": "en"}]}


@settings(max_examples=100, deadline=None)
@given(triples, st.integers(min_value=1, max_value=64))
def test_compacting_a_file_piece_by_piece_writes_what_compacting_it_whole_does(
        tmp_path_factory, graph: list[pyoxigraph.Triple], chunk: int) -> None:
    folder = tmp_path_factory.mktemp("jsonld")
    expanded = pyoxigraph.serialize(graph, format=pyoxigraph.RdfFormat.JSON_LD)
    (folder / "expanded.jsonld").write_bytes(expanded)
    compact_file(folder / "expanded.jsonld", folder / "compact.jsonld", CONTEXT, chunk=chunk)
    assert (folder / "compact.jsonld").read_bytes() == compact(expanded, CONTEXT)


def test_an_empty_expanded_file_is_an_empty_graph(tmp_path: Path) -> None:
    (tmp_path / "expanded.jsonld").write_bytes(b"  \n")
    compact_file(tmp_path / "expanded.jsonld", tmp_path / "compact.jsonld", CONTEXT)
    assert json.loads((tmp_path / "compact.jsonld").read_bytes())["@graph"] == []
