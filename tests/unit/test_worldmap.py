"""The world map: every country with publications coloured by its count and linked."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tipgraph.worldmap import COLOURS, EMPTY, load_shapes, world_map

SVG = "{http://www.w3.org/2000/svg}"


def _countries(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {e.get("data-code"): e for e in root.iter() if e.get("class") == "country"}


def test_countries_with_publications_are_linked_and_coloured_by_count() -> None:
    svg = world_map({"NG": 12, "ng": 0, "BB": 1, "XK": 3, "AN": 2},
                    names={"NG": "Nigeria", "BB": "Barbados", "XK": "Kosovo"},
                    href=lambda code: f"/place/{code}")
    countries = _countries(svg)
    links = {code: e for code, e in countries.items() if e.tag == f"{SVG}a"}
    assert set(links) == {"ng", "bb", "xk"}  # AN has no shape today: not drawn
    assert links["ng"].get("href") == "/place/ng"
    fills = {code: e.find(f"{SVG}path").get("fill") for code, e in links.items()}
    assert COLOURS.index(fills["ng"]) > COLOURS.index(fills["xk"]) > COLOURS.index(fills["bb"])
    assert links["ng"].find(f"{SVG}title").text == "Nigeria: 12 publications"
    assert links["bb"].find(f"{SVG}circle") is not None  # a small island gets a marker
    assert len({c for c, e in countries.items() if e.tag == f"{SVG}path"}) == \
        len(load_shapes().paths) - len(links)  # every other country drawn, grey
    assert all(e.tag == f"{SVG}path" for code, e in countries.items() if code not in links)
    assert f'fill="{EMPTY}"' in svg


def test_names_are_escaped_and_an_empty_map_has_no_legend() -> None:
    svg = world_map({"FR": 1}, names={"FR": "<b>France</b> & co"}, href=lambda code: None)
    france = _countries(svg)["fr"]
    assert france.tag == f"{SVG}g"  # no page: drawn, not linked
    # the SVG parses, and the name reads as it was written: it was escaped
    assert france.find(f"{SVG}title").text == "<b>France</b> & co: 1 publication"
    assert "Publications" in svg
    assert "legend" not in world_map({}, names={}, href=lambda code: None)


def test_every_country_the_build_knows_is_on_the_map() -> None:
    """Every current country of data/countries.csv has a shape or a marker; only the
    historical entities and Antarctica, which the map leaves out, have none."""
    import csv

    from tipgraph.shipped import shipped

    shapes = load_shapes()
    with shipped("data", "countries.csv").open(encoding="utf-8") as table:
        codes = {row["code"].lower() for row in csv.DictReader(table)}
    assert codes - shapes.paths.keys() - shapes.markers.keys() == {"an", "cs", "aq"}
