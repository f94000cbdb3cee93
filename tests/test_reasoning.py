"""The fast reasoner computes exactly owlrl's published closure, and refuses what it can't."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Graph

from tipgraph.mapping import map_records
from tipgraph.reasoning import UnsupportedOntology, compile_rules, infer, load_ontology
from tipgraph.reconcile import reconcile_records
from tipgraph.reference import load_reference
from tipgraph.sources import read_sources
from tipgraph.synth import synthesize, write_catalogue

ROOT = Path(__file__).resolve().parents[1]
BASE = "https://w3id.org/tipgraph/"


def mapped_graph(*sources: Path) -> Graph:
    reference = load_reference()
    records = read_sources(sources).records
    publications = reconcile_records(records, reference).publications
    return map_records(publications, reference, base=BASE).graph


@pytest.mark.parametrize("catalogue", ["seed", "synthetic-2000"])
def test_fast_engine_gives_exactly_owlrls_closure(catalogue: str, tmp_path: Path) -> None:
    if catalogue == "seed":
        source = ROOT / "data" / "sources"
    else:
        source = tmp_path / "synthetic.jsonl"
        write_catalogue(synthesize(2000, seed=7), source)
    data = mapped_graph(source)
    ontology = load_ontology()
    fast = set(infer(data, ontology, base=BASE, engine="fast"))
    reference = set(infer(data, ontology, base=BASE, engine="owlrl"))
    assert fast == reference
    assert len(fast) > len(set(data))  # something was inferred


def test_fast_engine_refuses_axioms_it_cannot_apply() -> None:
    ontology = Graph().parse(data="""
        @prefix owl: <http://www.w3.org/2002/07/owl#> .
        <urn:p> owl:inverseOf <urn:q> .""", format="turtle")
    with pytest.raises(UnsupportedOntology, match="inverseOf"):
        compile_rules(ontology)
