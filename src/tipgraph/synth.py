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
import itertools
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
#: The most frequent words of abstracts, most frequent first: English function words,
#: then the field's words, then general academic ones. :data:`VOCABULARY` follows them
#: with invented words up to :data:`VOCABULARY_SIZE`, the rare words of a real catalogue.
FUNCTION_WORDS = """the of and to in a for on is that by with as are this from be its at
which their was or has have an these it were been not also more other such can between
who into among they both while through than most how about within but those all across
where them each whose under only"""
FIELD_WORDS = """trafficking victims migrants persons labour exploitation protection
assistance migration forced countries national government law enforcement cooperation
identification recruitment children women report research data policy prosecution
prevention awareness community civil society partners referral shelter health
reintegration regional international framework capacity training practitioners evidence
analysis recommendations response services legislation rights smuggling border return
workers employers agencies domestic sexual child trafficked survivors security asylum
refugees displacement crisis conflict humanitarian victim-centred debt bondage servitude
organ removal online supply chains fishing construction agriculture mining garment
factories brokers recruiters intermediaries contracts wages passports visas permits
irregular transit destination origin corridor networks criminal organised corruption
justice courts convictions investigations police prosecutors judges inspectors labour-law
standards conventions protocol palermo obligations states ministries consular embassies
diaspora remittances livelihoods poverty unemployment education girls boys adolescents
youth families households communities rural urban coastal camps settlements shelters
hotlines counselling psychosocial medical legal aid compensation restitution"""
ACADEMIC_WORDS = """study findings results methods survey interviews respondents sample
qualitative quantitative review literature approach model indicators measures outcomes
impact effects factors risk vulnerability resilience patterns trends prevalence estimates
levels rates growth change development implementation monitoring evaluation assessment
guidance tools standards procedures mechanisms systems structures institutions actors
stakeholders donors programmes projects initiatives interventions activities campaigns
strategies plans action priorities challenges gaps barriers opportunities lessons practices
experiences perspectives views perceptions knowledge understanding information
communication coordination collaboration partnership participation engagement leadership
governance accountability transparency oversight compliance enforcement regulation reform
needs support access provision delivery quality availability costs resources funding
budget investment economic social political cultural legal institutional technical
operational strategic global local public private key main major significant important
new different specific particular common current recent early long-term short-term
available effective comprehensive limited increased reduced improved greater higher lower
several many number part role level case area sector field region context time year
period process form type basis means way order use need"""
WORDS = tuple(dict.fromkeys(" ".join((FUNCTION_WORDS, FIELD_WORDS, ACADEMIC_WORDS)).split()))
_FORMER_WORDS = range(46)
#: Words in the vocabulary, and the Zipf exponent of their frequencies (rank r drawn with
#: weight 1 / r ** s): about 1 in real text, so a few words are in almost every abstract,
#: most are in a handful, and a search of two content words matches a small share.
VOCABULARY_SIZE = 6000
ZIPF_EXPONENT = 1.05
_SYLLABLES = ("ba", "ca", "da", "fe", "ge", "hi", "ko", "la", "me", "ni", "po", "ra", "se",
              "ti", "vu", "za", "bro", "cla", "dre", "fri", "glo", "pla", "stra", "tion",
              "ment", "ing", "al", "ic", "ous", "ive", "er", "an", "or", "en", "is", "um")
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


def _invented_words(count: int) -> list[str]:
    """``count`` made-up words of two to four syllables, the same every time."""
    rng = random.Random("tipgraph vocabulary")
    found: dict[str, None] = {}
    while len(found) < count:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 3, 3, 4))))
        if word not in WORDS:
            found[word] = None
    return list(found)


#: Every word abstracts are drawn from, most frequent first, and their cumulative weights.
VOCABULARY = WORDS + tuple(_invented_words(VOCABULARY_SIZE - len(WORDS)))
_CUMULATIVE = tuple(itertools.accumulate(1 / rank ** ZIPF_EXPONENT
                                         for rank in range(1, len(VOCABULARY) + 1)))
#: Where the content words begin (titles draw from these, not from "the" and "of").
_CONTENT = len(dict.fromkeys(FUNCTION_WORDS.split()))
_CONTENT_CUMULATIVE = tuple(itertools.accumulate(1 / rank ** ZIPF_EXPONENT for rank in
                                                 range(1, len(VOCABULARY) - _CONTENT + 1)))


def synthesize(count: int, *, seed: int = 0,
               reference: Reference | None = None) -> list[dict[str, object]]:
    """Make ``count`` curated records (dicts with the fields of the curated formats)."""
    return list(generate(count, seed=seed, reference=reference))


def generate(count: int, *, seed: int = 0,
             reference: Reference | None = None) -> Iterator[dict[str, object]]:
    """The records of :func:`synthesize`, one at a time: a million are written to a file
    in the memory of one."""
    rng = random.Random(seed)
    words = random.Random(f"words {seed}")  # the text's own draws: the rest as it was drawn
    reference = reference or load_reference()
    countries = sorted(reference.countries.values(), key=lambda c: c.code)
    organisations = sorted(reference.organisations.values(), key=lambda o: o.slug)
    aliases = {c.code: [a for a in c.alt_labels if a.isascii()] for c in countries}
    regions = {slug: r for slug, r in reference.regions.items() if r.geonames_id is None}
    for number in range(count):
        record: dict[str, object] = {
            "title": f"{rng.choice(FORMS)} {rng.choice(TOPICS)} {rng.choice(PLACES_IN_TITLES)}"
                     f": {_title_words(words)} ({number + 1})",
            "description": _abstract(words, rng),
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


def _abstract(rng: random.Random, fields: random.Random) -> str:
    """Sentences of words drawn by their Zipf frequency, now and then a topic's phrase.

    ``fields`` (the other fields' generator) makes the draws the abstracts of 46 words
    made before, so that a seed's catalogue keeps its countries, authors and years.
    """
    for _ in range(fields.randint(3, 12)):
        fields.choices(_FORMER_WORDS, k=fields.randint(8, 25))
    sentences = []
    for _ in range(rng.randint(3, 12)):
        words = rng.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=rng.randint(8, 25))
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words) + 1), rng.choice(TOPICS).lower())
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def _title_words(rng: random.Random) -> str:
    """Two to five content words for a title's subtitle, capitalised."""
    words = rng.choices(VOCABULARY[_CONTENT:], cum_weights=_CONTENT_CUMULATIVE,
                        k=rng.randint(2, 5))
    return " ".join(word.capitalize() for word in words)


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
