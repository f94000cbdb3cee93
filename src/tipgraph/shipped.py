"""Where the files the project ships are: the ontology, the shapes, the reference data,
the shipped listing and the queries.

They live in the checkout's top-level folders (``ontology/``, ``shapes/``, ``data/``,
``queries/``, as the design card puts them). The wheel carries them inside the
package, under ``tipgraph/_shipped/`` (hatchling's ``force-include`` in
pyproject.toml); an editable install reads them in place, beside ``src/``. Every
module finds them through :func:`shipped`, so an installed package and a checkout
behave the same.

>>> shipped("ontology", "tipgraph.ttl").is_file()
True
>>> sorted(SHIPPED_FOLDERS)
['data', 'ontology', 'queries', 'shapes']
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

#: The top-level folders that travel with the package.
SHIPPED_FOLDERS = ("ontology", "shapes", "data", "queries")

#: Their place inside the installed package (pyproject.toml maps them there).
PACKAGED = "_shipped"


@cache
def _root() -> Path:
    """The folder holding the shipped folders: inside the installed package, else the
    checkout an editable install runs from (``src/tipgraph`` -> the checkout)."""
    package = Path(str(files("tipgraph")))
    inside = package / PACKAGED
    if inside.is_dir():
        return inside
    checkout = package.parents[1]
    if all((checkout / folder).is_dir() for folder in SHIPPED_FOLDERS):
        return checkout
    return inside  # neither: the paths name the missing files in the errors that follow


def shipped(folder: str, *parts: str) -> Path:
    """The path of a shipped folder (``"data"``) or of a file in it
    (``"data", "regions.toml"``), installed or editable.

    :raises ValueError: ``folder`` is not one of :data:`SHIPPED_FOLDERS`
    """
    if folder not in SHIPPED_FOLDERS:
        raise ValueError(f"{folder!r} is not a shipped folder; one of {SHIPPED_FOLDERS}")
    return _root().joinpath(folder, *parts)
