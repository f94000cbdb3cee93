"""Which queries are lookups (answered in the web worker, no query process): those whose
every triple pattern is anchored by what it names, with at most LOOKUP_ROWS solutions.

A query taken for a lookup when it is not would run unstoppable in the web worker, so the
refusals matter as much as the acceptances.
"""

from __future__ import annotations

import pyoxigraph
import pytest

from tipgraph.lookups import LOOKUP_ROWS, lookup_bound, store_counter

E = "http://example.org/"
PREFIX = f"PREFIX e: <{E}> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
HUB = LOOKUP_ROWS + 5  # things of the class e:Thing: more than a lookup may have


@pytest.fixture(scope="module")
def count():
    store = pyoxigraph.Store()
    node = pyoxigraph.NamedNode
    quads = []
    for n in range(HUB):
        thing = node(f"{E}t{n}")
        quads += [pyoxigraph.Quad(thing, node(f"{E}p"), node(f"{E}Thing")),
                  pyoxigraph.Quad(thing, node("http://www.w3.org/2000/01/rdf-schema#label"),
                                  pyoxigraph.Literal(f"thing {n}", language="en"))]
    for n in range(40):  # e:a has 40 values of e:q
        quads.append(pyoxigraph.Quad(node(f"{E}a"), node(f"{E}q"), pyoxigraph.Literal(str(n))))
    for n in range(100):  # e:b has 100: more than are read one by one, counted by the engine
        quads.append(pyoxigraph.Quad(node(f"{E}b"), node(f"{E}q"), pyoxigraph.Literal(str(n))))
    store.extend(quads)
    return store_counter(store)


@pytest.mark.parametrize(("query", "bound"), [
    (PREFIX + "SELECT ?p ?o WHERE { e:a ?p ?o }", 40),
    (f"CONSTRUCT {{ <{E}a> ?p ?o }} WHERE {{ <{E}a> ?p ?o }}", 40),
    # a template of three triples: as many per solution
    (f"CONSTRUCT {{ <{E}a> ?p ?o . ?o ?p ?p . ?p ?o <{E}a> }} WHERE {{ <{E}a> ?p ?o }}", 120),
    (f"ASK {{ <{E}t1> ?p ?o }}", 2),
    (f"DESCRIBE <{E}t1> <{E}t2>", 4),
    (PREFIX + "SELECT ?t ?l WHERE { VALUES ?t { e:t1 e:t2 e:t3 } ?t rdfs:label ?l }", 3),
    (PREFIX + 'SELECT ?t WHERE { ?t rdfs:label "thing 7"@en }', 1),
    (PREFIX + 'SELECT ?v WHERE { e:a e:q ?v ; e:q "3" }', 40),  # more than a few, counted
    (PREFIX + "SELECT ?v WHERE { e:b e:q ?v }", 100),
    (f"DESCRIBE <{E}a> <{E}b>", 140),
    (PREFIX + "SELECT ?o ?l WHERE { e:t1 e:p ?o ; rdfs:label ?l . "
     "OPTIONAL { e:a e:q ?v } FILTER(LANG(?l) = 'en') } ORDER BY ?l LIMIT 5", 40),
    (PREFIX + "SELECT (COUNT(*) AS ?n) WHERE { e:a e:q ?v } GROUP BY ?v", 40),
    (PREFIX + "SELECT ?o WHERE { e:nothing ?p ?o }", 1),  # nothing: at most one empty row
])
def test_anchored_queries_are_lookups(count, query: str, bound: int) -> None:
    assert lookup_bound(query, count) == bound


@pytest.mark.parametrize("query", [
    "ASK { ?s ?p ?o }",  # nothing anchors it
    PREFIX + "SELECT * WHERE { ?t e:p e:Thing }",  # anchored, but by more than a lookup has
    PREFIX + "SELECT * WHERE { e:a e:q ?x . e:a e:q ?y }",  # 40 x 40 solutions
    PREFIX + "SELECT * WHERE { e:t1 e:p ?c . ?x e:p ?c }",  # the second, joined only
    PREFIX + "SELECT * WHERE { e:t1 e:p/e:p* ?c }",  # a property path
    PREFIX + "SELECT * WHERE { e:t1 ^e:p ?c }",
    PREFIX + "SELECT * WHERE { e:t1 ?p ?o FILTER EXISTS { ?a ?b ?c } }",
    PREFIX + "SELECT * WHERE { { e:t1 ?p ?o } UNION { ?a ?b ?c } }",
    PREFIX + "SELECT * WHERE { e:t1 ?p ?o MINUS { ?a ?b ?c } }",
    PREFIX + "SELECT * WHERE { { SELECT ?a WHERE { ?a ?b ?c } } e:t1 ?p ?o }",
    PREFIX + "SELECT * WHERE { GRAPH ?g { e:t1 ?p ?o } }",
    PREFIX + "SELECT * WHERE { SERVICE <http://x/sparql> { e:t1 ?p ?o } }",
    PREFIX + "SELECT * FROM <http://x/g> WHERE { e:t1 ?p ?o }",
    f"BASE <{E}> SELECT * WHERE {{ <t1> ?p ?o }}",  # relative IRIs
    "SELECT * WHERE { <t1> ?p ?o }",
    PREFIX + "SELECT * WHERE { OPTIONAL { VALUES ?s { e:t1 } } ?s ?p ?o }",
    PREFIX + "SELECT * WHERE { ?s ?p ?o } VALUES ?s { e:t1 }",  # VALUES after the group
    PREFIX + "SELECT * WHERE { [] ?p e:Thing }",
    PREFIX + "SELECT * WHERE { e:t1 e:p ( 1 2 ) }",
    PREFIX + "SELECT * WHERE { undeclared:t1 ?p ?o }",
    PREFIX + "DESCRIBE ?s WHERE { ?s ?p ?o }",
    PREFIX + 'SELECT * WHERE { ?s ?p "a\\"b" }',  # an escape: not read here
    PREFIX + "INSERT DATA { e:t1 e:p e:q }",
    PREFIX + "SELECT * WHERE { e:t1 ?p ?o ",  # malformed: the engine says how
    # each pattern is counted first: so many are not read on the worker's loop
    PREFIX + "SELECT * WHERE { " + " ".join(f"e:t1 e:x ?o{n} ." for n in range(100)) + " }",
])
def test_other_queries_are_not(count, query: str) -> None:
    assert lookup_bound(query, count) is None
