"""Reconcile: raw records -> publications whose places and agents are reference nodes.

Every change to what the source said is a :class:`~tipgraph.errors.Problem`
with severity ``repair`` (a re-joined name, an alias, a historical country, a
citation recognised); a value that cannot be resolved is left out with a
``warning`` naming it. Nothing is guessed: an ambiguous region fragment or an
unknown country name is reported, never mapped to a likely candidate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from tipgraph.errors import Problem
from tipgraph.identity import Duplicate, content_hash, record_identity
from tipgraph.reference import Reference, name_key, slugify
from tipgraph.sources import Record, Value

YEAR_RANGE = range(1800, 2101)

#: Words that make an author string an organisation rather than a person.
ORGANISATION_WORDS = frozenset([
    "agency", "alliance", "association", "authority", "bank", "board", "bureau", "centre",
    "center", "coalition", "commission", "committee", "council", "department",
    "directorate", "division", "foundation", "fund", "government", "group", "initiative",
    "institute", "institution", "international", "league", "ministry", "mission", "network",
    "office", "organisation", "organization", "partnership", "programme", "program",
    "project", "secretariat", "service", "society", "task", "force", "trust", "union",
    "united", "university", "nations",
])

#: Words kept lower case inside a title-cased organisation name.
SMALL_WORDS = frozenset([
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to",
    "with",
])


@dataclass(frozen=True)
class Agent:
    kind: Literal["person", "organisation"]
    slug: str
    name: str
    alt_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Volume:
    """An edited compendium that a publication is part of (from its citation)."""

    slug: str
    title: str
    year: int | None
    editors: tuple[Agent, ...] = ()
    publisher: Agent | None = None


@dataclass
class Publication:
    """A record after reconciliation: every reference is a node's key."""

    source: str
    line: int
    title: str
    description: str | None = None
    year: int | None = None
    countries: list[str] = field(default_factory=list)  # ISO codes, as stated
    regions: list[str] = field(default_factory=list)  # region slugs, as stated
    creators: list[Agent] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # category labels
    citation: str | None = None
    part_of: Volume | None = None
    source_url: str | None = None
    id: str | None = None  # the curator's identifier, if the record has one
    #: digest of the record's fields (:func:`tipgraph.identity.content_hash`)
    content_hash: str = ""


@dataclass
class Reconciled:
    publications: list[Publication] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: records left out because an earlier one has their identity
    duplicates: list[Duplicate] = field(default_factory=list)


def reconcile_records(records: Iterable[Record], reference: Reference,
                      default_category: str | None = None) -> Reconciled:
    """Resolve the places, agents and categories of every record.

    A record with the identity of an earlier one (:func:`record_identity`) is left out
    and reported as a duplicate: the first is kept, so records appended to a file never
    change what the records above them published.
    """
    result = Reconciled()
    result.publications.extend(reconciled(records, reference, result, default_category))
    return result


#: What reconciling one record gives: its publication, the problems found (its repairs and
#: warnings) and its identity key (:func:`record_identity`).
Reconciling = tuple[Publication, list[Problem], str]


def reconciled(records: Iterable[Record], reference: Reference, result: Reconciled,
               default_category: str | None = None, *,
               reconcile: Callable[[Record], Reconciling] | None = None,
               each: Callable[[Publication, list[Problem], str], None] | None = None
               ) -> Iterator[Publication]:
    """The publications of ``records``, one at a time as the records come
    (:func:`reconcile_records`); the problems and the duplicates go to ``result``, whose
    publications are left as they are. What is kept of each publication between records
    is its identity and where it is (to name it as the first of a duplicate).

    :param reconcile: what reconciling a record gives, when not :func:`reconcile_record`
        (an incremental build takes what it kept of a record seen before)
    :param each: told what every record gave, a duplicate's too, before it is left out
        (an incremental build keeps it for the next build)
    """
    first: dict[str, tuple[str, int]] = {}
    for record in records:
        publication, problems, identity = (
            reconcile(record) if reconcile is not None
            else reconcile_record(record, reference, default_category))
        if each is not None:
            each(publication, problems, identity)
        where = (publication.source, publication.line)
        kept = first.setdefault(identity, where)
        if kept is not where:
            result.duplicates.append(Duplicate(record.source, record.line, kept[0],
                                               kept[1], identity))
            continue
        result.problems.extend(problems)
        yield publication


def reconcile_record(record: Record, reference: Reference,
                     default_category: str | None = None) -> Reconciling:
    """What reconciling ``record`` gives, whatever records come before it."""
    notes = _Notes(record.source)
    assert record.title is not None  # the reader rejects records without one
    publication = Publication(source=record.source, line=record.line,
                              title=_clean(record.title.value))
    if record.description:
        publication.description = _clean_paragraphs(record.description.value)
    publication.year = _year(record.year, notes)
    publication.countries, world = _countries(record.countries, reference, notes)
    publication.regions = _regions(record.regions, reference, notes)
    if world and reference.world.slug not in publication.regions:
        publication.regions.insert(0, reference.world.slug)
    _check_country_regions(publication, record, reference, notes)
    publication.creators, publication.citation, publication.part_of = _authors(
        record.authors, reference, notes)
    category = record.category.value if record.category else default_category
    if category:
        publication.categories = [category]
    if record.source_url:
        publication.source_url = record.source_url.value
    if record.id:
        publication.id = record.id.value
    publication.content_hash = content_hash(record)
    return publication, notes.problems, record_identity(publication)


class _Notes:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def repair(self, line: int, field_name: str, why: str) -> None:
        self.problems.append(Problem(self.source, line, field_name, why, "repair"))

    def warn(self, line: int, field_name: str, why: str) -> None:
        self.problems.append(Problem(self.source, line, field_name, why, "warning"))


def _clean(text: str) -> str:
    """Runs of white space as one space (str.split's white space is re's ``\\s``)."""
    return " ".join(text.split())


def _clean_paragraphs(text: str) -> str:
    """Each paragraph :func:`_clean`, paragraphs (apart by a blank line) kept apart by one:
    a description's paragraphs are the source's, and ``dct:abstract`` keeps them."""
    paragraphs = (_clean(p) for p in re.split(r"\n[^\S\n]*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def _year(value: Value | None, notes: _Notes) -> int | None:
    if value is None:
        return None
    text = value.value.strip()
    if re.fullmatch(r"\d{4}", text) and int(text) in YEAR_RANGE:
        return int(text)
    notes.warn(value.line, "year", f"{text!r} is not a year between {YEAR_RANGE.start} and "
               f"{YEAR_RANGE.stop - 1}: left out")
    return None


# -- places ----------------------------------------------------------------------------------


def _countries(values: list[Value], reference: Reference,
               notes: _Notes) -> tuple[list[str], bool]:
    """Resolve country names, re-joining names the listing split at "and".

    Returns the ISO codes in order (no duplicates) and whether a value named
    the whole world instead of a country.
    """
    codes: list[str] = []
    world = False
    index = 0
    while index < len(values):
        value = values[index]
        following = values[index + 1] if index + 1 < len(values) else None
        if following is not None:
            joined = f"{value.value} and {following.value}"
            country = reference.country_by_name(joined)
            if country and not (reference.country_by_name(value.value)
                                and reference.country_by_name(following.value)):
                notes.repair(value.line, "countries",
                             f"{value.value!r} and {following.value!r} re-joined as "
                             f"{country.name} ({country.code}): the listing split the name "
                             "at 'and'")
                _add(codes, country.code)
                index += 2
                continue
        index += 1
        if reference.world.slug == slugify(value.value) or (
                reference.region_by_name(value.value) is reference.world):
            notes.repair(value.line, "countries",
                         f"{value.value!r} is no country but the global scope: stated as the "
                         f"region {reference.world.name}")
            world = True
            continue
        country = reference.country_by_name(value.value)
        if country is None:
            notes.warn(value.line, "countries",
                       f"unknown country {value.value!r}: left out of the record")
            continue
        if value.value != country.name:
            notes.repair(value.line, "countries",
                         f"{value.value!r} resolved as an alias of {country.name} "
                         f"({country.code})")
        if country.historical:
            notes.repair(value.line, "countries",
                         f"{country.name} ({country.code}) is a historical country: kept as "
                         "such, not mapped to a successor")
        _add(codes, country.code)
    return codes, world


@cache
def _fragment_keys(fragments: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name_key(f) for f in fragments)


def _regions(values: list[Value], reference: Reference, notes: _Notes) -> list[str]:
    """Resolve region names; re-join the fragments of one region, order-free."""
    slugs: list[str] = []
    remaining = list(values)
    keys_of = {name_key(v.value) for v in values}
    # Whole sets first: every fragment of a region present makes that region.
    for region in reference.regions.values():
        keys = _fragment_keys(region.fragments)
        if not keys or not keys <= keys_of:  # cheap: most records name no fragment
            continue
        present = [v for v in remaining if name_key(v.value) in keys]
        if {name_key(v.value) for v in present} == keys:
            notes.repair(present[0].line, "regions",
                         f"fragments {', '.join(repr(v.value) for v in present)} re-joined as "
                         f"{region.name}")
            _add(slugs, region.slug)
            taken = {id(v) for v in present}
            remaining = [v for v in remaining if id(v) not in taken]
    fragments: list[Value] = []
    for value in remaining:
        region = reference.region_by_name(value.value)
        if region is None:
            fragments.append(value)
            continue
        if name_key(value.value) != name_key(region.name):
            notes.repair(value.line, "regions",
                         f"{value.value!r} resolved as an alias of {region.name}")
        _add(slugs, region.slug)
    for value in fragments:
        candidates = reference.regions_with_fragment(value.value)
        if len(candidates) == 1:
            notes.repair(value.line, "regions",
                         f"lone fragment {value.value!r} belongs only to {candidates[0].name}: "
                         "mapped to it")
            _add(slugs, candidates[0].slug)
        elif candidates:
            names = ", ".join(sorted(r.name for r in candidates))
            notes.warn(value.line, "regions",
                       f"region fragment {value.value!r} is ambiguous ({names}): left out")
        else:
            notes.warn(value.line, "regions",
                       f"unknown region {value.value!r}: left out of the record")
    return slugs


def _check_country_regions(publication: Publication, record: Record, reference: Reference,
                           notes: _Notes) -> None:
    """Say where a stated country lies outside every stated region (the world aside)."""
    stated = set(publication.regions) - {reference.world.slug}
    if not stated:
        return
    line = record.regions[0].line if record.regions else record.line
    for code in publication.countries:
        country = reference.countries[code]
        if country.region not in stated:
            notes.warn(line, "regions",
                       f"{country.name} ({code}) lies in {reference.regions[country.region].name},"
                       " outside the record's stated regions")


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


# -- authors ---------------------------------------------------------------------------------

_ACRONYM = re.compile(r"^(?P<name>.+?)\s*\((?P<acronym>[A-Z][A-Za-z\-/.]{1,15})\)$")
_CITATION_HINT = re.compile(r"\(\d{4}\)|[\u2018\u2019\u201c\u201d]|^In [A-Z]")


def _authors(values: list[Value], reference: Reference, notes: _Notes
             ) -> tuple[list[Agent], str | None, Volume | None]:
    if any(_CITATION_HINT.search(v.value) for v in values):
        return _citation(values, reference, notes)
    agents: dict[Agent, None] = {}  # a dict: ordered, and found in constant time
    for value in values:
        agent = resolve_agent(value.value, reference)
        if agent.kind == "organisation" and agent.name != value.value:
            notes.repair(value.line, "authors", f"{value.value!r} is the organisation {agent.name}")
        agents.setdefault(agent)
    return list(agents), None, None


def resolve_agent(text: str, reference: Reference) -> Agent:
    """Tell a person from an organisation, and find the organisation's node.

    >>> from tipgraph.reference import load_reference
    >>> ref = load_reference()
    >>> resolve_agent("International Organization For Migration (IOM)", ref).slug
    'iom'
    >>> resolve_agent("Sweden'S Ministry Of Justice", ref).name
    "Sweden's Ministry of Justice"
    >>> resolve_agent("Alison Jobe", ref)
    Agent(kind='person', slug='alison-jobe', name='Alison Jobe', alt_labels=())
    """
    text = _clean(text)
    match = _ACRONYM.match(text)
    candidates = [text, *(match.group("name", "acronym") if match else ())]
    for candidate in candidates:
        org = reference.organisation_by_name(candidate)
        if org:
            return Agent("organisation", org.slug, org.name, org.alt_labels)
    words = set(name_key(text).split())
    if match or words & ORGANISATION_WORDS:
        name = _organisation_case(match.group("name") if match else text)
        alt = (match.group("acronym"),) if match else ()
        return Agent("organisation", slugify(name), name, alt)
    return Agent("person", slugify(text), text)


def _organisation_case(name: str) -> str:
    """Undo a scraper's title case.

    >>> _organisation_case("Sweden'S Ministry Of Justice")
    "Sweden's Ministry of Justice"
    """
    name = re.sub(r"(\w)['\u2019]S\b", r"\1's", name)
    words = name.split(" ")
    return " ".join(w.lower() if i and w.lower() in SMALL_WORDS else w
                    for i, w in enumerate(words))


# A scraper split a citation at commas and "and" into fake author lines, e.g.
#   Liu / G. (2017) 'Title' / In McAuliffe / IOM: Geneva /
#   M. And M. Klein Solomon (Conveners) (2017) Ideas ... On Safe / Orderly / Regular Migration
_INITIALS = r"(?:[A-Z]\.\s?)+"
_AUTHOR_YEAR = re.compile(rf"^(?P<initials>{_INITIALS})\s*\((?P<year>\d{{4}})\)\s*(?P<rest>.*)$")
_IN_EDITOR = re.compile(r"^In (?P<surname>[A-Z][\w\-]+(?: [A-Z][\w\-]+)*)$")
_EDITORS = re.compile(rf"^(?P<initials>{_INITIALS})\s*(?:And|and|&)\s+(?P<second>.+?)\s*"
                      r"\((?:Conveners|Convener|Eds?\.?|Editors?)\)\s*"
                      r"\((?P<year>\d{4})\)\s*(?P<title>.+)$")
_PUBLISHER = re.compile(r"^(?P<publisher>[^:]+):\s*(?P<place>[A-Z][\w\s\-]+)$")


def _citation(values: list[Value], reference: Reference, notes: _Notes
              ) -> tuple[list[Agent], str | None, Volume | None]:
    """Recognise a citation the listing broke into author lines and model what it says."""
    line = values[0].line
    texts = [_clean(v.value) for v in values]
    publisher_parts = [t for t in texts if _PUBLISHER.match(t)
                       and reference.organisation_by_name(_PUBLISHER.match(t)["publisher"])]
    # "Publisher: Place" closes a citation; the scrape moved it, so put it back at the end.
    ordered = [t for t in texts if t not in publisher_parts] + publisher_parts
    citation = ", ".join(ordered)
    notes.repair(line, "authors",
                 f"the {len(values)} author lines are one citation the listing split at commas: "
                 f"kept whole as the bibliographic citation {citation!r}; no agent is made of "
                 "its pieces")
    creators: list[Agent] = []
    volume: Volume | None = None
    author = _AUTHOR_YEAR.match(texts[1]) if len(texts) > 1 else None
    if author and re.fullmatch(r"[A-Z][\w\-]+", texts[0]):
        name = f"{author['initials'].strip()} {texts[0]}"
        creators.append(Agent("person", slugify(name), name))
        notes.repair(line, "authors", f"the citation's author is {name}")
    else:
        notes.warn(line, "authors", "the citation's author could not be recognised: no creator")
    rest = [t for t in texts[2:] if t not in publisher_parts]
    for index, text in enumerate(rest[:-1]):
        editor = _IN_EDITOR.match(text)
        editors = _EDITORS.match(rest[index + 1])
        if not (editor and editors):
            continue
        first = f"{editors['initials'].strip()} {editor['surname']}"
        people = tuple(Agent("person", slugify(n), n) for n in (first, editors["second"]))
        title = ", ".join([editors["title"], *rest[index + 2:]])
        publisher = None
        if publisher_parts:
            org = reference.organisation_by_name(_PUBLISHER.match(publisher_parts[0])["publisher"])
            publisher = Agent("organisation", org.slug, org.name, org.alt_labels)
        volume = Volume(slug=slugify(title), title=title, year=int(editors["year"]),
                        editors=people, publisher=publisher)
        notes.repair(line, "authors",
                     f"the record is part of {title!r} ({editors['year']}), edited by "
                     f"{' and '.join(p.name for p in people)}"
                     + (f", published by {publisher.name}" if publisher else ""))
        break
    return creators, citation, volume
