"""/oai can be found: in the SPARQL service description, the VoID/DCAT description and on
the home page."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import DCTERMS, RDF

from tipgraph.web import create_app

DCAT = Namespace("http://www.w3.org/ns/dcat#")
OAI_PMH = URIRef("http://www.openarchives.org/OAI/2.0/openarchivesprotocol.htm")


@pytest.fixture(scope="module")
def client(seed_build_dir: Path):
    return create_app({"build_dir": str(seed_build_dir)}).test_client()


def _oai_services(graph: Graph) -> set[URIRef]:
    return {s for s in graph.subjects(DCTERMS.conformsTo, OAI_PMH)
            if (s, RDF.type, DCAT.DataService) in graph}


def test_dataset_description_names_the_oai_service(client) -> None:
    graph = Graph().parse(data=client.get("/dataset.ttl").data, format="turtle")
    (service,) = _oai_services(graph)
    assert str(graph.value(service, DCAT.endpointURL)) == "http://localhost/oai"
    dataset = graph.value(service, DCAT.servesDataset)
    assert (dataset, DCAT.distribution, None) in graph
    assert any((d, DCAT.accessService, service) in graph
               for d in graph.objects(dataset, DCAT.distribution))


def test_service_description_names_the_oai_service(client) -> None:
    response = client.get("/sparql", headers={"Accept": "text/turtle"})
    graph = Graph().parse(data=response.data, format="turtle")
    assert _oai_services(graph) == {URIRef("http://localhost/oai")}


def test_home_page_links_to_oai(client, oai_valid) -> None:
    page = client.get("/").data.decode()
    assert 'href="/oai?verb=Identify"' in page
    identify = client.get("/oai?verb=Identify")
    assert identify.status_code == 200
    assert oai_valid(identify.data).find("{*}Identify") is not None
