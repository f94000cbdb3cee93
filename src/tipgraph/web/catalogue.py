"""The publications of a build as a small in-memory index, for browsing and charts.

Browsing needs every publication with its year, places, agents and category at
once (to count facets), which is a handful of SPARQL queries per build rather
than per request: the index is made the first time a build is browsed and kept
while that build is in service.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rdflib.namespace import VOID

from tipgraph.namespaces import DCT, RDF, SCHEMA, SKOS, TIP
from tipgraph.store import GraphStore

#: Facets of the browse page: URL parameter -> heading.
FACETS: dict[str, str] = {"country": "Country", "region": "Region", "year": "Year",
                          "organisation": "Organisation", "category": "Category"}


@dataclass(frozen=True)
class Link:
    """A node a publication links to: its URI, its label and its facet key (URI's last step)."""

    uri: str
    label: str

    @property
    def key(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Entry:
    uri: str
    title: str
    abstract: str = ""
    year: str | None = None
    countries: list[Link] = field(default_factory=list)
    regions: list[Link] = field(default_factory=list)
    organisations: list[Link] = field(default_factory=list)
    persons: list[Link] = field(default_factory=list)
    categories: list[Link] = field(default_factory=list)

    def keys(self, facet: str) -> set[str]:
        """The values this entry has for ``facet`` (as URL parameters spell them)."""
        if facet == "year":
            return {self.year} if self.year else set()
        links = {"country": self.countries, "region": self.regions,
                 "organisation": self.organisations, "category": self.categories}[facet]
        return {link.key for link in links}

    def matches(self, words: list[str]) -> bool:
        text = f"{self.title}\n{self.abstract}".casefold()
        return all(word in text for word in words)


@dataclass
class Catalogue:
    entries: list[Entry]
    #: facet -> key -> label
    labels: dict[str, dict[str, str]]

    def select(self, query: str = "", facets: Mapping[str, Iterable[str]] | None = None
               ) -> list[Entry]:
        """Entries whose title or abstract has every word of ``query`` and every facet value."""
        words = query.casefold().split()
        chosen = {name: set(values) for name, values in (facets or {}).items() if values}
        return [e for e in self.entries if e.matches(words)
                and all(values <= e.keys(name) for name, values in chosen.items())]

    def counts(self, entries: Iterable[Entry]) -> dict[str, list[tuple[str, str, int]]]:
        """For each facet, ``(key, label, count)`` over ``entries``, most frequent first."""
        entries = list(entries)
        result = {}
        for facet in FACETS:
            counter = Counter(key for e in entries for key in e.keys(facet))
            order = (sorted(counter.items(), reverse=True) if facet == "year"
                     else sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
            result[facet] = [(key, self.labels[facet].get(key, key), n) for key, n in order]
        return result

    def per_year(self) -> list[tuple[str, int]]:
        counter = Counter(e.year for e in self.entries if e.year)
        return sorted(counter.items())

    def per_region(self) -> list[tuple[Link, int]]:
        """Publications per region, counting those inferred through their countries."""
        counter: Counter[Link] = Counter(r for e in self.entries for r in set(e.regions))
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0].label))


def _rows(store: GraphStore, query: str) -> list[dict[str, str]]:
    solutions = store.query(query)
    names = [v.value for v in solutions.variables]
    return [{name: row[name].value for name in names if row[name] is not None}
            for row in solutions]


def load_catalogue(store: GraphStore) -> Catalogue:
    """Read every publication with its facets from ``store``."""
    entries: dict[str, Entry] = {}
    for row in _rows(store, f"""
            SELECT ?pub ?title ?abstract ?year WHERE {{
              ?pub <{RDF.type}> <{TIP.Publication}> ; <{DCT.title}> ?title .
              OPTIONAL {{ ?pub <{DCT.abstract}> ?abstract }}
              OPTIONAL {{ ?pub <{DCT.issued}> ?year }} }} ORDER BY LCASE(?title) ?pub"""):
        if row["pub"] not in entries:
            entries[row["pub"]] = Entry(row["pub"], row["title"], row.get("abstract", ""),
                                        row.get("year"))
    links = f"""
        SELECT ?pub ?node ?kind (SAMPLE(?l) AS ?label) WHERE {{
          ?pub <{RDF.type}> <{TIP.Publication}> ; ?p ?node .
          ?node <{RDF.type}> ?kind .
          VALUES (?p ?kind) {{
            (<{DCT.spatial}> <{TIP.Country}>) (<{DCT.spatial}> <{TIP.Region}>)
            (<{DCT.creator}> <{SCHEMA.Organization}>) (<{DCT.creator}> <{SCHEMA.Person}>)
            (<{DCT.subject}> <{SKOS.Concept}>) }}
          OPTIONAL {{ ?node <{SKOS.prefLabel}>|<{SCHEMA.name}> ?l }}
        }} GROUP BY ?pub ?node ?kind ORDER BY ?label"""
    slots = {str(TIP.Country): "countries", str(TIP.Region): "regions",
             str(SCHEMA.Organization): "organisations", str(SCHEMA.Person): "persons",
             str(SKOS.Concept): "categories"}
    facet_of = {"countries": "country", "regions": "region", "organisations": "organisation",
                "categories": "category"}
    labels: dict[str, dict[str, str]] = {facet: {} for facet in FACETS}
    for row in _rows(store, links):
        entry = entries.get(row["pub"])
        if entry is None:
            continue
        link = Link(row["node"], row.get("label", row["node"]))
        slot = slots[row["kind"]]
        getattr(entry, slot).append(link)
        if slot in facet_of:
            labels[facet_of[slot]][link.key] = link.label
    for entry in entries.values():  # sorted here: engines order aggregates differently
        for links in (entry.countries, entry.regions, entry.organisations, entry.persons,
                      entry.categories):
            links.sort(key=lambda link: (link.label, link.uri))
    return Catalogue(list(entries.values()), labels)


@dataclass(frozen=True)
class Statistics:
    """The counts a build published as data (``tip:Statistic``, see tipgraph.statistics)."""

    #: facet -> ``(key, label, count)``, ordered as :meth:`Catalogue.counts` orders them
    counts: dict[str, list[tuple[str, str, int]]]
    #: class URI -> number of instances
    classes: dict[str, int]
    #: facet key -> the URI it stands for (for links)
    uris: dict[str, str]

    def per_year(self) -> list[tuple[str, int]]:
        return sorted((key, n) for key, _, n in self.counts["year"])

    def per_region(self) -> list[tuple[Link, int]]:
        """As :meth:`Catalogue.per_region`: most publications first, then by label."""
        links = [(Link(self.uris[key], label), n) for key, label, n in self.counts["region"]]
        return sorted(links, key=lambda kv: (-kv[1], kv[0].label))


def load_statistics(store: GraphStore) -> Statistics | None:
    """The build's published counts, or None for a build made before they were published."""
    rows = _rows(store, f"""
        SELECT ?facet ?value (SAMPLE(?l) AS ?label) ?n WHERE {{
          ?s a <{TIP.Statistic}> ; <{TIP.facet}> ?facet ; <{RDF.value}> ?value ;
             <{VOID.entities}> ?n .
          OPTIONAL {{ ?value <{SKOS.prefLabel}>|<{SCHEMA.name}> ?l }}
        }} GROUP BY ?facet ?value ?n""")
    if not rows:
        return None
    counters: dict[str, Counter[str]] = {facet: Counter() for facet in FACETS}
    labels: dict[str, str] = {}
    uris: dict[str, str] = {}
    classes: dict[str, int] = {}
    for row in rows:
        facet, value, n = row["facet"], row["value"], int(row["n"])
        if facet == "class":
            classes[value] = n
        elif facet in counters:
            key = value if facet == "year" else Link(value, "").key
            counters[facet][key] += n
            labels[key] = row.get("label", value)
            uris[key] = value
    counts = {}
    for facet, counter in counters.items():
        order = (sorted(counter.items(), reverse=True) if facet == "year"
                 else sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
        counts[facet] = [(key, labels[key], n) for key, n in order]
    return Statistics(counts, classes, uris)


class BuildCache:
    """One value per build in service (its catalogue, its statistics), made on first use."""

    def __init__(self, load: Callable[[GraphStore], Any]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._by_build: dict[str, Any] = {}

    def get(self, build_id: str, store: GraphStore) -> Any:
        if build_id in self._by_build:
            return self._by_build[build_id]
        with self._lock:
            if build_id not in self._by_build:
                # older builds are out of service
                self._by_build = {build_id: self._load(store)}
            return self._by_build[build_id]
