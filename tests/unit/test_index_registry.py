"""One contract for the per-build indexes: a registry of makers, one versioned file.

A later index is one ``register`` call: the build writes it with the others and a
worker loads it; a file made before it was registered is set aside, not half-read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from rdflib import Graph

from tipgraph.namespaces import RDF, TIP
from tipgraph.serving import indexes
from tipgraph.serving.indexes import (
    FORMAT,
    IndexMaker,
    TriplesSource,
    make_indexes,
    read_indexes,
    register,
    write_indexes,
)
from tipgraph.serving.textindex import TEXT_FILE, TextIndex

BASE = "https://w3id.org/tipgraph/"


@pytest.fixture
def source(seed_build_dir: Path) -> TriplesSource:
    return TriplesSource(set(Graph().parse(seed_build_dir / "current" / "tipgraph.nt")))


def _publications(source: TriplesSource, base: str, made: dict[str, object]) -> list[str]:
    return sorted(s for s, _ in source.pairs(str(RDF.type), str(TIP.Publication)))


def test_a_registered_index_is_written_and_read_back(
        source: TriplesSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexes, "INDEX_MAKERS", list(indexes.INDEX_MAKERS))
    register(IndexMaker("publications", _publications, pack=tuple, unpack=list))
    made = make_indexes(source, BASE)
    write_indexes(made, tmp_path / "indexes")
    read = read_indexes(tmp_path / "indexes")
    assert read is not None
    assert read["publications"] == made["publications"] == sorted(made.catalogue.uris)
    assert len(read["publications"]) == 10
    assert read.catalogue.indexed() == made.catalogue.indexed()


def test_a_name_is_registered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexes, "INDEX_MAKERS", list(indexes.INDEX_MAKERS))
    with pytest.raises(ValueError, match="catalogue"):
        register(IndexMaker("catalogue", _publications))


def test_a_file_without_a_registered_index_is_set_aside(
        source: TriplesSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    write_indexes(make_indexes(source, BASE), tmp_path / "indexes")  # this version's makers
    monkeypatch.setattr(indexes, "INDEX_MAKERS", list(indexes.INDEX_MAKERS))
    register(IndexMaker("publications", _publications))
    with caplog.at_level(logging.WARNING, logger="tipgraph.serving.indexes"):
        assert read_indexes(tmp_path / "indexes") is None
    assert any("publications" in r.getMessage() for r in caplog.records)


def test_the_file_names_its_version(source: TriplesSource, tmp_path: Path) -> None:
    write_indexes(make_indexes(source, BASE), tmp_path / "indexes")
    assert (tmp_path / "indexes").read_bytes().startswith(FORMAT)
    assert f"tipgraph indexes {indexes.VERSION}\n".encode() == FORMAT


def test_the_text_index_is_an_entry_kept_in_a_file_of_its_own(
        source: TriplesSource, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    made = make_indexes(source, BASE)
    first, (title, _, _) = made.catalogue.uris[0], made.catalogue.shown[0]
    assert first in {iri for iri, _ in made.text.hits(f'"{title}"')}
    write_indexes(made, tmp_path / "indexes")
    assert (tmp_path / TEXT_FILE).is_file()  # beside the index file, which names it
    read = read_indexes(tmp_path / "indexes")
    assert read is not None
    assert read.text.path == tmp_path / TEXT_FILE
    assert read.text.hits(f'"{title}"') == made.text.hits(f'"{title}"')
    assert (read.text.publications, read.text.nodes) == (10, made.text.nodes)
    # without its file, or with another build's, the index file is set aside, not half-read
    TextIndex.write(source, made.catalogue.uris[:3], tmp_path / TEXT_FILE)
    with caplog.at_level(logging.WARNING, logger="tipgraph.serving.indexes"):
        assert read_indexes(tmp_path / "indexes") is None
        (tmp_path / TEXT_FILE).unlink()
        assert read_indexes(tmp_path / "indexes") is None
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "3 publications" in said[0] and "text.sqlite" in said[0]


def test_a_file_cut_short_is_set_aside(source: TriplesSource, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    write_indexes(make_indexes(source, BASE), tmp_path / "indexes")
    whole = (tmp_path / "indexes").read_bytes()
    for length in (len(FORMAT) + 4, len(whole) // 2, len(whole) - 1):
        (tmp_path / "indexes").write_bytes(whole[:length])
        with caplog.at_level(logging.WARNING, logger="tipgraph.serving.indexes"):
            assert read_indexes(tmp_path / "indexes") is None
    assert all("ignoring indexes" in r.getMessage() for r in caplog.records)
    (tmp_path / "indexes").write_bytes(whole)
    read = read_indexes(tmp_path / "indexes")
    assert read is not None and len(read.catalogue.uris) == 10
