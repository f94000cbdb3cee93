"""Publishing a build to a remote SPARQL store, and serving the shipped queries from it.

Times ``tipgraph publish`` of ``--build`` to the store, the start of
``tipgraph serve --store`` (its first ``/health`` includes making the dumps from
the store), and each ``queries/*.rq`` through that server's ``/sparql`` (JSON
results, median of ``--repeat``) beside the same query on the build's embedded
store in-process. Prints a Markdown table (the figures of ``docs/deploy.md``).

    .venv/bin/python benchmarks/remote_store.py --build /tmp/b100k \\
        --endpoint http://127.0.0.1:8890/sparql --update http://127.0.0.1:8890/sparql-auth \\
        --graph-store http://127.0.0.1:8890/sparql-graph-crud-auth --auth publisher:secret
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

from tipgraph.build_dir import BuildDir
from tipgraph.queries import shipped_queries
from tipgraph.store import OxigraphStore, publish
from tipgraph.testing import serving

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import machine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--update")
    parser.add_argument("--graph-store")
    parser.add_argument("--auth")
    parser.add_argument("--graph", help="prefix of the named graphs (default <base>graph/)")
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", help="directory for the dumps serve --store makes "
                        "(default: a temporary one)")
    args = parser.parse_args()

    started = time.monotonic()
    report = publish(args.build, args.endpoint, update=args.update, graphs=args.graph,
                     graph_store=args.graph_store, auth=args.auth, chunk=args.chunk,
                     progress=lambda line: print(line, file=sys.stderr, flush=True))
    published = time.monotonic() - started
    lines = [f"{machine()}; `benchmarks/remote_store.py --repeat {args.repeat}`.", "",
             f"- publish: {report.triples} triples in {report.chunks} chunks of {args.chunk} "
             f"({report.method}): **{published:.1f} s** "
             f"({report.triples / published:,.0f} triples/s)"]

    with tempfile.TemporaryDirectory() as temporary:
        cache = args.cache or temporary
        started = time.monotonic()
        serve_args = ("--store", args.endpoint,
                      *(["--setting", "store_graphs", args.graph] if args.graph else []))
        # ready once it serves the published build (it makes the dumps from the store first)
        with serving(Path(cache), workers=1, args=serve_args, startup_limit=3600) as base:
            port = int(base.rsplit(":", 1)[1])
            lines.append(f"- `tipgraph serve --store` ready (dumps made from the store): "
                         f"**{time.monotonic() - started:.1f} s**")
            lines += ["", "| query | embedded in-process ms | via serve --store ms | rows |",
                      "|---|---:|---:|---:|"]
            embedded = OxigraphStore.open(BuildDir(args.build).current() / "store")
            for query in shipped_queries():
                text = query.bind({})
                local, remote = [], []
                rows = 0
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    result = embedded.query(text)
                    rows = sum(1 for _ in result) if not isinstance(result, bool) and \
                        hasattr(result, "__iter__") else 1
                    local.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    connection = HTTPConnection("127.0.0.1", port, timeout=600)
                    connection.request("POST", "/sparql", body=urlencode({"query": text}),
                                       headers={"Accept": "application/sparql-results+json, "
                                                "application/n-triples",
                                                "Content-Type":
                                                "application/x-www-form-urlencoded"})
                    response = connection.getresponse()
                    body = response.read()
                    connection.close()
                    remote.append((time.perf_counter() - t) * 1000)
                    if response.status != 200:  # stopped at query_timeout: say so, go on
                        status = f"{response.status}: {body[:80].decode(errors='replace')}"
                        break
                else:
                    status = f"{statistics.median(remote):.1f}"
                lines.append(f"| {query.name} | {statistics.median(local):.1f} | {status} | "
                             f"{rows} |")
                print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
