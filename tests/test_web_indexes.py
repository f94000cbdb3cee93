"""The per-build indexes a build writes beside its store (tipgraph.serving.indexes).

What the build makes from the triples it holds must be what a worker would make
from the store; a worker serves a build from the file without making anything
itself; a file it cannot read (another format) is set aside with a warning.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rdflib import Graph
from rdflib.compare import isomorphic

from tipgraph.build import run_build
from tipgraph.build_dir import INDEX_FILE
from tipgraph.errors import TipgraphError
from tipgraph.serving import service
from tipgraph.serving.catalogue import Selection, StoreSource, load_catalogue
from tipgraph.serving.dataset import describe_dataset
from tipgraph.serving.documents import index_labels
from tipgraph.serving.indexes import FORMAT, read_indexes
from tipgraph.serving.service import counts_from_store
from tipgraph.store import OxigraphStore
from tipgraph.synth import synthesize, write_catalogue
from tipgraph.web import create_app
from tipgraph.web.context import get_build

BASE = "https://w3id.org/tipgraph/"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synthetic_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of 800 synthetic publications (``tipgraph synth --seed 1``)."""
    out = tmp_path_factory.mktemp("synthetic-indexes")
    write_catalogue(synthesize(800, seed=1), out / "synthetic.jsonl")
    run_build([out / "synthetic.jsonl"], out / "build", base=BASE)
    return out / "build"


@pytest.mark.parametrize("build", ["seed_build_dir", "synthetic_build_dir"])
def test_the_indexes_the_build_wrote_are_those_made_from_its_store(
        request: pytest.FixtureRequest, build: str) -> None:
    current = request.getfixturevalue(build) / "current"
    written = read_indexes(current / INDEX_FILE)
    assert written is not None
    store = OxigraphStore.open(current / "store")
    from_store = load_catalogue(store)
    assert len(from_store.uris) in (10, 800)
    assert written.catalogue.indexed() == from_store.indexed()
    assert written.labels == index_labels(StoreSource(store))
    assert written.properties == sorted(StoreSource(store).properties())



@pytest.mark.parametrize("build", ["seed_build_dir", "synthetic_build_dir"])
def test_a_build_searches_its_text_index_and_finds_what_the_word_index_finds(
        request: pytest.FixtureRequest, build: str) -> None:
    """A build keeps no word index of its own: the browse search asks its text index, and
    finds for plain words what a remote store's catalogue (its word index, made from the
    store) finds; a query of operators alone is searched as words."""
    current = request.getfixturevalue(build) / "current"
    written = read_indexes(current / INDEX_FILE)
    assert written is not None
    store = OxigraphStore.open(current / "store")
    searched = written.catalogue.reading(store, written.text)
    from_store = load_catalogue(store)
    assert searched.word_index() == ({}, [])  # nothing held, nothing made
    vocabulary = from_store.word_index()[1]
    assert len(vocabulary) > 20
    asked = [*vocabulary[::max(1, len(vocabulary) // 40)], "traffick", "and", "AND", "NOT"]
    found_any = 0
    for query in asked:
        by_text = searched.select(query).bits
        assert by_text == from_store.select(query.casefold()).bits, query
        found_any += by_text != 0
    assert found_any > len(asked) // 2


def test_the_counts_the_file_keeps_per_facet_value_are_those_counted(
        synthetic_build_dir: Path) -> None:
    """A node's page and a browse by one facet value read the counts of the entries having
    that value from the file (``Catalogue.pairs``): the counts the bitmaps give."""
    cat = read_indexes(synthetic_build_dir / "current" / INDEX_FILE).catalogue  # type: ignore
    assert cat.pairs is not None and len(cat.pairs) > 100
    for facet, values in cat.postings.items():
        for key, bits in values.items():
            assert cat.select(facets={facet: [key]}).value == (facet, key)
            assert cat.counts(Selection(bits, cat, (facet, key))) \
                == cat.counts(Selection(bits, cat)), (facet, key)
    assert cat.select("trafficking", {"year": ["2015"]}).value is None
    assert cat.select(facets={"year": ["2015"], "region": ["world"]}).value is None

@pytest.fixture
def build_copy(seed_build_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "build"
    shutil.copytree(seed_build_dir, copy, symlinks=True)
    return copy


def _no_threads(*args: object, **kwargs: object) -> None:
    raise AssertionError("a worker with the index file made its indexes in a thread")


def test_a_worker_serves_browse_and_documents_from_the_file(
        build_copy: Path, monkeypatch: pytest.MonkeyPatch,
        retitle: Callable[[Path, str], tuple[str, str]]) -> None:
    uri, linked = retitle(build_copy, "Zz from the index file")
    monkeypatch.setattr(service.threading, "Thread", _no_threads)
    client: FlaskClient = create_app({"build_dir": str(build_copy)}).test_client()
    browse = client.get("/browse?page=1")
    assert browse.status_code == 200
    assert "Zz from the index file" in browse.get_data(as_text=True)
    # a document names the publications linking to a node with the labels of the file
    place = client.get(f"/{linked}.ttl")
    assert place.status_code == 200
    assert uri in place.get_data(as_text=True)
    assert "Zz from the index file" in place.get_data(as_text=True)


def test_a_file_of_another_format_is_set_aside_with_a_warning(
        build_copy: Path, caplog: pytest.LogCaptureFixture,
        retitle: Callable[[Path, str], tuple[str, str]]) -> None:
    retitle(build_copy, "Zz from the index file")
    path = build_copy / "current" / INDEX_FILE
    body = path.read_bytes()[len(FORMAT):]
    path.write_bytes(b"tipgraph web indexes 0\n" + body)
    with caplog.at_level(logging.WARNING, logger="tipgraph.serving.indexes"):
        client = create_app({"build_dir": str(build_copy)}).test_client()
        page = client.get("/browse").get_data(as_text=True)
    assert "Zz from the index file" not in page  # made from the store
    assert page.count('<a class="title"') == 10
    assert any(INDEX_FILE in r.getMessage() and "format" in r.getMessage()
               for r in caplog.records)


def test_a_build_whose_indexes_fail_is_not_published(
        seed_build_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tipgraph.build as build

    out = tmp_path / "build"
    shutil.copytree(seed_build_dir, out, symlinks=True)
    current = (out / "current").resolve()

    def fail(*args: object, **kwargs: object) -> None:
        raise TipgraphError("no indexes today")

    monkeypatch.setattr(build, "_write_indexes", fail)
    with pytest.raises(TipgraphError, match="no indexes today"):
        run_build([ROOT / "data" / "sources"], out, base=BASE)
    assert (out / "current").resolve() == current
    assert (out / "failed" / "report.json").is_file()


@pytest.mark.parametrize("build", ["seed_build_dir", "synthetic_build_dir"])
def test_the_description_the_build_counted_is_the_one_sparql_counts(
        request: pytest.FixtureRequest, build: str) -> None:
    """The counts and pages the file holds are what the store says: the description made
    from either is the same graph."""
    build_dir = request.getfixturevalue(build)
    written = read_indexes(build_dir / "current" / INDEX_FILE)
    assert written is not None
    store = OxigraphStore.open(build_dir / "current" / "store")
    counted = counts_from_store(store, BASE)
    assert written.counts == counted
    assert written.counts.example is not None and written.counts.classes
    app = create_app({"build_dir": str(build_dir)})
    with app.test_request_context("/dataset"):
        served = get_build()
        assert isomorphic(describe_dataset(served, "http://localhost/", written.counts),
                          describe_dataset(served, "http://localhost/", counted))
        assert served.counts == counted  # the file's, in the view
        assert written.page_paths() == sorted(served.page_paths)  # the file's too
    scanned = {row["s"].value.removeprefix(BASE).split("#")[0] + ".html" for row in store.query(
        f'SELECT DISTINCT ?s WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?s), "{BASE}")) }}')}
    assert written.page_paths() == sorted(path for path in scanned if "/" in path)


def test_a_worker_describes_the_dataset_from_the_file_without_counting(
        build_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_counting(*args: object) -> None:
        raise AssertionError("the description was counted over the store")

    def described() -> Graph:  # a new app: a new Build, its description made afresh
        response = create_app({"build_dir": str(build_copy)}).test_client().get("/dataset.ttl")
        assert response.status_code == 200
        return Graph().parse(data=response.data, format="turtle")

    monkeypatch.setattr(service, "counts_from_store", no_counting)
    with_file = described()
    # without the file, the store is counted
    monkeypatch.setattr(service, "counts_from_store", counts_from_store)
    (build_copy / "current" / INDEX_FILE).unlink()
    assert len(with_file) > 50 and isomorphic(described(), with_file)
