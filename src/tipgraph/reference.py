"""Reference data: countries, IOM regions, organisations, and the names they go by.

Countries: their codes, GeoNames ids and names are ``data/countries.csv``, a
small table made from GeoNames' country list by ``data/make_countries.py``;
ISO 3166 names (current and historical) come from ``pycountry``. The rest is
curated in ``data/``: ``regions.toml`` (IOM's regional-office regions, their
fragments and member countries), ``organisations.toml`` and
``country_aliases.toml`` (names a catalogue uses that no library knows).

>>> ref = load_reference()
>>> ref.countries["XK"].name, ref.countries["XK"].geonames_id
('Kosovo', 831053)
>>> ref.country_by_name("St. Lucia").code
'LC'
>>> ref.countries["AN"].historical
True
"""

from __future__ import annotations

import csv
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import pycountry

from tipgraph.errors import Problem, TipgraphError
from tipgraph.shipped import shipped

DATA_DIR = shipped("data")


@lru_cache(maxsize=1 << 16)
def name_key(text: str) -> str:
    """Fold a name to the key it is matched by: case, accents, punctuation, "St." and "&".

    Cached: a catalogue repeats the same few thousand names in every record.

    >>> name_key("St. Lucia") == name_key("saint lucia")
    True
    >>> name_key("Sweden'S Ministry Of Justice")
    'swedens ministry of justice'
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    text = re.sub(r"\bst\b", "saint", text)
    text = re.sub(r"\borganisation\b", "organization", text)
    return re.sub(r"^the ", "", text)


def slugify(text: str, max_length: int = 60) -> str:
    """A readable URI slug: lower case, ASCII, hyphens, cut at a word boundary.

    >>> slugify("Needs Assessment: Human trafficking in the Western Balkans")
    'needs-assessment-human-trafficking-in-the-western-balkans'
    >>> slugify("A" * 70)[:5], len(slugify("word " * 30)) <= 60
    ('aaaaa', True)
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", text)
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_length:
            break
        slug = candidate
    return slug or "-".join(words)[:max_length] or "untitled"


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2 (XK for Kosovo, AN for the Netherlands Antilles)
    name: str  # GeoNames' name
    geonames_id: int
    region: str  # slug of its IOM region
    historical: bool = False
    alt_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Region:
    slug: str
    name: str
    fragments: tuple[str, ...] = ()
    alt_labels: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    geonames_id: int | None = None  # only the world has one


@dataclass(frozen=True)
class Organisation:
    slug: str
    name: str
    alt_labels: tuple[str, ...] = ()


@dataclass
class Reference:
    """Every node reconciliation can resolve to, indexed by :func:`name_key`."""

    countries: dict[str, Country]
    regions: dict[str, Region]  # by slug, the world included
    world: Region
    organisations: dict[str, Organisation]
    #: what was left out of the tables and why (a country in no region); the build
    #: reports them
    problems: tuple[Problem, ...] = ()
    _country_names: dict[str, str] = field(default_factory=dict)
    _region_names: dict[str, str] = field(default_factory=dict)
    _organisation_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for country in self.countries.values():
            for label in (country.name, *country.alt_labels):
                self._country_names.setdefault(name_key(label), country.code)
        for region in self.regions.values():
            for label in (region.name, *region.alt_labels):
                self._region_names.setdefault(name_key(label), region.slug)
        for org in self.organisations.values():
            for label in (org.name, *org.alt_labels):
                self._organisation_names.setdefault(name_key(label), org.slug)

    def country_by_name(self, name: str) -> Country | None:
        code = self._country_names.get(name_key(name))
        return self.countries[code] if code else None

    def region_by_name(self, name: str) -> Region | None:
        slug = self._region_names.get(name_key(name))
        return self.regions[slug] if slug else None

    def organisation_by_name(self, name: str) -> Organisation | None:
        slug = self._organisation_names.get(name_key(name))
        return self.organisations[slug] if slug else None

    def regions_with_fragment(self, fragment: str) -> list[Region]:
        """Regions that ``fragment`` could be a piece of: the fragment itself, or the
        leading words of one of the region's fragments or labels ("Central" could be
        Central Africa, Central Asia or Central America)."""
        key = name_key(fragment)
        found = []
        for region in self.regions.values():
            labels = (*region.fragments, *region.alt_labels, region.name)
            if any(k == key or k.startswith(key + " ") for k in map(name_key, labels)):
                found.append(region)
        return found


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TipgraphError(f"cannot read reference data {path.name}: {error}") from error


#: The countries' table in ``data/`` (``data/make_countries.py`` makes it).
COUNTRIES_TABLE = "countries.csv"


def _read_countries(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of the countries' table with their line numbers."""
    try:
        with path.open(encoding="utf-8", newline="") as table:
            return [(number, row) for number, row in enumerate(csv.DictReader(table), start=2)]
    except (OSError, csv.Error) as error:
        raise TipgraphError(f"cannot read reference data {path.name}: {error}") from error


@cache
def load_reference(data_dir: Path = DATA_DIR) -> Reference:
    """Load the reference tables once per process (they are read-only)."""
    regions_toml = _read_toml(data_dir / "regions.toml")
    world_data = regions_toml["world"]
    world = Region(slug=world_data["slug"], name=world_data["name"],
                   alt_labels=tuple(world_data.get("alt_labels", ())),
                   geonames_id=int(world_data["geonames_id"]))
    regions = {world.slug: world}
    region_of: dict[str, str] = {}
    for item in regions_toml["region"]:
        region = Region(slug=item["slug"], name=item["name"],
                        fragments=tuple(item.get("fragments", ())),
                        alt_labels=tuple(item.get("alt_labels", ())),
                        countries=tuple(item["countries"]))
        regions[region.slug] = region
        for code in region.countries:
            region_of[code] = region.slug

    aliases: dict[str, list[str]] = {}
    for alias, code in _read_toml(data_dir / "country_aliases.toml")["aliases"].items():
        aliases.setdefault(code, []).append(alias)

    current = {c.alpha_2: c for c in pycountry.countries}
    historic = {c.alpha_2: c for c in pycountry.historic_countries if hasattr(c, "alpha_2")}
    countries: dict[str, Country] = {}
    problems: list[Problem] = []
    left_out: set[str] = set()
    for line, row in _read_countries(data_dir / COUNTRIES_TABLE):
        code, name = row["code"], row["name"]
        if code not in region_of:  # a country the table gained: reported, not fatal
            problems.append(Problem(
                COUNTRIES_TABLE, line, "code",
                f"country {code} ({name}) is in no region of regions.toml; it is left "
                "out of the build until it is given one"))
            left_out.add(code)
            continue
        iso = current.get(code)
        labels = [getattr(iso, attr, None) for attr in ("common_name", "name", "official_name")]
        is_historical = iso is None and code in historic
        if is_historical:
            labels.append(historic[code].name)
        labels += aliases.get(code, [])
        alt = tuple(dict.fromkeys(x for x in labels if x and x != name))
        countries[code] = Country(code=code, name=name, geonames_id=int(row["geonames_id"]),
                                  region=region_of[code], historical=is_historical,
                                  alt_labels=alt)
    unknown = set(aliases) - set(countries) - left_out
    if unknown:
        raise TipgraphError(f"country_aliases.toml names unknown codes: {sorted(unknown)}")

    organisations = {}
    for item in _read_toml(data_dir / "organisations.toml")["organisation"]:
        org = Organisation(slug=item["slug"], name=item["name"],
                           alt_labels=tuple(item.get("alt_labels", ())))
        organisations[org.slug] = org
    return Reference(countries=countries, regions=regions, world=world,
                     organisations=organisations, problems=tuple(problems))
