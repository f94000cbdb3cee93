"""Linked-data publishing over real HTTP: conneg, documents, VoID/DCAT, dumps, caching.

The conneg matrix runs against the shared ``live_server`` (the seed build); the
tests that switch builds start their own server on a build directory of their own.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pyoxigraph
import pytest
from pyld import jsonld
from rdflib import Dataset, Graph, Namespace, URIRef
from rdflib.compare import isomorphic

from tipgraph.build import run_build
from tipgraph.ledger import Ledger
from tipgraph.testing import serving

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://w3id.org/tipgraph/"
VOID = Namespace("http://rdfs.org/ns/void#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DOCUMENTS = {  # Accept -> (extension, rdflib parser or None for HTML)
    "text/html": ("html", None),
    "text/turtle": ("ttl", "turtle"),
    "application/ld+json": ("jsonld", "json-ld"),
    "application/rdf+xml": ("rdf", "xml"),
    "application/n-triples": ("nt", "nt"),
}


# -- HTTP without redirects ------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name) or ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def get(url: str, headers: dict[str, str] | None = None) -> Answer:
    """One GET on loopback, redirects not followed, bounded by a timeout."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", url
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def _refuse_remote(url: str, options: object = None) -> object:
    raise jsonld.JsonLdError(f"refused to fetch {url}", "jsonld.LoadDocumentError",
                             code="loading remote context failed")


def expand_jsonld(text: str) -> Graph:
    """JSON-LD to triples with pyld, never fetching a remote context."""
    nquads = jsonld.to_rdf(json.loads(text), {"format": "application/n-quads",
                                              "documentLoader": _refuse_remote})
    return Graph().parse(data=nquads, format="nt")


# -- servers ---------------------------------------------------------------------------------

def start_server(config: pytest.Config, build_dir: Path) -> contextlib.AbstractContextManager[str]:
    """A server of its own for a module (``config`` kept for the callers' signature)."""
    return serving(build_dir, workers=1)


@pytest.fixture(scope="module")
def site(live_server: str) -> str:
    """The shared live server over the seed build."""
    return live_server.rstrip("/")


def _first(store: pyoxigraph.Store, pattern: str) -> str:
    rows = list(store.query(f"SELECT ?s WHERE {{ {pattern} }} ORDER BY ?s LIMIT 1"))
    assert rows, pattern
    return rows[0]["s"].value


@pytest.fixture(scope="module")
def resources(seed_build_dir: Path) -> dict[str, str]:
    """One URI of each kind of resource in the seed build: kind -> path on the server."""
    store = pyoxigraph.Store.read_only(str(seed_build_dir / "store"))
    tip, schema, skos = ("https://w3id.org/tipgraph/ontology#", "https://schema.org/",
                         "http://www.w3.org/2004/02/skos/core#")
    uris = {
        "publication": _first(store, f"?s a <{tip}Publication>"),
        "country": _first(store, f"?s a <{tip}Country>"),
        "region": _first(store, f"?s a <{tip}Region> FILTER(?s != <{BASE}place/world>)"),
        "world": f"{BASE}place/world",
        "organisation": _first(store, f"?s a <{schema}Organization>"),
        "person": _first(store, f"?s a <{schema}Person>"),
        "concept": _first(store, f"?s a <{skos}Concept>"),
        "scheme": _first(store, f"?s a <{skos}ConceptScheme>"),
        "volume": _first(store, f"?s a <{tip}EditedVolume>"),
        "source": _first(store, f"?s a <{tip}SourceRecord>").split("#")[0],
    }
    del store
    paths = {kind: uri.removeprefix(BASE) for kind, uri in uris.items()}
    return {**paths, "ontology": "ontology", "shapes": "shapes"}


KINDS = ("publication", "country", "region", "world", "organisation", "person", "concept",
         "scheme", "volume", "source", "ontology", "shapes")


def _uri(path: str) -> str:
    return {"ontology": f"{BASE}ontology", "shapes": f"{BASE}shapes"}.get(path, BASE + path)


# -- the conneg matrix -----------------------------------------------------------------------

@pytest.mark.parametrize("accept", list(DOCUMENTS))
@pytest.mark.parametrize("kind", KINDS)
def test_thing_redirects_to_its_document(site: str, resources: dict[str, str], kind: str,
                                         accept: str) -> None:
    path = resources[kind]
    extension, parser = DOCUMENTS[accept]
    thing = get(f"{site}/{path}", {"Accept": accept})
    assert thing.status == 303
    assert thing.header("Location").endswith(f"/{path}.{extension}")
    assert "Accept" in thing.header("Vary")
    for ext in ("html", "ttl", "jsonld", "rdf", "nt"):
        assert f"/{path}.{ext}>" in thing.header("Link")
    document = get(site + urlsplit(thing.header("Location")).path)
    assert document.status == 200
    assert document.header("Content-Type").split(";")[0] == accept
    assert document.header("ETag") and document.header("Last-Modified")
    uri = _uri(path)
    if parser is None:
        assert "<script type=\"application/ld+json\">" in document.text
        return
    graph = Graph().parse(data=document.body, format=parser)
    subjects = {str(s) for s in graph.subjects()}
    assert uri in subjects or any(s.startswith(uri + "#") for s in subjects)


@pytest.mark.parametrize("kind", KINDS)
def test_jsonld_document_expands_to_the_turtle_triples(site: str, resources: dict[str, str],
                                                       kind: str) -> None:
    """The same triples, but for those each document states about itself (its URL names
    its format): that it is in the dataset, under its licence."""
    path = resources[kind]
    turtle = Graph().parse(data=get(f"{site}/{path}.ttl").body, format="turtle")
    expanded = expand_jsonld(get(f"{site}/{path}.jsonld").text)
    assert len(turtle) > 0
    for graph, extension in ((turtle, "ttl"), (expanded, "jsonld")):
        here = URIRef(f"{site}/{path}.{extension}")
        if kind not in ("ontology", "shapes"):
            assert (here, VOID.inDataset, URIRef(BASE + "dataset")) in graph
            assert graph.value(here, URIRef("http://purl.org/dc/terms/license")) is not None
        graph.remove((here, None, None))
    assert isomorphic(turtle, expanded)


def test_browser_accept_and_no_accept_get_html(site: str, resources: dict[str, str]) -> None:
    path = resources["publication"]
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert get(f"{site}/{path}", {"Accept": browser}).header("Location").endswith(".html")
    assert get(f"{site}/{path}").header("Location").endswith(".html")
    assert get(f"{site}/{path}", {"Accept": "text/turtle;q=0.5, text/html;q=0.1"}
               ).header("Location").endswith(".ttl")


def test_unacceptable_format_is_406(site: str, resources: dict[str, str]) -> None:
    answer = get(f"{site}/{resources['country']}", {"Accept": "image/png"})
    assert answer.status == 406
    assert "Accept" in answer.header("Vary")


def test_publication_document_has_labels_of_what_it_links_to(
        site: str, resources: dict[str, str]) -> None:
    uri = URIRef(_uri(resources["publication"]))
    graph = Graph().parse(data=get(f"{site}/{resources['publication']}.ttl").body)
    linked = [o for o in graph.objects(uri, None) if isinstance(o, URIRef)
              and str(o).startswith(BASE + "place/")]
    assert linked
    skos = Namespace("http://www.w3.org/2004/02/skos/core#")
    assert all(graph.value(place, skos.prefLabel) is not None for place in linked)


def test_place_and_agent_documents_list_their_publications(
        site: str, resources: dict[str, str]) -> None:
    dct = Namespace("http://purl.org/dc/terms/")
    for kind, prop in (("country", dct.spatial), ("region", dct.spatial),
                       ("organisation", dct.creator), ("person", dct.creator)):
        uri = URIRef(_uri(resources[kind]))
        graph = Graph().parse(data=get(f"{site}/{resources[kind]}.ttl").body)
        publications = list(graph.subjects(prop, uri))
        assert publications, kind
        assert all(graph.value(p, dct.title) is not None for p in publications)
        page = get(f"{site}/{resources[kind]}.html").text
        assert "Publications (" in page


def test_unknown_uri_is_a_helpful_404(site: str) -> None:
    answer = get(f"{site}/publication/no-such-publication-at-all", {"Accept": "text/turtle"})
    assert answer.status == 404
    assert "text/html" in answer.header("Content-Type")
    assert "/browse?q=no+such+publication" in answer.text or "browse?q=" in answer.text
    assert get(f"{site}/place/nowhere.ttl").status == 404


# -- description, dumps, sitemap -------------------------------------------------------------

def sparql_count(site: str, query: str) -> int:
    answer = get(f"{site}/sparql?query={quote(query)}",
                 {"Accept": "application/sparql-results+json"})
    assert answer.status == 200, answer.text
    bindings = json.loads(answer.body)["results"]["bindings"]
    return int(bindings[0]["n"]["value"])


@pytest.fixture(scope="module")
def void(site: str) -> Graph:
    answer = get(f"{site}/.well-known/void")
    assert answer.status == 200
    assert answer.header("Content-Type").startswith("text/turtle")
    return Graph().parse(data=answer.body, format="turtle")


def test_void_counts_equal_sparql_counts(site: str, void: Graph) -> None:
    dataset = next(void.subjects(VOID.sparqlEndpoint))
    assert dataset is not None
    assert str(void.value(dataset, VOID.sparqlEndpoint)).endswith("/sparql")
    assert int(void.value(dataset, VOID.triples)) == sparql_count(
        site, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert int(void.value(dataset, VOID.entities)) == sparql_count(
        site, f'SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s ?p ?o '
              f'FILTER(isIRI(?s) && STRSTARTS(STR(?s), "{BASE}")) }}')
    classes = list(void.objects(dataset, VOID.classPartition))
    assert len(classes) == int(void.value(dataset, VOID.classes)) > 5
    for partition in classes:
        cls = void.value(partition, VOID["class"])
        assert int(void.value(partition, VOID.entities)) == sparql_count(
            site, f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s a <{cls}> }}")
    properties = list(void.objects(dataset, VOID.propertyPartition))
    assert len(properties) == int(void.value(dataset, VOID.properties)) > 5
    for partition in properties[:10]:
        prop = void.value(partition, VOID.property)
        assert int(void.value(partition, VOID.triples)) == sparql_count(
            site, f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s <{prop}> ?o }}")
    assert str(void.value(dataset, VOID.uriSpace)) == BASE
    vocabularies = {str(v) for v in void.objects(dataset, VOID.vocabulary)}
    assert {"https://schema.org/", "http://purl.org/dc/terms/"} <= vocabularies
    dct = Namespace("http://purl.org/dc/terms/")
    assert void.value(dataset, dct.license) is not None
    assert void.value(dataset, dct.modified) is not None
    rights = void.value(dataset, dct.rights)
    label = void.value(rights, URIRef("http://www.w3.org/2000/01/rdf-schema#label"))
    assert "remain with their publishers" in str(label)


def test_dumps_named_by_void_download_and_parse_to_the_same_triples(
        site: str, void: Graph) -> None:
    """One void:dataDump (a loader takes the data once); every format a DCAT distribution."""
    dataset = next(void.subjects(VOID.sparqlEndpoint))
    triples = int(void.value(dataset, VOID.triples))
    (data_dump,) = void.objects(dataset, VOID.dataDump)
    sizes = {str(void.value(d, DCAT.downloadURL)): int(void.value(d, DCAT.byteSize))
             for d in void.objects(dataset, DCAT.distribution)
             if void.value(d, DCAT.byteSize) is not None}
    assert str(data_dump) in sizes
    names = {u.rsplit("/", 1)[-1] for u in sizes}
    assert {"tipgraph.ttl", "tipgraph.nt.gz", "tipgraph.jsonld", "tipgraph.nq",
            "tipgraph.trig"} <= names
    parsers = {"ttl": "turtle", "nt": "nt", "nq": "nquads", "trig": "trig"}
    for url in sizes:
        answer = get(site + urlsplit(url).path)
        assert answer.status == 200
        assert int(answer.header("Content-Length")) == len(answer.body) == sizes[url]
        assert answer.header("ETag") and answer.header("Last-Modified")
        body, extension = answer.body, url.rsplit(".", 1)[-1]
        if extension == "gz":
            body, extension = gzip.decompress(body), url.rsplit(".", 2)[-2]
        if extension == "jsonld":
            graph = expand_jsonld(body.decode("utf-8"))
            assert isomorphic(graph, Graph().parse(
                data=get(f"{site}/dumps/tipgraph.ttl").body, format="turtle"))
        else:
            graph = Dataset().parse(data=body, format=parsers[extension])
        assert len(graph) == triples, url


def test_dcat_describes_catalog_and_distributions(site: str) -> None:
    graph = Graph().parse(data=get(f"{site}/dataset", {"Accept": "application/ld+json"}).body,
                          format="json-ld")
    rdf_type = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    catalog = graph.value(None, rdf_type, DCAT.Catalog)
    dataset = graph.value(catalog, DCAT.dataset)
    assert (dataset, rdf_type, DCAT.Dataset) in graph
    media = {str(graph.value(d, DCAT.mediaType)) for d in graph.objects(dataset, DCAT.distribution)}
    assert "https://www.iana.org/assignments/media-types/text/turtle" in media
    endpoints = {str(graph.value(s, DCAT.endpointURL))
                 for s in graph.subjects(rdf_type, DCAT.DataService)}
    assert {e.rsplit("/", 1)[-1] for e in endpoints} == {"sparql", "oai"}
    assert get(f"{site}/dataset", {"Accept": "text/html"}).header("Content-Type").startswith(
        "text/html")


def test_dump_answers_range_requests(site: str) -> None:
    whole = get(f"{site}/dumps/tipgraph.ttl")
    part = get(f"{site}/dumps/tipgraph.ttl", {"Range": "bytes=10-99"})
    assert part.status == 206
    assert part.body == whole.body[10:100]
    assert part.header("Content-Range") == f"bytes 10-99/{len(whole.body)}"


def test_sitemap_lists_every_page_and_robots_names_it(site: str,
                                                      resources: dict[str, str]) -> None:
    robots = get(f"{site}/robots.txt").text
    assert "Sitemap: " in robots and robots.strip().endswith("/sitemap.xml")
    sitemap = get(f"{site}/sitemap.xml").text
    import xml.etree.ElementTree as ET

    locs = [e.text for e in ET.fromstring(sitemap).iter(
        "{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    for kind in ("publication", "country", "region", "organisation", "person", "source"):
        assert any(loc.endswith(f"/{resources[kind]}.html") for loc in locs), kind
    for loc in locs:
        assert get(site + urlsplit(loc).path).status == 200, loc


# -- caching ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/browse?year=2010", "/dataset", "/sitemap.xml",
                                  "/dumps/tipgraph.nt.gz", "/ontology.ttl"])
def test_repeated_request_is_304(site: str, path: str) -> None:
    first = get(site + path)
    assert first.status == 200
    etag, modified = first.header("ETag"), first.header("Last-Modified")
    assert etag and modified
    assert get(site + path, {"If-None-Match": etag}).status == 304
    assert get(site + path, {"If-Modified-Since": modified}).status == 304
    assert get(site + path, {"If-None-Match": '"something-else"'}).status == 200


# -- switching builds ------------------------------------------------------------------------

EXTRA = {"title": "Labour exploitation along the Gulf of Guinea coast",
         "description": "A study of recruitment and debt bondage in coastal fisheries.",
         "countries": ["Ghana"], "regions": [], "authors": ["IOM"], "year": 2021,
         "category": "Trafficking"}


def test_new_build_changes_etags_and_gone_uris_answer_410(tmp_path: Path,
                                                           pytestconfig: pytest.Config) -> None:
    sources = ROOT / "data" / "sources"
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps(EXTRA) + "\n", encoding="utf-8")
    out = tmp_path / "build"
    run_build([sources], out, base=BASE)
    with start_server(pytestconfig, out) as url:
        before = {p: get(url + p).header("ETag") for p in
                  ("/", "/dataset", "/dumps/tipgraph.ttl", "/place/gh.ttl", "/browse")}
        assert get(url + "/place/gh").status == 404

        run_build([sources, extra], out, base=BASE)
        after = {p: get(url + p) for p in before}
        for path, answer in after.items():
            if path != "/place/gh.ttl":
                assert answer.status == 200
                assert answer.header("ETag") != before[path], path
                assert get(url + path, {"If-None-Match": before[path]}).status == 200
        slug = next(s for s in Ledger(out).slugs().values() if s.startswith("labour-"))
        region = Graph().parse(data=get(url + "/place/west-and-central-africa.ttl").body)
        publication = URIRef(f"{BASE}publication/{slug}")
        dct = Namespace("http://purl.org/dc/terms/")
        # stated only Ghana: listed by its region through the inferred dct:spatial
        assert (publication, dct.spatial, URIRef(f"{BASE}place/west-and-central-africa")) \
            in region
        assert slug in get(url + "/place/west-and-central-africa.html").text

        run_build([sources], out, base=BASE)
        gone = get(f"{url}/publication/{slug}", {"Accept": "text/turtle"})
        assert gone.status == 410
        assert get(f"{url}/publication/{slug}.ttl").status == 410
        assert get(url + "/publication/never-published-anything").status == 404


# -- bounded documents -----------------------------------------------------------------------

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
RDFS = Namespace("http://www.w3.org/2000/01/rdf-schema#")
DCT = Namespace("http://purl.org/dc/terms/")
CAP = 3  # links per property per page: the seed's busiest nodes have 7 and 10


@pytest.fixture(scope="module")
def capped(seed_build_dir: Path) -> Iterator[str]:
    """A server over the seed build whose documents carry at most ``CAP`` links per property."""
    with serving(seed_build_dir, {"document_links": CAP}, workers=1) as url:
        yield url


def _linking(seed_build_dir: Path, prop: URIRef, node: str) -> set[URIRef]:
    store = pyoxigraph.Store.read_only(str(seed_build_dir / "store"))
    found = {URIRef(r["s"].value) for r in store.query(
        f"SELECT ?s WHERE {{ ?s <{prop}> <{node}> }}")}
    del store
    return found


def _pages(site: str, path: str, extension: str) -> list[Graph]:
    """Every page of a document, following ``hydra:next`` from the first."""
    parser = {"ttl": "turtle", "jsonld": "json-ld", "nt": "nt", "rdf": "xml"}[extension]
    pages, url = [], f"{site}/{path}.{extension}"
    while url:
        answer = get(url)
        assert answer.status == 200, url
        graph = Graph().parse(data=answer.body, format=parser)
        pages.append(graph)
        following = list(graph.objects(None, HYDRA.next))
        assert len(following) <= 1
        url = site + urlsplit(str(following[0])).path + "?" + urlsplit(str(following[0])).query \
            if following else ""
        assert len(pages) < 20
    return pages


@pytest.mark.parametrize("path,prop", [("place/world", DCT.spatial),
                                       ("concept/trafficking", DCT.subject)])
def test_a_document_carries_the_cap_and_its_next_pages_the_rest(
        capped: str, seed_build_dir: Path, path: str, prop: URIRef) -> None:
    node = URIRef(BASE + path)
    expected = _linking(seed_build_dir, prop, str(node))
    assert len(expected) > CAP
    pages = _pages(capped, path, "ttl")
    assert len(pages) == -(-len(expected) // CAP)
    listed: list[URIRef] = []
    for graph in pages:
        here = list(graph.subjects(prop, node))
        assert 0 < len(here) <= CAP
        assert all(graph.value(s, DCT.title) is not None for s in here)  # labelled
        assert (node, None, None) in graph  # every page describes the resource itself
        listed += here
    assert sorted(listed) == sorted(expected)  # each once, none left out
    first, last = pages[0], pages[-1]
    following = next(first.objects(None, HYDRA.next))
    assert (node, RDFS.seeAlso, following) in first
    assert str(following).endswith(f"/{path}.ttl?page=2")
    assert not list(last.objects(None, HYDRA.next))
    assert list(last.objects(None, HYDRA.previous))
    # the total the build counted is stated on the first page, which lists only CAP
    count = URIRef("https://w3id.org/tipgraph/ontology#count")
    totals = {int(n) for s in first.subjects(RDF_VALUE, node)
              for n in first.objects(s, count)}
    assert len(expected) in totals


RDF_VALUE = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#value")


def test_every_format_pages_alike(capped: str) -> None:
    def about_the_data(graph: Graph) -> set:
        """The page's triples but those naming pages (their URLs name the format)."""
        return {t for t in graph if not str(t[0]).startswith(capped)
                and not str(t[2]).startswith(capped)}

    turtle = [about_the_data(g) for g in _pages(capped, "place/world", "ttl")]
    for extension in ("jsonld", "nt", "rdf"):
        assert [about_the_data(g) for g in _pages(capped, "place/world", extension)] == turtle
    expanded = expand_jsonld(get(f"{capped}/place/world.jsonld?page=2").text)
    assert about_the_data(expanded) == turtle[1]  # pyld reads our JSON-LD as rdflib does


def test_past_the_last_page_is_404_and_small_documents_are_not_paged(
        capped: str, resources: dict[str, str]) -> None:
    assert get(f"{capped}/place/world.ttl?page=99").status == 404
    assert get(f"{capped}/place/world.ttl?page=0").status == 404
    assert get(f"{capped}/place/world.ttl?page=x").status == 404
    single = Graph().parse(data=get(f"{capped}/{resources['publication']}.ttl").body)
    assert not list(single.triples((None, HYDRA.next, None)))
    assert not list(single.triples((None, RDFS.seeAlso, None)))


def test_the_page_of_a_busy_resource_lists_the_cap_and_links_on(
        capped: str, seed_build_dir: Path) -> None:
    expected = _linking(seed_build_dir, DCT.spatial, BASE + "place/world")
    page = get(f"{capped}/place/world.html").text
    assert f"Publications ({len(expected)})" in page  # the total, from the statistics
    section = page.split('<section class="publications">', 1)[1].split("</section>", 1)[0]
    assert section.count("<li>") == CAP
    assert 'href="/browse?region=world"' in section
    assert 'rel="next" href="/place/world.html?page=2"' in page
    last = get(f"{capped}/place/world.html?page={-(-len(expected) // CAP)}").text
    assert 'rel="prev"' in last and 'rel="next"' not in last


def test_the_page_shows_no_paging_triples_as_links(capped: str) -> None:
    page = get(f"{capped}/place/world.html?page=2").text
    assert "primaryTopic" not in page and "hydra" not in page
    assert 'rel="prev" href="/place/world.html"' in page
