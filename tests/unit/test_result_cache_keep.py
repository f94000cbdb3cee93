"""The result cache's keep from an asyncio loop (``later``): nothing waits there; what would
wait (the lock held by another worker, an eviction, a new build's clean-up) is handed on."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable

from tipgraph.sparql_engine import QueryAnswer, QueryJob
from tipgraph.web.result_cache import ResultCache


def _job(n: int) -> QueryJob:
    return QueryJob(f"SELECT ?n WHERE {{ BIND({n} AS ?n) }}", "json", None, 10)


def _answer(n: int) -> QueryAnswer:
    return QueryAnswer("SELECT", "json", f'{{"n": {n}}}'.encode() * 20, 1, False)


class Later:
    """Stands for the thread pool: holds what it is handed until told to run it."""

    def __init__(self) -> None:
        self.handed: list[Callable[[], object]] = []

    def __call__(self, rest: Callable[[], object]) -> None:
        self.handed.append(rest)

    def run(self) -> None:
        handed, self.handed = self.handed, []
        for rest in handed:
            rest()


def test_a_keep_is_done_at_once_when_nothing_waits() -> None:
    cache, later = ResultCache(budget=1 << 20), Later()
    cache.keep("b1", _job(0), _answer(0), later=later)  # the build's first: handed on
    assert len(later.handed) == 1
    later.run()
    cache.keep("b1", _job(1), _answer(1), later=later)
    assert later.handed == []
    _, file = cache.get("b1", _job(1))
    assert file.read() == _answer(1).body
    file.close()


def test_a_lock_held_by_another_worker_hands_the_keep_on() -> None:
    cache, later = ResultCache(budget=1 << 20), Later()
    cache.keep("b1", _job(0), _answer(0), later=later)
    later.run()  # the build's directory made
    other = os.open(cache.root / "lock", os.O_RDWR)  # another worker's descriptor
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        cache.keep("b1", _job(1), _answer(1), later=later)
        assert len(later.handed) == 1
        assert cache.get("b1", _job(1)) is None  # not kept yet: nothing waited
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    later.run()
    _, file = cache.get("b1", _job(1))
    assert file.read() == _answer(1).body
    file.close()


def test_an_eviction_and_a_new_build_are_handed_on_and_keep_the_budget() -> None:
    budget = 4000  # room for a few answers of about 900 bytes each
    cache, later = ResultCache(budget=budget), Later()
    for n in range(12):
        cache.keep("b1", _job(n), _answer(n), later=later)
        assert cache.statistics()["bytes"] <= budget  # never over, even before ``later``
        later.run()
    stats = cache.statistics()
    assert 0 < stats["bytes"] <= budget and cache.evictions > 0
    assert cache.get("b1", _job(0)) is None  # the least recently used went
    cache.keep("b2", _job(1), _answer(1), later=later)
    assert len(later.handed) == 1 and cache.get("b2", _job(1)) is None
    later.run()
    assert cache.get("b2", _job(1)) is not None
    assert [p.name for p in cache._builds()] == ["b2"]  # the old build's answers removed
