"""The sort keys (``tip:sortKey``): integers increasing in title order, kept from build to
build, so that one record moved in title order changes one key; a build from the same
previous build gives the same keys, whether it counts again only what changed (an
incremental build) or everything (a full one)."""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

import pytest
from rdflib import Literal, URIRef

from tipgraph import statistics
from tipgraph.graphs import Triple
from tipgraph.namespaces import DCT, RDF, TIP
from tipgraph.statistics import (
    TALLY_FILE,
    Tally,
    previous_keys,
    sort_key_line,
    spaced_keys,
    title_order,
)

T = "https://example.org/"


def increasing(keys: list[int | None]) -> bool:
    return all(a is not None and b is not None and a < b for a, b in pairwise(keys))


def test_kept_keys_stay_and_new_ones_go_between_their_neighbours() -> None:
    keys: list[int | None] = [None, 100, None, None, None, 200, 300, None]
    given = spaced_keys(keys, gap=10)
    assert keys == [90, 100, 125, 150, 175, 200, 300, 310]  # spread evenly; gap at the ends
    assert given == [0, 2, 3, 4, 7]  # only the new ones


def test_a_first_build_spaces_every_key_by_the_gap() -> None:
    keys: list[int | None] = [None] * 4
    assert spaced_keys(keys, gap=8) == [0, 1, 2, 3]
    assert keys == [8, 16, 24, 32]
    keys = [None] * 3
    spaced_keys(keys)
    assert keys == [statistics.KEY_GAP, 2 * statistics.KEY_GAP, 3 * statistics.KEY_GAP]


def test_when_no_integer_is_left_between_two_keys_a_small_window_is_numbered_again() -> None:
    keys: list[int | None] = [10, 20, 30, 31, 40, 50, 60]
    keys.insert(3, None)  # between 30 and 31: no room
    given = spaced_keys(keys, gap=10)
    assert increasing(keys)
    assert keys[:2] == [10, 20] and keys[-2:] == [50, 60]  # far ones untouched
    assert 3 in given and len(given) <= 3  # the new one and at most two beside it
    # a run longer than the room of its neighbours and the next ones
    keys = [0, 1, 2, None, None, None, None, 3, 4, 1000]
    given = spaced_keys(keys, gap=10)
    assert increasing(keys) and keys[0] == 0 and keys[-1] == 1000


@pytest.mark.parametrize("gap", [1 << 20, 4])
def test_keys_increase_whatever_is_inserted_where(gap: int) -> None:
    """Many insertions at random places: after each, the keys increase, the places said
    to be given a key are those whose key changed, the new ones among them; with room
    enough, the new ones only or nearly."""
    rng = random.Random(26)
    keys: list[int] = []
    for _ in range(300):
        before = list(keys)
        place = rng.randint(0, len(keys))
        run = rng.randint(1, 3)
        spaced: list[int | None] = [*keys[:place], *[None] * run, *keys[place:]]
        given = spaced_keys(spaced, gap=gap)
        assert increasing(spaced)
        was = [*before[:place], *[None] * run, *before[place:]]
        assert given == [i for i, key in enumerate(spaced) if key != was[i]]
        assert set(range(place, place + run)) <= set(given)
        if gap > 4:
            assert len(given) - run <= 4, (place, run, given)
        keys = spaced  # type: ignore[assignment]
    assert len(keys) > 300


# -- a tally's keys, from the previous build's: incremental equals full ------------------

def publication(uri: str, title: str) -> list[Triple]:
    node = URIRef(T + uri)
    return [(node, RDF.type, TIP.Publication), (node, DCT.title, Literal(title))]


def graph(titles: dict[str, str]) -> list[Triple]:
    return [t for uri, title in titles.items() for t in publication(uri, title)]


def key_lines(tally: Tally) -> set[str]:
    return {sort_key_line(uri, key) for uri, key in zip(tally.order, tally.keys, strict=True)}


def full_build(titles: dict[str, str], previous: Path | None, folder: Path) -> Tally:
    tally = Tally()
    tally.add(graph(titles))
    tally.triples(T, previous_keys(previous))
    folder.mkdir(parents=True, exist_ok=True)
    tally.save(folder / TALLY_FILE)
    return tally


def incremental_build(old: dict[str, str], new: dict[str, str], previous: Path,
                      folder: Path) -> tuple[Tally, set[str], set[str]]:
    """The tally ``previous`` kept, counted again for the publications that changed (as
    :func:`tipgraph.incremental.update_statistics` does); the sort keys' lines lost and
    gained."""
    tally = Tally.load(previous / TALLY_FILE)
    assert tally is not None
    touched = {uri for uri in old.keys() | new.keys() if old.get(uri) != new.get(uri)}
    before = graph({uri: old[uri] for uri in touched if uri in old})
    after = graph({uri: new[uri] for uri in touched if uri in new})
    removed = [(URIRef(T + uri), RDF.type, TIP.Publication) for uri in old if uri not in new]
    added = [(URIRef(T + uri), RDF.type, TIP.Publication) for uri in new if uri not in old]
    counts = tally.counts()
    tally.update(before, after, removed, added)
    lost, gained = tally.changed_lines(T, counts)
    keyed = f"<{TIP.sortKey}>"
    folder.mkdir(parents=True, exist_ok=True)
    tally.save(folder / TALLY_FILE)
    return (tally, {line for line in lost if keyed in line},
            {line for line in gained if keyed in line})


def assert_keys_follow_titles(tally: Tally, titles: dict[str, str]) -> None:
    assert [str(uri) for uri in tally.order] == title_order({T + u: t for u, t in titles.items()})
    assert increasing(tally.keys)  # type: ignore[arg-type]


@pytest.mark.parametrize("gap", [1 << 20, 4, 1])
def test_an_incremental_tally_gives_the_keys_a_full_one_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gap: int) -> None:
    """Build after build (a title moved to the front, records added in the middle of
    title order, one removed, then many added at one place until no integer is left),
    the incremental tally's keys are those of a full count from the same previous build,
    and only the publications changed (and, once the gap is spent, a few beside them)
    change key."""
    monkeypatch.setattr(statistics, "KEY_GAP", gap)
    titles = {f"p{n:02}": f"Title {n:02}" for n in range(30)}
    first = full_build(titles, None, tmp_path / "0")
    assert first.keys == [gap * (n + 1) for n in range(30)]
    previous = tmp_path / "0"
    changes = [
        {"p20": "A title that comes first"},  # retitled: to the front
        {"n1": "Title 10a", "n2": "Title 10b", "n3": "Title 10c", "p05": None},
        {"p07": "title 07"},  # another title, the same place: its key kept
        *({f"m{k}": f"Title 15-{99 - k:02}"} for k in range(12)),  # one place, again and again
    ]
    for n, change in enumerate(changes, start=1):
        new = {**titles, **{u: t for u, t in change.items() if t is not None}}
        for gone in (u for u, t in change.items() if t is None):
            del new[gone]
        got, lost, gained = incremental_build(titles, new, previous, tmp_path / f"i{n}")
        expected = full_build(new, previous, tmp_path / f"f{n}")
        assert key_lines(got) == key_lines(expected)
        assert got.order == expected.order and got.digests == expected.digests
        assert_keys_follow_titles(got, new)
        was = {str(uri): key for uri, key in zip(Tally.load(previous / TALLY_FILE).order,
                                                 Tally.load(previous / TALLY_FILE).keys,
                                                 strict=True)}
        now = {str(uri): key for uri, key in zip(got.order, got.keys, strict=True)}
        rekeyed = {uri for uri in was.keys() | now.keys() if was.get(uri) != now.get(uri)}
        assert {line.split(">")[0][1:] for line in lost | gained} == rekeyed
        moved = {T + u for u in change if change[u] is None or titles.get(u, "").casefold()
                 != change[u].casefold()}
        assert moved <= rekeyed
        if gap >= 16:  # room enough: none but those
            assert rekeyed == moved
        elif gap > 1:  # else a few beside them; with no room at all (1), up to an end
            assert len(rekeyed - moved) <= 6
        titles, previous = new, tmp_path / f"i{n}"


def test_a_tally_of_an_older_format_gives_no_keys_to_keep(tmp_path: Path) -> None:
    """A build made before keys were kept (its tally of format 1, or none): the next
    build, full or incremental, numbers every publication afresh."""
    import pickle

    assert previous_keys(tmp_path) is None  # no tally at all
    with (tmp_path / TALLY_FILE).open("wb") as file:
        pickle.dump(("tipgraph tally 1", Tally()), file)
    assert previous_keys(tmp_path) is None
    assert Tally.load(tmp_path / TALLY_FILE) is None
    tally = full_build({"a": "Alpha", "b": "Beta"}, tmp_path, tmp_path / "next")
    assert tally.keys == [statistics.KEY_GAP, 2 * statistics.KEY_GAP]
