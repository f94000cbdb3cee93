"""Reason: the OWL 2 RL closure of the data under the ontology, trimmed to what we publish.

Identity links are published, not reasoned over: ``owl:sameAs`` triples are
set aside before reasoning (owlrl's identity rules would copy every country
onto GeoNames' URIs and add reflexive links) and put back afterwards. Of the
closure we keep only well-formed triples about our own URIs (owlrl also emits
triples with literal subjects and trivial types such as ``owl:Thing``); the
ontology itself is published as asserted.

Two engines compute the closure. owlrl is the reference. The fast engine
compiles the ontology's axioms (subclass, subproperty, equivalence, domain,
range, property chains) into lookup tables and forward-chains just those
rules; it refuses an ontology that uses any other OWL construct, so it can
never silently compute less than owlrl. ``tests/test_reasoning.py`` proves
both give the same published graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal as Choice

import owlrl
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.term import Node

from tipgraph.errors import TipgraphError
from tipgraph.graphs import Triple, add_all
from tipgraph.namespaces import ONTOLOGY_PATH, OWL, RDF, RDFS, bind_prefixes, term
from tipgraph.progress import Meter

#: Types every resource has under OWL RL: true, and of no use to anyone.
TRIVIAL_TYPES = frozenset(term(t) for t in (OWL.Thing, RDFS.Resource, OWL.NamedIndividual))

#: OWL constructs whose entailments the fast engine does not compute.
UNSUPPORTED = frozenset({
    OWL.inverseOf, OWL.TransitiveProperty, OWL.SymmetricProperty, OWL.FunctionalProperty,
    OWL.InverseFunctionalProperty, OWL.hasValue, OWL.someValuesFrom, OWL.allValuesFrom,
    OWL.unionOf, OWL.intersectionOf, OWL.complementOf, OWL.oneOf, OWL.hasKey,
    OWL.maxCardinality, OWL.maxQualifiedCardinality, OWL.sameAs, OWL.differentFrom,
    OWL.disjointWith, OWL.propertyDisjointWith, OWL.AsymmetricProperty,
    OWL.IrreflexiveProperty, OWL.ReflexiveProperty,
})

# The shared objects (namespaces.term): namespace attribute look-ups cost a call each, and
# make an object of their own, in the hot loops below.
TYPE, SAME_AS = term(RDF.type), term(OWL.sameAs)

Engine = Choice["fast", "owlrl"]


class UnsupportedOntology(TipgraphError):
    """The ontology uses an axiom the fast engine cannot apply; use ``engine="owlrl"``."""


def load_ontology(path: Path = ONTOLOGY_PATH) -> Graph:
    return Graph().parse(path, format="turtle")


def infer(data: Graph | Iterable[Triple], ontology: Graph, *, base: str,
          engine: Engine = "fast") -> Graph:
    """Return ``data`` plus what the ontology implies about it, plus the ontology, as a graph.

    The same triples as :func:`closure`, for callers that want an rdflib graph.
    """
    published = bind_prefixes(Graph(), base)
    return add_all(published, closure(data, ontology, base=base, engine=engine))


def closure(data: Graph | Iterable[Triple], ontology: Graph, *, base: str,
            engine: Engine = "fast", meter: Meter | None = None,
            rules: Rules | None = None) -> set[Triple]:
    """The triples a build publishes: ``data``, what the ontology implies about it, the ontology.

    A plain set, not a graph: the build hands it straight to the store and the dumps, and
    an rdflib graph of a 100,000-record catalogue would cost gigabytes and minutes.

    :param data: the mapped triples or graph (instances under ``base``)
    :param ontology: the OWL ontology whose axioms drive the closure
    :param base: the instance base; closure triples about other subjects are dropped
    :param engine: ``fast`` (compiled rules) or ``owlrl`` (the reference reasoner)
    :param meter: counts the data's triples as the fast engine entails from them
        (:mod:`tipgraph.progress`)
    :param rules: the fast engine's rules, compiled from ``ontology`` already (a build
        reasons a part of the catalogue at a time: :mod:`tipgraph.parts`)
    """
    identity: set[Triple] = set()
    facts: list[Triple] = []
    for triple in data:  # str.__eq__: rdflib's own == is a Python call, for millions of triples
        (identity.add if str.__eq__(triple[1], SAME_AS) else facts.append)(triple)
    if engine == "owlrl":
        entailed: Iterable[Triple] = _owlrl_closure(facts, ontology)
    else:
        entailed = (rules if rules is not None else compile_rules(ontology)).entail(facts, meter)
    # the ontology is published as asserted, not its closure (its terms as plain text: a
    # str's hash is C's and kept, an rdflib term's a Python call each time)
    terms = {str.__str__(term) for term in ontology.subjects()}
    # filtered in place: a second set of millions of triples would double the stage's peak
    published = entailed if isinstance(entailed, set) else set(entailed)
    published.difference_update(_unpublished(published, base, terms))
    published |= identity
    published.update(ontology)
    return published


def _unpublished(triples: set[Triple], base: str, terms: set[str]) -> list[Triple]:
    """The triples of the closure not published: about a subject that is not one of our
    URIs (a literal, a blank node, another site's IRI, a term of the ontology), identity
    links (put back as asserted), trivial types, and a blank or odd object.

    Millions of triples, a few thousand subjects a part: each subject is judged once, and
    a triple is then looked at in one expression, without a call.
    """
    text = str.__str__
    foreign = {s for s in {t[0] for t in triples}
               if type(s) is not URIRef or not str.startswith(s, base) or text(s) in terms}
    plain, special, trivial = _PLAIN_KINDS, _SPECIAL_PREDICATES, TRIVIAL_TYPES
    return [t for t in triples
            if t[0] in foreign
            or (type(t[2]) not in plain and not isinstance(t[2], Literal | URIRef))
            or (t[1] in special and (str.__eq__(t[1], SAME_AS) or t[2] in trivial))]


#: The exact classes of a published object, told apart without isinstance (a subclass of
#: them is rare: it is judged by isinstance).
_PLAIN_KINDS = frozenset({URIRef, Literal})
#: The predicates a triple may be dropped for: identity links, and trivial types.
_SPECIAL_PREDICATES = frozenset({SAME_AS, TYPE})


def _owlrl_closure(facts: list[Triple], ontology: Graph) -> Graph:
    working = add_all(Graph(), facts)
    working += ontology
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, axiomatic_triples=False,
                           datatype_axioms=False).expand(working)
    return working


@dataclass
class Rules:
    """The ontology's axioms, compiled to lookup tables."""

    superclasses: dict[Node, set[Node]] = field(default_factory=dict)
    superproperties: dict[Node, set[Node]] = field(default_factory=dict)
    domains: dict[Node, set[Node]] = field(default_factory=dict)
    ranges: dict[Node, set[Node]] = field(default_factory=dict)
    chains: list[tuple[tuple[Node, ...], Node]] = field(default_factory=list)

    def entail(self, triples: Iterable[Triple], meter: Meter | None = None) -> set[Triple]:
        """Forward-chain the rules over ``triples`` to a fixpoint; returns the closure.

        ``meter`` counts the given triples in the first round (most of the work)."""
        closure: set[Triple] = set()
        add = closure.add
        linked = {p for links, _ in self.chains for p in links}
        links: dict[Node, list[tuple[Node, Node]]] = {p: [] for p in linked}  # chain index
        pending = list(triples)
        if meter is not None:
            meter.step("", total=len(pending), unit="triples")
            pending = meter.count(pending)  # type: ignore[assignment]
        superclasses, superproperties = self.superclasses, self.superproperties
        domains, ranges = self.domains, self.ranges
        while pending:
            new: list[Triple] = []
            more = new.append
            for triple in pending:
                size = len(closure)
                add(triple)
                if len(closure) == size:  # one hash per triple, not two
                    continue
                # its consequences, inline (a generator per triple costs more)
                subject, predicate, obj = triple
                if predicate in linked:
                    links[predicate].append((subject, obj))
                if str.__eq__(predicate, TYPE):
                    for cls in superclasses.get(obj, ()):
                        more((subject, TYPE, cls))
                    continue
                for prop in superproperties.get(predicate, ()):
                    more((subject, prop, obj))
                for cls in domains.get(predicate, ()):
                    more((subject, TYPE, cls))
                for cls in ranges.get(predicate, ()):
                    more((obj, TYPE, cls))
            pending = new
            if not pending and self.chains:
                pending = [t for t in self._chain(links) if t not in closure]
        return closure

    def _chain(self, links: dict[Node, list[tuple[Node, Node]]]) -> Iterable[Triple]:
        """What the property chains imply, from the closure's index of their links."""
        for chain, target in self.chains:
            frontier = set(links[chain[0]])
            for link in chain[1:]:
                step: dict[Node, list[Node]] = defaultdict(list)
                for subject, obj in links[link]:
                    step[subject].append(obj)
                frontier = {(s, o2) for s, o in frontier for o2 in step.get(o, ())}
            for subject, obj in frontier:
                yield subject, target, obj


def compile_rules(ontology: Graph) -> Rules:
    """Compile the axioms the fast engine supports.

    :raises UnsupportedOntology: when the ontology uses any other OWL construct
    """
    used = {p for p in ontology.predicates() if p in UNSUPPORTED}
    used |= {o for o in ontology.objects(None, RDF.type) if o in UNSUPPORTED}
    used |= {OWL.equivalentClass for _, o in ontology.subject_objects(OWL.equivalentClass)
             if isinstance(o, BNode)}
    if used:
        names = ", ".join(sorted(str(u).rsplit("#", 1)[-1] for u in used))
        raise UnsupportedOntology(f"the fast reasoner cannot apply {names}; use owlrl")
    rules = Rules()
    rules.superclasses = _transitive(ontology, RDFS.subClassOf, OWL.equivalentClass)
    rules.superproperties = _transitive(ontology, RDFS.subPropertyOf, OWL.equivalentProperty)
    for prop, cls in ontology.subject_objects(RDFS.domain):
        rules.domains.setdefault(prop, set()).add(cls)
    for prop, cls in ontology.subject_objects(RDFS.range):
        rules.ranges.setdefault(prop, set()).add(cls)
    for prop, head in ontology.subject_objects(OWL.propertyChainAxiom):
        rules.chains.append((tuple(_shared(t) for t in Collection(ontology, head)),
                             _shared(prop)))
    for table in (rules.superclasses, rules.superproperties, rules.domains, rules.ranges):
        shared = {_shared(key): {_shared(t) for t in terms} for key, terms in table.items()}
        table.clear()
        table.update(shared)
    return rules


def _shared(node: Node) -> Node:
    """An IRI of the ontology as the object the mapping's triples hold
    (:func:`~tipgraph.namespaces.term`): the rules' tables find it by identity."""
    return term(node) if type(node) is URIRef else node


def _transitive(ontology: Graph, sub: URIRef, equivalent: URIRef) -> dict[Node, set[Node]]:
    """Each term's strict ancestors along ``sub`` (equivalence counts both ways)."""
    parents: dict[Node, set[Node]] = defaultdict(set)
    for child, parent in ontology.subject_objects(sub):
        parents[child].add(parent)
    for left, right in ontology.subject_objects(equivalent):
        parents[left].add(right)
        parents[right].add(left)
    closure: dict[Node, set[Node]] = {}
    for node in list(parents):
        seen: set[Node] = set()
        stack = list(parents[node])
        while stack:
            parent = stack.pop()
            if parent not in seen:
                seen.add(parent)
                stack.extend(parents.get(parent, ()))
        seen.discard(node)
        closure[node] = seen
    return closure
