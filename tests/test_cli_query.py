"""``tipgraph query`` through click's CliRunner: what the researcher reads, and the errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from click.testing import CliRunner
from rdflib import Graph, Literal, URIRef

from tipgraph.cli import cli
from tipgraph.queries import shipped_queries

T = "https://w3id.org/tipgraph/"


def run(*args: str):
    return CliRunner().invoke(cli, ["query", *args])


def test_list_names_every_shipped_query_with_its_parameters() -> None:
    result = run("--list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == [q.name for q in shipped_queries()]
    assert ("publications-in-region  Publications about a region, its countries included  "
            "[region=West and Central Africa (string), limit=100 (integer), "
            "offset=0 (integer)]") in lines


def test_shipped_query_by_name_prints_a_table(seed_build_dir: Path) -> None:
    result = run("publications-per-year", "--build", str(seed_build_dir))
    assert result.exit_code == 0, result.output
    assert result.output == (
        "year  publications\n"
        "----  ------------\n"
        "2009  2\n"
        "2010  3\n"
        "2014  1\n"
        "2015  1\n"
        "2017  1\n"
        "2020  2\n"
        "(6 rows)\n")


def test_param_and_csv(seed_build_dir: Path) -> None:
    result = run("publications-in-region", "--param", "region=Caribbean", "--format", "csv",
                 "--build", str(seed_build_dir))
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.decode().split("\r\n")  # .output would drop the \r
    assert lines[0] == "publication,title,year,country,countryName"
    assert lines[1] == (f"{T}publication/legal-review-on-trafficking-in-persons-in-the-caribbean,"
                        "Legal Review on Trafficking in Persons in the Caribbean,2010,"
                        f"{T}place/bs,Bahamas")
    assert len([line for line in lines if line]) == 9


def test_json_is_standard_sparql_results_json(seed_build_dir: Path) -> None:
    result = run("historical-entities", "--format", "json", "--build", str(seed_build_dir))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["head"]["vars"] == ["publication", "title", "year", "entity", "name", "code",
                                    "regionName"]
    [binding] = data["results"]["bindings"]
    assert binding["entity"] == {"type": "uri", "value": T + "place/an"}
    assert binding["name"] == {"type": "literal", "value": "Netherlands Antilles",
                               "xml:lang": "en"}
    assert binding["year"] == {"type": "literal", "value": "2010",
                               "datatype": "http://www.w3.org/2001/XMLSchema#gYear"}


def test_construct_prints_turtle(seed_build_dir: Path) -> None:
    result = run("publication-record", "--param",
                 "identifier=legal-review-on-trafficking-in-persons-in-the-caribbean",
                 "--build", str(seed_build_dir))
    assert result.exit_code == 0, result.output
    graph = Graph().parse(data=result.output, format="turtle")
    record = URIRef(T + "publication/legal-review-on-trafficking-in-persons-in-the-caribbean")
    assert (URIRef(T + "place/an"), URIRef("http://www.w3.org/2004/02/skos/core#prefLabel"),
            Literal("Netherlands Antilles", lang="en")) in graph
    assert len(set(graph.objects(record, URIRef("http://purl.org/dc/terms/spatial")))) == 9


def test_query_file_with_its_own_header(tmp_path: Path, seed_build_dir: Path) -> None:
    file = tmp_path / "titles.rq"
    file.write_text("# title: Titles of a year\n# param: year = 2014 (gYear), on line 5\n"
                    "PREFIX dct: <http://purl.org/dc/terms/>\n"
                    "PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\n"
                    'SELECT ?title WHERE { ?p dct:issued "2014"^^xsd:gYear ; dct:title ?title } '
                    "ORDER BY ?title\n", encoding="utf-8")
    result = run(str(file), "--format", "csv", "--build", str(seed_build_dir))
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode() == (
        "title\r\nNeeds Assessment: Human trafficking in the Western Balkans\r\n")
    later = run(str(file), "--param", "year=2020", "--format", "csv", "--build",
                str(seed_build_dir))
    assert later.stdout_bytes.count(b"\r\n") == 3
    # the form before, a variable where the default should stand, says how to write it
    file.write_text("# param: year = 2014 (gYear)\nSELECT ?title WHERE { ?p ?q ?year }\n",
                    encoding="utf-8")
    old = run(str(file), "--build", str(seed_build_dir))
    assert old.exit_code == 1
    assert "it uses ?year: write the default there instead" in old.output


def test_query_text_and_ask(seed_build_dir: Path) -> None:
    result = run("--query", "ASK { ?p a <https://w3id.org/tipgraph/ontology#Publication> }",
                 "--build", str(seed_build_dir))
    assert result.exit_code == 0, result.output
    assert result.output == "yes\n"
    counted = run("--query", "SELECT (COUNT(*) AS ?n) WHERE { ?p a "
                  "<https://w3id.org/tipgraph/ontology#Publication> }", "--format", "json",
                  "--build", str(seed_build_dir))
    assert json.loads(counted.output)["results"]["bindings"][0]["n"]["value"] == "10"


def test_hostile_param_changes_nothing(seed_build_dir: Path) -> None:
    result = run("publications-in-region", "--param", 'region=x" } UNION { ?s ?p ?o } #',
                 "--build", str(seed_build_dir))
    assert result.exit_code == 0, result.output
    assert result.output.endswith("(0 rows)\n")


def test_errors_are_one_sentence(seed_build_dir: Path, tmp_path: Path) -> None:
    build = ["--build", str(seed_build_dir)]
    cases = {
        ("nope", *build): "Error: no shipped query 'nope'; the shipped queries are: ",
        ("publications-in-region", "--param", "country=Nigeria", *build):
            "Error: publications-in-region has no parameter 'country' (it takes region, limit, "
            "offset)",
        ("publications-in-region", "--param", "region", *build):
            "Error: --param 'region' should read name=value",
        ("publications-per-year", "--format", "ttl", *build):
            "Error: a SELECT answer cannot be written as ttl: use table or csv or json",
        ("--query", "SELECT ?x WHERE { ?x ?y }", *build): "Error: the query failed: ",
        ("publications-per-year", "--build", str(tmp_path)):
            f"Error: {tmp_path} has no current build: run `tipgraph build` first",
        (str(tmp_path / "missing.rq"), *build): f"Error: no query file {tmp_path}/missing.rq",
    }
    for args, message in cases.items():
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.splitlines()[-1].startswith(message), (args, result.output)


def test_usage_errors(seed_build_dir: Path) -> None:
    nothing = run()
    assert nothing.exit_code == 2
    assert "Give a query: a FILE, a shipped query's NAME, or --query TEXT." in nothing.output
    both = run("publications-per-year", "--build", str(seed_build_dir), "--endpoint",
               "http://127.0.0.1:1/sparql")
    assert both.exit_code == 2
    assert "Use just one of --build or --endpoint." in both.output


def test_unreachable_endpoint_is_reported() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run("publications-per-year", "--endpoint", f"http://127.0.0.1:{port}/sparql")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot reach http://127.0.0.1:{port}/sparql")
