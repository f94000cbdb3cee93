"""A publication's metadata as oai_dc and oai_openaire: every field the graph has, in the
element each format gives it, valid against the format's schema."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph
import pytest
from lxml import etree

from tipgraph.serving import Build
from tipgraph.serving.oai import Metadata, read_metadata
from tipgraph.store import OxigraphStore
from tipgraph.web.oai_formats import oai_dc, oai_openaire

from .conftest import NS

BASE = "https://w3id.org/tipgraph/"
TURTLE = """
@prefix dct: <http://purl.org/dc/terms/> .
@prefix schema: <https://schema.org/> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix tip: <https://w3id.org/tipgraph/ontology#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix gn: <https://www.geonames.org/ontology#> .
@prefix pub: <https://w3id.org/tipgraph/publication/> .
@prefix person: <https://w3id.org/tipgraph/person/> .
@prefix org: <https://w3id.org/tipgraph/organisation/> .
@prefix concept: <https://w3id.org/tipgraph/concept/> .
@prefix place: <https://w3id.org/tipgraph/place/> .
@prefix volume: <https://w3id.org/tipgraph/volume/> .

pub:a-chapter a tip:Publication ;
    dct:title "A Chapter"@en ; dct:abstract "What it says."@en ; dct:issued "2019" ;
    dct:creator person:ada-lovelace, org:iom ;
    dct:subject concept:trafficking ;
    tip:statedCountry place:ng ; tip:statedRegion place:west-and-central-africa ;
    dct:bibliographicCitation "Lovelace, A. (2019). A Chapter. In: A Volume." ;
    dct:isPartOf volume:a-volume ;
    schema:url <https://publications.example.org/a-chapter> ;
    prov:wasDerivedFrom <https://publications.example.org/a-chapter>,
        <https://w3id.org/tipgraph/source/x.jsonl#line-3> .
person:ada-lovelace a schema:Person ; foaf:name "Ada Lovelace" ; schema:name "Ada Lovelace" .
org:iom a schema:Organization ;
    skos:prefLabel "International Organization for Migration"@en .
concept:trafficking a skos:Concept ; skos:prefLabel "Trafficking"@en .
place:ng a tip:Country ; skos:prefLabel "Nigeria"@en ; gn:name "Nigeria" .
place:west-and-central-africa a tip:Region ; skos:prefLabel "West and Central Africa"@en .
volume:a-volume a tip:EditedVolume ; dct:title "A Volume"@en .
"""


@pytest.fixture(scope="module")
def metadata() -> Metadata:
    store = pyoxigraph.Store()
    store.load(TURTLE.encode(), format=pyoxigraph.RdfFormat.TURTLE)
    build = Build("test", Path("test"), OxigraphStore(store), {"base": BASE}, None)
    return read_metadata(build, BASE + "publication/a-chapter")


def test_read_from_the_graph(metadata: Metadata) -> None:
    assert metadata.title == "A Chapter"
    assert metadata.abstract == "What it says."
    assert metadata.year == "2019"
    assert metadata.creators == [("Ada Lovelace", "Personal"),
                                 ("International Organization for Migration", "Organizational")]
    assert metadata.subjects == ["Trafficking"]
    assert metadata.places == ["Nigeria", "West and Central Africa"]
    assert metadata.citation.startswith("Lovelace")
    assert metadata.page == "https://publications.example.org/a-chapter"
    assert metadata.part_of == "A Volume"


def test_oai_dc(metadata: Metadata, oai_schemas) -> None:
    element = oai_dc(metadata)
    texts = {(e.tag.split("}")[1], e.text) for e in element}
    assert {("title", "A Chapter"), ("creator", "Ada Lovelace"),
            ("creator", "International Organization for Migration"),
            ("subject", "Trafficking"), ("description", "What it says."), ("date", "2019"),
            ("type", "Text"), ("identifier", BASE + "publication/a-chapter"),
            ("identifier", metadata.citation), ("coverage", "Nigeria"),
            ("relation", "https://publications.example.org/a-chapter"),
            ("relation", "A Volume")} <= texts
    _valid_in_an_answer(element, oai_schemas["oai_dc"])


def test_oai_openaire(metadata: Metadata, oai_schemas) -> None:
    element = oai_openaire(metadata)
    names = {e.text: e.get("nameType") for e in element.iterfind(".//datacite:creatorName", NS)}
    assert names == {"Ada Lovelace": "Personal",
                     "International Organization for Migration": "Organizational"}
    assert element.findtext("datacite:identifier", namespaces=NS) == \
        BASE + "publication/a-chapter"
    assert element.find(".//datacite:alternateIdentifier", NS).text == metadata.page
    assert element.find(".//datacite:date", NS).get("dateType") == "Issued"
    assert oai_schemas["openaire"].validate(etree.ElementTree(element)), \
        oai_schemas["openaire"].error_log
    _valid_in_an_answer(element, oai_schemas["oai_openaire"])


def test_text_xml_cannot_carry_is_left_out(oai_schemas) -> None:
    element = oai_dc(Metadata(BASE + "publication/x", title="Bell\x07 and tab\t"))
    assert element.findtext("dc:title", namespaces=NS) == "Bell and tab\t"
    _valid_in_an_answer(element, oai_schemas["oai_dc"])


def _valid_in_an_answer(metadata: etree._Element, schema: etree.XMLSchema) -> None:
    oai = "http://www.openarchives.org/OAI/2.0/"
    root = etree.fromstring(
        f'<OAI-PMH xmlns="{oai}"><responseDate>2026-01-01T00:00:00Z</responseDate>'
        '<request verb="GetRecord" identifier="oai:x.org:x" metadataPrefix="oai_dc">'
        'http://x.org/oai</request><GetRecord><record><header>'
        '<identifier>oai:x.org:x</identifier><datestamp>2026-01-01T00:00:00Z</datestamp>'
        '</header><metadata/></record></GetRecord></OAI-PMH>')
    root.find(f".//{{{oai}}}metadata").append(metadata)
    assert schema.validate(root), schema.error_log
