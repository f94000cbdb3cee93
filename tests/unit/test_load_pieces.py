"""The store is bulk-loaded in pieces (bounded memory) and holds what one load would."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph

from tipgraph.store.embedded import load_store

NT = """\
<urn:a> <http://www.w3.org/2002/07/owl#propertyChainAxiom> _:list1 .
<urn:a> <urn:label> "a text that says _: and <urn:x> ." .
<urn:b> <urn:p> <urn:c> .
<urn:c> <urn:p> "c"@en .
<urn:d> <urn:p> "42"^^<http://www.w3.org/2001/XMLSchema#integer> .
_:list1 <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> <urn:p1> .
_:list1 <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest> _:list2 .
_:list2 <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> <urn:p2> .
_:list2 <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest> <urn:nil> .
"""

CHAIN = """SELECT ?member WHERE {
  <urn:a> <http://www.w3.org/2002/07/owl#propertyChainAxiom>/
          <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest>*/
          <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> ?member }"""


def test_a_store_loaded_line_by_line_keeps_every_triple_and_blank_node(tmp_path: Path) -> None:
    nt = tmp_path / "graph.nt"
    nt.write_text(NT, encoding="utf-8")
    store = load_store(nt, tmp_path / "store", piece_bytes=1)  # a piece per line
    whole = pyoxigraph.Store()
    whole.load(path=str(nt), format=pyoxigraph.RdfFormat.N_TRIPLES)
    assert len(store) == len(whole) == NT.count("\n")
    members = {str(row["member"]) for row in store.query(CHAIN)}
    assert members == {"<urn:p1>", "<urn:p2>"}  # the list is still one list
    literal = pyoxigraph.Literal("a text that says _: and <urn:x> .")
    assert list(store.quads_for_pattern(pyoxigraph.NamedNode("urn:a"), None, literal))


def test_pieces_of_many_lines_keep_every_triple_and_blank_node(tmp_path: Path) -> None:
    nt = tmp_path / "graph.nt"
    nt.write_text(NT.rstrip("\n"), encoding="utf-8")  # the last line without its line end
    for size in (40, 100, 1 << 20):  # pieces cut inside lines, and one piece for all
        store = load_store(nt, tmp_path / f"store{size}", piece_bytes=size)
        assert len(store) == NT.count("\n")
        members = {str(row["member"]) for row in store.query(CHAIN)}
        assert members == {"<urn:p1>", "<urn:p2>"}


def test_files_loaded_one_after_the_other_are_one_graph(tmp_path: Path) -> None:
    lines = NT.splitlines(keepends=True)
    files = []
    for n, part in enumerate((lines[:6], lines[6:])):  # the list's blank nodes in both files
        files.append(tmp_path / f"run{n}.nt")
        files[-1].write_text("".join(part), encoding="utf-8")
    store = load_store(iter(files), tmp_path / "store", piece_bytes=40)
    assert len(store) == NT.count("\n")
    members = {str(row["member"]) for row in store.query(CHAIN)}
    assert members == {"<urn:p1>", "<urn:p2>"}  # one list, though named in two files
