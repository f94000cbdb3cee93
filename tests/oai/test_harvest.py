"""Harvesting /oai as an aggregator does: a real harvester (oaipmh-scythe, the maintained
fork of Sickle) over HTTP against ``tipgraph serve``, across rebuilds.

Every answer the harvester receives is validated against the shipped schemas. The
catalogue is synthetic (:mod:`tipgraph.synth`) so that a record can be changed, removed
and added between builds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from lxml import etree
from oaipmh_scythe import NoRecordsMatch, Scythe
from oaipmh_scythe.iterator import OAIResponseIterator

from tipgraph.build import run_build
from tipgraph.build_dir import BuildDir
from tipgraph.synth import synthesize, write_catalogue
from tipgraph.testing import serving

from .conftest import NS, next_second

PAGE = 7  # records per answer: every list below takes several pages


class ValidatingScythe(Scythe):
    """A harvester that fails the test on any answer that is not valid OAI-PMH."""

    check: Callable[[bytes], etree._Element]

    def _request(self, query: dict[str, str]):  # type: ignore[override]
        response = super()._request(query)
        assert response.status_code == 200, response.text
        self.check(response.content)
        return response


@pytest.fixture(scope="module")
def catalogue() -> list[dict[str, object]]:
    return synthesize(30, seed=20)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, catalogue) -> Iterator[dict[str, object]]:
    """A build directory with the first catalogue, served; yields its paths and URL."""
    root = tmp_path_factory.mktemp("oai-harvest")
    source = root / "catalogue.jsonl"
    write_catalogue(catalogue, source)
    run_build([source], root / "build")
    with serving(root / "build", {"oai_page_size": PAGE}) as url:
        yield {"root": root, "source": source, "build": root / "build", "url": url + "/oai",
               "records": catalogue}


@pytest.fixture(scope="module")
def scythe(site, oai_valid) -> Iterator[ValidatingScythe]:
    harvester = ValidatingScythe(str(site["url"]))
    harvester.check = oai_valid
    with harvester:
        yield harvester


def rebuild(site: dict[str, object], records: list[dict[str, object]]) -> None:
    """Build ``records`` into the served build directory (the server switches to it)."""
    write_catalogue(records, site["source"])  # type: ignore[arg-type]
    run_build([site["source"]], site["build"])  # type: ignore[list-item]
    site["records"] = records


def harvest(scythe: Scythe, **arguments: str) -> tuple[str, dict[str, tuple[bool, str | None]]]:
    """A ListRecords harvest in oai_dc: its first responseDate, and identifier -> (deleted,
    title) of every record, each seen once."""
    found: dict[str, tuple[bool, str | None]] = {}
    started = None
    for response in scythe.list_records(metadata_prefix="oai_dc", **arguments):
        root = response.xml
        started = started or root.findtext("oai:responseDate", namespaces=NS)
        for record in root.iterfind(".//oai:record", NS):
            header = record.find("oai:header", NS)
            identifier = header.findtext("oai:identifier", namespaces=NS)
            assert identifier not in found, f"{identifier} harvested twice"
            found[identifier] = (header.get("status") == "deleted",
                                 record.findtext(".//dc:title", namespaces=NS))
    assert started is not None
    return started, found


@pytest.fixture(scope="module")
def responses(scythe: ValidatingScythe) -> ValidatingScythe:
    scythe.iterator = OAIResponseIterator
    return scythe


def test_full_then_incremental_harvests(site, responses) -> None:
    catalogue = site["records"]
    next_second()  # the first build switched in an earlier second than this harvest
    started, first = harvest(responses)
    assert len(first) == len(catalogue)
    assert sorted(title for _, title in first.values()) == sorted(r["title"] for r in catalogue)
    assert not any(deleted for deleted, _ in first.values())
    identifiers, _ = _identifiers(responses, metadata_prefix="oai_openaire")
    assert identifiers == set(first)  # both formats, every record once
    with pytest.raises(NoRecordsMatch):  # nothing changed since
        harvest(responses, from_=started)

    changed = [dict(r) for r in catalogue]
    changed[3]["description"] = "A new abstract, so the record changed."
    removed = changed.pop(10)
    added = {"title": "A Report Added in the Second Build", "year": 2024,
             "description": "New.", "countries": ["Nigeria"]}
    changed.insert(0, added)  # every other record moves a line down: not a change
    rebuild(site, changed)
    _, incremental = harvest(responses, from_=started)
    by_title = {title: (identifier, deleted) for identifier, (deleted, title)
                in incremental.items()}
    assert len(incremental) == 3
    assert by_title[changed[4]["title"]][1] is False
    assert by_title[added["title"]][1] is False
    assert by_title[added["title"]][0] not in first
    removed_id = next(i for i, (_, title) in first.items() if title == removed["title"])
    assert incremental[removed_id] == (True, None)  # deleted: a header, no metadata


def _identifiers(scythe: Scythe, **arguments: str) -> tuple[set[str], str]:
    found, started = set(), None
    for response in scythe.list_identifiers(**arguments):
        root = response.xml
        started = started or root.findtext("oai:responseDate", namespaces=NS)
        found |= {h.text for h in root.iterfind(".//oai:header/oai:identifier", NS)}
    return found, started  # type: ignore[return-value]


def test_a_build_switched_during_a_harvest_is_in_the_next_one(site, responses) -> None:
    records = site["records"]
    next_second()
    pages = iter(responses.list_identifiers(metadata_prefix="oai_dc"))
    first_page = next(pages).xml
    started = first_page.findtext("oai:responseDate", namespaces=NS)
    token = first_page.find(".//oai:resumptionToken", NS)
    total = int(token.get("completeListSize"))
    seen = {h.text for h in first_page.iterfind(".//oai:header/oai:identifier", NS)}
    # a build switches while the harvest is under way: the last record and the first
    third = [dict(r) for r in records]
    third[0]["description"] = "Changed while a harvest was paging."
    third[-1]["description"] = "Changed too."
    rebuild(site, third)
    for page in pages:  # the tokens issued before the switch go on working
        page_ids = [h.text for h in page.xml.iterfind(".//oai:header/oai:identifier", NS)]
        assert not seen & set(page_ids)
        seen |= set(page_ids)
    assert len(seen) <= total
    _, after = harvest(responses, from_=started)
    changed_titles = {third[0]["title"], third[-1]["title"]}
    assert changed_titles <= {title for _, title in after.values()}


def test_tokens_from_before_a_switch_stay_valid(site, responses, oai_valid) -> None:
    """A token resumes after the last record it sent, whatever build is served now."""
    first_page = next(iter(responses.list_records(metadata_prefix="oai_openaire"))).xml
    token = first_page.findtext(".//oai:resumptionToken", namespaces=NS)
    assert token
    changed = [dict(r) for r in site["records"]]
    changed[1]["year"] = 1999
    rebuild(site, changed)
    response = responses.harvest({"verb": "ListRecords", "resumptionToken": token})
    root = oai_valid(response.http_response.content)
    assert root.find("oai:error", NS) is None
    cursor = root.find(".//oai:resumptionToken", NS).get("cursor")
    assert int(cursor) == PAGE


def test_a_build_started_before_a_harvest_and_switched_after_it_is_in_the_next_one(
        site, responses, monkeypatch) -> None:
    """The datestamp is the switch's time, not the build's: a build made while nobody
    harvested but switched in only after a harvest is in that harvest's successor."""
    next_second()
    started, _ = harvest(responses)  # the harvest before the build
    records = [dict(r) for r in site["records"]]
    records[5]["title"] = "A Title Changed by a Slow Build"
    write_catalogue(records, site["source"])
    reached, go = threading.Event(), threading.Event()
    publish = BuildDir.publish

    def held(self: BuildDir, build, **options):  # the build is made: hold its switch
        reached.set()
        assert go.wait(120)
        return publish(self, build, **options)

    monkeypatch.setattr(BuildDir, "publish", held)
    builder = threading.Thread(target=run_build, args=([site["source"]], site["build"]))
    builder.start()
    try:
        assert reached.wait(300)
        next_second()
        with pytest.raises(NoRecordsMatch):  # made, not switched: not visible yet
            harvest(responses, from_=started)
        # the time of that harvest, which found nothing (its answer was the error)
        nothing_at = responses.harvest({"verb": "Identify"}).xml.findtext(
            "oai:responseDate", namespaces=NS)
    finally:
        go.set()
        builder.join()
    site["records"] = records
    _, after = harvest(responses, from_=nothing_at)
    assert {title for _, title in after.values()} == {records[5]["title"]}
