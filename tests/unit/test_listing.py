"""The listing reader follows the page's structure: every record read, none mixed.

The writer and the reader agree (property a), and where the page alone cannot say
where a record ends the reader says so, naming both lines (property b).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, RDF

from tipgraph.build import run_build
from tipgraph.namespaces import TIP
from tipgraph.sources import read_file
from tipgraph.sources.listing import (
    LABELS,
    ends_sentence,
    is_page_chrome,
    read_text,
    write_listing,
)
from tipgraph.sources.model import LIST_FIELDS, Record, Value
from tipgraph.web import create_app

DATA = Path(__file__).resolve().parents[1] / "data" / "listings"
FOUR = DATA / "four_records.txt"
BASE = "https://w3id.org/tipgraph/"


# -- the issue's listing, read and built ---------------------------------------------------


def test_a_record_without_labels_is_a_record_of_its_own() -> None:
    result = read_file(FOUR)
    titles = [r.title.value for r in result.records]
    assert [t.split()[0] for t in titles] == ["Alpha", "Beta", "Gamma", "Delta"]
    lines = FOUR.read_text(encoding="utf-8").split("\n")
    assert all(lines[r.line - 1] == r.title.value for r in result.records)
    [files] = result.files
    assert (files.file, files.record_lines) == ("four_records.txt",
                                                tuple(r.line for r in result.records))
    # The one boundary no label marks (Beta's end) is reported with both of its lines.
    [boundary] = result.problems
    gamma, beta = result.records[2], result.records[1]
    assert boundary.line == gamma.line
    assert f"line {beta.description.line}" in boundary.why


@pytest.fixture(scope="module")
def four_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("four")
    run_build([FOUR], out, base=BASE)
    return out


@pytest.fixture(scope="module")
def four_build(four_build_dir: Path) -> tuple[Graph, dict]:
    graph = Graph().parse(four_build_dir / "tipgraph.nt", format="nt")
    return graph, json.loads((four_build_dir / "report.json").read_text(encoding="utf-8"))


def _stated(graph: Graph, publication: URIRef) -> dict[str, set[str]]:
    """What the graph says of a publication, by field, with the values' readable forms."""
    fields = {"year": DCTERMS.issued, "country": TIP.statedCountry,
              "region": TIP.statedRegion, "creator": DCTERMS.creator}
    stated: dict[str, set[str]] = {}
    for name, prop in fields.items():
        values = set(graph.objects(publication, prop))
        if values:
            stated[name] = {str(v).removeprefix(BASE) for v in values}
    return stated


def test_the_issue_listing_builds_four_publications_with_their_own_fields(four_build) -> None:
    graph, report = four_build
    publications = {str(graph.value(p, DCTERMS.title)).split()[0]: p
                    for p in graph.subjects(RDF.type, TIP.Publication)}
    assert sorted(publications) == ["Alpha", "Beta", "Delta", "Gamma"]
    stated = {name: _stated(graph, p) for name, p in publications.items()}
    assert stated["Beta"] == {}
    assert stated["Gamma"] == {"year": {"2019"}}
    assert stated["Delta"] == {"year": {"2008"}, "country": {"place/gh"}}
    alpha = stated["Alpha"]
    assert (alpha["year"], alpha["country"]) == ({"2012"}, {"place/ng"})
    assert len(alpha["region"]) == len(alpha["creator"]) == 1
    subjects = {p: set(graph.objects(p, DCTERMS.subject)) for p in publications.values()}
    [category] = set.union(*subjects.values())
    assert all(len(s) == 1 for s in subjects.values())
    assert str(graph.value(category, URIRef("http://www.w3.org/2004/02/skos/core#prefLabel"))
               ) == "Trafficking"
    # Delta's description is one abstract that keeps its two paragraphs.
    [abstract] = graph.objects(publications["Delta"], DCTERMS.abstract)
    assert abstract == Literal("The first paragraph of a longer description.\n\nThe second "
                               "paragraph of the same description, which continues the "
                               "thought.", lang="en")
    assert report["records_read"] == report["records_built"] == 4
    assert report["files"] == [{"file": "four_records.txt", "records": 4,
                                "record_lines": [5, 18, 22, 29]}]
    assert report["shacl"]["conforms"] is True


def test_the_publication_page_shows_both_paragraphs(four_build_dir: Path) -> None:
    client = create_app({"build_dir": str(four_build_dir)}).test_client()
    page = client.get("/publication/delta-guide-with-two-paragraphs",
                      headers={"Accept": "text/html"}, follow_redirects=True)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert ("The first paragraph of a longer description.\n\nThe second paragraph" in html)
    css = client.get("/static/tipgraph.css").get_data(as_text=True)
    assert ".literal" in css and "white-space: pre-line" in css


def test_a_description_with_no_title_is_rejected_and_counted() -> None:
    text = "Trafficking\n\nFirst\n\nAbout it.\nYear\n2001\n\nNo title above me.\nYear\n2002\n"
    result = read_text(text, "x.txt")
    assert [r.title.value for r in result.records] == ["First"]
    [rejected] = result.rejected
    assert (rejected.line, rejected.field) == (9, "title")


def test_labels_after_a_blank_line_stay_with_the_record_they_follow() -> None:
    text = ("Trafficking\n\nFirst\n\nAbout it.\n\nCountry\nGhana\n\nCategory\n\n"
            "Second\n\nAbout that.\nYear\n2001\n\nYear\n2002\n")
    result = read_text(text, "x.txt")
    first, second = result.records
    assert [c.value for c in first.countries] == ["Ghana"]
    assert (second.title.value, second.countries, second.year.value) == ("Second", [], "2001")
    # Values under labels after a record's own: a record whose title is missing.
    [rejected] = result.rejected
    assert (rejected.line, rejected.field) == (18, "title")


def test_lines_are_split_on_newline_only() -> None:
    text = "Trafficking\n\nA\u2028title\n\nOne\x0cline\u2029description.\nYear\n2001\n"
    [record] = read_text(text, "x.txt").records
    assert (record.title.value, record.year.value) == ("A\u2028title", "2001")
    assert record.description.value == "One\x0cline\u2029description."


def test_page_chrome_at_the_top_and_bottom_is_left_out() -> None:
    text = ("Skip to main content\n\nTrafficking\n\nOnly one\n\nAbout it.\nYear\n2001\n"
            "Category\n\nPagination\nCurrent page 1\nPage 2\nNext page\nLast page\n")
    result = read_text(text, "x.txt")
    assert [r.title.value for r in result.records] == ["Only one"]
    assert result.problems == []


def test_a_last_record_that_stops_mid_description_is_reported() -> None:
    text = "Trafficking\n\nFirst\n\nAbout it.\n\nSecond\n\nIt stops in the mid"
    result = read_text(text, "x.txt")
    assert [r.title.value for r in result.records] == ["First", "Second"]
    assert any(p.line == 7 and "cut off" in p.why for p in result.problems)


def test_writer_refuses_what_the_format_cannot_hold() -> None:
    record = Record("x", 1, title=Value("T", 1), description=Value("Country", 2))
    with pytest.raises(ValueError, match="cannot be one line"):
        write_listing([record], heading="Trafficking")
    with pytest.raises(ValueError, match="needs a description"):
        write_listing([Record("x", 1, title=Value("T", 1))], heading="Trafficking")


# -- properties ------------------------------------------------------------------------------

HEADING = "Trafficking"
_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n")


def _writable(text: str) -> bool:
    return bool(text) and text not in LABELS and not is_page_chrome(text)


_text = st.text(_CHARS, min_size=1, max_size=80).map(str.strip).filter(_writable)
_long_text = st.text(_CHARS, min_size=400, max_size=1500).map(str.strip).filter(_writable)
_value = st.one_of(_text, st.sampled_from(["Nigeria", "West and Central Africa", "2019",
                                           "International Organization For Migration"]))
_sentence = st.builds(lambda body, end: body + end, _text,
                      st.sampled_from([".", "!", "?", "…", ":", ";", ".”", "?)"]))


@st.composite
def _records(draw: st.DrawFn, titles: st.SearchStrategy[str],
             paragraphs: st.SearchStrategy[str]) -> list[Record]:
    records = []
    for _ in range(draw(st.integers(0, 6))):
        record = Record("w.txt", 0, title=Value(draw(titles), 0))
        description = draw(st.lists(paragraphs, min_size=1, max_size=3))
        record.description = Value("\n\n".join(description), 0)
        for key in LIST_FIELDS:
            setattr(record, key, [Value(v, 0) for v in draw(st.lists(_value, max_size=3))])
        record.year = draw(st.none() | _value.map(lambda v: Value(v, 0)))
        record.category = Value(draw(st.just(HEADING) | _text), 0)
        records.append(record)
    return records


def _fields(record: Record) -> tuple:
    """A record's values without their lines (a written record's lines are not yet known)."""
    def text(value: Value | None) -> str | None:
        return None if value is None else value.value
    return (text(record.title), text(record.description), [v.value for v in record.countries],
            [v.value for v in record.regions], [v.value for v in record.authors],
            text(record.year), text(record.category))


def _has_field(record: Record) -> bool:
    return bool(record.countries or record.regions or record.authors or record.year
                or record.category.value != HEADING)


def _unambiguous(records: list[Record]) -> bool:
    """What the rule reads right: after a record with no labelled field, a title that does
    not end like a sentence (the paragraphs of this strategy all do)."""
    return all(_has_field(before) or not ends_sentence(after.title.value)
               for before, after in itertools.pairwise(records))


_unambiguous_records = _records(
    titles=st.one_of(_text, _long_text).filter(lambda t: not ends_sentence(t)) | _text,
    paragraphs=_sentence).filter(_unambiguous)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.filter_too_much])
@given(_unambiguous_records)
def test_written_records_read_back_the_same(records: list[Record]) -> None:
    text = write_listing(records, heading=HEADING)
    result = read_text(text, "w.txt")
    assert [_fields(r) for r in result.records] == [_fields(r) for r in records]
    assert not result.rejected
    lines = text.split("\n")
    for record in result.records:
        assert record.line == record.title.line
        assert lines[record.line - 1] == record.title.value
        for value in [*record.countries, *record.regions, *record.authors, record.year]:
            if value is not None:
                assert lines[value.line - 1] == value.value
    # The only notes: the rule's decisions where no label marks a record's end (each
    # naming both lines), the heading when the first title ends like a sentence, and a
    # page with no record.
    unmarked = {after.title.value for before, after in itertools.pairwise(records)
                if not _has_field(before)}
    for problem in result.problems:
        if not records:  # a heading and nothing else
            assert "no record" in problem.why
            continue
        assert _names_two_lines(problem.why)
        if problem.line == 1:
            assert ends_sentence(records[0].title.value) and "page heading" in problem.why
        elif "read as the title of a new record" in problem.why:
            assert lines[problem.line - 1] in unmarked
        else:
            assert "read as a paragraph of the description" in problem.why


def _names_two_lines(why: str) -> bool:
    return len(set(re.findall(r"\bline (\d+)", why))) >= 2


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(_records(titles=st.one_of(_text, _sentence, _long_text),
                paragraphs=st.one_of(_text, _sentence)))
def test_never_a_different_record_in_silence(records: list[Record]) -> None:
    text = write_listing(records, heading=HEADING)
    result = read_text(text, "w.txt")
    read = [_fields(r) for r in result.records]
    written = [_fields(r) for r in records]
    if read == written:
        return
    # Where the two part, the reader said it had to decide, naming both lines.
    first = next((i for i, (a, b) in enumerate(zip(read, written, strict=False)) if a != b),
                 min(len(read), len(written)))
    start = len(write_listing(records[:first], heading=HEADING).split("\n"))
    end = len(write_listing(records[:first + 2], heading=HEADING).split("\n"))
    assert any(start - 1 <= p.line <= end and _names_two_lines(p.why)
               for p in result.problems), (text, result.problems)


def test_pages_saved_in_one_file_are_read_one_by_one() -> None:
    page = FOUR.read_text(encoding="utf-8")
    result = read_text(page + "\n" + page.replace("Trafficking", "Smuggling"), "x.txt")
    assert len(result.records) == 8
    assert {r.category.value for r in result.records[4:]} == {"Smuggling"}
    assert result.records[4].line == result.records[0].line + len(page.split("\n"))


def test_a_title_like_first_paragraph_is_reported() -> None:
    text = "Trafficking\n\nFirst\n\nSecond\n\nAbout the second.\nYear\n2001\n"
    [record] = read_text(text, "x.txt").records
    [problem] = read_text(text, "x.txt").problems
    assert record.year.value == "2001"  # the rule: a title is followed by a description
    assert (problem.line, "line 3") == (5, re.search(r"line 3\b", problem.why)[0])


def test_a_page_without_records_says_so() -> None:
    result = read_text("Trafficking\r\rA title\r\rAbout it.\rYear\r2001\r", "x.txt")
    assert result.records == []
    [problem] = result.problems
    assert "no record" in problem.why
