"""Reason: the OWL 2 RL closure of the data under the ontology, trimmed to what we publish.

Identity links are published, not reasoned over: ``owl:sameAs`` triples are
set aside before owlrl runs (its identity rules would copy every country onto
GeoNames' URIs and add reflexive links) and put back afterwards. Of the
closure we keep only well-formed triples about our own URIs (owlrl also emits
triples with literal subjects and trivial types such as ``owl:Thing``); the
ontology itself is published as asserted.
"""

from __future__ import annotations

from pathlib import Path

import owlrl
from rdflib import Graph, Literal, URIRef

from tipgraph.namespaces import OWL, RDF, RDFS, bind_prefixes

ONTOLOGY_PATH = Path(__file__).resolve().parents[2] / "ontology" / "tipgraph.ttl"

#: Types every resource has under OWL RL: true, and of no use to anyone.
TRIVIAL_TYPES = frozenset({OWL.Thing, RDFS.Resource, OWL.NamedIndividual})


def load_ontology(path: Path = ONTOLOGY_PATH) -> Graph:
    return Graph().parse(path, format="turtle")


def infer(data: Graph, ontology: Graph, *, base: str) -> Graph:
    """Return ``data`` plus what the ontology implies about it, plus the ontology.

    :param data: the mapped graph (instances under ``base``)
    :param ontology: the OWL ontology whose axioms drive the closure
    :param base: the instance base; closure triples about other subjects are dropped
    """
    identity = set(data.triples((None, OWL.sameAs, None)))
    working = Graph()
    for triple in data:
        if triple not in identity:
            working.add(triple)
    working += ontology
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, axiomatic_triples=False,
                           datatype_axioms=False).expand(working)
    published = bind_prefixes(Graph(), base)
    terms = set(ontology.subjects())  # the ontology is published as asserted, not its closure
    for subject, predicate, obj in working:
        if (not isinstance(subject, URIRef) or not str(subject).startswith(base)
                or subject in terms):
            continue
        if predicate == OWL.sameAs or (predicate == RDF.type and obj in TRIVIAL_TYPES):
            continue
        if isinstance(obj, Literal | URIRef):
            published.add((subject, predicate, obj))
    for triple in identity:
        published.add(triple)
    published += ontology
    return published
