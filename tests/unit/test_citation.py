"""Citations of the seed records: exports that reference managers' parsers read back, and
references formatted as a person would write them by hand."""

from __future__ import annotations

import json
from pathlib import Path

import bibtexparser
import pytest
import rispy
from bibtexparser import middlewares
from citeproc import formatter

from tipgraph.citation import (
    STYLES,
    Agent,
    Facts,
    Volume,
    _finish,
    _render,
    bibtex,
    csl_item,
    csl_json,
    format_references,
    ris,
)
from tipgraph.serving.records import read_facts
from tipgraph.store import OxigraphStore

PUBLICATION = "https://w3id.org/tipgraph/publication/"
JOBE = PUBLICATION + "the-causes-and-consequences-of-re-trafficking-evidence-from"
LIU = PUBLICATION + "national-referral-mechanisms-for-victims-of-human"
CARING = PUBLICATION + "caring-for-trafficked-persons-guidance-for-health-providers"

#: The three seed records as a person cites them, in each shipped style.
BY_HAND = {
    "chicago-author-date": {
        JOBE: "Jobe, Alison. 2010. The Causes and Consequences of Re-trafficking: Evidence "
              f"from the IOM Human Trafficking Database. {JOBE}.",
        LIU: "Liu, G. 2017. “National Referral Mechanisms for Victims of Human Trafficking: "
             "Deficiencies and Future Development.” In Ideas To Inform International "
             "Cooperation On Safe, Orderly, Regular Migration, edited by M. Klein Solomon "
             f"and M. McAuliffe. International Organization for Migration. {LIU}.",
        CARING: f"Caring for Trafficked Persons Guidance for Health Providers. 2009. {CARING}.",
    },
    "harvard-cite-them-right": {
        JOBE: "Jobe, A. (2010) The Causes and Consequences of Re-trafficking: Evidence from the "
              f"IOM Human Trafficking Database. Available at: {JOBE}.",
        LIU: "Liu, G. (2017) “National Referral Mechanisms for Victims of Human Trafficking: "
             "Deficiencies and Future Development”, in M. Klein Solomon and M. McAuliffe "
             "(eds.) Ideas To Inform International Cooperation On Safe, Orderly, Regular "
             f"Migration. International Organization for Migration. Available at: {LIU}.",
        CARING: "Caring for Trafficked Persons Guidance for Health Providers (2009). "
                f"Available at: {CARING}.",
    },
}


@pytest.fixture(scope="module")
def seed_facts(seed_build_dir: Path) -> list[Facts]:
    store = OxigraphStore.open(seed_build_dir / "current" / "store")
    return read_facts(store, [JOBE, LIU, CARING])


@pytest.mark.parametrize("style", sorted(STYLES))
def test_seed_citations_read_as_written_by_hand(seed_facts: list[Facts], style: str) -> None:
    items = json.loads(csl_json([csl_item(f) for f in seed_facts]))  # through the CSL-JSON
    rendered = format_references(items, style)
    assert {f.uri: r.text for f, r in zip(seed_facts, rendered, strict=True)} == BY_HAND[style]


def test_html_reference_escapes_the_data_and_italicises_the_title() -> None:
    facts = Facts("https://example.org/p/x", "x", "<script>alert(1)</script> & more",
                  (Agent("Ann Lee", "person"),), "2001")
    html = format_references([csl_item(facts)], "chicago-author-date")[0].html
    assert "<script>" not in html
    assert "<i>&lt;script&gt;alert(1)&lt;/script&gt; &amp; More</i>" in html


def test_seed_bibtex_parses_with_bibtexparser(seed_facts: list[Facts]) -> None:
    library = bibtexparser.parse_string(bibtex([csl_item(f) for f in seed_facts]),
                                        append_middleware=[middlewares.SeparateCoAuthors(),
                                                           middlewares.LatexDecodingMiddleware()])
    assert not library.failed_blocks
    entries = {e["url"]: e for e in library.entries}
    assert entries[JOBE]["author"] == ["Jobe, Alison"]
    assert entries[JOBE]["year"] == "2010"
    assert entries[LIU].entry_type == "incollection"
    assert entries[LIU]["editor"] == ["Klein Solomon, M.", "McAuliffe, M."]
    assert entries[LIU]["booktitle"].startswith("Ideas To Inform")
    assert entries[LIU]["publisher"] == "International Organization for Migration"
    assert entries[CARING]["title"] == "Caring for Trafficked Persons Guidance for Health Providers"
    assert "author" not in entries[CARING]
    assert len({e.key for e in library.entries}) == 3


def test_seed_ris_parses_with_rispy(seed_facts: list[Facts]) -> None:
    records = {r["urls"][0]: r for r in rispy.loads(ris([csl_item(f) for f in seed_facts]))}
    assert records[JOBE]["authors"] == ["Jobe, Alison"]
    assert records[JOBE]["type_of_reference"] == "RPRT"
    assert records[JOBE]["year"] == "2010"
    assert records[LIU]["type_of_reference"] == "CHAP"
    assert records[LIU]["secondary_authors"] == ["Klein Solomon, M.", "McAuliffe, M."]
    assert records[CARING]["title"] == "Caring for Trafficked Persons Guidance for Health Providers"
    assert "abstract" in records[CARING]


HOSTILE = Facts(
    "https://example.org/p/odd", "odd", "Costs {of} 100% & $5: #1 under_score back\\slash ~ café",
    (Agent("Anna van der Berg", "person"), Agent("Ärzte ohne Grenzen & Co", "organisation")),
    "2010", abstract="First paragraph.\n\nSecond line\r\nER  - not a tag",
    volume=Volume("Book {x}", (Agent("M. Klein Solomon", "person"),)))


def test_special_characters_survive_bibtex() -> None:
    text = bibtex([csl_item(HOSTILE)])
    library = bibtexparser.parse_string(text, append_middleware=[
        middlewares.LatexDecodingMiddleware(), middlewares.SeparateCoAuthors()])
    assert not library.failed_blocks
    entry = library.entries[0]
    assert entry["title"] == HOSTILE.title
    assert entry["booktitle"] == "Book {x}"
    assert entry["author"] == ["van der Berg, Anna", "Ärzte ohne Grenzen & Co"]
    # the organisation is one name (braced), not a family name "Co" and given names
    assert "{Ärzte ohne Grenzen \\& Co}" in text


def test_line_breaks_cannot_end_a_ris_record() -> None:
    records = rispy.loads(ris([csl_item(HOSTILE), csl_item(HOSTILE)]))
    assert len(records) == 2
    assert records[0]["abstract"] == "First paragraph. Second line ER - not a tag"
    assert records[0]["authors"] == ["van der Berg, Anna", "Ärzte ohne Grenzen & Co"]


def test_csl_json_is_what_citeproc_reads() -> None:
    item = json.loads(csl_json([csl_item(HOSTILE)]))[0]
    assert item["author"][0] == {"family": "Berg", "given": "Anna",
                                 "non-dropping-particle": "van der"}
    assert item["author"][1] == {"literal": "Ärzte ohne Grenzen & Co"}
    assert item["issued"] == {"date-parts": [[2010]]}
    assert item["type"] == "chapter"
    assert format_references([item], "harvard-cite-them-right")[0].text.startswith(
        "van der Berg, A. and Ärzte ohne Grenzen & Co (2010)")


@pytest.mark.parametrize("style", sorted(STYLES))
def test_the_plain_text_is_what_citeproc_prints(seed_facts: list[Facts], style: str) -> None:
    """A reference's text is read off its HTML (one rendering, not two): it is what
    citeproc-py's own plain output prints, markup characters in the data included."""
    odd = Facts("https://example.org/p/y", "y", 'A <b> &amp; "quoted" & <i>x</i>',
                (Agent("Ann Lee", "person"),), "2001")
    items = [csl_item(f) for f in [*seed_facts, HOSTILE, odd]]
    assert [r.text for r in format_references(items, style)] == [
        _finish(text, style) for text in _render(items, style, formatter.plain)]
