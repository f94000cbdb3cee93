"""The build's text index: words of titles, abstracts, names and labels, searched by
SQLite FTS5.

Both the browse page's search and the SPARQL form ``?x tip:matches "..."``
(:mod:`tipgraph.serving.text_sparql`) ask this one index, so both find the same nodes.
It is SQLite's FTS5 (in the standard library's ``sqlite3``: nothing to install, a
file the build writes once and every web worker opens read-only, ranked by
``bm25``), with the ``unicode61`` tokenizer removing diacritics: ``Côte`` and
``cote``, ``LABOUR`` and ``labour`` are one word.

**The search language** (:func:`fts_query`), the same on the page and in SPARQL:

- ``forced labour``: every word, anywhere (AND);
- a word matches the words it begins: ``traffick`` finds *trafficking*
  (``traffick*`` says the same);
- ``"forced labour"``: the phrase, its words in this order, each whole;
  ``"labour"``: the word exactly;
- ``labour OR work``, ``labour NOT child``, parentheses: boolean operators (in
  capitals; ``or`` in lower case is a word); ``NOT`` needs a left side.

**The file** (``builds/<id>/text.sqlite``, :data:`TEXT_FILE`) is the entry ``text``
of the build's index registry (:mod:`tipgraph.serving.indexes`), made with the
others and kept in a file of its own, which every worker reads in place (the
operating system caches its pages once for all): a table ``node``
(``id``, ``iri``, ``position``), a contentless FTS5 table ``text`` (``title``: titles,
names and labels; ``body``: abstracts) and an FTS5 table ``fact`` of rowids only
(one token per :data:`FACT_PROPERTIES` triple of the node, :func:`fact_token`),
both keyed by the same ``id``. A publication's ``position`` is its place in the browse
order (the catalogue's :attr:`~tipgraph.serving.catalogue.Catalogue.uris`; NULL for
the other labelled nodes), made into an array on the first search, so the page turns
hits into its bitmap without looking an IRI up. A full build numbers the publications
first, in that order, and says so in the table ``meta`` (``numbered``: node *i* is the
publication at place *i - 1*, so the array is made without reading the table; ``nodes``:
how many it holds); an incremental build copies the previous file, indexes again the
nodes whose text or facts changed (a new ``id`` each), sets the positions that moved
(:func:`update_text_index`), rather than indexing every node again, and drops
``numbered``: its places are read from the table.

**Facts narrow a search** before anything else sees its hits: ``?pub tip:matches
"forced labour" ; tip:statedCountry <…/place/ng>`` asks the index for the nodes
matching the words *and* holding that fact (``hits(text, facts=…)``), a few hundred
rather than 24,000 at 100,000 publications. A fact token stands for every triple
that could satisfy the pattern it is made for (a year's token for every ``xsd:gYear``
of that year, whatever its time zone), so the narrowed hits are never fewer than the
join keeps; the pattern stays in the query, and the engine joins it as before. The
facts are a table apart so that they change no score (bm25 counts a row's length).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import weakref
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tipgraph.namespaces import DCT, FOAF, GN, RDFS, SCHEMA, SKOS, TIP
from tipgraph.sparql_engine import QueryError, QueryTimeout

if TYPE_CHECKING:
    from tipgraph.serving.catalogue import Moved
    from tipgraph.store import GraphStore

#: The file a build writes its text index to, beside its store.
TEXT_FILE = "text.sqlite"
#: What the file holds, in which version: bump it when the tables change shape.
VERSION = 3
#: Where a node's searchable text is: the title column, then the body column.
TITLE_PROPERTIES = tuple(str(p) for p in (DCT.title, SKOS.prefLabel, SKOS.altLabel, GN.name,
                                          FOAF.name, SCHEMA.name, RDFS.label))
BODY_PROPERTIES = (str(DCT.abstract),)
#: Properties of which the index holds each node's objects (table ``fact``): places,
#: years, creators, subjects, the volume a chapter is part of.
FACT_PROPERTIES = tuple(str(p) for p in (TIP.statedCountry, TIP.statedRegion, DCT.spatial,
                                         DCT.issued, DCT.creator, DCT.subject, DCT.isPartOf))
#: The datatype of the literals the index holds a fact of (by their year).
GYEAR = "http://www.w3.org/2001/XMLSchema#gYear"
#: bm25 weights of the columns: a word in a title counts for more than one in an abstract.
WEIGHTS = (4.0, 1.0)
_YEAR = re.compile(r"(-?\d{4,})(?:Z|[+-]\d\d:\d\d)?")

#: A hit's score: bm25's, negated (higher is better).
_SCORE = f"-bm25(text, {WEIGHTS[0]}, {WEIGHTS[1]}) AS score"
#: The hits with their scores, by IRI and by row id, before the search.
_SCORED = f"SELECT node.iri AS iri, {_SCORE} FROM text JOIN node ON node.id = text.rowid"
_SCORED_IDS = f"SELECT text.rowid AS id, {_SCORE} FROM text"
_WORD = re.compile(r"\w+")
# the search language's tokens: a quoted phrase, a parenthesis, or a run of anything else
_QUERY_TOKEN = re.compile(r'"(?P<phrase>[^"]*)"?|(?P<paren>[()])|(?P<bare>[^\s"()]+)')
_OPERATORS = {"AND", "OR", "NOT"}


def written_score(score: float) -> str:
    """A score as a query's answer holds it (``tip:matchScore``): 7 significant digits,
    an ``xsd:double``; the order of these is the order a query sorts by."""
    return f"{score:.6e}"


class TextQueryError(QueryError):
    """A search the index cannot read (an operator without its words), said in one
    sentence; a 400 on the endpoint."""

    title = "Text search error"


class LiteralSource(Protocol):
    """Where the index reads text and facts from (a
    :class:`~tipgraph.serving.catalogue.Source`)."""

    def pairs(self, prop: str, value: str | None = None) -> Iterable[tuple[str, str]]: ...

    def literals(self, prop: str) -> Iterable[tuple[str, str, str | None, str | None]]: ...


def fts_query(text: str) -> str:
    """``text`` in the search language as an FTS5 query: every word quoted, so no
    character of it is FTS5 syntax; an empty string when it has no word.

    >>> fts_query('Forced labour')
    '"forced"* AND "labour"*'
    >>> fts_query('"forced labour" OR (child NOT sexual) wages')
    '"forced labour" OR ( "child"* NOT "sexual"* ) AND "wages"*'
    >>> fts_query('labour-exploitation "Côte"')
    '"labour exploitation"* AND "côte"'
    >>> fts_query('  !! ')
    ''
    """
    parts: list[str] = []

    def operand(part: str) -> None:
        # FTS5 reads two phrases in a row as AND, but not a group and a phrase: say it
        if parts and (parts[-1] == ")" or parts[-1].startswith('"')):
            parts.append("AND")
        parts.append(part)

    for match in _QUERY_TOKEN.finditer(text):
        phrase, paren, bare = match.group("phrase", "paren", "bare")
        if paren == "(":
            operand(paren)
        elif paren:
            parts.append(paren)
        elif phrase is not None:
            found = _WORD.findall(phrase.casefold())
            if found:
                operand('"' + " ".join(found) + '"')
        elif bare in _OPERATORS:
            parts.append(bare)
        else:
            found = _WORD.findall(bare.casefold())
            if found:  # hyphenated and the like: the words in a row, the last one begun
                operand('"' + " ".join(found) + '"*')
    if not any(p.startswith('"') for p in parts):
        return ""
    return " ".join(parts)


def fact_token(prop: str, iri: str | None = None, *, year: str | None = None) -> str:
    """The ``fact`` token of a node's ``prop`` being the IRI ``iri``, or an
    ``xsd:gYear`` literal of ``year`` (its digits: ``2003`` for ``"2003Z"`` too, as a
    year equal to ``"2003"^^xsd:gYear`` has them); a word no text has.

    >>> fact_token(str(DCT.issued), year="2003") == fact_token(str(DCT.issued), year="2003")
    True
    >>> len(fact_token(str(DCT.spatial), "https://w3id.org/tipgraph/place/ng"))
    17
    """
    key = f"{prop} <{iri}>" if year is None else f"{prop} year {year}"
    return "f" + hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def year_of(lexical: str) -> str | None:
    """The year digits of an ``xsd:gYear`` literal's lexical form (None if not one).

    >>> year_of("2003"), year_of("2003+01:00"), year_of("03")
    ('2003', '2003', None)
    """
    match = _YEAR.fullmatch(lexical)
    return match.group(1) if match else None


def _facts(source: LiteralSource) -> dict[str, list[str]]:
    """node -> its fact tokens, for every :data:`FACT_PROPERTIES` triple of ``source``
    (each token one string, however many nodes have it: a few thousand tokens, millions
    of facts)."""
    facts: dict[str, list[str]] = {}
    tokens: dict[str, str] = {}
    for prop in FACT_PROPERTIES:
        for subject, value in source.pairs(prop):  # a literal's text too: one more token
            token = fact_token(prop, value)
            facts.setdefault(subject, []).append(tokens.setdefault(token, token))
        for subject, value, _, datatype in source.literals(prop):
            year = year_of(value) if datatype == GYEAR else None
            if year is not None:
                token = fact_token(prop, year=year)
                facts.setdefault(subject, []).append(tokens.setdefault(token, token))
    return facts


class _Texts:
    """node -> its texts, as a ``dict[str, list[str]]`` reads (``keys``, ``get``), the
    texts kept in a temporary file in ``directory`` and read again when asked for: a
    million abstracts are a gigabyte, which the index is written without holding."""

    def __init__(self, directory: Path | None = None) -> None:
        # removed when closed, and closed when let go: it lives as long as this object
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
        self._ends = array("Q", [0])  # where each text ends in the file (the first: 0)
        #: node -> the number of its text, or of each of its texts
        self._where: dict[str, int | tuple[int, ...]] = {}

    def append(self, node: str, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        self._file.write(data)
        number = len(self._ends) - 1
        self._ends.append(self._ends[number] + len(data))
        had = self._where.get(node)
        self._where[node] = number if had is None else (
            (*had, number) if isinstance(had, tuple) else (had, number))

    def keys(self) -> Iterable[str]:
        return self._where.keys()

    def get(self, node: str, default: Sequence[str] = ()) -> Sequence[str]:
        found = self._where.get(node)
        if found is None:
            return default
        self._file.flush()
        ends, fd = self._ends, self._file.fileno()
        return [os.pread(fd, ends[n + 1] - ends[n], ends[n]).decode("utf-8", "surrogatepass")
                for n in (found if isinstance(found, tuple) else (found,))]


class _Rows:
    """What the index holds of each node of a source: the text of its two columns and
    its fact tokens, each made one way whatever order the source gives them in (a row
    is taken out of the index by giving what it holds again: :func:`update_text_index`).
    The bodies (abstracts) are kept in a temporary file in ``directory`` (:class:`_Texts`).
    """

    def __init__(self, source: LiteralSource, directory: Path | None = None) -> None:
        self.titles: dict[str, list[str]] = {}
        self.bodies = _Texts(directory)
        for prop in TITLE_PROPERTIES:
            for subject, value, _, datatype in source.literals(prop):
                if datatype is None:  # text, not a number or a date
                    self.titles.setdefault(subject, []).append(value)
        for prop in BODY_PROPERTIES:
            for subject, value, _, datatype in source.literals(prop):
                if datatype is None:
                    self.bodies.append(subject, value)
        self.facts = _facts(source)

    def labelled(self) -> set[str]:
        """The nodes with text (a publication is indexed without)."""
        return self.titles.keys() | self.bodies.keys()

    def text(self, iri: str) -> tuple[str, str]:
        return (_joined("\n", self.titles.get(iri, ())),
                _joined("\n\n", self.bodies.get(iri, ())))

    def tokens(self, iri: str) -> str | None:
        found = self.facts.get(iri)
        return " ".join(sorted(set(found))) if found else None


def _joined(separator: str, texts: Sequence[str]) -> str:
    return separator.join(sorted(set(texts)) if len(texts) > 1 else texts)


#: KiB of pages SQLite keeps while the build writes the index (its default is 2 MiB).
WRITE_CACHE_KIB = 32 << 10
#: FTS5's own ``automerge`` (its default), set again once the build has merged the index.
FTS5_AUTOMERGE = 4


def write_text_index(source: LiteralSource, publications: Sequence[str], path: Path) -> int:
    """Index the text of the nodes ``source`` holds into ``path`` (whole or not at all):
    ``publications`` first, in this order (their place in it kept as ``position``),
    then every other node with a label. Returns how many nodes it holds."""
    made = _Rows(source, path.parent)
    first = dict.fromkeys(publications)
    order = list(first) + sorted(iri for iri in made.labelled() if iri not in first)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        db = sqlite3.connect(partial)
        try:
            db.executescript(f"""
                PRAGMA journal_mode = OFF;
                PRAGMA synchronous = OFF;
                CREATE TABLE meta (key TEXT PRIMARY KEY, value);
                CREATE TABLE node (id INTEGER PRIMARY KEY, iri TEXT NOT NULL, position INTEGER);
                CREATE VIRTUAL TABLE text USING fts5(title, body, content='',
                    tokenize='unicode61 remove_diacritics 2', prefix='3');
                CREATE VIRTUAL TABLE fact USING fts5(token, content='', detail='none',
                    tokenize='ascii');
                INSERT INTO meta VALUES ('version', {VERSION});
            """)
            db.execute("INSERT INTO meta VALUES ('publications', ?)", (len(first),))
            size = len(first)
            rows = [(i, iri) for i, iri in enumerate(order, 1)]
            db.executemany("INSERT INTO node VALUES (?, ?, ?)",
                           ((i, iri, i - 1 if i <= size else None) for i, iri in rows))
            # written once, then merged whole ('optimize'): FTS5's merging as it goes
            # (automerge) would merge what the end merges again (a third of the time)
            db.execute(f"PRAGMA cache_size = -{WRITE_CACHE_KIB}")
            for table in ("text", "fact"):
                db.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('automerge', 0)")
            _insert(db, made, rows)
            # what opening it reads (a count of a million rows takes a tenth of a second)
            # and the numbering the first search need not read (a second at a million)
            db.executemany("INSERT INTO meta VALUES (?, ?)",
                           (("nodes", len(order)), ("numbered", 1)))
            for table in ("text", "fact"):
                db.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")
                # kept in the file: an incremental build's few rows are merged as they go
                db.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('automerge', "
                           f"{FTS5_AUTOMERGE})")
            db.commit()
        finally:
            db.close()
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return len(order)


def _insert(db: sqlite3.Connection, made: _Rows, rows: list[tuple[int, str]],
            delete: bool = False) -> None:
    """Add the text and facts of the nodes of ``rows`` (id, IRI) to the index, or take
    them out (``delete``: what ``made`` says they hold is what was added)."""
    command = ("'delete', ", "text, ", "fact, ") if delete else ("", "", "")
    db.executemany(f"INSERT INTO text ({command[1]}rowid, title, body) "
                   f"VALUES ({command[0]}?, ?, ?)",
                   ((i, *made.text(iri)) for i, iri in rows))
    db.executemany(f"INSERT INTO fact ({command[2]}rowid, token) VALUES ({command[0]}?, ?)",
                   ((i, tokens) for i, iri in rows if (tokens := made.tokens(iri))))


def update_text_index(old: Path, path: Path, before: LiteralSource, after: LiteralSource,
                      touched: Iterable[str], publications: Sequence[str],
                      moved: Moved | None = None) -> int:
    """Write to ``path`` the index ``old`` was, with the nodes ``touched`` indexed again
    (``before``: what they held, ``after``: what they hold now) and the publications in
    the order ``publications``: what :func:`write_text_index` would write of the new
    graph (nodes numbered otherwise: a search finds the same). Returns how many nodes it
    holds.

    :param moved: how the publications moved since ``old`` was written
        (:attr:`~tipgraph.serving.catalogue.Catalogue.moved`): only the rows of those
        touched or put in are read, the others' places moved by runs, in SQL
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        shutil.copyfile(old, partial)
        db = sqlite3.connect(partial)
        try:
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            touched = set(touched)
            placed = {publications[i] for i in moved.placed} if moved is not None else set()
            ids: dict[str, tuple[int, int | None]] = {
                iri: (i, position) for i, iri, position in
                (_rows_of(db, touched | placed) if moved is not None
                 else db.execute("SELECT id, iri, position FROM node"))}
            was, now = _Rows(before, path.parent), _Rows(after, path.parent)
            out = [(ids[iri][0], iri) for iri in touched if iri in ids]
            _insert(db, was, out, delete=True)
            db.executemany("DELETE FROM node WHERE id = ?", ((i,) for i, _ in out))
            if moved is None:
                first = {iri: n for n, iri in enumerate(publications)}
            else:  # the positions of the nodes read only
                first = {iri: n for iri in touched | placed
                         if (n := _position(publications, iri)) is not None}
            labelled = now.labelled()
            next_id = (db.execute("SELECT max(id) FROM node").fetchone()[0] or 0) + 1
            rows = [(next_id + n, iri) for n, iri in enumerate(sorted(
                iri for iri in touched if iri in first or iri in labelled))]
            db.executemany("INSERT INTO node VALUES (?, ?, ?)",
                           ((i, iri, first.get(iri)) for i, iri in rows))
            _insert(db, now, rows)
            if moved is not None:  # the publications left: moved by runs
                shifts = [(start, start + count, to - start)
                          for start, count, to in moved.runs if to != start]
                if shifts:
                    cases = " ".join("WHEN position >= ? AND position < ? THEN position + ?"
                                     for _ in shifts)
                    db.execute(f"UPDATE node SET position = CASE {cases} ELSE position END "
                               "WHERE position IS NOT NULL AND id < ?",
                               [*(n for shift in shifts for n in shift), next_id])
            db.executemany("UPDATE node SET position = ? WHERE id = ?",
                           ((first.get(iri), i) for iri, (i, position) in ids.items()
                            if iri not in touched and first.get(iri) != position))
            db.execute("UPDATE meta SET value = ? WHERE key = 'publications'",
                       (len(publications),))
            nodes = db.execute("SELECT count(*) FROM node").fetchone()[0]
            # numbered otherwise now: the places are read from the table
            db.execute("DELETE FROM meta WHERE key = 'numbered'")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('nodes', ?)", (nodes,))
            db.commit()
        finally:
            db.close()
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return nodes


def _rows_of(db: sqlite3.Connection, iris: set[str]) -> list[tuple[int, str, int | None]]:
    """The rows (id, iri, position) of the nodes ``iris``: one scan of the table."""
    if not iris:
        return []
    db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (iri TEXT PRIMARY KEY)")
    db.execute("DELETE FROM wanted")
    db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((iri,) for iri in iris))
    return db.execute("SELECT id, node.iri, position FROM node JOIN wanted "
                      "ON node.iri = wanted.iri").fetchall()


def _position(publications: Sequence[str], iri: str) -> int | None:
    try:
        return publications.index(iri)
    except ValueError:
        return None


class TextIndex:
    """One build's text index, open read-only (one connection per search)."""

    #: seconds a search may take (the service sets its ``query_timeout``); None: no limit.
    #: A search runs in the request's thread, not in a query process: a few words that
    #: begin most others (``a OR e OR i``) read the whole index, seconds at 100,000
    #: publications.
    timeout: float | None = None

    def __init__(self, path: Path) -> None:
        self.path = path
        self._uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        db = self._connect()
        try:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            nodes = meta.get("nodes")
            if nodes is None:  # a file written before it said
                nodes = db.execute("SELECT count(*) FROM node").fetchone()[0]
        finally:
            db.close()
        if meta.get("version") != VERSION:
            raise sqlite3.DatabaseError(f"{path.name} is of version {meta.get('version')}, "
                                        f"not {VERSION}")
        #: how many publications it holds
        self.publications = int(meta["publications"])
        #: how many nodes it holds: the publications and the other labelled nodes
        self.nodes = int(nodes)
        #: whether node ``i`` is the publication at place ``i - 1`` for every publication
        #: (as a full build numbers them)
        self._numbered = meta.get("numbered") == 1
        #: node id -> the publication's place in the browse order (-1: not one), made on
        #: the first search that asks for places
        self._positions: array | None = None
        self._positions_lock = threading.Lock()

    @classmethod
    def write(cls, source: LiteralSource, publications: Sequence[str], path: Path
              ) -> TextIndex:
        """The index of the text ``source`` holds, written to ``path``
        (:func:`write_text_index`)."""
        write_text_index(source, publications, path)
        return cls(path)

    @classmethod
    def open_expecting(cls, path: Path, publications: int, nodes: int) -> TextIndex:
        """The index in ``path``, which must hold ``publications`` and ``nodes`` as the
        build's index file says it does.

        :raises ValueError: when it holds others (a file of another build)
        :raises sqlite3.Error: when there is none, or one this version cannot read
        """
        index = cls(path)
        if (index.publications, index.nodes) != (publications, nodes):
            raise ValueError(f"{path.name} holds {index.publications} publications and "
                             f"{index.nodes} nodes, not the {publications} and {nodes} of "
                             "its build")
        return index

    @classmethod
    def of_store(cls, store: GraphStore) -> TextIndex:
        """An index of ``store`` made now, in a temporary file removed with the index: for
        a store that is not a build (a client's own store, a test's)."""
        handle, name = tempfile.mkstemp(prefix="tipgraph-text-", suffix=".sqlite")
        os.close(handle)
        path = Path(name)
        try:
            publications = sorted(row["p"].value for row in store.query(
                f"SELECT ?p WHERE {{ ?p a <{TIP.Publication}> FILTER(isIRI(?p)) }}"))
            write_text_index(_StoreLiterals(store), publications, path)
            index = cls(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        weakref.finalize(index, path.unlink, missing_ok=True)
        return index

    @classmethod
    def open(cls, path: Path) -> TextIndex | None:
        """The index in ``path``; None when there is none (or one this version cannot read)."""
        if not path.is_file():
            return None
        try:
            return cls(path)
        except sqlite3.Error:
            return None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._uri, uri=True, check_same_thread=False)

    def _run(self, select: str, text: str, facts: Iterable[str] = (), rest: str = ""
             ) -> list[tuple]:
        """``select`` (from ``text``, the FTS5 table) of the rows matching the search
        ``text`` and holding every one of ``facts``; ``rest`` follows the conditions."""
        expression = fts_query(text)
        if not expression:  # nothing to look for: nothing found
            return []
        sql, parameters = f"{select} WHERE text MATCH ?", [expression]
        facts = list(facts)
        if facts:
            # "+": not a constraint FTS5 is asked to use (it would run the search once
            # per fact row: seconds), a test of each row the search found
            sql += " AND +text.rowid IN (SELECT rowid FROM fact WHERE fact MATCH ?)"
            parameters.append(" AND ".join(f'"{token}"' for token in facts))
        sql += rest
        db = self._connect()  # a few hundred microseconds: no connection shared by threads
        limit = self.timeout
        # interrupted from a timer (FTS5 merging a prefix's postings runs no VDBE step a
        # progress handler would see)
        timer = threading.Timer(limit, db.interrupt) if limit else None
        if timer is not None:
            timer.start()
        try:
            return db.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as error:
            if timer is not None and timer.finished.is_set():
                raise QueryTimeout(f"The text search {text!r} was stopped after {limit:g} s, "
                                   "the time limit (setting query_timeout). Narrow it down: "
                                   "longer words, fewer of them joined by OR, a phrase."
                                   ) from None
            raise TextQueryError(f"cannot read the text search {text!r}: {error} (an operator "
                                 "AND, OR or NOT needs words on both sides)") from None
        finally:
            if timer is not None:
                timer.cancel()
            db.close()

    def hits(self, text: str, *, scores: bool = True, facts: Iterable[str] = ()
             ) -> list[tuple[str, float]]:
        """The nodes whose text matches ``text`` and that hold every one of ``facts``
        (:func:`fact_token`): (IRI, score), the score bm25's, higher for a better match,
        best first (facts change no score); without ``scores``, in no order and each score
        0 (bm25 costs 5 us a hit: 0.1 s for a search matching a quarter of 100,000
        publications).

        :raises TextQueryError: when ``text`` cannot be read as a search
        """
        if not scores:
            return self._run("SELECT node.iri, 0.0 FROM text JOIN node ON node.id = text.rowid",
                             text, facts)
        return self._run(_SCORED, text, facts, " ORDER BY score DESC")

    def best_hits(self, text: str, wanted: int, *, facts: Iterable[str] = ()
                  ) -> tuple[list[tuple[str, float]], bool]:
        """The ``wanted`` best hits of :meth:`hits` (scored, best first), and every other
        hit whose score, as a query writes it (:func:`written_score`), ties the last of
        them; with whether that is every hit.

        A query ordered by the score first and taking ``wanted`` solutions can only take
        these (:func:`~tipgraph.serving.text_sparql.rewrite`): FTS5 still scores every
        hit, but hands over a few hundred (0.4 s for a word of a third of a million
        publications, against 25 s to join them all).

        :raises TextQueryError: when ``text`` cannot be read as a search
        """
        # the hits' ids sorted, then the IRIs of the best only (not of a third of a million)
        fetched = 2 * wanted + 64  # room for the hits tying the last: one pass, mostly
        rows = self._run(f"SELECT node.iri, best.score FROM ({_SCORED_IDS}", text, facts,
                         f" ORDER BY score DESC LIMIT {fetched}) AS best "
                         "JOIN node ON node.id = best.id ORDER BY best.score DESC")
        if len(rows) <= wanted:
            return rows, True
        floor = float(written_score(rows[wanted - 1][1])) if wanted else math.inf
        if len(rows) == fetched and float(written_score(rows[-1][1])) >= floor:
            # the ties go on past the rows fetched: all of them, in a second pass (a
            # score is 7 digits: 1e-5 of it below the floor is below any of them)
            low = floor - abs(floor) * 1e-5
            if not math.isfinite(low):
                return self.hits(text, facts=facts), True
            rows = self._run(f"SELECT node.iri, tied.score FROM ({_SCORED_IDS}", text, facts,
                             f") AS tied JOIN node ON node.id = tied.id "
                             f"WHERE tied.score >= {low!r} ORDER BY tied.score DESC")
        best = [row for row in rows if float(written_score(row[1])) >= floor]
        return best, len(best) == len(rows) and len(rows) < fetched

    def publication_positions(self, text: str) -> list[int]:
        """The places in the browse order of the publications whose text matches ``text``
        (unordered).

        :raises TextQueryError: when ``text`` cannot be read as a search
        """
        positions = self._places()
        size = len(positions)
        return [place for (rowid,) in self._run("SELECT rowid FROM text", text)
                if rowid < size and (place := positions[rowid]) >= 0]

    def _places(self) -> array:
        if self._positions is None:
            with self._positions_lock:
                if self._positions is None:
                    if self._numbered:  # id i at place i - 1: nothing to read
                        self._positions = array("i", range(-1, self.publications))
                    else:
                        db = self._connect()
                        try:
                            self._positions = _read_places(db)
                        finally:
                            db.close()
        return self._positions


def _read_places(db: sqlite3.Connection) -> array:
    """Each node's place in the browse order, by id (-1: not a publication), as the
    table ``node`` says (an incremental build's numbering)."""
    found = db.execute("SELECT id, position FROM node WHERE position IS NOT NULL").fetchall()
    places = array("i", [-1]) * (max((i for i, _ in found), default=0) + 1)
    for i, place in found:
        places[i] = place
    return places


_STRING_TYPES = ("http://www.w3.org/2001/XMLSchema#string",
                 "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString")


class _StoreLiterals:
    """A :class:`LiteralSource` asking a store by SPARQL."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store

    def pairs(self, prop: str, value: str | None = None) -> Iterable[tuple[str, str]]:
        rows = self.store.query(f"SELECT ?s ?o WHERE {{ ?s <{prop}> ?o "
                                "FILTER(isIRI(?s) && !isBlank(?o)) }")
        return ((row["s"].value, row["o"].value) for row in rows)

    def literals(self, prop: str) -> Iterable[tuple[str, str, str | None, str | None]]:
        rows = self.store.query(f"SELECT ?s ?l WHERE {{ ?s <{prop}> ?l "
                                "FILTER(isIRI(?s) && isLiteral(?l)) }")
        for row in rows:
            literal = row["l"]
            datatype = literal.datatype.value
            yield (row["s"].value, literal.value, literal.language,
                   None if datatype in _STRING_TYPES else datatype)
