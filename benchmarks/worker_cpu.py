"""CPU milliseconds a web worker spends per request, for comparing two versions on a
shared machine.

Wall-clock medians (``pages.py``, ``endpoint.py``) move by 2x between two runs when
other work loads the machine; the CPU time this process spends on a request moves by a
few per cent. Makes the app in process (``create_app``, result cache off) on a build,
sends the requests of ``pages.py`` and a few ``/sparql`` ones (each made unique by a
comment, so that none is answered from a cache) through the whole WSGI stack, fast path
included, and prints the median CPU ms per request as JSON (this process only: the
query processes' work is not counted, which is the store's, not the worker's)::

    .venv/bin/python benchmarks/worker_cpu.py BUILD_DIR [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pages import kinds

from tipgraph.store import OxigraphStore
from tipgraph.web import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("build", type=Path, help="a build directory (with `current`)")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    store = OxigraphStore.open(args.build / "current" / "store")
    paths = kinds(store)
    del store
    client = create_app({"build_dir": str(args.build), "result_cache_mb": 0}).test_client()
    sent = [0]

    def sparql(query: str, fmt: str) -> Callable[[], str]:
        def path() -> str:
            sent[0] += 1
            return "/sparql?" + urlencode({"query": f"# {sent[0]}\n{query}", "format": fmt})
        return path

    requests: dict[str, Callable[[], str]] = {name: (lambda p=p: p) for name, p in paths.items()}
    requests |= {
        "sparql ASK (fast path)": sparql("ASK { ?s ?p ?o }", "json"),
        "sparql one resource (fast path)": sparql(
            "SELECT ?p ?o WHERE { <https://w3id.org/tipgraph/place/ng> ?p ?o }", "json"),
        "sparql results page (view)": sparql("ASK { ?s ?p ?o }", "html"),
        "dataset .ttl": lambda: "/dataset.ttl",
        "sitemap": lambda: "/sitemap.xml",
    }
    for make in requests.values():  # templates, the query processes, first-use caches
        path = make()
        status = client.get(path).status_code
        assert status == 200, (path, status)
    cpu: dict[str, list[float]] = {name: [] for name in requests}
    for _ in range(args.rounds):
        for name, make in requests.items():
            path = make()
            start = time.process_time()
            response = client.get(path)
            response.get_data()
            cpu[name].append((time.process_time() - start) * 1000)
            assert response.status_code == 200, (path, response.status_code)
    print(json.dumps({name: round(statistics.median(v), 3) for name, v in cpu.items()}))


if __name__ == "__main__":
    main()
