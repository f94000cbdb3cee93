"""The whole build, from the shipped listing to the store on disk: the acceptance of
"Build the knowledge graph from the catalogue"."""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph
import pytest
from rdflib import Graph
from rdflib.namespace import DCTERMS

from tipgraph.build import run_build
from tipgraph.build_dir import BuildDir
from tipgraph.errors import BuildFailed

BASE = "https://w3id.org/tipgraph/"
PREFIXES = """
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX schema: <https://schema.org/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
PREFIX gn: <https://www.geonames.org/ontology#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX tip: <https://w3id.org/tipgraph/ontology#>
PREFIX place: <https://w3id.org/tipgraph/place/>
"""

SEED_COUNTRIES = {"NG": 2328926, "BS": 3572887, "BB": 3374084, "GY": 3378535, "JM": 3489940,
                  "AN": 8505032, "LC": 3576468, "SR": 3382998, "TT": 3573591, "AL": 783754,
                  "ME": 3194884, "MK": 718075, "XK": 831053, "BA": 3277605, "RS": 6290252}


def select(store: pyoxigraph.Store, query: str) -> list[tuple[str, ...]]:
    return sorted(tuple(term.value for term in row) for row in store.query(PREFIXES + query))


@pytest.fixture(scope="module")
def store(seed_build_dir: Path) -> pyoxigraph.Store:
    return pyoxigraph.Store.read_only(str(seed_build_dir / "store"))


def test_ten_publications(store) -> None:
    assert select(store, "SELECT ?p WHERE { ?p a tip:Publication }").__len__() == 10


def test_countries_are_exactly_the_fifteen_with_geonames_ids(store) -> None:
    rows = select(store, """SELECT DISTINCT ?code ?same WHERE { ?p a tip:Publication ;
        tip:statedCountry ?c . ?c gn:countryCode ?code ; owl:sameAs ?same }""")
    assert {code: same for code, same in rows} == {
        code: f"https://sws.geonames.org/{gid}/" for code, gid in SEED_COUNTRIES.items()}


def test_historical_entity_keeps_its_own_feature_code(store) -> None:
    rows = select(store,
                  "SELECT ?code WHERE { ?c gn:featureCode gn:A.PCLH ; gn:countryCode ?code }")
    assert rows == [("AN",)]


def test_regions(store) -> None:
    rows = select(store, """SELECT DISTINCT ?name WHERE {
        ?p tip:statedRegion|tip:countryRegion ?r . ?r gn:name ?name }""")
    assert rows == [("Central and North America and the Caribbean",),
                    ("South-Eastern Europe, Eastern Europe and Central Asia",),
                    ("West and Central Africa",), ("Worldwide",)]


def test_creators_are_exactly_the_persons_and_organisations(store) -> None:
    persons = select(store, """SELECT DISTINCT ?name WHERE {
        ?p a tip:Publication ; dct:creator ?a . ?a a schema:Person ; foaf:name ?name }""")
    assert {n for (n,) in persons} == {"Alison Jobe", "Shukri Hirabe Gesod", "Jacqueline Berman",
                                       "Donatella Bradic", "Phil Marshal", "G. Liu"}
    organisations = select(store, """SELECT DISTINCT ?name WHERE { ?p a tip:Publication ;
        dct:creator ?a . ?a a schema:Organization ; skos:prefLabel ?name }""")
    assert {n for (n,) in organisations} == {
        "International Organization for Migration",
        "United Nations High Commissioner for Refugees", "Sweden's Ministry of Justice",
        "Office of the Special Representative of the Secretary-General on Sexual Violence in "
        "Conflict"}
    acronyms = select(store, """SELECT ?alt WHERE { ?a a schema:Organization ;
        skos:altLabel ?alt FILTER(STR(?alt) IN ("IOM", "UNHCR")) }""")
    assert acronyms == [("IOM",), ("UNHCR",)]
    creators = select(store, "SELECT DISTINCT ?a WHERE { ?p a tip:Publication ; dct:creator ?a }")
    assert len(creators) == 10


def test_no_agent_is_made_of_citation_pieces(store) -> None:
    names = {n for (n,) in select(store, """SELECT ?n WHERE {
        { ?a foaf:name ?n } UNION { ?a skos:prefLabel ?n ; a schema:Organization } }""")}
    for fake in ("Orderly", "Regular Migration", "IOM: Geneva", "In McAuliffe", "Liu"):
        assert not any(fake == n or n.startswith(fake) for n in names), fake


def test_compendium_is_its_own_node_with_its_editors(store) -> None:
    rows = select(store, """SELECT ?title ?editor ?year ?publisher WHERE {
        ?p a tip:Publication ; dct:isPartOf ?v ; dct:bibliographicCitation ?cite .
        ?v a tip:EditedVolume ; dct:title ?title ; schema:editor/foaf:name ?editor ;
           dct:issued ?year ; dct:publisher/skos:prefLabel ?publisher .
        FILTER NOT EXISTS { ?v a tip:Publication } }""")
    assert {r[1] for r in rows} == {"M. McAuliffe", "M. Klein Solomon"}
    assert {(r[2], r[3]) for r in rows} == {("2017", "International Organization for Migration")}
    assert rows[0][0].startswith("Ideas To Inform International Cooperation")


def test_region_query_without_property_path_finds_nigeria_record(store) -> None:
    rows = select(store, """SELECT ?title WHERE {
        ?p dct:spatial place:west-and-central-africa ; dct:title ?title }""")
    assert rows == [("Community Engagement in Preventing and Responding to Gender-based Violence "
                     "and Trafficking in Persons (Training Guide)",)]
    balkans = select(store, """SELECT ?title WHERE {
        ?p dct:spatial place:south-eastern-europe-eastern-europe-and-central-asia ;
           dct:title ?title }""")
    assert balkans == [("Needs Assessment: Human trafficking in the Western Balkans",)]


def test_country_records_are_not_made_worldwide(store) -> None:
    rows = select(store,
                  """SELECT ?p WHERE { ?p tip:statedCountry ?c ; dct:spatial place:world }""")
    assert rows == []


def test_every_publication_is_a_creative_work(store) -> None:
    rows = select(store, """SELECT ?p WHERE { ?p a tip:Publication
        FILTER NOT EXISTS { ?p a schema:CreativeWork, dct:BibliographicResource } }""")
    assert rows == []


def test_identity_links_are_published_not_reasoned_over(seed_build_dir: Path) -> None:
    graph = Graph().parse(seed_build_dir / "tipgraph.nt", format="nt")
    geonames_subjects = {s for s in graph.subjects() if "sws.geonames.org" in str(s)}
    assert geonames_subjects == set()
    assert not any(s == o for s, _, o in graph)  # no reflexive links


def test_report_counts_and_shape_warnings(seed_build_dir: Path) -> None:
    report = json.loads((seed_build_dir / "report.json").read_text(encoding="utf-8"))
    assert report["records_read"] == 10 == report["records_built"]
    assert report["rejected"] == []
    assert report["shacl"]["conforms"] is True
    assert report["shacl"]["violations"] == []
    no_author = [w for w in report["shacl"]["warnings"] if "author" in w["message"]]
    assert sorted(w["line"] for w in no_author) == [5, 75, 109]
    assert all(w["severity"] == "Warning" for w in report["shacl"]["warnings"])
    assert any("Bosnia" in r["why"] and r["line"] == 142 for r in report["repairs"])


def test_paths_of_this_machine_are_not_published(seed_build_dir: Path) -> None:
    text = (seed_build_dir / "tipgraph.ttl").read_text(encoding="utf-8")
    assert str(seed_build_dir) not in text
    assert str(Path(__file__).resolve().parents[1]) not in text


BAD_LISTING = """Trafficking

Record without year

About one.
Country
Nigeria
Region
West Africa
Central Africa

Record with an unknown country

About two.
Country
Atlantis
Year
2011

About three, whose title is missing.
Country
Ghana
Year
2012

Record with a bad byte

About f\xffur.
Year
2013

Truncated record

It stops here
Country
"""


def test_bad_input_is_reported_and_good_records_build(tmp_path: Path) -> None:
    source = tmp_path / "bad.txt"
    source.write_bytes(BAD_LISTING.encode("latin-1"))
    report = run_build([source], tmp_path / "out", base=BASE)
    assert report.records_read == report.records_built + len(report.rejected) == 5
    [rejected] = report.rejected
    assert (rejected.file, rejected.line, rejected.field) == ("bad.txt", 20, "title")
    warnings = {(w.line, w.field): w.why for w in report.warnings}
    assert "unknown country 'Atlantis'" in warnings[(16, "countries")]
    assert "U+FFFD" in warnings[(28, None)]
    shape = {(w.line, w.message) for w in report.shacl.warnings}
    assert any(line == 3 and "year" in message for line, message in shape)
    graph = Graph().parse(tmp_path / "out" / "tipgraph.ttl")
    titles = {str(t) for t in graph.objects(None, DCTERMS.title)}
    assert {"Record without year", "Record with an unknown country", "Record with a bad byte",
            "Truncated record"} <= titles


def test_failed_build_keeps_previous_build_and_its_own_report(tmp_path: Path,
                                                              monkeypatch) -> None:
    out = tmp_path / "out"
    good = run_build([_jsonl(tmp_path, "a.jsonl", "Good")], out, base=BASE)
    # A shape that every publication breaks makes the next build fail.
    import tipgraph.build as build_module

    strict = Graph().parse(data="""
        @prefix sh: <http://www.w3.org/ns/shacl#> .
        @prefix tip: <https://w3id.org/tipgraph/ontology#> .
        <urn:s> a sh:NodeShape ; sh:targetClass tip:Publication ;
          sh:property [ sh:path <urn:p> ; sh:minCount 1 ; sh:message "needs urn:p" ] .""",
        format="turtle")
    monkeypatch.setattr(build_module, "load_shapes", lambda: strict)
    with pytest.raises(BuildFailed, match="1 violation"):
        run_build([_jsonl(tmp_path, "b.jsonl", "Bad")], out, base=BASE)
    build_dir = BuildDir(out)
    assert build_dir.current().name == good.build_id
    assert "Good" in (out / "tipgraph.ttl").read_text(encoding="utf-8")
    failed = json.loads((build_dir.failed() / "report.json").read_text(encoding="utf-8"))
    assert failed["status"] == "failed"
    assert "violation" in failed["reason"]
    assert failed["shacl"]["violations"][0]["message"] == "needs urn:p"
    assert not (build_dir.failed() / "store").exists()
    # it publishes nothing: no URIs, no slugs, nothing written aside for them left over
    assert not (build_dir.failed() / "uris.txt").exists()
    assert not (build_dir.failed() / "slugs.json").exists()
    assert [p.name for p in build_dir.failed().iterdir() if p.name.startswith(".")] \
        == [".tipgraph-build"]
    # the good build has them, and nothing half-written beside them
    assert (build_dir.current() / "uris.txt").is_file()
    assert (build_dir.current() / "slugs.json").is_file()
    assert [p.name for p in build_dir.current().iterdir() if p.name.startswith(".")] \
        == [".tipgraph-build"]


def test_an_error_in_the_reading_process_fails_the_build_with_its_message(
        tmp_path: Path, monkeypatch) -> None:
    """The records are read and reconciled by a process of the build's own: what stops it
    stops the build, said as it was raised, and no process of the build is left."""
    import multiprocessing

    from tipgraph.errors import TipgraphError
    from tipgraph.sources import SourceStream

    def records(self):  # a failure before the first record is read
        yield from ()
        raise TipgraphError("the catalogue's disk went away")

    monkeypatch.setattr(SourceStream, "records", records)
    out = tmp_path / "out"
    # processes other tests' apps left running (their query pools) are not the build's
    before = set(multiprocessing.active_children())
    with pytest.raises(TipgraphError, match="disk went away"):
        run_build([_jsonl(tmp_path, "a.jsonl", "Good")], out, base=BASE)
    failed = json.loads((BuildDir(out).failed() / "report.json").read_text(encoding="utf-8"))
    assert failed["status"] == "failed" and "disk went away" in failed["reason"]
    assert set(multiprocessing.active_children()) <= before


def _jsonl(tmp_path: Path, name: str, title: str, **extra: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"title": title, "year": 2020, **extra}) + "\n", encoding="utf-8")
    return path


def test_uris_are_stable_when_records_are_added(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = tmp_path / "first.jsonl"
    first.write_text(json.dumps({"title": "Same Title", "year": 2001}) + "\n", encoding="utf-8")
    run_build([first], out, base=BASE)
    before = set(Graph().parse(out / "tipgraph.nt", format="nt").subjects())
    # A record with the same title, read *before* the first one, must not take its URI.
    second = tmp_path / "0-second.jsonl"
    second.write_text(json.dumps({"title": "Same Title", "year": 2002}) + "\n", encoding="utf-8")
    run_build([second, first], out, base=BASE)
    graph = Graph().parse(out / "tipgraph.nt", format="nt")
    pubs = {str(s): str(graph.value(s, DCTERMS.issued))
            for s in graph.subjects() if "/publication/" in str(s)}
    assert pubs[f"{BASE}publication/same-title"] == "2001"
    assert len(pubs) == 2
    assert {str(s) for s in before if "/publication/" in str(s)} <= set(pubs)


def test_instance_base_is_configurable(tmp_path: Path) -> None:
    run_build([_jsonl(tmp_path, "a.jsonl", "Based", countries=["Ghana"])], tmp_path / "o",
              base="http://data.example.org/tip/")
    graph = Graph().parse(tmp_path / "o" / "tipgraph.nt", format="nt")
    subjects = {str(s) for s in graph.subjects()}
    assert "http://data.example.org/tip/place/gh" in subjects
    assert not any(s.startswith(BASE) and "/ontology" not in s for s in subjects)
