"""The fast SHACL engine reports exactly what pyshacl reports; split pyshacl runs equal one run."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph
import pytest
from rdflib import BNode, Graph, Literal, URIRef

from tipgraph import namespaces as ns
from tipgraph.mapping import Mapped, map_records
from tipgraph.reasoning import infer, load_ontology
from tipgraph.reconcile import reconcile_records
from tipgraph.reference import load_reference
from tipgraph.shacl_fast import _sure_regex, compile_shapes, load_triples
from tipgraph.sources import read_sources
from tipgraph.statistics import add_statistics
from tipgraph.synth import synthesize, write_catalogue
from tipgraph.validation import (
    SHAPES_PATH,
    UnsupportedShapes,
    load_shapes,
    validate_graph,
    validate_store,
    validate_triples,
)

ROOT = Path(__file__).resolve().parents[1]
BASE = "https://w3id.org/tipgraph/"


def reasoned(source: Path) -> tuple[Graph, Mapped]:
    """The graph a build validates: the reasoned graph with its statistics."""
    reference = load_reference()
    publications = reconcile_records(read_sources([source]).records, reference).publications
    mapped = map_records(publications, reference, base=BASE)
    graph = infer(mapped.graph, load_ontology(), base=BASE)
    add_statistics(graph, BASE)
    return graph, mapped


def synthetic(tmp_path: Path, count: int, seed: int) -> tuple[Graph, Mapped]:
    source = tmp_path / "synthetic.jsonl"
    write_catalogue(synthesize(count, seed=seed), source)
    return reasoned(source)


def assert_engines_agree(graph: Graph, provenance: dict | None = None):
    shapes = load_shapes()
    reference = validate_graph(graph, shapes, provenance, engine="pyshacl")
    fast = validate_graph(graph, shapes, provenance, engine="fast")
    assert fast == reference
    store = pyoxigraph.Store()
    load_triples(store, graph)
    assert validate_store(store, shapes, provenance) == reference
    return reference


@pytest.mark.parametrize("catalogue", ["seed", "synthetic-2000"])
def test_fast_engine_reports_exactly_what_pyshacl_reports(catalogue: str,
                                                          tmp_path: Path) -> None:
    if catalogue == "seed":
        graph, mapped = reasoned(ROOT / "data" / "sources")
    else:
        graph, mapped = synthetic(tmp_path, 2000, seed=7)
    report = assert_engines_agree(graph, mapped.provenance)
    assert report.conforms
    if catalogue != "seed":
        assert report.warnings  # the synthetic catalogue has records without authors
        assert {w.file for w in report.warnings} == {"synthetic.jsonl"}


def test_fast_engine_reports_violations_exactly_as_pyshacl(tmp_path: Path) -> None:
    graph, mapped = synthetic(tmp_path, 300, seed=11)
    pubs = sorted(graph.subjects(ns.RDF.type, ns.TIP.Publication))
    countries = sorted(graph.subjects(ns.RDF.type, ns.TIP.Country))
    people = sorted(graph.subjects(ns.RDF.type, ns.SCHEMA.Person))
    records = sorted(graph.subjects(ns.RDF.type, ns.TIP.SourceRecord))
    XSD, DCT = ns.XSD, ns.DCT
    broken = [
        (pubs[0], DCT.issued, Literal("19", datatype=XSD.gYear)),  # pattern, maxCount
        (pubs[1], DCT.title, Literal("Untagged title")),  # datatype, maxCount
        (pubs[2], DCT.title, Literal(" \t", lang="en")),  # pattern
        (pubs[3], DCT.creator, Literal("Jane Doe")),  # sh:or with a literal
        (pubs[4], DCT.creator, countries[0]),  # sh:or with a node of another class
        (pubs[5], DCT.subject, BNode("b1")),  # sh:class on a blank node
        (pubs[6], ns.PROV.wasDerivedFrom, Literal("listing.txt:3")),  # nodeKind
        (pubs[7], DCT.identifier, Literal(12)),  # datatype
        (countries[0], ns.GN.countryCode, Literal("NGA")),  # pattern, maxCount
        (countries[1], ns.OWL.sameAs, URIRef("http://sws.geonames.org/1/")),  # qualified
        (countries[2], ns.GN.featureCode, ns.GN.name),  # sh:in
        (people[0], ns.SCHEMA.name, Literal("J. Doe", lang="en")),  # datatype, maxCount
        (records[0], ns.TIP.sourceLine, Literal(0)),  # minInclusive
        (records[1], ns.TIP.sourceLine, Literal("abc", datatype=XSD.integer)),  # ill-typed
        (records[2], ns.TIP.sourceFile, Literal("a/b.txt")),  # pattern
    ]
    graph.remove((countries[1], ns.OWL.sameAs, None))  # so the malformed link is its only one
    for triple in broken:
        graph.add(triple)
    graph.add((pubs[9], ns.RDF.type, ns.TIP.Country))  # a publication that is also a country
    for triple in [(pubs[10], DCT.title, None), (countries[3], ns.OWL.sameAs, None),
                   (people[1], ns.SCHEMA.name, None), (records[3], ns.TIP.sourceFile, None)]:
        graph.remove(triple)
    report = assert_engines_agree(graph, mapped.provenance)
    assert not report.conforms
    assert {v.focus for v in report.violations} >= {str(t[0]) for t in broken} | {str(pubs[9])}
    assert any(v.value == "abc" for v in report.violations)  # rdflib's ill-typed literal


def test_on_disk_store_validation_equals_pyshacl(tmp_path: Path) -> None:
    """The build validates its on-disk store, read-only."""
    graph, mapped = synthetic(tmp_path, 300, seed=5)
    pubs = sorted(graph.subjects(ns.RDF.type, ns.TIP.Publication))
    graph.add((pubs[0], ns.DCT.issued, Literal("19", datatype=ns.XSD.gYear)))
    graph.remove((pubs[1], ns.DCT.title, None))
    store = pyoxigraph.Store(str(tmp_path / "store"))
    load_triples(store, graph)
    store.flush()
    shapes = load_shapes()
    report = validate_store(pyoxigraph.Store.read_only(str(tmp_path / "store")), shapes,
                            mapped.provenance)
    assert report == validate_graph(graph, shapes, mapped.provenance, engine="pyshacl")
    assert {v.focus for v in report.violations} == {str(pubs[0]), str(pubs[1])}


def test_split_validation_equals_one_run(tmp_path: Path) -> None:
    graph, mapped = synthetic(tmp_path, 600, seed=3)
    # Break two publications in different chunks, so violations come from two workers.
    broken = sorted(mapped.provenance)[::450][:2]
    for uri in broken:
        graph.add((URIRef(uri), ns.DCT.issued, Literal("19", datatype=ns.XSD.gYear)))
    shapes = load_shapes()
    one = validate_graph(graph, shapes, mapped.provenance, engine="pyshacl")
    split = validate_graph(graph, shapes, mapped.provenance, workers=2, chunk_size=100,
                           engine="pyshacl")
    assert split == one
    assert validate_graph(graph, shapes, mapped.provenance) == one  # the fast engine
    assert {v.focus for v in one.violations} == set(broken)
    assert one.warnings  # the synthetic catalogue has records without authors


SHAPES_PREFIXES = """
    @prefix sh: <http://www.w3.org/ns/shacl#> .
    @prefix ex: <urn:ex:> .
"""


@pytest.mark.parametrize(("shape", "name"), [
    ("sh:property [ sh:path ex:p ; sh:minLength 2 ; sh:message 'm' ]", "sh:minLength"),
    ("sh:property [ sh:path [ sh:inversePath ex:p ] ; sh:minCount 1 ; sh:message 'm' ]",
     "sh:inversePath"),
    ("sh:property [ sh:path ex:p ; sh:node ex:Other ; sh:message 'm' ]", "sh:node"),
    ("sh:sparql [ sh:select 'SELECT $this WHERE {}' ]", "sh:select, sh:sparql"),
    ("sh:closed true", "sh:closed"),
    ("sh:property [ sh:path ex:p ; sh:class ex:C ]", "sh:message"),
    ("sh:property [ sh:path ex:p ; sh:or () ; sh:message 'm' ]", "sh:or"),
    ("sh:property [ sh:path ex:p ; sh:qualifiedMinCount 1 ; sh:message 'm' ]",
     "sh:qualifiedValueShape"),
    ("a <http://www.w3.org/2000/01/rdf-schema#Class>", "implicit class targets"),
])
def test_fast_engine_refuses_what_it_cannot_check(shape: str, name: str) -> None:
    shapes = Graph().parse(data=f"{SHAPES_PREFIXES} ex:S a sh:NodeShape ; "
                                f"sh:targetClass ex:C ; {shape} .", format="turtle")
    with pytest.raises(UnsupportedShapes, match=name):
        compile_shapes(shapes)
    with pytest.raises(UnsupportedShapes, match=name):
        validate_store(pyoxigraph.Store(), shapes)


def test_fast_engine_refuses_a_literal_focus_node() -> None:
    """RDF stores hold no literal subjects; pyshacl would validate this literal."""
    graph = Graph()
    graph.add((Literal("Nigeria"), ns.RDF.type, ns.TIP.Country))
    with pytest.raises(UnsupportedShapes, match="Nigeria"):
        validate_triples(graph, load_shapes())


def test_the_shipped_shapes_compile() -> None:
    checks = compile_shapes(Graph().parse(SHAPES_PATH)).checks
    assert len(checks) > 60


@pytest.mark.parametrize("pattern", sorted({
    str(p) for p in Graph().parse(SHAPES_PATH).objects(None, ns.URIRef(
        "http://www.w3.org/ns/shacl#pattern"))} | {r"^\w+\s\d?$", r"(?:ab|c)+?x{2,3}"}))
def test_oxigraph_regex_matches_only_what_python_matches(pattern: str) -> None:
    """The fast engine trusts Oxigraph's REGEX to pass a value only when Python's would."""
    import re

    sure = _sure_regex(pattern, 0)
    assert sure is not None
    samples = ["", " ", "\t", "\n", "x", "NG", "NG\n", "ng", "NGA", "2005", "2005\n", "1750",
               "١٩٩٩", "19٩٩", "listing.txt", "a/b", "a\\b", "\x1c", "\u00a0", "\u3000x",
               "Élan", "https://sws.geonames.org/123/", "https://sws.geonames.org/123/\n",
               "http://sws.geonames.org/1", "abx", "abcxx", "abcxxx", "word 7", "wörd 7"]
    store = pyoxigraph.Store()
    for i, text in enumerate(samples):
        store.add(pyoxigraph.Quad(pyoxigraph.NamedNode(f"urn:s{i}"), pyoxigraph.NamedNode("urn:p"),
                                  pyoxigraph.Literal(text)))
    escaped = sure.replace("\\", "\\\\").replace('"', '\\"')
    query = f'SELECT ?o WHERE {{ ?s <urn:p> ?o FILTER REGEX(?o, "{escaped}") }}'
    for row in store.query(query):
        assert re.search(pattern, row[0].value), (pattern, row[0].value)
