"""A visitor's answer passed through as the engine wrote it, where it writes it right.

Against each real engine (the Oxigraph server, Virtuoso 7): every format
``RemoteSparqlStore.answer`` passes through (:data:`PASSED`), and every SELECT format
(one it does not pass is asked as XML and written again natively), gives the same
answer as parsing the engine's XML results or N-Triples and writing them again row by
row (the way every other answer goes), on terms that engines write in their own ways
(blank nodes, booleans, doubles, language tags, escapes), cut at ``max_results`` and
``max_result_bytes`` alike; and the safety properties hold before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyoxigraph
import pytest
from rdflib import Graph
from rdflib.compare import isomorphic

from tipgraph.sparql_engine import (
    QueryAnswer,
    QueryJob,
    QueryTimeout,
    ServiceRefused,
    UpdateRefused,
)
from tipgraph.store import remote
from tipgraph.store.loop_http import LoopClient
from tipgraph.store.remote import PASSED, Http, RemoteSparqlStore

from .conftest import Engine

GRAPH = "urn:tipgraph:test:pass-through"
#: terms engines write in their own ways, and enough rows to cut
DATA = """
<http://x/a> <http://x/p> "caf\\u00e9 \\"q\\"\\n line\\ttab", "x"@en-GB, 3, 2.5, 1.5e3, true,
    false, "2020-01-01"^^<http://www.w3.org/2001/XMLSchema#date>, "x"^^<http://x/custom>,
    "smile \\U0001F600 <tag> & \\\\", <http://x/with%20space#frag>, _:z .
_:z <http://x/q> "b,c" .
""" + "".join(f"<http://x/n{n:02}> <http://x/v> {n} .\n" for n in range(30))
SELECT = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
#: an order every engine agrees on (across kinds of terms, engines order as they like,
#: and Virtuoso differently with a LIMIT than without)
ORDERED = "SELECT ?s ?o WHERE { ?s <http://x/v> ?o } ORDER BY DESC(?o)"
CONSTRUCT = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"
#: every results format for SELECT (passed through, or asked as XML and written again
#: natively), the formats some engine writes right for ASK and graphs
CASES = [("SELECT", name) for name in ("json", "xml", "csv", "tsv")] + [
    (form, name) for form in ("ASK", "GRAPH")
    for name in sorted({n for e in PASSED.values() for n in e[form]})]


@pytest.fixture(scope="module")
def stores(engine: Engine) -> tuple[RemoteSparqlStore, RemoteSparqlStore]:
    """Two stores on the test graph of ``engine``: one that passes answers through, one
    that does not (it takes the engine for one it does not know)."""
    insert = f"INSERT {{ GRAPH <{GRAPH}> {{ {DATA} }} }} WHERE {{}}"
    Http(engine.auth).send(engine.update, method="POST",
                           data=urllib.parse.urlencode({"update": insert}).encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"}
                           ).close()
    passing = RemoteSparqlStore(engine.query, graph=GRAPH)
    assert passing.triple_count() == 43
    assert passing.engine == engine.name  # what its Server header says
    return passing, Parsing(engine.query, graph=GRAPH)


class Parsing(RemoteSparqlStore):
    """A store that never learns its engine: every answer parsed and written again."""

    @property  # type: ignore[override]
    def engine(self) -> str:
        return ""

    @engine.setter
    def engine(self, value: str) -> None:
        pass


Asking = Callable[[RemoteSparqlStore, QueryJob], QueryAnswer]


@pytest.fixture(scope="module")
def on_loop() -> Iterator[Asking]:
    """Asks a store as the front's loop does (:meth:`RemoteSparqlStore.answer_soon`), on
    one loop for the module (the store keeps its connections for the loop)."""
    loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(2)

    def ask(store: RemoteSparqlStore, job: QueryJob) -> QueryAnswer:
        return loop.run_until_complete(store.answer_soon(job, "test", gone=None,
                                                         executor=pool))
    yield ask
    pool.shutdown()
    loop.close()


@pytest.fixture(params=["thread", "loop"])
def ask(request: pytest.FixtureRequest) -> Asking:
    """Each way the server asks a store: from a thread, and from the front's loop."""
    if request.param == "loop":
        return request.getfixturevalue("on_loop")
    return lambda store, job: store.answer(job)


def both(stores: tuple[RemoteSparqlStore, RemoteSparqlStore], job: QueryJob,
         monkeypatch: pytest.MonkeyPatch, ask: Asking = RemoteSparqlStore.answer
         ) -> tuple[QueryAnswer, QueryAnswer]:
    """The answer passed through (no parse allowed) and the answer written again."""
    passing, parsing = stores
    with monkeypatch.context() as patch:
        def refuse(*_: Any) -> None:
            raise AssertionError("parsed, not passed through")
        patch.setattr(RemoteSparqlStore, "_parse", refuse)
        passed = ask(passing, job)
    return passed, ask(parsing, job)


def rows(answer: QueryAnswer, name: str, *, ordered: bool = True) -> Any:
    """What must be equal in a results answer: variables and rows (blank nodes as such,
    in any order unless ``ordered``); CSV's lines (it cannot be read back)."""
    if name == "csv":
        lines = re.sub(rb"_:\w+", b"_:", answer.body).decode().splitlines()
        return lines if ordered else sorted(lines)
    fmt = pyoxigraph.QueryResultsFormat.JSON if name == "html" else \
        pyoxigraph.QueryResultsFormat.from_extension(
            {"json": "srj", "xml": "srx"}.get(name, name))
    result = pyoxigraph.parse_query_results(answer.body, format=fmt)
    if isinstance(result, pyoxigraph.QueryBoolean):
        return bool(result)
    found = [tuple("_:" if isinstance(t, pyoxigraph.BlankNode) else str(t) for t in row)
             for row in result]
    return [v.value for v in result.variables], found if ordered else sorted(found)


def graph(answer: QueryAnswer) -> Graph:
    return Graph().parse(data=answer.body, format="nt")


@pytest.mark.parametrize(("form", "name"), CASES)
@pytest.mark.parametrize("limit", [100, 7])
def test_passed_through_equals_written_again(form: str, name: str, limit: int,
                                             stores: tuple[RemoteSparqlStore,
                                                           RemoteSparqlStore],
                                             engine: Engine, ask: Asking,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if form != "SELECT" and name not in PASSED[engine.name][form]:
        pytest.skip(f"{engine.name} does not write {form} answers in {name} right")
    cut = limit < 30
    if form == "GRAPH":
        job = QueryJob(CONSTRUCT, None, name, limit)
    else:
        text = (ORDERED if cut else SELECT) if form == "SELECT" else "ASK { ?s ?p true }"
        job = QueryJob(text, name, None, limit)
    passed, parsed = both(stores, job, monkeypatch, ask)
    assert (passed.form, passed.format, passed.truncated) == \
        (parsed.form, parsed.format, parsed.truncated)
    assert passed.truncated == (form != "ASK" and cut)
    if form == "GRAPH":
        assert passed.count == parsed.count == min(limit, 43)
        if not cut:  # else: as many of the engine's triples, in its order
            assert isomorphic(graph(passed), graph(parsed))
    else:
        assert rows(passed, name, ordered=cut) == rows(parsed, name, ordered=cut)


@pytest.mark.parametrize("job", [QueryJob(SELECT, "json", None, 100),
                                 QueryJob(ORDERED, "csv", None, 7),
                                 QueryJob(CONSTRUCT, None, "ntriples", 100),
                                 QueryJob(CONSTRUCT, None, "turtle", 100)],
                         ids=["select", "select-cut", "construct", "construct-turtle"])
def test_an_answer_larger_than_the_loop_makes_goes_on_in_a_thread(
        job: QueryJob, stores: tuple[RemoteSparqlStore, RemoteSparqlStore],
        on_loop: Asking, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over ``LOOP_BYTES``, the rest of the body is read through the loop by a thread
    (here a few hundred bytes): the same answer as from a thread alone, and the
    connection kept for the next query."""
    passing, _ = stores
    expected = passing.answer(job)
    monkeypatch.setattr(remote, "LOOP_BYTES", 64)
    for _ in range(2):
        found = on_loop(passing, job)
        assert (found.form, found.format, found.count, found.truncated) == \
            (expected.form, expected.format, expected.count, expected.truncated)
        if job.rdf_format == "ntriples" or job.results_format == "csv":
            assert sorted(found.body.splitlines()) == sorted(expected.body.splitlines())
        elif job.rdf_format:
            assert len(list(pyoxigraph.parse(found.body, format=pyoxigraph.RdfFormat.TURTLE))) \
                == expected.count
        else:
            assert rows(found, "json", ordered=False) == rows(expected, "json", ordered=False)
    assert len(passing._on_loop.idle) == 1  # type: ignore[union-attr]


def test_virtuoso_s_json_is_the_standard_s(stores: tuple[RemoteSparqlStore,
                                                         RemoteSparqlStore],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Blank nodes are labels, literals are ``literal``, booleans ``true``/``false``."""
    passed, _ = both(stores, QueryJob(SELECT, "json", None, 100), monkeypatch)
    values = [term for row in json.loads(passed.body)["results"]["bindings"]
              for term in row.values()]
    assert {term["type"] for term in values} == {"uri", "bnode", "literal"}
    assert not any(term["value"].startswith("nodeID:") for term in values)
    booleans = {t["value"] for t in values if t.get("datatype", "").endswith("#boolean")}
    assert booleans == {"true", "false"}


def test_the_page_gets_json_and_the_byte_cap_cuts_whole_rows(
        stores: tuple[RemoteSparqlStore, RemoteSparqlStore],
        monkeypatch: pytest.MonkeyPatch) -> None:
    passed, parsed = both(stores, QueryJob(SELECT, "html", None, 100), monkeypatch)
    assert passed.format == parsed.format == "html"
    assert rows(passed, "html", ordered=False) == rows(parsed, "html", ordered=False)
    for job in (QueryJob(SELECT, "xml", None, 100, max_bytes=2000),
                QueryJob(CONSTRUCT, None, "ntriples", 100, max_bytes=500)):
        passed, parsed = both(stores, job, monkeypatch)
        assert passed.truncated and passed.cut_by == "max_result_bytes"
        assert 0 < len(passed.body) <= job.max_bytes and passed.count
        if job.rdf_format:
            assert len(graph(passed)) == passed.count
        else:
            assert len(rows(passed, "xml")[1]) == passed.count


def test_formats_not_passed_are_written_by_us(stores: tuple[RemoteSparqlStore,
                                                            RemoteSparqlStore],
                                              engine: Engine) -> None:
    """Turtle (ours carries our prefixes; Virtuoso's reads a double back as a decimal)."""
    passing, _ = stores
    answer = passing.answer(QueryJob(CONSTRUCT, None, "turtle", 100,
                                     prefixes=(("x", "http://x/"),)))
    assert b"@prefix x: <http://x/>" in answer.body
    triples = list(pyoxigraph.parse(answer.body, format=pyoxigraph.RdfFormat.TURTLE))
    doubles = [t.object for t in triples if isinstance(t.object, pyoxigraph.Literal)
               and t.object.datatype.value.endswith("#double")]
    assert len(doubles) == 1


def test_refused_before_anything_is_sent(stores: tuple[RemoteSparqlStore,
                                                       RemoteSparqlStore],
                                         ask: Asking, monkeypatch: pytest.MonkeyPatch) -> None:
    passing, _ = stores

    def send(*_: Any, **__: Any) -> None:
        raise AssertionError("sent to the store")
    monkeypatch.setattr(passing.http, "send", send)
    monkeypatch.setattr(LoopClient, "post", send)
    with pytest.raises(UpdateRefused):
        ask(passing, QueryJob(f"DROP GRAPH <{GRAPH}>", "json", None, 10))
    with pytest.raises(ServiceRefused):
        ask(passing, QueryJob("SELECT * WHERE { SERVICE <http://example.org/sparql> "
                              "{ ?s ?p ?o } }", "json", None, 10))


class _Clock:
    """``time`` for the store's module, where every look at the clock is 100 s later."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 100.0
        return self.now


@pytest.mark.parametrize("job", [QueryJob(SELECT, "json", None, 100),
                                 QueryJob(CONSTRUCT, None, "ntriples", 100)],
                         ids=["select", "construct"])
def test_a_passed_answer_is_stopped_at_the_time_limit(
        job: QueryJob, stores: tuple[RemoteSparqlStore, RemoteSparqlStore], ask: Asking,
        monkeypatch: pytest.MonkeyPatch) -> None:
    passing, _ = stores
    monkeypatch.setattr(remote, "time", _Clock())
    with pytest.raises(QueryTimeout, match="query_timeout"):
        ask(passing, job)


def test_a_sorted_query_under_the_default_cut(stores: tuple[RemoteSparqlStore,
                                                            RemoteSparqlStore],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``max_results`` at its default: Virtuoso, which sorts at most 10,000 rows under a
    ``LIMIT`` by default, is not sent ``LIMIT 10001`` (an error there)."""
    passed, parsed = both(stores, QueryJob(ORDERED, "xml", None, 10_000), monkeypatch)
    assert rows(passed, "xml") == rows(parsed, "xml")
    assert passed.count == 30 and not passed.truncated
