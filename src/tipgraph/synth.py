"""Synthetic catalogues in the curated input format, for benchmarks and scale tests.

Deterministic for a seed, with the shape of the real listing (a few countries
and regions per record, persons and organisations, years, abstracts of a few
hundred words) and its defects: country names split at "and", aliases,
title-cased organisation names, region fragments, missing years and authors.

>>> records = synthesize(3, seed=1)
>>> len(records), sorted(records[0])[:3]
(3, ['authors', 'category', 'countries'])
>>> synthesize(3, seed=1) == records
True
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from tipgraph.reference import Reference, load_reference

TOPICS = ("Trafficking in Persons", "Forced Labour", "Labour Exploitation", "Sexual Exploitation",
          "Child Trafficking", "Victim Protection", "Border Management", "Migrant Smuggling",
          "Return and Reintegration", "Counter-Trafficking Responses", "Debt Bondage",
          "Domestic Servitude", "Organ Removal", "Online Recruitment", "Supply Chains",
          "Identification of Victims", "Referral Mechanisms", "Crisis Settings")
FORMS = ("A Review of", "Guidelines on", "Assessment of", "Handbook on", "Evidence on",
         "Training Manual on", "Policy Brief on", "Case Studies of", "Trends in",
         "Lessons Learned from", "A Study of", "Standard Operating Procedures for")
PLACES_IN_TITLES = ("in the Region", "in Times of Crisis", "at Borders", "in Origin Countries",
                    "in Transit", "in Destination Countries", "among Young People",
                    "in Rural Areas", "in Urban Settings", "in the Fishing Industry")
WORDS = ("victims", "trafficking", "assistance", "protection", "identification", "law",
         "enforcement", "cooperation", "migration", "labour", "exploitation", "recruitment",
         "government", "civil", "society", "partners", "referral", "shelter", "health",
         "reintegration", "research", "data", "policy", "prosecution", "prevention",
         "awareness", "community", "children", "women", "men", "regional", "national",
         "international", "framework", "capacity", "training", "practitioners", "evidence",
         "analysis", "recommendations", "response", "services", "legislation", "rights")
GIVEN = ("Alison", "Jacqueline", "Donatella", "Phil", "Maria", "Ahmed", "Li", "Anna", "John",
         "Fatima", "Carlos", "Olga", "Kwame", "Priya", "Mehmet", "Sofia", "David", "Amina",
         "Nguyen", "Elena", "Tomas", "Grace", "Yusuf", "Ines", "Pavel", "Hana", "Samuel")
FAMILY = ("Jobe", "Berman", "Bradic", "Marshal", "Okafor", "Haddad", "Chen", "Kowalski",
          "Smith", "Diallo", "Garcia", "Petrova", "Mensah", "Sharma", "Yilmaz", "Rossi",
          "Cohen", "Abubakar", "Tran", "Popescu", "Novak", "Mwangi", "Bakr", "Silva", "Ivanov")
CATEGORIES = ("Trafficking", "Trafficking", "Trafficking", "Labour Migration", "Protection")

#: How often each defect appears, per opportunity.
DEFECT_RATES = {"split_name": 0.8, "alias": 0.15, "title_case": 0.3, "fragments": 0.7,
                "missing_year": 0.05, "no_authors": 0.2, "worldwide": 0.25}


def synthesize(count: int, *, seed: int = 0,
               reference: Reference | None = None) -> list[dict[str, object]]:
    """Make ``count`` curated records (dicts with the fields of the curated formats)."""
    return list(generate(count, seed=seed, reference=reference))


def generate(count: int, *, seed: int = 0,
             reference: Reference | None = None) -> Iterator[dict[str, object]]:
    """The records of :func:`synthesize`, one at a time: a million are written to a file
    in the memory of one."""
    rng = random.Random(seed)
    reference = reference or load_reference()
    countries = sorted(reference.countries.values(), key=lambda c: c.code)
    organisations = sorted(reference.organisations.values(), key=lambda o: o.slug)
    aliases = {c.code: [a for a in c.alt_labels if a.isascii()] for c in countries}
    regions = {slug: r for slug, r in reference.regions.items() if r.geonames_id is None}
    for number in range(count):
        record: dict[str, object] = {
            "title": f"{rng.choice(FORMS)} {rng.choice(TOPICS)} {rng.choice(PLACES_IN_TITLES)}"
                     f" ({number + 1})",
            "description": _abstract(rng),
            "category": rng.choice(CATEGORIES),
            # the seed in the URL: catalogues drawn with other seeds are other records
            "source_url": f"https://example.org/catalogue/{seed}/{number + 1}",
        }
        if rng.random() >= DEFECT_RATES["missing_year"]:
            record["year"] = rng.randint(1998, 2025)
        if rng.random() < DEFECT_RATES["worldwide"]:
            record["countries"] = ["Worldwide"]
            record["regions"] = ["Worldwide"]
        else:
            region = regions[rng.choice(sorted(regions))]
            members = [c for c in countries if c.region == region.slug] or countries
            chosen = rng.sample(members, k=min(len(members), rng.choice((1, 1, 1, 2, 3, 5))))
            names: list[str] = []
            for country in chosen:
                name = country.name
                if aliases[country.code] and rng.random() < DEFECT_RATES["alias"]:
                    name = rng.choice(aliases[country.code])
                if " and " in name and rng.random() < DEFECT_RATES["split_name"]:
                    names.extend(name.split(" and ", 1))
                else:
                    names.append(name)
            record["countries"] = names
            if region.fragments and rng.random() < DEFECT_RATES["fragments"]:
                record["regions"] = rng.sample(list(region.fragments), k=len(region.fragments))
            else:
                record["regions"] = [region.name]
        authors: list[str] = []
        if rng.random() >= DEFECT_RATES["no_authors"]:
            for _ in range(rng.choice((1, 1, 2, 3))):
                if rng.random() < 0.4:
                    org = rng.choice(organisations)
                    name = f"{org.name} ({org.alt_labels[0]})" if org.alt_labels else org.name
                    if rng.random() < DEFECT_RATES["title_case"]:
                        name = name.title()
                    authors.append(name)
                else:
                    authors.append(f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}")
        record["authors"] = authors
        yield record


def _abstract(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(3, 12)):
        words = rng.choices(WORDS, k=rng.randint(8, 25))
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def write_catalogue(records: Iterable[dict[str, object]], path: Path) -> None:
    """Write records as JSON Lines or CSV, by the file's extension.

    Written beside ``path`` and renamed into place: stopped halfway, no half a
    catalogue is left under its name.
    """
    if path.suffix not in (".jsonl", ".csv"):
        raise ValueError(f"{path.name}: write .jsonl or .csv")
    partial = path.with_name(f".{path.name}.part")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            if path.suffix == ".jsonl":
                for record in records:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                fields = ("title", "description", "countries", "regions", "authors", "year",
                          "category", "source_url")
                writer = csv.writer(out)
                writer.writerow(fields)
                for record in records:
                    writer.writerow([";".join(map(str, v)) if isinstance(v, list) else v
                                     for v in (record.get(f, "") for f in fields)])
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
