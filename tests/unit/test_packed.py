"""The index file's large entries read in place: each view reads as what the build made.

A worker maps the index file rather than unpickling it (:mod:`tipgraph.serving.packed`):
what a page or document asks of the views (an item, a position, a label) must be what
it would have asked of the lists and dicts the build made, and an incremental build
must get those lists and dicts back.
"""

from __future__ import annotations

import pickle

import pytest

from tipgraph.serving.catalogue import Link
from tipgraph.serving.packed import (
    ChangedMap,
    ChangedRows,
    Rows,
    Shown,
    Spliced,
    StringMap,
    Strings,
    thawed,
)


def _read(packed: object) -> object:
    """``packed`` through a pickle with its buffers out of band, as the index file has it."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(packed, protocol=5, buffer_callback=buffers.append)
    return pickle.loads(data, buffers=[memoryview(bytes(b.raw())) for b in buffers])


URIS = ["https://w3id.org/tipgraph/publication/a", "https://w3id.org/tipgraph/publication/é",
        "https://w3id.org/tipgraph/publication/日本", ""] + \
       [f"https://w3id.org/tipgraph/publication/n{i}" for i in range(200)]


def test_strings_read_as_the_list_and_find_a_position_at_once() -> None:
    view = Strings(_read(Strings.pack(URIS, hashed=True)))  # type: ignore[arg-type]
    assert len(view) == len(URIS) and list(view) == URIS and view == URIS
    assert view[1] == URIS[1] and view[-1] == URIS[-1] and view[2:4] == URIS[2:4]
    assert all(view.index(uri) == i for i, uri in enumerate(URIS))
    assert URIS[2] in view and "https://w3id.org/tipgraph/publication/zz" not in view
    with pytest.raises(ValueError):
        view.index("https://w3id.org/tipgraph/publication/zz")
    with pytest.raises(IndexError):
        view[len(URIS)]
    unhashed = Strings(_read(Strings.pack(URIS)))  # type: ignore[arg-type]
    assert unhashed.index(URIS[7]) == 7 and thawed(unhashed) == URIS
    assert type(thawed(unhashed)) is list


def test_what_pages_show_reads_as_the_tuples_with_shared_links() -> None:
    ng, iom = Link("https://w3id.org/tipgraph/place/ng", "Nigeria"), \
        Link("https://w3id.org/tipgraph/organisation/iom", "IOM")
    shown = [("Zeta", "2019", (ng, iom)), ("Alpha", None, ()), ("Ünïcode", "2020", (iom,))]
    packed = {"nodes": {ng.uri: ("countries", ng), iom.uri: ("organisations", iom)},
              "shown": Shown.pack(shown)}
    read = _read(packed)
    view = Shown(read["shown"])  # type: ignore[index]
    assert view == shown and list(view) == shown and len(view) == 3
    assert view[2] == shown[2] and view[-3] == shown[0]
    # the links are the node table's own objects, not copies
    assert view[0][2][0] is read["nodes"][ng.uri][1]  # type: ignore[index]
    assert thawed(view) == shown and type(thawed(view)) is list


def test_titles_read_as_the_dict() -> None:
    titles = {uri: (f"Title {i}", "en" if i % 2 else None,
                    None if i % 3 else "http://www.w3.org/2001/XMLSchema#token")
              for i, uri in enumerate(URIS)}
    view = StringMap(_read(StringMap.pack(titles)))  # type: ignore[arg-type]
    assert view == titles and len(view) == len(titles) and list(view) == list(titles)
    assert view[URIS[5]] == titles[URIS[5]] and view.get(URIS[0]) == titles[URIS[0]]
    assert view.get("https://elsewhere/") is None and "https://elsewhere/" not in view
    with pytest.raises(KeyError):
        view["https://elsewhere/"]
    assert thawed(view) == titles and type(thawed(view)) is dict


def test_rows_changed_in_part_read_and_pack_as_the_changed_dict() -> None:
    rows = {("year", "2020"): {"year": {"2020": 3}, "country": {"ng": 2}},
            ("country", "ng"): {"country": {"ng": 2}, "year": {"2020": 2}},
            ("year", "2021"): {"year": {"2021": 1}}}
    read = Rows(_read(Rows.pack(rows)))  # type: ignore[arg-type]
    changed = ChangedRows(read, {("year", "2021"): None,
                                 ("country", "ng"): {"country": {"ng": 3}},
                                 ("country", "gh"): {"country": {"gh": 1}}})
    expected = {("year", "2020"): rows["year", "2020"],
                ("country", "ng"): {"country": {"ng": 3}},
                ("country", "gh"): {"country": {"gh": 1}}}
    assert dict(changed.items()) == expected
    assert ("year", "2021") not in changed and len(changed) == 3
    # the rows not changed copied as the file had them: read again, the same rows
    assert dict(Rows(_read(Rows.pack(changed))).items()) == expected  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        changed["year", "2021"]


def test_a_spliced_view_packs_as_the_list_it_reads_as() -> None:
    """An incremental build's publications and what pages show of them: the view's
    entries taken out, put in and set, packed by copying the runs left as they were."""
    ng, iom = Link("https://w3id.org/tipgraph/place/ng", "Nigeria"), \
        Link("https://w3id.org/tipgraph/organisation/iom", "IOM")
    gh = Link("https://w3id.org/tipgraph/place/gh", "Ghana")
    shown = [(f"Title {i}", str(2000 + i % 7) if i % 5 else None,
              (ng, iom) if i % 3 else (iom,)) for i in range(len(URIS))]
    uris = Strings(_read(Strings.pack(URIS, hashed=True)))  # type: ignore[arg-type]
    view = Shown(_read(Shown.pack(shown)))  # type: ignore[arg-type]
    spliced_uris, spliced_shown = Spliced(uris), Spliced(view)
    expected_uris, expected_shown = list(URIS), list(shown)
    for at in (0, 7, 7, 150, len(URIS) - 5):
        del spliced_uris[at], spliced_shown[at], expected_uris[at], expected_shown[at]
    spliced_uris, spliced_shown = spliced_uris.without([3, 40]), spliced_shown.without([3, 40])
    for at in (40, 3):
        del expected_uris[at], expected_shown[at]
    for at, n in ((0, 1), (10, 2), (10, 3), (11, 4), (len(expected_uris), 5)):
        uri, entry = f"https://w3id.org/tipgraph/publication/new{n}", (f"New {n}", "1999", (gh,))
        spliced_uris.insert(at, uri)
        spliced_shown.insert(at, entry)
        expected_uris.insert(at, uri)
        expected_shown.insert(at, entry)
    spliced_shown[20] = expected_shown[20] = ("Set again", None, (gh, ng))
    assert list(spliced_uris) == expected_uris and spliced_shown == expected_shown
    assert [spliced_uris[i] for i in range(len(expected_uris))] == expected_uris
    assert all(spliced_uris.index(uri) == i for i, uri in enumerate(expected_uris))
    assert URIS[0] not in spliced_uris and spliced_uris.find(URIS[0]) is None
    packed_uris = Strings(_read(Strings.pack(spliced_uris, hashed=True)))  # type: ignore
    assert list(packed_uris) == expected_uris
    assert all(packed_uris.index(uri) == i for i, uri in enumerate(expected_uris))
    assert Shown(_read(Shown.pack(spliced_shown))) == expected_shown  # type: ignore[arg-type]


def test_a_changed_map_packs_as_the_dict_it_reads_as() -> None:
    titles = {uri: (f"Title {i}", "en" if i % 2 else None, None) for i, uri in enumerate(URIS)}
    view = StringMap(_read(StringMap.pack(titles)))  # type: ignore[arg-type]
    changed, expected = ChangedMap(view), dict(titles)
    for key in (URIS[0], URIS[9], URIS[-1]):
        assert changed.pop(key) == expected.pop(key)
    assert changed.pop("https://elsewhere/", None) is None
    for target in (changed, expected):
        target.update({URIS[9]: ("Back", None, "http://www.w3.org/2001/XMLSchema#token"),
                       "https://w3id.org/tipgraph/publication/new": ("New", "fr", None)})
        target[URIS[4]] = ("Set", "en", None)
    assert dict(changed.items()) == expected and len(changed) == len(expected)
    assert URIS[0] not in changed and changed.get(URIS[9]) == expected[URIS[9]]
    read = StringMap(_read(StringMap.pack(changed)))  # type: ignore[arg-type]
    assert dict(read.items()) == expected
    assert all(read[key] == value for key, value in expected.items())
