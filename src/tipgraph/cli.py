"""The ``tipgraph`` command: a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tipgraph.build import DEFAULT_SOURCES, run_build
from tipgraph.build_dir import URIS_FILE, BuildDir, BuildRefused, shrink_refusal
from tipgraph.config import CONFIG_FILE, SETTINGS, load_settings
from tipgraph.errors import BuildFailed, TipgraphError
from tipgraph.progress import Display
from tipgraph.reasoning import infer, load_ontology
from tipgraph.validation import load_shapes, read_graph_file, validate_graph


class TipgraphGroup(click.Group):
    """Turns a :class:`TipgraphError` into a one-line error and exit code 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TipgraphError as error:
            raise click.ClickException(str(error)) from error


#: How many problems of each kind the build prints; report.json has them all.
SHOWN_PER_KIND = 25


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.group(cls=TipgraphGroup)
@click.version_option(package_name="tipgraph")
def cli() -> None:
    """Publish a catalogue of publications on trafficking in persons as linked data."""


def build_option(function):
    return click.option("--build", "build_dir", type=click.Path(path_type=Path),
                        default=None, help="Build directory (default: setting build_dir, "
                        "build/).")(function)


@cli.command()
@click.option("--source", "sources", multiple=True, type=click.Path(path_type=Path),
              help="A catalogue file or directory (.txt listing, .jsonl, .csv); repeatable. "
              "Default: the shipped data/sources/.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Build directory (default: build/).")
@click.option("--base", default=None, help="Base of the instance URIs.")
@click.option("--quiet", is_flag=True,
              help="Print only the summary (report.json has every problem).")
@click.option("--allow-shrink", is_flag=True, help="Switch the build in even when it has no "
              "publication or removes more than max_shrink and min_shrink of them.")
@click.option("--no-wait", is_flag=True, help="Fail at once when another build holds the "
              "build directory, instead of waiting for it.")
@click.option("--full", is_flag=True, help="Build from the sources alone, not from the "
              "build in service and the records changed since.")
def build(sources: tuple[Path, ...], out: Path | None, base: str | None, quiet: bool,
          allow_shrink: bool, no_wait: bool, full: bool) -> None:
    """Build the knowledge graph and switch it in when it is valid.

    A build that has no publication, or would remove more than max_shrink and
    min_shrink of the publications in service, is kept but not switched in.

    When the build in service kept what it takes, the new build is made from it and
    the records changed, added or removed since (the same graph, dumps and report as a
    full build); --full builds from the sources alone.

    \b
    Example:
        tipgraph build --source data/sources --source more.jsonl --out build/
    """
    settings = load_settings({"base_uri": base} if base else None)
    out = out or Path(settings["build_dir"])
    try:
        report = run_build(sources or DEFAULT_SOURCES, out, base=settings["base_uri"],
                           progress=(lambda _: None) if quiet else _say,
                           allow_shrink=allow_shrink, max_shrink=settings["max_shrink"],
                           min_shrink=settings["min_shrink"], wait=not no_wait, on_wait=_say,
                           max_field_chars=settings["max_field_chars"], full=full,
                           display=None if quiet else Display(
                               show_after=settings["progress_after"]))
    except BuildRefused as error:
        raise click.ClickException(str(error)) from error
    except BuildFailed as error:
        failed = BuildDir(out).failed()
        report = json.loads((failed / "report.json").read_text(encoding="utf-8")) \
            if failed and (failed / "report.json").is_file() else {}
        if report.get("reason") == str(error):  # this build's report, not an older one's
            _print_failures(report)
            _say(f"report kept in {out / 'failed' / 'report.json'}; the previous build "
                 "is still current")
        raise click.ClickException(str(error)) from error
    if not quiet:
        shape_warnings = report.shacl.warnings if report.shacl else []
        for kind, items in (("rejected", report.rejected), ("duplicate", report.duplicates),
                            ("warning", report.warnings),
                            ("repair", report.repairs), ("shape", shape_warnings)):
            for item in items[:SHOWN_PER_KIND]:
                _say(f"{kind:<9} {item}")
            if len(items) > SHOWN_PER_KIND:
                _say(f"{kind:<9} ... and {len(items) - SHOWN_PER_KIND} more in "
                     f"{out / 'report.json'}")
    click.echo(f"{report.records_read} records read, {report.records_built} built, "
               f"{len(report.rejected)} rejected, {len(report.duplicates)} duplicates; "
               f"{len(report.repairs)} repairs, "
               f"{len(report.warnings)} warnings, {len(report.shacl.warnings)} shape warnings; "
               f"{report.triples} triples in {out / 'current'} ({report.build_id})")


def _print_failures(report: dict) -> None:
    for violation in (report.get("shacl") or {}).get("violations", []):
        where = f"{violation['file']}:{violation['line']}: " if violation.get("file") else ""
        _say(f"violation {where}<{violation['focus']}> {violation.get('path') or ''}: "
             f"{violation['message']}")


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason/--no-reason", default=True,
              help="Reason with the ontology before checking (the build does).")
@click.option("--base", default=None, help="Instance base of the file's URIs.")
def validate(file: Path, reason: bool, base: str | None) -> None:
    """Check an RDF file against the shapes; exit 1 when it has a violation.

    The format is read from the extension: .ttl, .nt, .jsonld, .rdf.

    \b
    Example:
        tipgraph validate build/tipgraph.ttl
    """
    settings = load_settings({"base_uri": base} if base else None)
    graph = read_graph_file(file)
    if reason:
        graph = infer(graph, load_ontology(), base=settings["base_uri"])
    report = validate_graph(graph, load_shapes())
    for result in report.violations + report.warnings:
        click.echo(str(result))
    click.echo(f"{file.name}: {'conforms' if report.conforms else 'does not conform'} "
               f"({len(report.violations)} violations, {len(report.warnings)} warnings)")
    if not report.conforms:
        sys.exit(1)


@cli.command()
@build_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback only unless you mean to publish it).")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1),
              help="gunicorn worker processes; they share the store read-only.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1),
              help="Requests each worker serves at once (queries run in its query "
              "processes, setting query_workers).")
@click.option("--setting", "overrides", type=(str, str), multiple=True, metavar="NAME VALUE",
              help="Set a setting (see `tipgraph settings`); repeatable.")
@click.option("--store", "store_url", default=None, metavar="URL",
              help="Serve the graph `tipgraph publish` put in this remote SPARQL store "
              "(its query endpoint) instead of the build's own store; --build then only "
              "holds the dumps made from it.")
@click.option("--debug", is_flag=True, help="Run Flask's development server instead, with "
              "the debugger. Never expose it.")
def serve(build_dir: Path | None, host: str, port: int, workers: int, threads: int,
          overrides: tuple[tuple[str, str], ...], store_url: str | None, debug: bool) -> None:
    """Serve the current build: SPARQL endpoint, pages and dumps (gunicorn).

    Builds the shipped catalogue first when the build directory has no build.
    A new build made while it runs is served without a restart. With --store,
    serves what `tipgraph publish` sent to that store, switching when it
    publishes again.

    \b
    Example:
        tipgraph serve --port 5000
        curl -H 'Accept: application/sparql-results+json' \\
            --data-urlencode 'query=ASK { ?s ?p ?o }' http://127.0.0.1:5000/sparql
        tipgraph serve --store http://127.0.0.1:8890/sparql
    """
    from tipgraph.server import check_build, check_port, run_server

    settings: dict[str, object] = dict(overrides)
    if build_dir is not None:
        settings["build_dir"] = str(build_dir)
    if store_url is not None:
        settings["store_url"] = store_url
    config = load_settings(settings)
    out = Path(config["build_dir"])
    check_port(host, port)  # before any build: a port in use is one sentence, nothing written
    if not config["store_url"] and BuildDir(out).current() is None:
        _say(f"no build in {out}: building the shipped catalogue first")
        run_build(DEFAULT_SOURCES, out, base=config["base_uri"], progress=_say)
    if not config["store_url"]:
        check_build(out)  # a missing or corrupt store: one sentence now, not a traceback later
    run_server(settings, host=host, port=port, workers=workers, threads=threads,
               timeout=config["query_timeout"], debug=debug)


@cli.command()
@build_option
@click.option("--endpoint", required=True, metavar="URL",
              help="The store's SPARQL query endpoint.")
@click.option("--update", "update_url", default=None, metavar="URL",
              help="Its SPARQL Update endpoint (default: --endpoint).")
@click.option("--graph-store", "graph_store", default=None, metavar="URL",
              help="Its Graph Store HTTP Protocol endpoint; without it (or when it answers "
              "that it has none) the data goes as SPARQL Update INSERT DATA.")
@click.option("--graph", "graphs", default=None, metavar="IRI",
              help="Prefix of the named graphs: each build goes into IRI<build id>, the "
              "pointer into IRI meta (default: <base>graph/).")
@click.option("--auth", default=None, metavar="USER:PASSWORD",
              help="Credentials for writing (HTTP Basic or Digest, as the store asks).")
@click.option("--chunk", default=10_000, show_default=True, type=click.IntRange(1),
              help="Triples per request.")
def publish(build_dir: Path | None, endpoint: str, update_url: str | None,
            graph_store: str | None, graphs: str | None, auth: str | None,
            chunk: int) -> None:
    """Send the current build to a SPARQL store and switch its readers to it.

    The build goes into a new named graph; readers (`tipgraph serve --store`)
    are switched to it only when it is complete. Stopped halfway, the previous
    graph stays in service.

    \b
    Examples:
        tipgraph publish --endpoint http://127.0.0.1:7878/query \\
            --update http://127.0.0.1:7878/update --graph-store http://127.0.0.1:7878/store
        tipgraph publish --endpoint http://127.0.0.1:8890/sparql \\
            --update http://127.0.0.1:8890/sparql-auth --auth publisher:secret
    """
    from tipgraph.store import publish as publish_build

    out = build_dir or Path(load_settings()["build_dir"])
    report = publish_build(out, endpoint, graphs=graphs, update=update_url,
                           graph_store=graph_store, auth=auth, chunk=chunk, progress=_say)
    click.echo(f"{report.triples} triples of build {report.build_id} in <{report.graph}> "
               f"({report.chunks} chunks by {report.method}, {report.seconds:g} s); "
               f"in service")


@cli.group(invoke_without_command=True)
@build_option
@click.pass_context
def builds(ctx: click.Context, build_dir: Path | None) -> None:
    """List the builds: id, time, publications, triples, status; * marks the current one.

    \b
    Examples:
        tipgraph builds
        tipgraph builds use 20261202T101500 --allow-shrink
        tipgraph builds prune --keep 3
    """
    ctx.obj = BuildDir(build_dir or Path(load_settings()["build_dir"]))
    if ctx.invoked_subcommand is not None:
        return
    for info in ctx.obj.list():
        when = info.time.strftime("%Y-%m-%d %H:%M:%S") if info.time else "?"
        count = lambda n: "?" if n is None else f"{n:,}"  # noqa: E731
        click.echo(f"{'*' if info.current else ' '} {info.id}  {when}  "
                   f"{count(info.publications):>9} publications  {count(info.triples):>11} "
                   f"triples  {info.status}" + (f": {info.reason}" if info.reason else ""))


@builds.command("use")
@click.argument("build_id", metavar="ID")
@click.option("--allow-shrink", is_flag=True, help="Switch even when the build has no "
              "publication or has fewer than max_shrink and min_shrink allow.")
@click.option("--no-wait", is_flag=True, help="Fail at once when a build is running.")
@click.pass_obj
def builds_use(build_dir: BuildDir, build_id: str, allow_shrink: bool, no_wait: bool) -> None:
    """Make build ID (or a unique start of it) current again; a running server serves it
    from its next request, URIs only later builds published answer 410."""
    settings = load_settings()
    with build_dir.locked(f"`tipgraph builds use {build_id}`", wait=not no_wait,
                          progress=_say):
        info = build_dir.find(build_id)
        if info.status not in ("published", "refused"):
            raise click.ClickException(f"build {info.id} is {info.status}: it cannot be "
                                       "served")
        if info.current:
            click.echo(f"build {info.id} is already current")
            return
        if not (info.path / URIS_FILE).is_file():
            raise click.ClickException(f"build {info.id} was made before tipgraph kept the "
                                       "URIs a build publishes: build it again instead")
        report = json.loads((info.path / "report.json").read_text(encoding="utf-8"))
        refusal = None if allow_shrink else shrink_refusal(
            info.path, report, build_dir.current(), max_shrink=settings["max_shrink"],
            min_shrink=settings["min_shrink"])
        if refusal:
            raise click.ClickException(f"{refusal}; --allow-shrink switches anyway")
        switch = build_dir.publish(info.path, how="use")
    click.echo(f"build {info.id} is current since {switch.switched_at:%Y-%m-%d %H:%M:%S}Z")


@builds.command("prune")
@click.option("--keep", type=click.IntRange(0), required=True,
              help="How many builds to keep besides the current one and the one before it.")
@click.option("--no-wait", is_flag=True, help="Fail at once when a build is running.")
@click.pass_obj
def builds_prune(build_dir: BuildDir, keep: int, no_wait: bool) -> None:
    """Remove old builds, never the current one nor the one before it, and the remains
    of builds that never finished; only directories tipgraph made are touched."""
    with build_dir.locked("`tipgraph builds prune`", wait=not no_wait, progress=_say):
        removed = build_dir.prune(keep)
    click.echo(f"{len(removed)} build(s) removed" + (f": {', '.join(removed)}" if removed
                                                     else ""))


@cli.command("settings")
def settings_command() -> None:
    """List every setting with its default and what it does.

    \b
    Settings come from defaults, then tipgraph.toml (in the directory the command
    runs in), then TIPGRAPH_<NAME> variables.
    """
    config_file = CONFIG_FILE.resolve()
    found = "found" if config_file.is_file() else "none there now"
    click.echo(f"Settings file: {config_file} ({found}); TIPGRAPH_<NAME> variables "
               "override it.\n")
    for setting in SETTINGS:
        click.echo(f"{setting.name} (default: {setting.default!r})\n    {setting.help}")


@cli.command()
@click.option("--publications", "count", type=click.IntRange(min=1), required=True,
              help="How many records to make.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed: the same seed makes the same catalogue.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file, .jsonl or .csv.")
def synth(count: int, seed: int, out: Path) -> None:
    """Write a synthetic catalogue with the shape and defects of the real one.

    \b
    Example:
        tipgraph synth --publications 10000 --seed 1 --out synthetic.jsonl
        tipgraph build --source synthetic.jsonl --out build-synthetic/
    """
    from tipgraph.synth import generate, write_catalogue

    if out.suffix not in {".jsonl", ".csv"}:
        raise click.BadParameter("the file must end in .jsonl or .csv", param_hint="--out")
    if not out.resolve().parent.is_dir():
        raise click.ClickException(f"cannot write {out}: folder {out.parent} does not exist")
    write_catalogue(generate(count, seed=seed), out)
    click.echo(f"{count} records written to {out.name}")


@cli.command("query")
@click.argument("query_ref", metavar="[FILE | NAME]", required=False)
@click.option("--query", "text", default=None, help="The SPARQL query itself, instead of a "
              "file or a shipped query's name.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A value for one of the query's parameters; repeatable.")
@build_option
@click.option("--endpoint", default=None, metavar="URL",
              help="Send the query to this SPARQL endpoint instead of the local build.")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json", "ttl"]),
              default=None, help="table (default for SELECT and ASK), csv, json (SPARQL "
              "results JSON), or ttl (default for CONSTRUCT and DESCRIBE).")
@click.option("--list", "list_queries", is_flag=True, help="List the shipped queries.")
def query_command(query_ref: str | None, text: str | None, params: tuple[str, ...],
                  build_dir: Path | None, endpoint: str | None, output: str | None,
                  list_queries: bool) -> None:
    """Run a shipped query, a .rq file or a query text; locally or on any endpoint.

    \b
    Examples:
        tipgraph query --list
        tipgraph query publications-in-region --param region="West and Central Africa"
        tipgraph query my.rq --endpoint http://127.0.0.1:5000/sparql --format csv
        tipgraph query --query 'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }'
    """
    from tipgraph.client import Client, parse_params
    from tipgraph.queries import get_query, load_query, parse_query, shipped_queries

    if list_queries:
        for shipped in shipped_queries():
            declared = ", ".join(f"{p.name}={p.default or ''} ({p.type})" for p in shipped.params)
            click.echo(f"{shipped.name}  {shipped.title}"
                       + (f"  [{declared}]" if declared else ""))
        return
    if (query_ref is None) == (text is None):
        raise click.UsageError("Give a query: a FILE, a shipped query's NAME, or --query TEXT.")
    if endpoint and build_dir is not None:
        raise click.UsageError("Use just one of --build or --endpoint.")
    if text is not None:
        query = parse_query(text)
    elif query_ref.endswith(".rq") or Path(query_ref).is_file():
        path = Path(query_ref)
        if not path.is_file():
            raise click.ClickException(f"no query file {query_ref}")
        query = load_query(path)
    else:
        query = get_query(query_ref)
    bound = query.bind(parse_params(params))
    if endpoint:
        client = Client(endpoint)
    else:
        client = Client.from_build(build_dir or Path(load_settings()["build_dir"]))
    results = client.sparql(bound)
    if output is None:
        output = "ttl" if results.form in ("CONSTRUCT", "DESCRIBE") else "table"
    click.echo(results.serialize(output), nl=output in ("table", "json"))


if __name__ == "__main__":  # last: every command is registered by now
    cli()
