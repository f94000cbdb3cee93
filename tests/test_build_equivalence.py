"""The build, however it moves its triples between stages (a part of the catalogue at a
time, streamed, handed over, freed early), publishes what the pipeline's functions make of
the whole catalogue at once: the same graph, the same dumps and the same report.

The reference is computed here from the library's stage functions, each given all of the
previous stage's output, as the build did before it streamed. The build is cut into parts
of a few publications (:data:`tipgraph.build.PART_PUBLICATIONS`), so that the nodes many
publications name (places, agents, volumes, categories) are named by many parts.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pyoxigraph
import pytest

from tipgraph import build as build_module
from tipgraph import spill
from tipgraph.build import run_build
from tipgraph.graphs import ntriples_lines
from tipgraph.mapping import map_records
from tipgraph.reasoning import closure, load_ontology
from tipgraph.reconcile import reconcile_records
from tipgraph.reference import load_reference
from tipgraph.sources import read_sources
from tipgraph.statistics import statistics_triples
from tipgraph.synth import synthesize, write_catalogue
from tipgraph.validation import load_shapes, validate_triples

from .conftest import BASE, SEED_SOURCES


def whole_catalogue(sources: list[Path]) -> tuple[list[str], dict[str, object]]:
    """The sorted N-Triples lines and the report's fields, every stage on everything."""
    read = read_sources(sources)
    reference = load_reference()
    reconciled = reconcile_records(read.records, reference)
    mapped = map_records(reconciled.publications, reference, base=BASE, published={})
    triples = closure(mapped.triples, load_ontology(), base=BASE)
    triples.update(statistics_triples(triples, BASE))
    problems = read.problems + list(reference.problems) + reconciled.problems
    shacl = validate_triples(triples, load_shapes(), mapped.provenance)
    report = {
        "records_read": len(read.records) + len(read.rejected),
        "records_built": len(reconciled.publications),
        "files": [f.as_dict() for f in read.files],
        "rejected": [p.as_dict() for p in read.rejected],
        "duplicates": [d.as_dict() for d in reconciled.duplicates],
        "repairs": [p.as_dict() for p in problems if p.severity == "repair"],
        "warnings": [p.as_dict() for p in problems if p.severity != "repair"],
        "shacl": shacl.as_dict(),
        "triples": len(triples),
    }
    return sorted(ntriples_lines(triples)), json.loads(json.dumps(report))


def blank_blind(statements: Iterable[object]) -> Counter[str]:
    """Statements as text with every blank node named alike: the ontology's lists are
    blank nodes, labelled anew each time it is read."""
    return Counter(re.sub(r"_:[A-Za-z0-9]+", "_:b", str(s)) for s in statements)


def quads(path: Path, kind: pyoxigraph.RdfFormat) -> Counter[str]:
    return blank_blind(pyoxigraph.parse(path=str(path), format=kind))


@pytest.fixture(scope="module", params=["seed", "synthetic"])
def sources(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> list[Path]:
    if request.param == "seed":
        return list(SEED_SOURCES)
    path = tmp_path_factory.mktemp("equivalence") / "synthetic.jsonl"
    records = synthesize(300, seed=5)
    records.append(dict(records[7]))  # a duplicate
    # one person, spelled two ways in two parts: the whole catalogue describes the node
    # once, as the last record names it
    records[3]["authors"] = ["alison jobe"]
    records[250]["authors"] = ["Alison Jobe", "United Nations Office on Drugs and Crime"]
    records.append({"title": "", "year": 2001})  # a record to reject
    write_catalogue(records, path)
    return [path]


def test_the_build_publishes_what_the_whole_catalogue_pipeline_makes(
        sources: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_module, "PART_PUBLICATIONS", 7)
    # what the build keeps on disk until its end (problems, provenance, content hashes)
    # written and read back in many batches
    monkeypatch.setattr(build_module, "SPILL_BATCH", 5)
    monkeypatch.setattr(spill, "BATCH", 4)
    run_build(sources, tmp_path / "build", base=BASE)
    build = tmp_path / "build" / "current"
    lines, expected = whole_catalogue(sources)

    nt = (build / "tipgraph.nt").read_text(encoding="utf-8")
    assert blank_blind(nt.splitlines()) == blank_blind(line.rstrip("\n") for line in lines)
    assert nt.splitlines() == sorted(nt.splitlines())  # sorted, to diff well
    # nothing the build kept on disk meanwhile (sorted runs, the abstracts) is left
    assert not [p.name for p in build.resolve().iterdir() if p.name.startswith(".")
                and p.name != ".tipgraph-build"]
    assert gzip.decompress((build / "tipgraph.nt.gz").read_bytes()) == nt.encode("utf-8")
    graph = quads(build / "tipgraph.nt", pyoxigraph.RdfFormat.N_TRIPLES)
    assert quads(build / "tipgraph.ttl", pyoxigraph.RdfFormat.TURTLE) == graph
    assert quads(build / "tipgraph.jsonld", pyoxigraph.RdfFormat.JSON_LD) == graph

    assert blank_blind(pyoxigraph.Store.read_only(str(build / "store"))) == graph

    report = json.loads((build / "report.json").read_text(encoding="utf-8"))
    assert {key: report[key] for key in expected} == expected
    assert report["records_rejected"] == len(expected["rejected"])
    assert report["records_duplicate"] == len(expected["duplicates"])
