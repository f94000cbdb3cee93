"""Validation split over processes reports exactly what one run reports."""

from __future__ import annotations

from pathlib import Path

from rdflib import Literal, URIRef

from tipgraph import namespaces as ns
from tipgraph.mapping import map_records
from tipgraph.reasoning import infer, load_ontology
from tipgraph.reconcile import reconcile_records
from tipgraph.reference import load_reference
from tipgraph.sources import read_sources
from tipgraph.synth import synthesize, write_catalogue
from tipgraph.validation import load_shapes, validate_graph

BASE = "https://w3id.org/tipgraph/"


def test_split_validation_equals_one_run(tmp_path: Path) -> None:
    source = tmp_path / "synthetic.jsonl"
    write_catalogue(synthesize(600, seed=3), source)
    reference = load_reference()
    publications = reconcile_records(read_sources([source]).records, reference).publications
    mapped = map_records(publications, reference, base=BASE)
    graph = infer(mapped.graph, load_ontology(), base=BASE)
    # Break two publications in different chunks, so violations come from two workers.
    broken = sorted(mapped.provenance)[::450][:2]
    for uri in broken:
        graph.add((URIRef(uri), ns.DCT.issued, Literal("19", datatype=ns.XSD.gYear)))
    shapes = load_shapes()
    one = validate_graph(graph, shapes, mapped.provenance)
    split = validate_graph(graph, shapes, mapped.provenance, workers=2, chunk_size=100)
    assert split == one
    assert {v.focus for v in one.violations} == set(broken)
    assert one.warnings  # the synthetic catalogue has records without authors
