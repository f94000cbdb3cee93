"""Checking again only the focus nodes a change may touch (an incremental build's
validation) reports what checking the whole store reports: a violation the change makes,
even on a node it left alone, is caught."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph
import pytest

from tipgraph import namespaces as ns
from tipgraph.shacl_fast import compile_shapes, load_triples
from tipgraph.validation import load_shapes, report_of, revalidate_store, validate_store

from .test_validation import synthetic

TYPE = pyoxigraph.NamedNode(str(ns.RDF.type))


def line(quad: pyoxigraph.Quad) -> str:
    return f"{quad.subject} {quad.predicate} {quad.object} .\n"


def store_of(tmp_path: Path) -> tuple[pyoxigraph.Store, dict]:
    graph, mapped = synthetic(tmp_path, 150, seed=7)
    store = pyoxigraph.Store()
    load_triples(store, graph)
    return store, mapped.provenance


def change(store: pyoxigraph.Store, removed: list[pyoxigraph.Quad],
           added: list[pyoxigraph.Quad]) -> list[str]:
    for quad in removed:
        store.remove(quad)
    store.extend(added)
    return [line(q) for q in removed + added]


def publications(store: pyoxigraph.Store) -> list[pyoxigraph.NamedNode]:
    kind = pyoxigraph.NamedNode(str(ns.TIP.Publication))
    return sorted((q.subject for q in store.quads_for_pattern(None, TYPE, kind)),
                  key=str)


def test_a_violation_the_change_makes_is_caught_where_it_shows(tmp_path: Path) -> None:
    store, provenance = store_of(tmp_path)
    shapes = load_shapes()
    before = validate_store(store, shapes, provenance)
    assert before.conforms and before.warnings
    creator = pyoxigraph.NamedNode(str(ns.DCT.creator))
    title = pyoxigraph.NamedNode(str(ns.DCT.title))
    # an author loses its type: the publications naming it break sh:or, though their
    # own triples did not change
    author = next(q.object for q in store.quads_for_pattern(None, creator, None))
    naming = {q.subject for q in store.quads_for_pattern(None, creator, author)}
    untyped = list(store.quads_for_pattern(author, TYPE, None))
    # a publication loses its title; another gains a year that is no year
    first, second = publications(store)[:2]
    no_title = list(store.quads_for_pattern(first, title, None))
    year = pyoxigraph.Quad(second, pyoxigraph.NamedNode(str(ns.DCT.issued)),
                           pyoxigraph.Literal("not a year"))
    changed = change(store, untyped + no_title, [year])
    whole = validate_store(store, shapes, provenance)
    again = revalidate_store(store, shapes, before, changed, provenance)
    assert again == whole
    assert not again.conforms
    focus = {r.focus for r in again.violations}
    assert {n.value for n in naming} <= focus
    assert {first.value, second.value} <= focus
    # the next change mends them all: the results are the first ones again
    mended = change(store, [year], untyped + no_title)
    assert revalidate_store(store, shapes, again, mended, provenance) == before


def test_the_nodes_checked_again_are_few(tmp_path: Path) -> None:
    store, _ = store_of(tmp_path)
    first = publications(store)[0]
    title = pyoxigraph.NamedNode(str(ns.DCT.title))
    changed = change(store, list(store.quads_for_pattern(first, title, None)), [])
    assert compile_shapes(load_shapes()).depending(store, changed) == {first.value}


@pytest.mark.parametrize("what", ["subclass", "blank node"])
def test_a_change_it_cannot_follow_checks_every_node(tmp_path: Path, what: str) -> None:
    store, provenance = store_of(tmp_path)
    shapes = load_shapes()
    before = validate_store(store, shapes, provenance)
    if what == "subclass":  # every Country a Region too: a change of the class hierarchy
        quad = pyoxigraph.Quad(pyoxigraph.NamedNode(str(ns.TIP.Country)),
                               pyoxigraph.NamedNode(str(ns.RDFS.subClassOf)),
                               pyoxigraph.NamedNode(str(ns.TIP.Region)))
    else:
        quad = pyoxigraph.Quad(pyoxigraph.BlankNode("b1"), TYPE,
                               pyoxigraph.NamedNode(str(ns.TIP.Publication)))
    changed = change(store, [], [quad])
    assert compile_shapes(shapes).depending(store, changed) is None
    assert revalidate_store(store, shapes, before, changed, provenance) == \
        validate_store(store, shapes, provenance)


def test_a_report_read_back_is_the_same(tmp_path: Path) -> None:
    store, provenance = store_of(tmp_path)
    report = validate_store(store, load_shapes(), provenance)
    assert report_of(report.as_dict()) == report


def test_results_and_problems_as_dicts_have_every_field() -> None:
    """Written without dataclasses.asdict (slow for a report of 100,000s of them)."""
    from dataclasses import asdict

    from tipgraph.errors import Problem
    from tipgraph.validation import ShapeResult

    result = ShapeResult("Warning", "urn:f", "urn:p", "a message", "v", "a.jsonl", 3)
    problem = Problem("a.jsonl", 3, "year", "why", "repair")
    assert result.as_dict() == asdict(result)
    assert problem.as_dict() == asdict(problem)
