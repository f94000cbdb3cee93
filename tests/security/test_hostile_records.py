"""Hostile or broken curated records cannot change what is published.

``tests/data/hostile`` holds records a careless or malicious contributor could send
(JSON Lines and CSV), and ``expected.json`` what becomes of each line: ``kept`` (perhaps
``cleaned`` or ``repaired``), ``field dropped`` with a warning, ``rejected`` with its line,
or a ``duplicate`` of an earlier line.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pyoxigraph
import pytest
from click.testing import CliRunner
from rdflib import RDF, BNode, Graph, Literal, URIRef

from tipgraph.build import run_build
from tipgraph.cli import cli
from tipgraph.sources import read_sources

CORPUS = Path(__file__).resolve().parents[1] / "data" / "hostile"
EXPECTED: dict[str, dict[str, dict]] = json.loads((CORPUS / "expected.json").read_text())
BASE = "https://w3id.org/tipgraph/"
DCT = "http://purl.org/dc/terms/"
TITLE, ABSTRACT = URIRef(DCT + "title"), URIRef(DCT + "abstract")
URL = URIRef("https://schema.org/url")
SORT_KEY = URIRef(BASE + "ontology#sortKey")
DERIVED = URIRef("http://www.w3.org/ns/prov#wasDerivedFrom")
PUBLICATION = URIRef(BASE + "ontology#Publication")


def expected(outcome: str) -> list[tuple[str, int, dict]]:
    return [(file, int(line), case) for file, cases in EXPECTED.items()
            for line, case in cases.items() if case["outcome"] == outcome]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "build"
    result = CliRunner().invoke(cli, ["build", "--source", str(CORPUS), "--out", str(out),
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return out / "current"


@pytest.fixture(scope="module")
def report(built: Path) -> dict:
    return json.loads((built / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def graph(built: Path) -> Graph:
    return Graph().parse(built / "tipgraph.nt", format="nt")


def test_every_line_has_its_expected_outcome(report: dict) -> None:
    rejected = {(p["file"], p["line"]) for p in report["rejected"]}
    assert rejected == {(f, n) for f, n, _ in expected("rejected")}
    duplicates = {(d["file"], d["line"], d["first"]["line"]) for d in report["duplicates"]}
    assert duplicates == {(f, n, case["first"]) for f, n, case in expected("duplicate")}
    warned = {(p["file"], p["line"], p["field"]) for p in report["warnings"]}
    repaired = {(p["file"], p["line"], p["field"]) for p in report["repairs"]}
    for file, line, case in expected("field dropped") + expected("kept"):
        for field in case.get("dropped", []) + case.get("cleaned", []):
            assert (file, line, field) in warned, (file, line, field)
        for field in case.get("repaired", []):
            assert (file, line, field) in repaired, (file, line, field)


def test_counts_add_up(report: dict) -> None:
    kept = len(expected("kept")) + len(expected("field dropped"))
    assert report["records_built"] == kept
    assert report["records_read"] == (report["records_built"] + report["records_rejected"]
                                      + report["records_duplicate"])
    assert report["records_read"] == sum(len(cases) for cases in EXPECTED.values())


def test_an_unknown_key_is_one_warning_per_file(report: dict) -> None:
    unknown = [p for p in report["warnings"] if p["why"].startswith("unknown ")]
    assert sorted((p["file"], p["line"]) for p in unknown) == [
        ("records.csv", 1), ("records.jsonl", 29), ("records.jsonl", 29)]  # shoe size; colour,
    # weight (on line 30 again: not reported twice)
    assert any("'colour'" in p["why"] for p in unknown)


def test_the_graph_holds_exactly_the_expected_publication_triples(graph: Graph) -> None:
    publications = set(graph.subjects(RDF.type, PUBLICATION))
    found = {}
    for publication in publications:
        triples = {(p, o) for p, o in graph.predicate_objects(publication)
                   if p in (TITLE, ABSTRACT, URL)
                   or (p == DERIVED and not str(o).startswith(BASE + "source/"))}
        title = next(o for p, o in triples if p == TITLE)
        found.setdefault(str(title), []).append(triples)
    wanted: dict[str, list[set]] = {}
    for _, _, case in expected("kept") + expected("field dropped"):
        triples = {(TITLE, Literal(case["title"], lang="en"))}
        if "description" in case:
            triples.add((ABSTRACT, Literal(case["description"], lang="en")))
        if "source_url" in case:
            triples |= {(URL, URIRef(case["source_url"])), (DERIVED, URIRef(case["source_url"]))}
        wanted.setdefault(case["title"], []).append(triples)
    assert sorted(found) == sorted(wanted)
    for title in wanted:
        assert sorted(map(sorted, found[title])) == sorted(map(sorted, wanted[title])), title


def test_the_injection_leaves_the_other_publication_unchanged(graph: Graph,
                                                             tmp_path: Path) -> None:
    alone = tmp_path / "records.jsonl"
    alone.write_text((CORPUS / "records.jsonl").read_text().split("\n")[0] + "\n")
    run_build([alone], tmp_path / "alone", base=BASE)
    clean = Graph().parse(tmp_path / "alone" / "current" / "tipgraph.nt", format="nt")
    victim = URIRef(BASE + "publication/victim-report")
    # all but its place in the title order of the whole catalogue (tip:sortKey)
    assert {(p, o) for p, o in graph.predicate_objects(victim) if p != SORT_KEY} \
        == {(p, o) for p, o in clean.predicate_objects(victim) if p != SORT_KEY}
    assert (None, None, Literal("Fake abstract")) not in graph
    assert not [o for o in graph.objects() if "phish.example" in str(o)
                and "%3E" not in str(o)]  # only inside the one encoded (harmless) link
    # every subject beyond those of a clean build (the ontology's terms) is one it minted
    # (blank nodes: the ontology's, as many in both)
    for subject in {s for s in graph.subjects() if isinstance(s, URIRef)} - set(clean.subjects()):
        assert str(subject).startswith(BASE), subject
    blank = [{s for s in g.subjects() if isinstance(s, BNode)} for g in (graph, clean)]
    assert len(blank[0]) == len(blank[1])


@pytest.mark.parametrize("name, rdflib_format, oxigraph_format", [
    ("tipgraph.nt", "nt", pyoxigraph.RdfFormat.N_TRIPLES),
    ("tipgraph.ttl", "turtle", pyoxigraph.RdfFormat.TURTLE),
    ("tipgraph.jsonld", "json-ld", pyoxigraph.RdfFormat.JSON_LD),
])
def test_dumps_parse_with_rdflib_and_pyoxigraph(built: Path, graph: Graph, name: str,
                                               rdflib_format: str, oxigraph_format) -> None:
    parsed = Graph().parse(built / name, format=rdflib_format)
    quads = list(pyoxigraph.parse(path=str(built / name), format=oxigraph_format))
    assert len(parsed) == len(quads) == len(graph)


def test_rdf_xml_and_sparql_xml_answers_are_well_formed(built: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(built / "store", copy)
    store = pyoxigraph.Store(str(copy))
    xml = pyoxigraph.serialize(store.quads_for_pattern(None, None, None),
                               format=pyoxigraph.RdfFormat.RDF_XML)
    ET.fromstring(xml)
    answer = store.query("SELECT ?s ?p ?o WHERE { ?s ?p ?o }")
    root = ET.fromstring(answer.serialize(format=pyoxigraph.QueryResultsFormat.XML))
    assert len(root.findall(".//{http://www.w3.org/2005/sparql-results#}result")) > 0
    ET.fromstring(Graph().parse(built / "tipgraph.nt", format="nt").serialize(format="xml"))


def test_a_csv_without_a_title_column_fails_in_one_sentence(tmp_path: Path) -> None:
    source = tmp_path / "no-title.csv"
    source.write_text("name,source_url\nA report,https://example.org/a\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["build", "--source", str(source), "--out",
                                      str(tmp_path / "b")])
    assert result.exit_code != 0
    assert "no-title.csv" in result.output and "'title' column" in result.output
    assert "Traceback" not in result.output


def test_json_lines_split_on_line_feed_only(tmp_path: Path) -> None:
    source = tmp_path / "separators.jsonl"
    source.write_text("".join(json.dumps({"title": f"Record{sep}{n}"}, ensure_ascii=False)
                              + "\n" for n, sep in enumerate(("\u2028", "\u2029", "\x85"))),
                      encoding="utf-8")
    read = read_sources([source])
    assert [r.line for r in read.records] == [1, 2, 3]
    assert read.rejected == []
