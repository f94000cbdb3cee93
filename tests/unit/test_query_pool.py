"""The query pool: clients take turns, waits are bounded, runaway queries and queries
that eat memory are stopped and their process replaced, answers are cut at a byte cap."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyoxigraph
import pytest

from tipgraph.config import SETTINGS_BY_NAME
from tipgraph.guard import check_query, query_chain
from tipgraph.sparql_engine import (
    ClientGone,
    QueryAnswer,
    QueryEngine,
    QueryError,
    QueryJob,
    QuerySyntaxError,
    QueryTimeout,
    QueryTooLarge,
    TooBusy,
    cut_to_bytes,
    evaluate,
)
from tipgraph.web.protocol import error_parts

pytestmark = pytest.mark.slow

#: Never ends on the test store (a cross product of four patterns), using little memory.
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
#: Sorts a cross product: its memory grows by hundreds of MB a second.
HUNGRY = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i"
CHEAP = "ASK { ?s ?p ?o }"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("pool-store") / "store"
    store = pyoxigraph.Store(str(path))
    store.extend(pyoxigraph.Quad(pyoxigraph.NamedNode(f"http://example.org/s{i}"),
                                 pyoxigraph.NamedNode(f"http://example.org/p{i % 7}"),
                                 pyoxigraph.Literal(f"value number {i}"),
                                 pyoxigraph.DefaultGraph()) for i in range(1000))
    store.flush()
    del store
    return str(path)


@pytest.fixture
def make_engine() -> Iterator[Callable[..., QueryEngine]]:
    made: list[QueryEngine] = []

    def make(**options: object) -> QueryEngine:
        engine = QueryEngine(**{"processes": 1, "timeout": 60.0, **options})  # type: ignore[arg-type]
        engine.start()
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


def _job(query: str, store_path: str) -> QueryJob:
    return QueryJob(query, "json", "ntriples", 100, store_path=store_path)


class _Asker(threading.Thread):
    """One query of one client, run in a thread; keeps the answer or the error."""

    def __init__(self, engine: QueryEngine, client: str, job: QueryJob,
                 finished: list[str] | None = None) -> None:
        super().__init__(daemon=True)
        self.engine, self.client, self.job, self.finished = engine, client, job, finished
        self.outcome: QueryAnswer | QueryError | None = None
        self.start()

    def run(self) -> None:
        try:
            self.outcome = self.engine.run(self.job, self.client)
        except QueryError as error:
            self.outcome = error
        if self.finished is not None:
            self.finished.append(self.client)


def _until(condition: Callable[[], bool], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the pool never reached the state waited for"
        time.sleep(0.02)


def test_a_client_waiting_goes_before_another_clients_second_query(make_engine, store_path
                                                                   ) -> None:
    engine = make_engine(timeout=3.0, wait=60.0)
    finished: list[str] = []
    first = _Asker(engine, "greedy", _job(RUNAWAY, store_path), finished)
    _until(lambda: engine.state()["busy"] == 1)
    more = [_Asker(engine, "greedy", _job(RUNAWAY, store_path), finished) for _ in range(2)]
    _until(lambda: engine.state()["queued"] == 2)
    other = _Asker(engine, "other", _job(CHEAP, store_path), finished)
    _until(lambda: engine.state()["queued"] == 3)
    assert engine.state()["saturated"]
    for asker in (first, other, *more):
        asker.join(60)
    assert finished[:2] == ["greedy", "other"]  # the first runaway, then the other client
    assert isinstance(other.outcome, QueryAnswer)
    assert all(isinstance(a.outcome, QueryTimeout) for a in (first, *more))


def test_a_runaway_query_gives_its_process_to_a_lighter_client(make_engine, store_path) -> None:
    engine = make_engine(share=1.0, wait=60.0)
    runaway = _Asker(engine, "greedy", _job(RUNAWAY, store_path))
    _until(lambda: engine.state()["busy"] == 1)
    cheap = _Asker(engine, "light", _job(CHEAP, store_path))
    cheap.join(60)
    runaway.join(60)
    assert isinstance(cheap.outcome, QueryAnswer)
    assert isinstance(runaway.outcome, QueryTimeout)
    assert "query_share_seconds" in runaway.outcome.message
    assert engine.state()["preempted"] == 1
    # the client is told when to come back: its query may run once the light one is done
    status, headers, _ = error_parts(runaway.outcome)
    assert status.startswith("503 ")
    assert ("Retry-After", "1") in headers


def test_with_the_default_settings_a_light_client_behind_as_many_new_clients_as_processes_is_served(
        make_engine, store_path) -> None:
    """Runaway queries hold both processes and two more clients, new to this pool (so
    as light as anyone), wait before a light client: it waits two turns of
    query_share_seconds, and the defaults must serve it within query_wait."""
    defaults = SETTINGS_BY_NAME
    engine = make_engine(processes=2, timeout=defaults["query_timeout"].default,
                         wait=defaults["query_wait"].default,
                         share=defaults["query_share_seconds"].default)
    running = [_Asker(engine, f"runaway-{n}", _job(RUNAWAY, store_path)) for n in range(2)]
    _until(lambda: engine.state()["busy"] == 2)
    waiting = [_Asker(engine, f"new-{n}", _job(RUNAWAY, store_path)) for n in range(2)]
    _until(lambda: engine.state()["queued"] == 2)
    light = _Asker(engine, "light", _job(CHEAP, store_path))
    light.join(120)
    assert isinstance(light.outcome, QueryAnswer), light.outcome
    engine.close()  # the runaway queries' processes are killed with their engine
    for asker in (*running, *waiting):
        asker.join(60)


def test_the_wait_for_a_process_is_bounded(make_engine, store_path) -> None:
    engine = make_engine(timeout=60.0, wait=0.5)
    runaway = _Asker(engine, "greedy", _job(RUNAWAY, store_path))
    _until(lambda: engine.state()["busy"] == 1)
    with pytest.raises(TooBusy) as refused:
        engine.run(_job(CHEAP, store_path), "light")
    assert refused.value.status == 429 and refused.value.retry_after >= 1
    assert "query_wait" in refused.value.message
    engine.close()  # the runaway's process is killed with its engine
    runaway.join(5)


def test_a_query_over_the_memory_limit_is_stopped_and_its_process_replaced(
        make_engine, store_path) -> None:
    engine = make_engine(memory_mb=256.0)
    with pytest.raises(QueryTooLarge) as stopped:
        engine.run(_job(HUNGRY, store_path), "hungry")
    assert stopped.value.status == 503 and "query_memory_mb" in stopped.value.message
    assert engine.state()["over_memory"] == engine.state()["replaced"] == 1
    answer = engine.run(_job(CHEAP, store_path), "next")  # the new process answers
    assert json.loads(answer.read())["boolean"] is True


def test_many_clients_of_one_address_share_the_processes_without_refusals(
        make_engine, store_path) -> None:
    engine = make_engine(processes=2, share=5.0, wait=10.0)
    query = "SELECT ?s ?o WHERE { ?s ?p ?o } ORDER BY ?o LIMIT 20"
    askers = [_Asker(engine, "one-address", _job(query, store_path)) for _ in range(16)]
    for asker in askers:
        asker.join(60)
    assert all(isinstance(a.outcome, QueryAnswer) for a in askers)


# -- from an asyncio loop (the front's lane) ----------------------------------------------


class _NoThreads(ThreadPoolExecutor):
    """An executor the loop's own round trip must not use."""

    def submit(self, *args: object, **kwargs: object) -> Any:
        raise AssertionError("the query went to a thread")


def _soon(engine: QueryEngine, job: QueryJob, client: str = "loop", *,
          gone: Callable[[], asyncio.Future[bool]] | None = None,
          threads: bool = False) -> QueryAnswer:
    """``engine.run_soon`` on a loop of its own, as the front's lane calls it; unless
    ``threads``, with an executor that refuses work (the loop must wait itself)."""
    async def main() -> QueryAnswer:
        with (ThreadPoolExecutor if threads else _NoThreads)(2) as executor:
            return await engine.run_soon(job, client, gone=gone, executor=executor)

    return asyncio.run(main())


def test_on_the_loop_the_answer_limits_and_process_are_the_threads(make_engine, store_path,
                                                                   tmp_path) -> None:
    """With a spool and an idle process, the loop sends the job and waits on the pipe: the
    same answer, a runaway stopped at the time limit and a hungry query at the memory
    limit, each process replaced, and the next query answered by the new one."""
    engine = make_engine(timeout=2.0, memory_mb=256.0, spool=str(tmp_path))
    engine.warm(_job(CHEAP, store_path))  # started: the loop takes only a ready process
    answer = _soon(engine, _job(CHEAP, store_path))
    assert json.loads(answer.read())["boolean"] is True
    assert engine.state() | {"busy": 0} == engine.state()  # released
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        _soon(engine, _job(RUNAWAY, store_path))
    assert time.monotonic() - started < 10
    engine.warm(_job(CHEAP, store_path))  # the new process started
    with pytest.raises(QueryTooLarge):
        _soon(engine, _job(HUNGRY, store_path))
    state = engine.state()
    assert (state["replaced"], state["over_memory"], state["busy"]) == (2, 1, 0)
    # the new process has not said it started: its first query waits for it in a thread
    answer = _soon(engine, _job(CHEAP, store_path), threads=True)
    assert json.loads(answer.read())["boolean"] is True
    big = _soon(engine, _job("SELECT * WHERE { ?s ?p ?o }", store_path))  # on the loop again
    assert big.count == 100 and big.truncated  # cut at max_results as in a thread


def test_on_the_loop_a_query_whose_client_left_is_stopped(make_engine, store_path,
                                                           tmp_path) -> None:
    engine = make_engine(timeout=60.0, spool=str(tmp_path))
    engine.warm(_job(CHEAP, store_path))

    def gone() -> asyncio.Future[bool]:  # the client closes its connection at once
        ended = asyncio.get_running_loop().create_future()
        ended.set_result(True)
        return ended

    started = time.monotonic()
    with pytest.raises(ClientGone):
        _soon(engine, _job(RUNAWAY, store_path), gone=gone)
    assert time.monotonic() - started < 10
    assert engine.state()["replaced"] == 1


# -- the byte cap ---------------------------------------------------------------------------


def _rows(name: str, body: bytes) -> int:
    if name == "json":
        return len(json.loads(body)["results"]["bindings"])
    if name == "xml":
        return body.count(b"<result>")
    if name == "csv":
        return len(list(csv.reader(io.StringIO(body.decode(), newline="")))) - 1
    return body.count(b"\n") - 1  # tsv


@pytest.mark.parametrize("name", ["json", "xml", "csv", "tsv"])
def test_an_answer_is_cut_at_the_byte_cap_after_a_whole_row(name: str) -> None:
    store = pyoxigraph.Store()
    store.extend(pyoxigraph.Quad(pyoxigraph.NamedNode(f"http://example.org/s{i}"),
                                 pyoxigraph.NamedNode("http://example.org/p"),
                                 pyoxigraph.Literal("x" * 500 + ' "},{" \n, ' + str(i)),
                                 pyoxigraph.DefaultGraph()) for i in range(100))
    job = QueryJob("SELECT ?s ?o WHERE { ?s ?p ?o }", name, None, 1000, max_bytes=10_000)
    answer = evaluate(store, job)
    assert answer.truncated and answer.cut_by == "max_result_bytes"
    assert len(answer.body) <= 10_000
    assert 0 < answer.count == _rows(name, answer.body) < 100


def test_triples_are_cut_at_the_byte_cap() -> None:
    store = pyoxigraph.Store()
    store.extend(pyoxigraph.Quad(pyoxigraph.NamedNode(f"http://example.org/s{i}"),
                                 pyoxigraph.NamedNode("http://example.org/p"),
                                 pyoxigraph.Literal("y" * 300), pyoxigraph.DefaultGraph())
                 for i in range(100))
    for name in ("ntriples", "turtle"):
        job = QueryJob("CONSTRUCT WHERE { ?s ?p ?o }", None, name, 1000, max_bytes=5_000)
        answer = evaluate(store, job)
        fmt = {"ntriples": pyoxigraph.RdfFormat.N_TRIPLES,
               "turtle": pyoxigraph.RdfFormat.TURTLE}[name]
        assert answer.truncated and len(answer.body) <= 5_000
        assert 0 < answer.count == len(list(pyoxigraph.parse(answer.body, format=fmt)))


def test_an_answer_within_the_cap_is_left_as_it_is() -> None:
    answer = QueryAnswer("SELECT", "tsv", b"?s\n<http://example.org/a>\n", 1, False)
    assert cut_to_bytes(answer, 1000) is answer


# -- the guard ------------------------------------------------------------------------------

CHAINS = {
    "negations": "ASK { ?s ?p ?o FILTER(" + "!" * 20_000 + "?o) }",
    "path sequence": "ASK { ?s <http://x/p>" + "/<http://x/p>" * 20_000 + " ?o }",
    "sum": "ASK { ?s ?p ?o FILTER(1" + "+1" * 20_000 + ") }",
    "triple patterns": "ASK { " + "?s ?p ?o . " * 20_000 + "}",
    "unions": "ASK { {?s ?p ?o}" + " UNION {?s ?p ?o}" * 20_000 + " }",
}


@pytest.mark.parametrize("query", CHAINS.values(), ids=CHAINS.keys())
def test_operator_chains_are_refused_before_parsing_and_logged(
        query: str, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(QuerySyntaxError) as refused:
        check_query(query, max_depth=100, max_chain=1000)
    assert "max_query_chain" in refused.value.message
    assert any("refused a query" in r.getMessage() and len(r.getMessage()) < 1000
               for r in caplog.records)


def test_ordinary_queries_pass_the_chain_guard() -> None:
    query = ("PREFIX tip: <https://w3id.org/tipgraph/ontology#> SELECT ?p ?t WHERE { "
             "?p a tip:Publication ; tip:title ?t ; tip:year ?y . "
             "FILTER(?y >= 2000 && ?y <= 2020 || !BOUND(?y)) } ORDER BY ?t LIMIT 10")
    check_query(query, max_depth=100, max_chain=1000)
    assert query_chain(query) < 20
