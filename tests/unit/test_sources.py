"""Reading listings and curated files: every value with its line; bad input reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tipgraph.errors import TipgraphError
from tipgraph.sources import read_file, read_sources

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data" / "sources" / "000_9daa3158183ee0eb.txt"

LISTING = """Skip to main content

Trafficking

First Title

First description.
Country
Nigeria
Year
2020
Category

Second Title

Second description.
Country
Ghana
Region
West Africa
Central Africa
Authors
Jane Doe
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_seed_listing_reads_ten_records_with_provenance() -> None:
    result = read_file(SEED)
    assert len(result.records) == 10
    assert not result.rejected
    nigeria = next(r for r in result.records if [c.value for c in r.countries] == ["Nigeria"])
    lines = SEED.read_text(encoding="utf-8").splitlines()
    # Every value's line number points at that value in the file.
    for value in [nigeria.title, nigeria.description, nigeria.year, *nigeria.regions,
                  *nigeria.authors]:
        assert value.value in lines[value.line - 1]
    assert nigeria.category.value == "Trafficking"  # the page heading
    assert [r.value for r in nigeria.regions] == ["West Africa", "Central Africa"]


def test_listing_fields_and_heading(tmp_path: Path) -> None:
    result = read_file(write(tmp_path, "l.txt", LISTING))
    first, second = result.records
    assert (first.title.value, first.title.line) == ("First Title", 5)
    assert first.description.value == "First description."
    assert first.year.value == "2020"
    assert first.category.value == "Trafficking"
    assert [a.value for a in second.authors] == ["Jane Doe"]
    assert second.authors[0].line == 23
    assert second.year is None


def test_empty_title_is_rejected_with_line(tmp_path: Path) -> None:
    text = LISTING.replace("Second Title\n\n", "")
    result = read_file(write(tmp_path, "l.txt", text))
    # The second body follows the first without a title block of its own.
    assert [r.title.value for r in result.records] == ["First Title"]
    assert len(result.rejected) == 1
    assert result.rejected[0].file == "l.txt"
    assert result.rejected[0].line == 14
    assert "no title" in result.rejected[0].why


def test_truncated_last_record_is_kept_and_reported(tmp_path: Path) -> None:
    text = LISTING + "\nThird Title cut off\n\nIts description, and then the page ends"
    result = read_file(write(tmp_path, "l.txt", text))
    assert [r.title.value for r in result.records][-1] == "Third Title cut off"
    [problem] = [p for p in result.problems if "cut off" in p.why]
    assert (problem.file, problem.line) == ("l.txt", 25)


def test_invalid_utf8_byte_is_replaced_and_reported(tmp_path: Path) -> None:
    data = LISTING.encode().replace(b"First description.", b"First d\xffscription.")
    result = read_file(write(tmp_path, "l.txt", data))
    assert result.records[0].description.value == "First d\ufffdscription."
    [problem] = result.problems
    assert (problem.line, problem.severity) == (7, "warning")
    assert "0xff" in problem.why


def test_jsonl_records_and_bad_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "c.jsonl", "\n".join([
        '{"title": "A", "countries": ["Ghana", "Togo"], "year": 2019, "authors": ["IOM"]}',
        '{"title": "B", "regions": "West Africa; Central Africa"}',
        "{not json",
        '{"description": "no title here"}',
        '["an", "array"]',
        '{"title": "C", "colour": "blue"}',
    ]))
    result = read_file(path)
    assert [r.title.value for r in result.records] == ["A", "B", "C"]
    assert [c.value for c in result.records[0].countries] == ["Ghana", "Togo"]
    assert result.records[0].year.value == "2019"
    assert [r.value for r in result.records[1].regions] == ["West Africa", "Central Africa"]
    assert [(p.line, p.severity) for p in result.rejected] == [(3, "error"), (4, "error"),
                                                               (5, "error")]
    assert any(p.line == 6 and p.field == "colour" for p in result.problems)


def test_csv_records_with_lists_and_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv",
                 'title,countries,authors,year\n'
                 'One,Ghana;Togo,Jane Doe,2018\n'
                 '"Two, with\nnewline",Nigeria,,2017\n'
                 ',Mali,,2016\n')
    result = read_file(path)
    assert [r.title.value for r in result.records] == ["One", "Two, with\nnewline"]
    assert [c.value for c in result.records[0].countries] == ["Ghana", "Togo"]
    assert [r.line for r in result.records] == [2, 3]
    assert [(p.line, p.field) for p in result.rejected] == [(5, "title")]
    assert [(p.line, p.why) for p in result.problems] == [
        (3, "record spans lines 3-4 (a quoted cell holds line breaks; check for an unclosed "
            "quote)")]


def test_csv_unclosed_quote_is_reported_with_its_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", 'title,year\n"Broken,2001\nNext,2002\nLast,2003\n')
    result = read_file(path)
    assert len(result.records) == 1  # the quote swallowed the rest, and we say so
    assert "spans lines 2-4" in result.problems[0].why


def test_unknown_format_and_missing_file_are_errors(tmp_path: Path) -> None:
    with pytest.raises(TipgraphError, match=r"unknown source format '\.xml'"):
        read_sources([write(tmp_path, "x.xml", "<x/>")])
    with pytest.raises(TipgraphError, match=r"nope\.txt does not exist"):
        read_sources([tmp_path / "nope.txt"])


@pytest.mark.parametrize("piece", [1, 3, 7, 1 << 24])
def test_jsonl_read_a_piece_at_a_time_reads_as_the_whole_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int) -> None:
    """A large JSON Lines file is decoded a few bytes at a time: pieces that cut a line, a
    character of several bytes or the byte-order mark read as the whole text does."""
    import tipgraph.sources as sources

    text = "\ufeff" + "\n".join([
        '{"title": "Ça été \u2028 déjà", "countries": ["Côte d\'Ivoire"]}',
        "",
        '{"title": "\U0001f600 B", "description": "a\\nb"}\r',
        "{not json",
        '{"title": "C", "colour": "blue"}',
    ]) + "\n"
    path = write(tmp_path, "c.jsonl", text.encode())
    whole = read_file(path)
    monkeypatch.setattr(sources, "DECODE_BYTES", piece)
    pieces = read_file(path)
    assert [r.title.value for r in pieces.records] == ["Ça été \u2028 déjà", "\U0001f600 B", "C"]
    assert pieces == whole
    # invalid UTF-8: read whole, each bad byte replaced and reported with its line
    path.write_bytes(text.encode().replace(b"B", b"\xff"))
    assert read_file(path).problems[0].line == 3
