"""The OAI-PMH verbs at /oai over the seed build, through the app (no server).

Every answer is validated against the OAI-PMH 2.0 schema and the schema of the metadata
it carries (``oai_valid``). Two error codes of the protocol cannot arise here and so have
no test: ``noSetHierarchy`` (the repository has sets) and ``noMetadataFormats`` (every
record, deleted or not, is disseminated in both formats).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tipgraph.store import OxigraphStore
from tipgraph.web import create_app

from .conftest import NS

BASE = "https://w3id.org/tipgraph/"


@pytest.fixture(scope="module")
def client(seed_build_dir: Path):
    app = create_app({"build_dir": str(seed_build_dir), "oai_page_size": 4})
    return app.test_client()


@pytest.fixture(scope="module")
def publications(seed_build_dir: Path) -> dict[str, str]:
    """Every publication of the seed build: URI -> title, from its store."""
    store = OxigraphStore.open(seed_build_dir / "store")
    rows = store.query("PREFIX dct: <http://purl.org/dc/terms/> "
                       "SELECT ?p ?t WHERE { ?p a <https://w3id.org/tipgraph/ontology#Publication> "
                       "; dct:title ?t }")
    return {row["p"].value: row["t"].value for row in rows}


@pytest.fixture(scope="module")
def ask(client, oai_valid) -> Callable[..., etree._Element]:
    """``ask(verb=..., ...)``: the validated answer's root."""
    def get(method: str = "GET", **arguments: str) -> etree._Element:
        if method == "POST":
            response = client.post("/oai", data=arguments)
        else:
            response = client.get("/oai?" + urlencode(arguments))
        assert response.status_code == 200
        assert response.mimetype == "text/xml"
        return oai_valid(response.data)
    return get


def _error(root: etree._Element) -> str | None:
    error = root.find("oai:error", NS)
    return None if error is None else error.get("code")


def _harvest(ask, verb: str, **arguments: str) -> tuple[list[etree._Element], list[etree._Element]]:
    """Every item of a list (records or headers) and every resumptionToken element."""
    items, tokens = [], []
    root = ask(verb=verb, **arguments)
    while True:
        assert _error(root) is None, etree.tostring(root)
        listing = root.find(f"oai:{verb}", NS)
        items += listing.findall("oai:record" if verb == "ListRecords" else "oai:header", NS)
        token = listing.find("oai:resumptionToken", NS)
        if token is None:
            return items, tokens
        tokens.append(token)
        if not token.text:
            return items, tokens
        root = ask(verb=verb, resumptionToken=token.text)


def test_identify_says_what_a_harvester_needs(ask) -> None:
    root = ask(verb="Identify")
    identify = root.find("oai:Identify", NS)
    assert identify.findtext("oai:protocolVersion", namespaces=NS) == "2.0"
    assert identify.findtext("oai:deletedRecord", namespaces=NS) == "persistent"
    assert identify.findtext("oai:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.findtext("oai:baseURL", namespaces=NS).endswith("/oai")
    earliest = identify.findtext("oai:earliestDatestamp", namespaces=NS)
    assert earliest <= root.findtext("oai:responseDate", namespaces=NS)
    sample = identify.findtext(".//{*}sampleIdentifier")
    assert sample.startswith("oai:tipgraph.w3id.org:")


def test_identifiers_do_not_follow_the_request_host(client, oai_valid) -> None:
    response = client.get("/oai?verb=ListIdentifiers&metadataPrefix=oai_dc",
                          headers={"Host": "mirror.example.net"})
    identifiers = oai_valid(response.data).findall(".//oai:header/oai:identifier", NS)
    assert identifiers
    assert all(i.text.startswith("oai:tipgraph.w3id.org:") for i in identifiers)


def test_repository_id_is_a_setting(seed_build_dir: Path, oai_valid) -> None:
    app = create_app({"build_dir": str(seed_build_dir), "oai_repository_id": "catalogue.org"})
    root = oai_valid(app.test_client().get("/oai?verb=ListIdentifiers&metadataPrefix=oai_dc")
                     .data)
    identifiers = [i.text for i in root.findall(".//oai:header/oai:identifier", NS)]
    assert identifiers and all(i.startswith("oai:catalogue.org:") for i in identifiers)


@pytest.mark.parametrize("prefix", ["oai_dc", "oai_openaire"])
def test_every_publication_once_in_each_format(ask, publications, prefix: str) -> None:
    records, tokens = _harvest(ask, "ListRecords", metadataPrefix=prefix)
    identifiers = [r.findtext("oai:header/oai:identifier", namespaces=NS) for r in records]
    assert len(identifiers) == len(set(identifiers)) == len(publications)
    slugs = {uri.removeprefix(BASE + "publication/") for uri in publications}
    assert {i.removeprefix("oai:tipgraph.w3id.org:") for i in identifiers} == slugs
    titles = {r.findtext(".//dc:title", namespaces=NS) or
              r.findtext(".//datacite:title", namespaces=NS) for r in records}
    assert titles == set(publications.values())
    # paging: the cursor counts what was sent before, completeListSize the whole list
    assert [int(t.get("cursor")) for t in tokens] == list(range(0, 4 * len(tokens), 4))
    assert {int(t.get("completeListSize")) for t in tokens} == {len(publications)}
    assert not tokens[-1].text


def test_get_record_in_both_formats(ask, publications) -> None:
    uri, title = sorted(publications.items())[0]
    identifier = "oai:tipgraph.w3id.org:" + uri.removeprefix(BASE + "publication/")
    dc = ask(verb="GetRecord", identifier=identifier, metadataPrefix="oai_dc")
    assert dc.findtext(".//dc:title", namespaces=NS) == title
    assert uri in [e.text for e in dc.findall(".//dc:identifier", NS)]
    openaire = ask(verb="GetRecord", identifier=identifier, metadataPrefix="oai_openaire")
    assert openaire.findtext(".//datacite:title", namespaces=NS) == title
    assert openaire.findtext(".//datacite:identifier", namespaces=NS) == uri


def test_list_metadata_formats(ask, publications) -> None:
    uri = sorted(publications)[0]
    identifier = "oai:tipgraph.w3id.org:" + uri.removeprefix(BASE + "publication/")
    for root in (ask(verb="ListMetadataFormats"),
                 ask(verb="ListMetadataFormats", identifier=identifier)):
        prefixes = {e.text for e in root.findall(".//oai:metadataPrefix", NS)}
        assert prefixes == {"oai_dc", "oai_openaire"}


def test_sets_by_category_region_and_country(ask, seed_build_dir: Path) -> None:
    specs = {e.text for e in ask(verb="ListSets").findall(".//oai:setSpec", NS)}
    assert {"category", "region", "country"} <= specs
    assert "category:trafficking" in specs and "country:ng" in specs
    assert "region:west-and-central-africa" in specs
    store = OxigraphStore.open(seed_build_dir / "store")
    for spec, place in (("country:ng", BASE + "place/ng"),
                        ("region:west-and-central-africa",
                         BASE + "place/west-and-central-africa")):
        rows = store.query("SELECT ?p WHERE { ?p a <https://w3id.org/tipgraph/ontology#"
                           f"Publication> ; <http://purl.org/dc/terms/spatial> <{place}> }}")
        expected = {"oai:tipgraph.w3id.org:" + r["p"].value.removeprefix(BASE + "publication/")
                    for r in rows}
        headers, _ = _harvest(ask, "ListIdentifiers", metadataPrefix="oai_dc", set=spec)
        assert {h.findtext("oai:identifier", namespaces=NS) for h in headers} == expected
        assert all(spec in [s.text for s in h.findall("oai:setSpec", NS)] for h in headers)
    everything, _ = _harvest(ask, "ListIdentifiers", metadataPrefix="oai_dc", set="category")
    assert len(everything) == len(_harvest(ask, "ListIdentifiers", metadataPrefix="oai_dc")[0])


def test_post_is_answered_like_get(ask) -> None:
    assert ask("POST", verb="Identify").find("oai:Identify", NS) is not None


def test_from_until_select_by_datestamp(ask) -> None:
    headers, _ = _harvest(ask, "ListIdentifiers", metadataPrefix="oai_dc")
    stamps = sorted({h.findtext("oai:datestamp", namespaces=NS) for h in headers})
    first = stamps[0]
    inside, _ = _harvest(ask, "ListIdentifiers", metadataPrefix="oai_dc", **{"from": first,
                                                                            "until": first})
    assert len(inside) == sum(h.findtext("oai:datestamp", namespaces=NS) == first
                              for h in headers)
    day = first[:10]
    assert len(_harvest(ask, "ListIdentifiers", metadataPrefix="oai_dc",
                        **{"from": day, "until": day})[0]) == len(inside)


ERRORS = [
    ({}, "badVerb"),
    ({"verb": "Harvest"}, "badVerb"),
    ({"verb": "Identify", "set": "x"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "yesterday"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-02-30"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2021-01-01",
      "until": "2020-01-01"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-01-01",
      "until": "2021-01-01T00:00:00Z"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"},
     "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": ""}, "badArgument"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "100%"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "country:"}, "badArgument"),
    ({"verb": "ListRecords", "resumptionToken": "not-a-token"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "x"}, "badResumptionToken"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:x:y"},
     "idDoesNotExist"),
    ({"verb": "ListMetadataFormats", "identifier": "oai:tipgraph.w3id.org:no-such-record"},
     "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2999-01-01"},
     "noRecordsMatch"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "until": "1999-01-01"},
     "noRecordsMatch"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "country:zz"},
     "noRecordsMatch"),
]


@pytest.mark.parametrize(("arguments", "code"), ERRORS)
def test_each_error_for_its_case(ask, arguments: dict[str, str], code: str) -> None:
    root = ask(**arguments)
    assert _error(root) == code
    assert root.findtext("oai:error", namespaces=NS).strip()
    request = root.find("oai:request", NS)
    if code in ("badVerb", "badArgument"):  # the spec: no attributes then
        assert not request.attrib


def test_repeated_arguments_are_bad(client, oai_valid) -> None:
    twice_verb = oai_valid(client.get("/oai?verb=Identify&verb=Identify").data)
    assert _error(twice_verb) == "badVerb"
    twice_prefix = oai_valid(client.get(
        "/oai?verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=oai_dc").data)
    assert _error(twice_prefix) == "badArgument"


def test_token_of_another_repository_is_refused_with_a_reason(seed_build_dir, ask,
                                                              oai_valid) -> None:
    other = create_app({"build_dir": str(seed_build_dir), "oai_page_size": 2,
                        "oai_repository_id": "other.org"}).test_client()
    root = oai_valid(other.get("/oai?verb=ListIdentifiers&metadataPrefix=oai_dc").data)
    token = root.findtext(".//oai:resumptionToken", namespaces=NS)
    refused = ask(verb="ListIdentifiers", resumptionToken=token)
    assert _error(refused) == "badResumptionToken"
    assert "other.org" in refused.findtext("oai:error", namespaces=NS)
    wrong_verb = ask(verb="ListRecords", resumptionToken=token)
    assert _error(wrong_verb) == "badResumptionToken"


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(verb=st.sampled_from(["Identify", "ListRecords", "ListIdentifiers", "GetRecord",
                             "ListSets", "ListMetadataFormats", "", "list records"]),
       arguments=st.dictionaries(
           st.sampled_from(["metadataPrefix", "identifier", "from", "until", "set",
                            "resumptionToken", "x"]),
           st.one_of(st.text(max_size=40),
                     st.text(max_size=30).map("oai:tipgraph.w3id.org:".__add__)),
           max_size=4))
def test_any_arguments_get_a_valid_answer(client, oai_valid, verb: str,
                                          arguments: dict[str, str]) -> None:
    response = client.get("/oai?" + urlencode({"verb": verb, **arguments}))
    assert response.status_code == 200
    oai_valid(response.data)
