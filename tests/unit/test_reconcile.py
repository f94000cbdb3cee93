"""Reconciliation: split names re-joined, aliases and historical countries, regions from
fragments, persons told from organisations, the broken citation recognised."""

from __future__ import annotations

import pytest

from tipgraph.reconcile import Publication, reconcile_records, resolve_agent
from tipgraph.reference import load_reference
from tipgraph.sources import Record, Value


@pytest.fixture(scope="module")
def reference():
    return load_reference()


def record(**fields: list[str] | str) -> Record:
    """A record whose values stand on consecutive lines from line 10."""
    rec = Record(source="t.txt", line=1, title=Value("A title", 1))
    line = 10
    for name, values in fields.items():
        if isinstance(values, str):
            setattr(rec, name, Value(values, line))
            line += 1
            continue
        for value in values:
            getattr(rec, name).append(Value(value, line))
            line += 1
    return rec


def reconcile_one(reference, **fields) -> tuple[Publication, list]:
    result = reconcile_records([record(**fields)], reference)
    return result.publications[0], result.problems


def test_split_country_names_are_rejoined(reference) -> None:
    publication, problems = reconcile_one(
        reference, countries=["Albania", "Bosnia", "Herzegovina", "Trinidad", "Tobago",
                              "Serbia", "Montenegro"])
    assert publication.countries == ["AL", "BA", "TT", "RS", "ME"]
    rejoined = [p for p in problems if "re-joined" in p.why]
    assert [(p.line, p.severity) for p in rejoined] == [(11, "repair"), (13, "repair")]


def test_aliases_and_historical_countries(reference) -> None:
    publication, problems = reconcile_one(
        reference, countries=["Macedonia", "St. Lucia", "UNSC Resolution 1244 Administered Kosovo",
                              "Netherlands Antilles"])
    assert publication.countries == ["MK", "LC", "XK", "AN"]
    assert reference.countries["AN"].historical
    assert not reference.countries["MK"].historical
    whys = " | ".join(p.why for p in problems)
    assert "'Macedonia' resolved as an alias of North Macedonia (MK)" in whys
    assert "Netherlands Antilles (AN) is a historical country" in whys


def test_unknown_country_is_reported_never_guessed(reference) -> None:
    publication, problems = reconcile_one(reference, countries=["Nigeria", "Atlantis"])
    assert publication.countries == ["NG"]
    [problem] = problems
    assert (problem.line, problem.field, problem.severity) == (11, "countries", "warning")
    assert "unknown country 'Atlantis'" in problem.why


@pytest.mark.parametrize(("fragments", "region"), [
    (["West Africa", "Central Africa"], "west-and-central-africa"),
    (["Central Africa", "West Africa"], "west-and-central-africa"),
    (["Central", "North America", "Caribbean"], "central-and-north-america-and-the-caribbean"),
    (["Eastern Europe", "South Eastern Europe", "Central Asia"],
     "south-eastern-europe-eastern-europe-and-central-asia"),
    (["Worldwide"], "world"),
])
def test_region_fragments_make_their_region(reference, fragments, region) -> None:
    publication, problems = reconcile_one(reference, regions=fragments)
    assert publication.regions == [region]
    assert all(p.severity == "repair" for p in problems)


def test_lone_fragment_maps_when_unique_and_is_reported_when_ambiguous(reference) -> None:
    publication, problems = reconcile_one(reference, regions=["West Africa"])
    assert publication.regions == ["west-and-central-africa"]
    assert problems[0].severity == "repair"
    publication, problems = reconcile_one(reference, regions=["Central"])
    assert publication.regions == []
    assert problems[0].severity == "warning"
    assert "ambiguous" in problems[0].why


def test_country_outside_stated_regions_is_reported(reference) -> None:
    publication, problems = reconcile_one(reference, countries=["Nigeria", "Serbia"],
                                          regions=["West Africa", "Central Africa"])
    assert publication.countries == ["NG", "RS"]
    outside = [p for p in problems if "outside" in p.why]
    assert len(outside) == 1 and "Serbia (RS)" in outside[0].why


def test_worldwide_as_country_is_the_world_region(reference) -> None:
    publication, _ = reconcile_one(reference, countries=["Worldwide"],
                                          regions=["Worldwide"])
    assert publication.countries == []
    assert publication.regions == ["world"]


@pytest.mark.parametrize(("text", "kind", "name"), [
    ("International Organization For Migration (IOM)", "organisation",
     "International Organization for Migration"),
    ("United Nations High Commissioner For Refugees (UNHCR)", "organisation",
     "United Nations High Commissioner for Refugees"),
    ("Sweden'S Ministry Of Justice", "organisation", "Sweden's Ministry of Justice"),
    ("Office Of The Special Representative Of The Secretary General On Sexual Violence In "
     "Conflict", "organisation",
     "Office of the Special Representative of the Secretary-General on Sexual Violence in "
     "Conflict"),
    ("Ministry Of Labour Of Atlantis", "organisation", "Ministry of Labour of Atlantis"),
    ("Shukri Hirabe Gesod", "person", "Shukri Hirabe Gesod"),
])
def test_agents_are_told_apart_and_normalised(reference, text, kind, name) -> None:
    agent = resolve_agent(text, reference)
    assert (agent.kind, agent.name) == (kind, name)


def test_organisation_spellings_are_one_node(reference) -> None:
    spellings = ["IOM", "International Organisation for Migration",
                 "International Organization For Migration (IOM)"]
    assert {resolve_agent(s, reference).slug for s in spellings} == {"iom"}


SEED_CITATION = ["Liu", "G. (2017) \u2018National Referral Mechanisms For Victims Of Human "
                 "Trafficking: Deficiencies And Future Development\u2019", "In McAuliffe",
                 "IOM: Geneva", "M. And M. Klein Solomon (Conveners) (2017) Ideas To Inform "
                 "International Cooperation On Safe", "Orderly", "Regular Migration"]


def test_broken_citation_is_recognised_and_modelled(reference) -> None:
    publication, problems = reconcile_one(reference, authors=SEED_CITATION)
    assert [(a.kind, a.name) for a in publication.creators] == [("person", "G. Liu")]
    assert publication.citation.startswith("Liu, G. (2017) \u2018National Referral")
    assert publication.citation.endswith("IOM: Geneva")
    for piece in SEED_CITATION:
        assert piece in publication.citation  # kept whole: nothing dropped
    volume = publication.part_of
    assert volume.year == 2017
    assert volume.title.startswith("Ideas To Inform International Cooperation On Safe")
    assert [e.name for e in volume.editors] == ["M. McAuliffe", "M. Klein Solomon"]
    assert volume.publisher.slug == "iom"
    assert all(p.severity == "repair" for p in problems)


def test_bad_year_is_left_out_with_a_warning(reference) -> None:
    publication, problems = reconcile_one(reference, year="20l0")
    assert publication.year is None
    assert problems[0].field == "year" and problems[0].line == 10
