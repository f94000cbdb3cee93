"""The build's cut (tipgraph.parts): the closures of a catalogue's parts, each triple let
through once, are the closure of the whole catalogue; each part on its own is its
publications' closure (what an incremental build reuses)."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from tipgraph.graphs import Triple
from tipgraph.identity import record_identity
from tipgraph.mapping import MappingPlan, map_records
from tipgraph.parts import PartMaker, Shared
from tipgraph.reasoning import closure, load_ontology
from tipgraph.reconcile import reconcile_records
from tipgraph.reference import load_reference
from tipgraph.sources import read_sources
from tipgraph.synth import synthesize, write_catalogue

ROOT = Path(__file__).resolve().parents[2]
SEED_SOURCES = (ROOT / "data" / "sources",)
BASE = "https://w3id.org/tipgraph/"


def test_parts_together_are_the_whole_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    records = synthesize(60, seed=3)
    records[5]["authors"] = ["jane doe"]  # one agent, spelled two ways in two parts
    records[50]["authors"] = ["Jane Doe"]
    write_catalogue(records, path)
    reference, ontology = load_reference(), load_ontology()
    for sources in (list(SEED_SOURCES), [path]):
        publications = reconcile_records(read_sources(sources).records, reference).publications
        whole = closure(map_records(publications, reference, base=BASE).triples, ontology,
                        base=BASE)
        plan = MappingPlan(BASE, {})
        maker, shared = PartMaker(plan, reference, ontology, BASE), Shared()
        made: list[Triple] = []
        pending = iter(publications)
        while part := list(islice(pending, 4)):
            keys = [record_identity(p) for p in part]
            for publication, key in zip(part, keys, strict=True):
                plan.add(publication, key)
            own: set[str] = set()
            made += shared.new(maker.triples(part, keys, own=own, agents_described=False), own)
        made += shared.new(maker.agents(), set())
        assert len(made) == len(set(made))  # each triple once
        assert set(made) == whole


def test_a_part_alone_is_its_publications_closure() -> None:
    reference, ontology = load_reference(), load_ontology()
    publications = reconcile_records(read_sources(list(SEED_SOURCES)).records,
                                     reference).publications[:3]
    keys = [record_identity(p) for p in publications]
    plan = MappingPlan(BASE, {})
    for publication, key in zip(publications, keys, strict=True):
        plan.add(publication, key)
    alone = PartMaker(plan, reference, ontology, BASE).triples(publications, keys)
    assert alone == closure(map_records(publications, reference, base=BASE).triples, ontology,
                            base=BASE)
