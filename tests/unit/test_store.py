"""The store interface: both stores are GraphStores; refusals happen before any request."""

from __future__ import annotations

import json
import re
from io import BytesIO
from pathlib import Path

import pyoxigraph
import pytest

from tipgraph.sparql_engine import QueryJob, ServiceRefused, StoreUnavailable, UpdateRefused
from tipgraph.store import GraphStore, OxigraphStore, RemoteSparqlStore
from tipgraph.store.publish import _chunks, graphs_prefix

NOWHERE = "http://127.0.0.1:9/sparql"  # the discard port: nothing answers there


def _store() -> OxigraphStore:
    store = pyoxigraph.Store()
    store.add(pyoxigraph.Quad(pyoxigraph.NamedNode("urn:a"), pyoxigraph.NamedNode("urn:p"),
                              pyoxigraph.Literal("x")))
    return OxigraphStore(store, identity="b1")


class Trickle:
    """A response read a few bytes at a time: a pattern or mark is cut at every place."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = BytesIO(data), step

    def read(self, size: int) -> bytes:
        return self.data.read(self.step)

    def close(self) -> None:
        pass


def _job(query: str) -> QueryJob:
    return QueryJob(query=query, results_format="json", rdf_format="ntriples", max_results=10)


def test_both_stores_are_graph_stores() -> None:
    assert isinstance(_store(), GraphStore)
    assert isinstance(RemoteSparqlStore(NOWHERE), GraphStore)


def test_embedded_store_answers_in_the_neutral_form() -> None:
    store = _store()
    rows = store.query("SELECT ?s WHERE { ?s ?p ?o }")
    assert [row["s"] for row in rows] == [pyoxigraph.NamedNode("urn:a")]
    assert bool(store.query("ASK { <urn:a> ?p ?o }"))
    assert len(list(store.query("CONSTRUCT WHERE { ?s ?p ?o }"))) == 1
    assert (store.triple_count(), store.identity) == (1, "b1")


@pytest.mark.parametrize("store", [_store(), RemoteSparqlStore(NOWHERE)],
                         ids=["embedded", "remote"])
def test_updates_and_service_are_refused_before_the_store_is_asked(store: GraphStore) -> None:
    with pytest.raises(UpdateRefused):
        store.answer(_job("PREFIX ex: <urn:x#>\nINSERT DATA { ex:a ex:b ex:c }"))
    with pytest.raises(ServiceRefused):
        store.answer(_job("SELECT * WHERE { SERVICE <http://example.org/> { ?s ?p ?o } }"))


def test_unreachable_store_says_where() -> None:
    with pytest.raises(StoreUnavailable, match=re.escape(f"cannot reach {NOWHERE}")):
        RemoteSparqlStore(NOWHERE, timeout=5).query("ASK { ?s ?p ?o }")


def test_blank_node_triples_travel_together(tmp_path: Path) -> None:
    nt = tmp_path / "tipgraph.nt"
    lines = [f"<urn:s{i}> <urn:p> <urn:o> .\n" for i in range(5)]
    lines[1] = "<urn:s1> <urn:p> _:b1 .\n"
    lines[4] = "_:b1 <urn:p> <urn:o> .\n"
    nt.write_text("".join(lines), encoding="utf-8")
    chunks = list(_chunks(nt, 2))
    assert chunks[0][:2] == [lines[1], lines[4]]
    assert sorted(line for chunk in chunks for line in chunk) == sorted(lines)


def test_graphs_go_under_the_base() -> None:
    assert graphs_prefix("https://example.org/kg") == "https://example.org/kg/graph/"
    assert graphs_prefix("https://example.org/", "urn:g:") == "urn:g:"


def test_virtuoso_blank_nodes_are_mended_across_reads() -> None:
    from io import BufferedReader

    from tipgraph.store.remote import _Deadline

    sent = b"<bnode>nodeID://b1</bnode><literal>nodeID://x</literal><bnode>nodeID://b2</bnode>"
    read = BufferedReader(_Deadline(Trickle(sent * 3, 7), float("inf"),
                                    "application/sparql-results+xml")).read()
    assert read == b"<bnode>b1</bnode><literal>nodeID://x</literal><bnode>b2</bnode>" * 3
    # JSON: blank nodes, the 2007 note's typed-literal, booleans 1/0; a value is untouched
    boolean = b'"datatype": "http://www.w3.org/2001/XMLSchema#boolean", "value": '
    sent = (b'{ "s": { "type": "bnode", "value": "nodeID://b1" }, "o": { "type": "literal", '
            b'"value": "\\"type\\": \\"bnode\\", \\"value\\": \\"nodeID://x" }, '
            b'"t": { "type": "typed-literal", ' + boolean + b'"1" }}')
    mended = (b'{ "s": { "type": "bnode", "value": "b1" }, "o": { "type": "literal", '
              b'"value": "\\"type\\": \\"bnode\\", \\"value\\": \\"nodeID://x" }, '
              b'"t": { "type": "literal", ' + boolean + b'"true" }}')
    read = BufferedReader(_Deadline(Trickle(sent * 3, 7), float("inf"),
                                    "application/sparql-results+json")).read()
    assert read == mended * 3
    assert json.loads(mended)["o"]["value"] == '"type": "bnode", "value": "nodeID://x'
    # other formats: as they come
    read = BufferedReader(_Deadline(Trickle(sent, 7), float("inf"), "text/csv")).read()
    assert read == sent


def test_rows_are_counted_across_reads_and_the_rest_is_not_read() -> None:
    from tipgraph.sparql_engine import QueryJob, solutions_answer
    from tipgraph.store.remote import _Deadline, _read_rows

    row = b'<result><binding name="n"><literal>%d</literal></binding></result>'
    sent = (b'<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>'
            b'<variable name="n"/></head><results>' + b"".join(row % n for n in range(50))
            + b"</results></sparql>")
    response = Trickle(sent, 3)
    read = _read_rows(_Deadline(response, float("inf"), "application/sparql-results+xml"),
                      b"<result>", 10)
    assert read.count(b"<result>") == 11 and response.data.tell() < len(sent) // 3
    answer = solutions_answer(read, QueryJob("SELECT ?n {}", "json", None, 10), "xml")
    assert (answer.count, answer.truncated) == (10, True)
    values = [b["n"]["value"] for b in json.loads(answer.body)["results"]["bindings"]]
    assert values == [str(n) for n in range(10)]


def test_pages_of_a_pattern_neither_repeat_nor_skip(tmp_path: Path) -> None:
    # a document's page 2 starts where its page 1 ended, whichever way a page is read
    # (the pattern's iterator for the first, the engine skipping for the others)
    raw = pyoxigraph.Store(str(tmp_path / "store"))
    hub, other = pyoxigraph.NamedNode("urn:hub"), pyoxigraph.NamedNode("urn:other")
    props = [pyoxigraph.NamedNode(f"urn:p{k}") for k in range(3)]
    raw.extend(pyoxigraph.Quad(pyoxigraph.NamedNode(f"urn:s{i:03}"), props[i % 3], target)
               for i in range(300) for target in (hub, other, pyoxigraph.Literal(f"v{i % 7}")))
    raw.add(pyoxigraph.Quad(pyoxigraph.BlankNode("b"), props[0], hub))
    store = OxigraphStore(raw)
    patterns = [(None, props[1], hub), (None, None, hub), (pyoxigraph.NamedNode("urn:s001"),
                None, None), (None, props[2], None), (None, None, pyoxigraph.Literal("v3"))]
    for subject, predicate, obj in patterns:
        every = list(store.triples(subject, predicate, obj))
        assert len(every) > 2
        for size in (1, 7, 50):
            paged = [t for offset in range(0, len(every) + size, size)
                     for t in store.triples(subject, predicate, obj, offset=offset, limit=size)]
            assert paged == every
        assert list(store.triples(subject, predicate, obj, offset=2)) == every[2:]
