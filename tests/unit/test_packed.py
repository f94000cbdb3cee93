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
from tipgraph.serving.packed import ChangedRows, Rows, Shown, StringMap, Strings, thawed


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
