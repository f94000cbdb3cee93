"""What portals, search engines and linked-data tools read, as they read it.

- DCAT-AP 3.0.1: the official SHACL shapes (``tests/data/dcat-ap``) find no violation in
  ``/dataset``, and the description says what the data covers;
- VoID as the W3C guide reads it;
- schema.org JSON-LD on the home, dataset and publication pages, expanded by pyld;
- one negotiation for documents, dumps, ``/dataset`` and ``/sparql`` (a table), and gzip
  on every kind of answer.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from pyld import jsonld
from pyshacl import validate
from rdflib import RDF, Graph, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import SH

from tipgraph.description import DataFacts, describe_dataset
from tipgraph.serving.indexes import DatasetCounts
from tipgraph.testing import fetch

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "tests" / "data" / "dcat-ap"
BASE = "https://w3id.org/tipgraph/"
DATASET = URIRef(BASE + "dataset")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
VOID = Namespace("http://rdfs.org/ns/void#")
TIP = Namespace("https://w3id.org/tipgraph/ontology#")
OWL_SAME_AS = URIRef("http://www.w3.org/2002/07/owl#sameAs")
SDO = "https://schema.org/"


@pytest.fixture(scope="module")
def site(live_server: str) -> str:
    return live_server.rstrip("/")


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return fetch(url, headers={k.replace("_", "-"): v for k, v in headers.items()})


def sparql_rows(site: str, query: str) -> list[dict[str, str]]:
    status, _, body = fetch(f"{site}/sparql?query={quote(query)}",
                            headers={"Accept": "application/sparql-results+json"})
    assert status == 200, body
    return [{k: v["value"] for k, v in row.items()}
            for row in json.loads(body)["results"]["bindings"]]


@pytest.fixture(scope="module")
def description(site: str) -> Graph:
    """``/dataset`` as a harvester gets it: ``Accept: */*`` (what CKAN sends)."""
    status, headers, body = get(f"{site}/dataset", Accept="*/*")
    assert status == 200
    assert headers["content-type"].startswith("text/turtle")
    return Graph().parse(data=body, format="turtle")


# -- DCAT-AP ---------------------------------------------------------------------------------

def _results(data: Graph, *files: str) -> list[tuple[str, str, str]]:
    shapes = Graph()
    for name in files:
        shapes.parse(SHAPES / name)
    _, report, _ = validate(data, shacl_graph=shapes, inference="none")
    return [(str(report.value(r, SH.resultSeverity)), str(report.value(r, SH.focusNode)),
             str(report.value(r, SH.resultPath)))
            for r in report.subjects(RDF.type, SH.ValidationResult)]


def test_dataset_has_no_dcat_ap_violation(description: Graph) -> None:
    violations = [r for r in _results(description, "shapes.ttl", "range.ttl")
                  if r[0] == str(SH.Violation)]
    assert violations == []


def test_recommended_properties_missing_are_only_place_geometries(description: Graph) -> None:
    """The recommended-properties shapes warn only of what the data cannot say: the places'
    bounding boxes and centroids, the catalogue's first issue and the publisher's type."""
    missing = {path for _, _, path in _results(description, "shapes_recommended.ttl")}
    assert missing <= {str(DCAT.bbox), str(DCAT.centroid), str(DCT.issued), str(DCT.type)}


def test_catalogue_and_dataset_have_publisher_contact_and_coverage(
        site: str, description: Graph) -> None:
    catalog = description.value(None, RDF.type, DCAT.Catalog)
    assert description.value(catalog, DCT.publisher) is not None
    assert description.value(catalog, DCT.description) is not None
    assert description.value(catalog, DCAT.dataset) == DATASET
    for prop in (DCT.publisher, DCAT.contactPoint, DCAT.keyword, DCAT.theme, DCT.license):
        assert description.value(DATASET, prop) is not None, prop
    # spatial coverage: the countries and regions publications are about, as the data says
    spatial = {str(p) for p in description.objects(DATASET, DCT.spatial)}
    about = {row["place"] for row in sparql_rows(site, f"""
        SELECT DISTINCT ?place WHERE {{ ?p a <{TIP}Publication> ; <{DCT}spatial> ?place }}""")}
    assert spatial == about and spatial
    # temporal coverage: the first and last year of publication
    period = description.value(DATASET, DCT.temporal)
    years = sorted(row["y"] for row in sparql_rows(site, f"""
        SELECT DISTINCT ?y WHERE {{ ?p a <{TIP}Publication> ; <{DCT}issued> ?y }}"""))
    assert str(description.value(period, DCAT.startDate)) == years[0]
    assert str(description.value(period, DCAT.endDate)) == years[-1]


def test_every_distribution_has_licence_format_and_media_type(description: Graph) -> None:
    distributions = list(description.objects(DATASET, DCAT.distribution))
    assert len(distributions) >= 5
    for dist in distributions:
        assert description.value(dist, DCT.license) is not None, dist
        assert description.value(dist, DCT["format"]) is not None, dist
        if description.value(dist, DCAT.downloadURL) is not None:
            assert description.value(dist, DCAT.mediaType) is not None, dist


def test_identifier_is_stable_and_the_build_is_the_version(site: str, description: Graph
                                                           ) -> None:
    build_id = json.loads(get(f"{site}/health")[2])["build"]
    assert str(description.value(DATASET, DCAT.version)) == build_id
    assert str(description.value(DATASET, DCT.identifier)) == str(DATASET)
    counts = DatasetCounts(BASE, 1, 1, 1, 1, {}, {}, None)
    settings = {"license": "https://creativecommons.org/publicdomain/zero/1.0/",
                "rights": "r", "publisher_name": "p", "publisher_url": "",
                "contact_email": "", "contact_url": "", "keywords": [],
                "dataset_themes": ["SOCI"]}
    made = [describe_dataset(counts, DataFacts(), [], settings=settings, base=BASE,
                             root="http://x/", version=v, modified=datetime.now(UTC))
            for v in ("build-1", "build-2")]
    assert {str(g.value(DATASET, DCT.identifier)) for g in made} == {str(DATASET)}
    assert [str(g.value(DATASET, DCAT.version)) for g in made] == ["build-1", "build-2"]


def test_harvesters_get_turtle_and_browsers_the_page(site: str) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for path in ("/dataset", "/.well-known/void"):
        assert get(site + path, Accept="*/*")[1]["content-type"].startswith("text/turtle")
        assert get(site + path)[1]["content-type"].startswith("text/turtle")
        assert get(site + path, Accept=browser)[1]["content-type"].startswith("text/html")


# -- VoID --------------------------------------------------------------------------------------

def test_void_entities_only_where_void_defines_them(site: str, description: Graph) -> None:
    partitions = set(description.objects(DATASET, VOID.classPartition))
    for subject in description.subjects(VOID.entities):
        assert subject == DATASET or subject in partitions
    assert sparql_rows(site, f"SELECT ?s WHERE {{ ?s <{VOID}entities> ?n }} LIMIT 1") == []


def test_one_data_dump_and_every_vocabulary(site: str, description: Graph) -> None:
    (dump,) = description.objects(DATASET, VOID.dataDump)
    downloads = {d for dist in description.objects(DATASET, DCAT.distribution)
                 for d in description.objects(dist, DCAT.downloadURL)}
    assert dump in downloads and len(downloads) > 1
    vocabularies = {str(v) for v in description.objects(DATASET, VOID.vocabulary)}
    used = [row["t"] for row in sparql_rows(site, """
        SELECT DISTINCT ?t WHERE { { ?s ?t ?o } UNION { ?s a ?t } }""")]
    for term in used:
        assert any(term.startswith(v) and len(term) > len(v) for v in vocabularies), term


def test_geonames_linkset_counts_the_links(site: str, description: Graph) -> None:
    (linkset,) = description.subjects(RDF.type, VOID.Linkset)
    assert linkset in set(description.objects(DATASET, VOID.subset))
    assert description.value(linkset, VOID.linkPredicate) == OWL_SAME_AS
    assert description.value(linkset, VOID.subjectsTarget) == DATASET
    target = description.value(linkset, VOID.objectsTarget)
    assert str(description.value(target, VOID.uriSpace)) == "https://sws.geonames.org/"
    links = sparql_rows(site, f"""SELECT (COUNT(*) AS ?n) WHERE {{ ?s <{OWL_SAME_AS}> ?o
        FILTER(STRSTARTS(STR(?o), "https://sws.geonames.org/")) }}""")
    assert int(description.value(linkset, VOID.triples)) == int(links[0]["n"]) > 0


# -- schema.org --------------------------------------------------------------------------------

class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._inside = tag == "script" and ("type", "application/ld+json") in attrs

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.found.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._inside = False


def _no_network(url: str, options: object = None) -> object:
    raise jsonld.JsonLdError(f"refused to fetch {url}", "jsonld.LoadDocumentError",
                             code="loading remote context failed")


def page_jsonld(html: bytes) -> list[dict]:
    """The page's JSON-LD, expanded by pyld (no context is fetched)."""
    parser = _Scripts()
    parser.feed(html.decode("utf-8"))
    assert parser.found, "no JSON-LD on the page"
    return [node for text in parser.found
            for node in jsonld.expand(json.loads(text), {"documentLoader": _no_network})]


def _one(node: dict, prop: str) -> object:
    values = node.get(SDO + prop)
    assert values, f"no {prop}"
    return values[0]


def _iri(node: dict, prop: str) -> str:
    value = _one(node, prop)
    assert isinstance(value, dict) and "@id" in value, f"{prop} is not a link: {value}"
    return value["@id"]


def _text(node: dict, prop: str) -> str:
    value = _one(node, prop)
    assert isinstance(value, dict) and "@value" in value, f"{prop} is not text: {value}"
    return value["@value"]


@pytest.mark.parametrize("path", ["/", "/dataset.html"])
def test_pages_carry_a_schema_org_dataset(site: str, description: Graph, path: str) -> None:
    status, _, body = get(site + path, Accept="text/html")
    assert status == 200
    (dataset,) = [n for n in page_jsonld(body) if SDO + "Dataset" in n.get("@type", [])]
    assert _text(dataset, "name") and len(_text(dataset, "description")) >= 50
    assert _iri(dataset, "url").startswith(site)
    assert _iri(dataset, "license") == str(description.value(DATASET, DCT.license))
    for role in ("creator", "publisher"):
        agent = _one(dataset, role)
        assert SDO + "Organization" in agent["@type"] and _text(agent, "name")
    catalog = _one(dataset, "includedInDataCatalog")
    assert SDO + "DataCatalog" in catalog["@type"]
    downloads = dataset[SDO + "distribution"]
    assert len(downloads) >= 3
    for download in downloads:
        assert SDO + "DataDownload" in download["@type"]
        assert _text(download, "encodingFormat")
        assert _iri(download, "contentUrl").startswith(site + "/dumps/")
    places = dataset[SDO + "spatialCoverage"]
    assert {p["@id"] for p in places} == {str(p) for p in
                                          description.objects(DATASET, DCT.spatial)}
    assert all(SDO + "Place" in p["@type"] and _text(p, "name") for p in places)
    period = description.value(DATASET, DCT.temporal)
    assert _text(dataset, "temporalCoverage") == (
        f"{description.value(period, DCAT.startDate)}/{description.value(period, DCAT.endDate)}")


@pytest.fixture(scope="module")
def synthetic_client(synthetic_build_dir: Path):
    from tipgraph.web import create_app

    app = create_app({"build_dir": str(synthetic_build_dir), "result_cache_mb": 0})
    return app.test_client()


def test_publication_pages_say_what_a_work_is(synthetic_client) -> None:
    """description, publisher, inLanguage, identifier, and url/sameAs as links."""
    rows = synthetic_client.get("/sparql", query_string={"query": f"""
        SELECT ?p WHERE {{ ?p a <{TIP}Publication> ; <{SDO}url> ?u ; <{DCT}abstract> ?a ;
                           <{DCT}creator> ?o . ?o a <{SDO}Organization> }}
        ORDER BY ?p LIMIT 1"""}, headers={"Accept": "application/sparql-results+json"}).json
    uri = rows["results"]["bindings"][0]["p"]["value"]
    page = synthetic_client.get("/" + uri.removeprefix(BASE) + ".html")
    (work,) = [n for n in page_jsonld(page.data) if n.get("@id") == uri]
    assert SDO + "CreativeWork" in work["@type"]
    assert _text(work, "description")
    assert _text(work, "inLanguage") == "en"
    assert _text(work, "identifier")
    assert SDO + "Organization" in _one(work, "publisher")["@type"]
    assert _iri(work, "url").endswith(uri.removeprefix(BASE) + ".html")
    assert _iri(work, "sameAs").startswith("https://")


def test_place_pages_link_their_geonames_twin(site: str) -> None:
    _, _, body = get(f"{site}/place/ng.html")
    (place,) = [n for n in page_jsonld(body) if n.get("@id") == BASE + "place/ng"]
    assert _iri(place, "sameAs").startswith("https://sws.geonames.org/")


# -- one negotiation ---------------------------------------------------------------------------

SELECT = quote("SELECT ?s WHERE { ?s ?p ?o } LIMIT 3")
CONSTRUCT = quote("CONSTRUCT WHERE { ?s ?p ?o } LIMIT 3")
#: (target, Accept, expected: a format's media type, or 406)
TABLE = [
    # documents: the 303 goes to the chosen document
    ("document", "*/*", "text/html"),
    ("document", "application/*", "application/ld+json"),
    ("document", "text/html;q=0, */*", "text/turtle"),
    ("document", "*/*, text/turtle", "text/turtle"),
    ("document", "application/json", "application/ld+json"),
    ("document", "application/n-quads", "application/n-quads"),
    ("document", "application/trig", "application/trig"),
    ("document", "text/plain", "application/n-triples"),
    ("document", "image/png", 406),
    ("document", "application/x-bibtex", 406),  # a place is no citation
    # a publication is a citation too, reached only by naming it
    ("publication", "*/*", "text/html"),
    ("publication", "application/*", "application/ld+json"),
    ("publication", "application/x-bibtex", "application/x-bibtex"),
    ("publication", "application/x-research-info-systems;q=0.5, text/turtle;q=0.4",
     "application/x-research-info-systems"),
    ("publication", "application/vnd.citationstyles.csl+json",
     "application/vnd.citationstyles.csl+json"),
    ("publication", "image/png", 406),
    # dumps
    ("dump", "*/*", "text/turtle"),
    ("dump", "application/*", "application/n-triples"),
    ("dump", "text/turtle;q=0, */*", "application/n-triples"),
    ("dump", "application/json", "application/ld+json"),
    ("dump", "application/n-quads", "application/n-quads"),
    ("dump", "application/trig", "application/trig"),
    ("dump", "text/html", 406),
    # the description
    ("dataset", "*/*", "text/turtle"),
    ("dataset", "application/*", "application/ld+json"),
    ("dataset", "text/turtle;q=0, */*", "application/ld+json"),
    ("dataset", "application/json", "application/ld+json"),
    ("dataset", "application/n-quads", "application/n-quads"),
    ("dataset", "image/png", 406),
    # /sparql, a graph and a table
    ("construct", "*/*", "text/turtle"),
    ("construct", "application/*", "application/n-triples"),
    ("construct", "text/turtle;q=0, */*", "application/n-triples"),
    ("construct", "application/json", "application/ld+json"),
    ("construct", "application/n-quads", "application/n-quads"),
    ("construct", "application/trig", "application/trig"),
    ("construct", "image/png", 406),
    ("select", "*/*", "application/sparql-results+json"),
    ("select", "application/json", "application/sparql-results+json"),
    ("select", "text/csv;q=0.5, text/tab-separated-values", "text/tab-separated-values"),
    ("select", "text/turtle", 406),
]
TARGETS = {"document": "/place/ng", "publication": "", "dump": "/dumps/tipgraph",
           "dataset": "/dataset",
           "construct": f"/sparql?query={CONSTRUCT}", "select": f"/sparql?query={SELECT}"}


def _first_publication(site: str) -> str:
    (row,) = sparql_rows(site, f"SELECT ?p WHERE {{ ?p a <{TIP}Publication> }} ORDER BY ?p LIMIT 1")
    return "/" + row["p"].removeprefix(BASE)


def _negotiated(site: str, target: str, accept: str, method: str) -> tuple[int, str, bytes]:
    """Status and media type of the answer (a document: of the document the 303 names)."""
    path = TARGETS[target] or _first_publication(site)
    status, headers, body = fetch(site + path, method=method, headers={"Accept": accept})
    if status == 303:
        assert "Accept" in headers["vary"]
        status, headers, body = fetch(site + urlsplit(headers["location"]).path,
                                      method=method)
    return status, headers.get("content-type", "").split(";")[0], body


@pytest.mark.parametrize(("target", "accept", "expected"), TABLE)
def test_negotiation(site: str, target: str, accept: str, expected: str | int) -> None:
    status, media_type, body = _negotiated(site, target, accept, "GET")
    if expected == 406:
        assert status == 406
        return
    assert (status, media_type) == (200, expected)
    assert body
    head_status, head_type, head_body = _negotiated(site, target, accept, "HEAD")
    assert (head_status, head_type, head_body) == (200, expected, b"")


# -- compression ---------------------------------------------------------------------------------

BIG_SELECT = quote("SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 40")
BIG_CONSTRUCT = quote("CONSTRUCT WHERE { ?s ?p ?o } LIMIT 40")
#: path -> what kind of answer it is (each larger than compression's lower bound)
ANSWERS = {
    "/": "page", "/browse": "page", "/place/ng.ttl": "document",
    "/place/ng.jsonld": "document", "/dataset.ttl": "description",
    f"/sparql?query={BIG_SELECT}&format=json": "sparql (fast path)",
    f"/sparql?query={BIG_CONSTRUCT}&format=turtle": "sparql (fast path)",
    f"/sparql?query={BIG_SELECT}&format=html": "sparql (results page)",
    "/sparql": "service description",
    "/browse.bib": "citations (BibTeX)", "/browse.ris": "citations (RIS)",
}


@pytest.mark.parametrize("path", list(ANSWERS))
def test_answers_are_gzipped_when_asked(site: str, path: str) -> None:
    plain = get(site + path, Accept="text/turtle, */*;q=0.5")
    zipped = get(site + path, Accept="text/turtle, */*;q=0.5", Accept_Encoding="gzip")
    assert plain[0] == zipped[0] == 200
    assert "content-encoding" not in plain[1]
    assert zipped[1]["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped[1]["vary"] and "Accept-Encoding" in plain[1]["vary"]
    if ANSWERS[path] == "service description":  # its blank nodes are named anew each time
        assert isomorphic(Graph().parse(data=gzip.decompress(zipped[2]), format="turtle"),
                          Graph().parse(data=plain[2], format="turtle"))
    else:
        assert gzip.decompress(zipped[2]) == plain[2]
    if "etag" in plain[1]:
        assert zipped[1]["etag"] != plain[1]["etag"]
    # not asked (or refused): not compressed
    refused = get(site + path, Accept="text/turtle, */*;q=0.5", Accept_Encoding="gzip;q=0")
    assert "content-encoding" not in refused[1]
    head = fetch(site + path, method="HEAD",
                 headers={"Accept": "text/turtle, */*;q=0.5", "Accept-Encoding": "gzip"})
    assert head[1]["content-encoding"] == "gzip" and head[2] == b""


def test_a_gzipped_answer_revalidates_to_304(site: str) -> None:
    _, headers, _ = get(f"{site}/place/ng.ttl", Accept_Encoding="gzip")
    status, again, _ = get(f"{site}/place/ng.ttl", Accept_Encoding="gzip",
                           If_None_Match=headers["etag"])
    assert status == 304 and again["etag"] == headers["etag"]


def test_dumps_are_served_precompressed(site: str, seed_build_dir: Path) -> None:
    on_disk = (seed_build_dir / "current" / "tipgraph.nt.gz").read_bytes()
    for name in ("tipgraph.nt", "tipgraph.nq"):
        status, headers, body = get(f"{site}/dumps/{name}", Accept_Encoding="gzip")
        assert status == 200 and headers["content-encoding"] == "gzip"
        assert body == on_disk  # the build's file, not compressed again
        assert int(headers["content-length"]) == len(on_disk)
        assert "Accept-Encoding" in headers["vary"]
    # the .gz file itself is a download of a gzip file, as it is
    status, headers, body = get(f"{site}/dumps/tipgraph.nt.gz", Accept_Encoding="gzip")
    assert headers["content-type"] == "application/gzip" and "content-encoding" not in headers
    assert body == on_disk
    # a dump without a .gz of its own goes out as it is, never compressed per request
    status, headers, body = get(f"{site}/dumps/tipgraph.ttl", Accept_Encoding="gzip")
    assert status == 200 and "content-encoding" not in headers
    assert body == (seed_build_dir / "current" / "tipgraph.ttl").read_bytes()


def test_ranges_are_of_the_identity_bytes(site: str) -> None:
    status, headers, body = get(f"{site}/dumps/tipgraph.ttl", Range="bytes=0-99",
                                Accept_Encoding="gzip")
    assert status == 206 and len(body) == 100 and "content-encoding" not in headers
    assert re.match(rb"@prefix", body)
