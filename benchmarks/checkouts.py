"""Before and after: ``tipgraph serve`` from several checkouts beside the Oxigraph server,
on one build, uncached, in one interleaved run.

Why: a change to the serving path is judged against the code it replaces, on the same
machine at the same moment; two runs of :mod:`endpoint` taken an hour apart on a shared
machine differ more than most changes do. Each checkout is named by the Python of its
own virtual environment (``NAME=PYTHON``, optionally ``NAME=PYTHON:setting=value,...``,
``workers=N`` among them), and each server, with the Oxigraph server, answers each
query in turn (the order rotating), every request made unique by a comment; ``{publication}``
and ``{values}`` in a query take a different publication (50 for ``{values}``) each
round. Medians in ms, and each checkout's difference to the Oxigraph server.

Run by hand, not in CI::

    .venv/bin/python benchmarks/checkouts.py --build DIR \\
        before=../main/.venv/bin/python after=.venv/bin/python \\
        [--queries one-resource,describe-publication] [--samples 30] [--print-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pyoxigraph

from tipgraph.queries import shipped_queries
from tipgraph.testing import free_port, health, running

sys.path.insert(0, str(Path(__file__).resolve().parent))
from endpoint import ARBITRARY, accept_for, load, query_body, request
from peers import Server, oxigraph_server, scratch_directory
from results import append, machine

#: the queries timed by default: the small ones, where the serving path is most of the time
SMALL = ("ask-a-publication", "one-resource", "construct-one-record", "describe-publication",
         "values-50-titles", "edited-volumes", "publications-per-year", "publication-record",
         "publications-per-country")


@contextmanager
def checkout(build: Path, spec: str, timeout: float) -> Iterator[Server]:
    """``tipgraph serve`` on ``build`` by the Python (and settings) ``spec`` names."""
    python, _, extra = spec.partition(":")
    python = os.path.abspath(python)  # the server runs in the build directory
    workers, settings = "2", ["--setting", "query_timeout", str(timeout),
                              "--setting", "max_results", "10000000"]
    for item in filter(None, extra.split(",")):
        key, _, value = item.partition("=")
        if key == "workers":
            workers = value
        else:
            settings += ["--setting", key, value]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [python, "-m", "tipgraph.cli", "serve", "--build", str(build), "--host",
               "127.0.0.1", "--port", str(port), "--workers", workers, *settings]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPGRAPH_")}
    with running(command, lambda: health(base) is not None, name=f"tipgraph serve ({spec})",
                 cwd=build, env=env, startup_limit=300.0, stop_limit=20.0) as process:
        yield Server(spec, f"{base}/sparql", process.pid)


def texts(build: Path) -> tuple[dict[str, str], list[str]]:
    """Every query by name (the arbitrary ones and the shipped ones, defaults bound, but
    publication-record's identifier), and 200 publications of the build."""
    store = pyoxigraph.Store.read_only(str(build / "current" / "store"))
    publications = [row[0].value for row in store.query(  # type: ignore[index,union-attr]
        "SELECT ?p WHERE { ?p a <https://w3id.org/tipgraph/ontology#Publication> } LIMIT 200")]
    del store
    found = dict(ARBITRARY)
    for query in shipped_queries():
        found[query.name] = query.bind(
            {"identifier": "{slug}"} if query.name == "publication-record" else {})
    return found, publications


def _named(item: str) -> str:
    """A checkout as the report names it: its name and settings (not where it is)."""
    name, _, spec = item.partition("=")
    settings = spec.partition(":")[2]
    return f"{name} (tipgraph serve{', ' + settings if settings else ''})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("checkouts", nargs="+", metavar="NAME=PYTHON[:SETTINGS]")
    parser.add_argument("--queries", default=",".join(SMALL))
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--print-only", action="store_true")
    args = parser.parse_args()
    known, publications = texts(args.build)
    names = args.queries.split(",")
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown queries: {', '.join(unknown)}")
    rows, loads = [], [load()]
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for item in args.checkouts:
            name, _, spec = item.partition("=")
            servers[name] = stack.enter_context(checkout(args.build, spec, args.timeout))
        scratch = Path(stack.enter_context(scratch_directory()))
        servers["oxigraph"] = stack.enter_context(
            oxigraph_server(args.build / "current" / "store", scratch))
        order = list(servers)
        for name in names:
            times: dict[str, list[float]] = {server: [] for server in servers}
            for turn in range(args.samples + 1):  # the first round warms, uncounted
                publication = publications[turn % len(publications)]
                text = known[name].replace("{publication}", publication).replace(
                    "{slug}", publication.rsplit("/", 1)[1]).replace(
                    "{values}", " ".join(f"<{p}>" for p in publications[turn:turn + 50]))
                shift = turn % len(order)
                for server in order[shift:] + order[:shift]:
                    unique = f"{text}\n# {uuid.uuid4().hex}"
                    answer = request(servers[server].endpoint,
                                     body=query_body(servers[server], unique),
                                     accept=accept_for(unique), timeout=args.timeout)
                    if answer.status != 200:
                        raise SystemExit(f"{server} answered {name} with {answer.status}")
                    if turn:
                        times[server].append(answer.seconds * 1000)
            medians = {server: statistics.median(found) for server, found in times.items()}
            rows.append((name, medians))
            print(name, " ".join(f"{s} {m:.2f}" for s, m in medians.items()), flush=True)
    loads.append(load())
    checkouts = [server for server in order if server != "oxigraph"]
    lines = [f"{machine()}; load average (1/5/15 min) {loads[0]} before, {loads[1]} after. "
             f"`benchmarks/checkouts.py --samples {args.samples}` on the build "
             f"`{args.build.name}`: "
             + ", ".join(_named(item) for item in args.checkouts)
             + ", and the Oxigraph server on a copy of the same store; every request "
             "unique (its own comment), the servers in turn (the order rotating). "
             "Medians in ms; ± ms: the checkout's median minus the Oxigraph server's.", "",
             "| query | " + " | ".join(checkouts) + " | oxigraph | "
             + " | ".join(f"{c} ± ms" for c in checkouts) + " |",
             "|---|" + "--:|" * (2 * len(checkouts) + 1)]
    for name, medians in rows:
        lines.append(f"| {name} | " + " | ".join(f"{medians[c]:.2f}" for c in checkouts)
                     + f" | {medians['oxigraph']:.2f} | "
                     + " | ".join(f"{medians[c] - medians['oxigraph']:+.2f}" for c in checkouts)
                     + " |")
    if args.print_only:
        print("\n".join(lines))
    else:
        append("Serving path before and after, uncached", lines)


if __name__ == "__main__":
    main()
