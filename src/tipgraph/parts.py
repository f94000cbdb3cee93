"""The build's cut: a part of the reconciled catalogue (a few thousand publications) at a
time, mapped and reasoned on its own.

The ontology's rules are local to a publication and the nodes it names
(:mod:`tipgraph.reasoning`: subclass, subproperty, domain and range read one triple; the
one property chain, ``tip:statedCountry`` then ``gn:parentFeature``, goes from a
publication through a country its part describes too). So the closure of the whole
catalogue is the union of its parts' closures, each part's being that of its
publications and of the places, agents, volumes and categories they name
(:func:`tipgraph.mapping.map_publications`). What needs the whole catalogue is known
before a part is mapped (:class:`tipgraph.mapping.MappingPlan`, filled in catalogue
order: the slugs), or is said once every part is (the agents' descriptions: the last
record to name an agent describes it; the parts give the agents' types only,
:meth:`PartMaker.agents` the rest).

**For incremental builds**: :meth:`PartMaker.triples` is the per-publication cut, a
part of reconciled publications -> their reasoned triples, usable on its own.

A node that several parts name (a country, an organisation) is described by each of
them alike; :class:`Shared` lets its triples through once, so the parts together hold
each triple of the closure once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rdflib import Graph

from tipgraph.graphs import Triple
from tipgraph.mapping import Mapped, MappingPlan, Triples, map_agents, map_publications
from tipgraph.reasoning import Rules, closure, compile_rules
from tipgraph.reconcile import Publication
from tipgraph.reference import Reference


@dataclass
class PartMaker:
    """Turns parts of a reconciled catalogue into the triples they publish
    (:meth:`triples`); made once per build, for every part of it."""

    plan: MappingPlan
    reference: Reference
    ontology: Graph
    base: str

    def __post_init__(self) -> None:
        self.rules: Rules = compile_rules(self.ontology)

    def triples(self, publications: Iterable[Publication], keys: Iterable[str],
                mapped: Mapped | None = None, own: set[str] | None = None, *,
                agents_described: bool = True) -> set[Triple]:
        """The reasoned closure of ``publications`` (``keys``: their identity keys):
        their triples, those of the nodes they name, what the ontology implies of them,
        and the ontology.

        :param mapped: takes each publication's slug and provenance (its triples are not
            kept in it)
        :param own: takes the URIs of the part's publications and of their source records
            (what :meth:`Shared.new` needs)
        :param agents_described: False: the agents named are given their types only
            (:func:`~tipgraph.mapping.map_publications`), for a part mapped while the
            plan is still being filled; :meth:`agents` describes them at the end
        """
        part = Mapped(Triples(), self.plan.uri.base)
        map_publications(publications, keys, self.plan, self.reference, part,
                         agents_described=agents_described)
        if mapped is not None:
            mapped.slugs.update(part.slugs)
            mapped.provenance.update(part.provenance)
        if own is not None:
            source_record = self.plan.uri.source_record
            for uri, (file, line) in part.provenance.items():
                own.add(uri)
                own.add(str.__str__(source_record(file, line)))
        return closure(part.triples, self.ontology, base=self.base, rules=self.rules)

    def agents(self) -> set[Triple]:
        """The reasoned descriptions of every agent the plan has seen (the last part of
        a catalogue whose parts were made with ``agents_described=False``)."""
        part = map_agents(self.plan, Mapped(Triples(), self.plan.uri.base))
        return closure(part.triples, self.ontology, base=self.base, rules=self.rules)


class Shared:
    """What the parts have published so far of the nodes more than one part may name:
    :meth:`new` lets each triple of theirs through once.

    A triple about one of the part's own publications (or their source records) is the
    part's alone and passes unchecked; it is not kept.
    """

    def __init__(self) -> None:
        self.seen: set[Triple] = set()

    def new(self, triples: set[Triple], own: set[str]) -> list[Triple]:
        """The triples of ``triples`` not let through before; ``own``: the URIs (as text)
        of the part's publications and their source records."""
        text = str.__str__
        # judged a subject at a time, and the shared triples a set at a time: no Python
        # call per triple (a part has about 125,000)
        owned = {s for s in {t[0] for t in triples} if text(s) in own}
        fresh = [t for t in triples if t[0] in owned]
        shared = {t for t in triples if t[0] not in owned}
        shared -= self.seen
        self.seen |= shared
        fresh += shared
        return fresh
