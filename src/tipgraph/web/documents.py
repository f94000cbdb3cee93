"""What the graph says about one resource: the triples its document carries.

A document holds every triple about the resource (for a hash namespace, such as
a source file's ``#line-N`` records, every triple about its fragments), the
labels of the nodes it links to, and the triples pointing at it with the labels
of their subjects: a place or an agent lists the publications that name it, and
a region the publications inferred through its countries (``dct:spatial``
carries both after reasoning). No Flask here: the views pass the store in.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pyoxigraph
from rdflib import Graph, URIRef

from tipgraph.formats import jsonld_context
from tipgraph.namespaces import DCT, FOAF, GN, RDFS, SCHEMA, SKOS, bind_prefixes
from tipgraph.store import GraphStore

#: Properties that name a node, best first: what a page shows for a link.
LABELS: tuple[URIRef, ...] = (SKOS.prefLabel, DCT.title, GN.name, FOAF.name, SCHEMA.name,
                              RDFS.label)

_VALUES_LABELS = " ".join(f"<{p}>" for p in LABELS)


def _iri(uri: str) -> str:
    """``uri`` as a SPARQL IRI, refusing what would break out of ``<...>``."""
    if any(c in uri for c in '<>"{}|^`\\') or any(ord(c) <= 0x20 for c in uri):
        raise ValueError(f"not an IRI: {uri!r}")
    pyoxigraph.NamedNode(uri)  # ValueError for the rest a query parser would refuse
    return f"<{uri}>"


def _matches(variable: str, uri: str, fragments: bool) -> str:
    """A pattern binding ``variable`` to ``uri`` (and its ``#`` fragments when asked)."""
    if not fragments:
        return f"VALUES {variable} {{ {_iri(uri)} }}"
    return (f"FILTER(isIRI({variable}) && ({variable} = {_iri(uri)} || "
            f"STRSTARTS(STR({variable}), \"{uri}#\")))")


def exists(store: GraphStore, uri: str, *, fragments: bool = False) -> bool:
    """Whether the graph says anything about ``uri`` (as subject or object)."""
    return bool(store.query(
        f"ASK {{ {{ ?r ?p ?o }} UNION {{ ?s ?p ?r }} {_matches('?r', uri, fragments)} }}"))


def describe(store: GraphStore, uri: str, *, base: str, fragments: bool = False,
             incoming: bool = True) -> Graph:
    """The document of ``uri``: its triples, incoming links, and the labels of neighbours."""
    match = _matches("?r", uri, fragments)
    parts = [f"{{ ?r ?p ?o {match} }}",
             f"{{ ?r ?p ?o {match} ?o ?lp ?label VALUES ?lp {{ {_VALUES_LABELS} }} }}"]
    if incoming:
        parts += [f"{{ ?s ?ip ?r {match} }}",
                  f"{{ ?s ?ip ?r {match} ?s ?slp ?slabel "
                  f"VALUES ?slp {{ {_VALUES_LABELS} }} }}"]
    query = ("CONSTRUCT { ?r ?p ?o . ?o ?lp ?label . ?s ?ip ?r . ?s ?slp ?slabel } WHERE { "
             + " UNION ".join(parts) + " }")
    return to_rdflib(store.query(query), base=base)


def to_rdflib(triples: Iterable[pyoxigraph.Triple], *, base: str) -> Graph:
    """Oxigraph triples as an rdflib graph with our prefixes bound."""
    if isinstance(triples, pyoxigraph.QueryTriples):
        data = triples.serialize(format=pyoxigraph.RdfFormat.N_TRIPLES)
    else:
        data = pyoxigraph.serialize(triples, format=pyoxigraph.RdfFormat.N_TRIPLES)
    graph = bind_prefixes(Graph(), base)
    if data:
        graph.parse(data=data.decode("utf-8"), format="nt")
    return graph


@cache
def file_graph(path: Path) -> Graph:
    """A Turtle file we publish as is (the ontology, the shapes), parsed once."""
    return Graph().parse(path, format="turtle")


def serialize(graph: Graph, rdflib_format: str) -> bytes:
    """``graph`` in one of rdflib's formats; JSON-LD is compacted with our shipped context."""
    if rdflib_format == "json-ld":
        return graph.serialize(format="json-ld", context=jsonld_context(), auto_compact=True,
                               encoding="utf-8")
    return graph.serialize(format=rdflib_format, encoding="utf-8")


def label_of(graph: Graph, node: URIRef) -> str | None:
    """The best label ``graph`` has for ``node`` (English first), or None."""
    for prop in LABELS:
        values = list(graph.objects(node, prop))
        if values:
            english = [v for v in values if getattr(v, "language", None) in ("en", None)]
            return str(sorted(english or values)[0])
    return None
