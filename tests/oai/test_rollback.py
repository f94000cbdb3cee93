"""A rollback (``tipgraph builds use``) never moves a datestamp back: the records it
changes get its own switch time, the others keep theirs."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tipgraph.build import run_build
from tipgraph.cli import cli
from tipgraph.synth import synthesize, write_catalogue
from tipgraph.web import create_app

from .conftest import NS, next_second


def _stamps(client, oai_valid) -> dict[str, tuple[str, bool]]:
    """identifier -> (datestamp, deleted) of every record."""
    found = {}
    root = oai_valid(client.get("/oai?verb=ListIdentifiers&metadataPrefix=oai_dc").data)
    while True:
        for header in root.iterfind(".//oai:header", NS):
            found[header.findtext("oai:identifier", namespaces=NS)] = (
                header.findtext("oai:datestamp", namespaces=NS),
                header.get("status") == "deleted")
        token = root.findtext(".//oai:resumptionToken", namespaces=NS)
        if not token:
            return found
        root = oai_valid(client.get(f"/oai?verb=ListIdentifiers&resumptionToken={token}").data)


def test_builds_use_moves_changed_records_forward(tmp_path: Path, oai_valid) -> None:
    records = synthesize(12, seed=4)
    source, out = tmp_path / "c.jsonl", tmp_path / "build"
    write_catalogue(records, source)
    first = run_build([source], out).build_id
    client = create_app({"build_dir": str(out)}).test_client()
    before = _stamps(client, oai_valid)
    next_second()
    changed = [dict(r) for r in records]
    changed[2]["description"] = "Changed in the second build."
    write_catalogue(changed, source)
    run_build([source], out)
    second = _stamps(client, oai_valid)
    moved = {i for i in second if second[i] != before[i]}
    assert len(moved) == 1
    (record,) = moved
    next_second()
    result = CliRunner().invoke(cli, ["builds", "--build", str(out), "use", first])
    assert result.exit_code == 0, result.output
    back = _stamps(client, oai_valid)
    assert back[record][0] > second[record][0]  # changed again, later: never back
    assert {i: s for i, s in back.items() if i != record} == \
        {i: s for i, s in before.items() if i != record}
    identify = oai_valid(client.get("/oai?verb=Identify").data)
    assert identify.findtext(".//oai:earliestDatestamp", namespaces=NS) == \
        min(s for s, _ in back.values())
