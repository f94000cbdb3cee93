"""Answers of ``/sparql`` kept in memory for the build in service.

A build's data never changes, so the same query asked of the same build in the
same format has the same answer: the first request pays for it, the next ones
are a dictionary look-up. The key is the build and the whole :class:`QueryJob`
(query text, dataset, negotiated formats, limits); when a new build is
switched in, its id is in every key, so nothing old is served, and the old
build's answers are dropped at once. Memory is bounded by the setting
``result_cache_mb``, least recently used answers evicted first; 0 turns the
cache off.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from flask import Flask, current_app

from tipgraph.sparql_engine import QueryAnswer, QueryJob

#: What an entry costs besides its body: the key's query text is counted too.
_OVERHEAD = 512


class ResultCache:
    """An LRU map from (build, job) to answer, bounded by the bytes it holds.

    >>> cache = ResultCache(budget=2000)
    >>> job = QueryJob("ASK {}", "json", None, 10)
    >>> cache.put("b1", job, QueryAnswer("ASK", "json", b"x" * 900, 1, False))
    >>> cache.get("b1", job).body[:1], cache.get("b2", job)
    (b'x', None)
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._build: str | None = None
        self._answers: OrderedDict[QueryJob, QueryAnswer] = OrderedDict()
        self._lock = threading.Lock()
        self.size = self.hits = self.misses = self.evictions = 0

    @staticmethod
    def cost(job: QueryJob, answer: QueryAnswer) -> int:
        return len(answer.body) + len(job.query) + _OVERHEAD

    def get(self, build: str, job: QueryJob) -> QueryAnswer | None:
        """The answer kept for ``job`` on ``build``, or None (counted as a miss)."""
        with self._lock:
            answer = self._answers.get(job) if build == self._build else None
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(job)
            self.hits += 1
            return answer

    def put(self, build: str, job: QueryJob, answer: QueryAnswer) -> None:
        """Keep ``answer``, evicting the least recently used ones beyond the budget."""
        cost = self.cost(job, answer)
        if cost > self.budget:
            return  # larger than the whole budget: never kept
        with self._lock:
            if build != self._build:  # a new build: the old answers can never be asked for
                self._answers.clear()
                self._build, self.size = build, 0
            old = self._answers.pop(job, None)
            if old is not None:
                self.size -= self.cost(job, old)
            self._answers[job] = answer
            self.size += cost
            while self.size > self.budget:
                evicted, gone = self._answers.popitem(last=False)
                self.size -= self.cost(evicted, gone)
                self.evictions += 1

    def statistics(self) -> dict[str, Any]:
        """What ``/health`` reports: entries, bytes held and budget, hits, misses, evictions."""
        with self._lock:
            return {"entries": len(self._answers), "bytes": self.size, "budget": self.budget,
                    "hits": self.hits, "misses": self.misses, "evictions": self.evictions}


def init_app(app: Flask) -> None:
    megabytes = float(app.config["TIPGRAPH"]["result_cache_mb"])
    if megabytes > 0:
        app.extensions["tipgraph.result_cache"] = ResultCache(int(megabytes * 1024 * 1024))


def get_result_cache() -> ResultCache | None:
    """This worker's cache, or None when the setting turns it off."""
    return current_app.extensions.get("tipgraph.result_cache")
