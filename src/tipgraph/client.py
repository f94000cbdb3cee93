"""Run SPARQL queries, the shipped ones first, from Python: against a build or any endpoint.

A notebook needs three things: the list of shipped queries, a way to run one
by name with parameters, and rows it can use. ::

    from tipgraph.client import Client

    client = Client("https://example.org/sparql")   # any SPARQL 1.1 endpoint
    [q.name for q in client.queries()]
    answer = client.run("publications-in-region", region="West and Central Africa")
    answer.rows                                      # [{'publication': 'https://...', ...}]
    answer.to_dataframe()                            # when pandas is installed

``Client.from_build("build")`` runs the same queries on a local build's store
instead, without a server. Either way the client asks a
:class:`~tipgraph.store.GraphStore` (embedded, or remote over the SPARQL 1.1 Protocol).
Local and remote answers are the same :class:`Results`, written out by
:mod:`tipgraph.formats` exactly as the endpoint writes them, so the same query gives
the same bytes either way.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyoxigraph

from tipgraph import formats
from tipgraph.build_dir import BuildDir
from tipgraph.errors import TipgraphError
from tipgraph.namespaces import DEFAULT_BASE, PREFIXES
from tipgraph.queries import QUERIES_DIR, Query, get_query, query_form, shipped_queries
from tipgraph.serving.text_sparql import MATCHES, ROWS, rewrite, uses_text_search
from tipgraph.serving.textindex import TEXT_FILE, TextIndex
from tipgraph.sparql_engine import QueryError
from tipgraph.store import GraphStore, OxigraphStore, RemoteSparqlStore

Term = pyoxigraph.NamedNode | pyoxigraph.BlankNode | pyoxigraph.Literal | pyoxigraph.Triple

_XSD = "http://www.w3.org/2001/XMLSchema#"
_INTEGERS = {_XSD + t for t in ("integer", "int", "long", "short", "byte", "nonNegativeInteger",
                                "positiveInteger", "negativeInteger", "nonPositiveInteger",
                                "unsignedInt", "unsignedLong", "unsignedShort", "unsignedByte")}
_FLOATS = {_XSD + "double", _XSD + "float"}

#: ``--format`` names and the query forms each one can write.
OUTPUT_FORMATS = {"table": ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE"), "csv": ("SELECT", "ASK"),
                  "json": ("SELECT", "ASK"), "ttl": ("CONSTRUCT", "DESCRIBE")}


_SD_FEATURE = "http://www.w3.org/ns/sparql-service-description#feature"


class ClientError(TipgraphError):
    """The endpoint could not be reached or refused the query; the message says which."""


def python_value(term: Term | None) -> Any:
    """A term as the Python value a notebook wants: numbers as numbers, the rest as text.

    >>> python_value(pyoxigraph.Literal("3", datatype=pyoxigraph.NamedNode(_XSD + "integer")))
    3
    >>> python_value(pyoxigraph.NamedNode("https://w3id.org/tipgraph/place/ng"))
    'https://w3id.org/tipgraph/place/ng'
    """
    if term is None:
        return None
    if isinstance(term, pyoxigraph.Literal):
        datatype = term.datatype.value
        try:
            if datatype in _INTEGERS:
                return int(term.value)
            if datatype == _XSD + "decimal":
                return Decimal(term.value)
            if datatype in _FLOATS:
                return float(term.value)
        except ValueError:
            return term.value
        if datatype == _XSD + "boolean":
            return term.value in ("true", "1")
        return term.value
    if isinstance(term, pyoxigraph.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, pyoxigraph.Triple):
        return str(term)
    return term.value


def term_from_json(value: Mapping[str, Any]) -> Term:
    """A term from its SPARQL 1.1 JSON results form (the inverse of ``formats.term_json``)."""
    kind = value["type"]
    if kind == "uri":
        return pyoxigraph.NamedNode(value["value"])
    if kind == "bnode":
        return pyoxigraph.BlankNode(value["value"])
    if kind == "triple":
        parts = value["value"]
        return pyoxigraph.Triple(term_from_json(parts["subject"]),
                                 term_from_json(parts["predicate"]),
                                 term_from_json(parts["object"]))
    if kind not in ("literal", "typed-literal"):  # typed-literal: the SPARQL 1.0 draft name
        raise ClientError(f"the endpoint answered with an unknown term type {kind!r}")
    if value.get("xml:lang"):
        return pyoxigraph.Literal(value["value"], language=value["xml:lang"])
    if value.get("datatype"):
        return pyoxigraph.Literal(value["value"], datatype=pyoxigraph.NamedNode(value["datatype"]))
    return pyoxigraph.Literal(value["value"])


@dataclass
class Results:
    """One answer: solutions (SELECT), a boolean (ASK) or triples (CONSTRUCT, DESCRIBE)."""

    form: str
    variables: list[str] = field(default_factory=list)
    terms: list[tuple[Term | None, ...]] = field(default_factory=list)
    boolean: bool | None = None
    triples: list[pyoxigraph.Triple] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Results:
        """Read a standard SPARQL 1.1 JSON results document."""
        if "boolean" in data:
            return cls("ASK", boolean=bool(data["boolean"]))
        variables = list(data.get("head", {}).get("vars", []))
        terms = [tuple(term_from_json(b[v]) if v in b else None for v in variables)
                 for b in data.get("results", {}).get("bindings", [])]
        return cls("SELECT", variables=variables, terms=terms)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Each solution as a dict of Python values (numbers as numbers, IRIs as strings);
        for CONSTRUCT and DESCRIBE, each triple as ``subject``, ``predicate``, ``object``."""
        if self.form in ("CONSTRUCT", "DESCRIBE"):
            return [{"subject": python_value(t.subject), "predicate": python_value(t.predicate),
                     "object": python_value(t.object)} for t in self.triples]
        if self.form == "ASK":
            return [{"boolean": self.boolean}]
        return [{v: python_value(t) for v, t in zip(self.variables, row, strict=True)}
                for row in self.terms]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        if self.form == "ASK":
            return 1
        return len(self.triples) if self.form in ("CONSTRUCT", "DESCRIBE") else len(self.terms)

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (pandas is not a dependency: install it to use this).

        :raises ImportError: when pandas is not installed
        """
        try:
            import pandas
        except ImportError as error:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from error
        columns = (["subject", "predicate", "object"] if self.form in ("CONSTRUCT", "DESCRIBE")
                   else ["boolean"] if self.form == "ASK" else self.variables)
        return pandas.DataFrame(self.rows, columns=columns)

    def serialize(self, output: str = "table") -> str:
        """The answer as ``table``, ``csv``, ``json`` (SPARQL results JSON) or ``ttl``.

        :raises ClientError: when the format cannot hold this form of answer
        """
        if output not in OUTPUT_FORMATS:
            raise ClientError(f"unknown format {output!r}: use one of "
                              f"{', '.join(OUTPUT_FORMATS)}")
        if self.form not in OUTPUT_FORMATS[output]:
            fits = [name for name, forms in OUTPUT_FORMATS.items() if self.form in forms]
            raise ClientError(f"a {self.form} answer cannot be written as {output}: use "
                              f"{' or '.join(fits)}")
        if output == "table":
            return self.to_table()
        if output == "ttl":
            # no prefix for the instance base: its local names have slashes, which
            # Turtle would have to escape
            return formats.write_rdf(formats.rdf_format("turtle"), self.triples,
                                     PREFIXES).decode("utf-8")
        fmt = formats.results_format(output)
        if self.form == "ASK":
            return formats.write_boolean(fmt, bool(self.boolean)).decode("utf-8")
        return formats.write_results(fmt, self.variables, self.terms).decode("utf-8")

    def to_table(self, *, width: int = 60) -> str:
        """A plain-text table for a terminal; long cells are cut at ``width`` characters."""
        if self.form == "ASK":
            return "yes" if self.boolean else "no"
        if self.form in ("CONSTRUCT", "DESCRIBE"):
            header = ["subject", "predicate", "object"]
            cells = [[display_term(t.subject), display_term(t.predicate), display_term(t.object)]
                     for t in self.triples]
        else:
            header = list(self.variables)
            cells = [[display_term(term) for term in row] for row in self.terms]
        cells = [[_cut(c, width) for c in row] for row in cells]
        widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in cells]
        count = len(self)
        lines.append(f"({count} {'triple' if header[0] == 'subject' else 'row'}"
                     f"{'' if count == 1 else 's'})")
        return "\n".join(lines)


_SHORT = sorted(((iri, f"{prefix}:") for prefix, iri in {**PREFIXES, "tg": DEFAULT_BASE}.items()),
                key=lambda pair: -len(pair[0]))


def display_term(term: Term | None) -> str:
    """A term as a table shows it: IRIs with our prefixes, literals by their text.

    >>> display_term(pyoxigraph.NamedNode("https://w3id.org/tipgraph/place/ng"))
    'tg:place/ng'
    """
    if term is None:
        return ""
    if isinstance(term, pyoxigraph.NamedNode):
        for iri, prefix in _SHORT:
            if term.value.startswith(iri):
                return prefix + term.value[len(iri):]
        return f"<{term.value}>"
    if isinstance(term, pyoxigraph.Literal):
        return " ".join(term.value.split())
    return str(python_value(term))


def _cut(cell: str, width: int) -> str:
    """Long text cut to ``width``; IRIs are never cut, a cut one would be of no use."""
    if len(cell) <= width or " " not in cell:
        return cell
    return cell[:width - 1] + "…"


def run_on_store(store: GraphStore | pyoxigraph.Store, text: str, *,
                 failed: str = "the query failed: ") -> Results:
    """Evaluate ``text`` on a store: a build's, a remote one, or a pyoxigraph store.

    :param failed: what a store's error message is prefixed with (nothing for an
        endpoint's: those name the endpoint already)
    :raises ClientError: for a query the store cannot parse or evaluate, or cannot be reached
    """
    if isinstance(store, pyoxigraph.Store):
        store = OxigraphStore(store)
    form = query_form(text)
    try:
        answer = store.query(text)
        if isinstance(answer, pyoxigraph.QueryBoolean):
            return Results("ASK", boolean=bool(answer))
        if isinstance(answer, pyoxigraph.QuerySolutions):
            variables = [v.value for v in answer.variables]
            return Results("SELECT", variables=variables,
                           terms=[tuple(solution[v] for v in variables) for solution in answer])
        return Results(form, triples=sorted(answer, key=str))  # the same order on every engine
    except QueryError as error:
        raise ClientError(failed + error.message) from error
    except (SyntaxError, ValueError, OSError) as error:
        raise ClientError(f"the query failed: {error}") from error


class Client:
    """Runs queries against one SPARQL endpoint, or a local store.

    :param endpoint: the endpoint's URL (``http://127.0.0.1:5000/sparql``)
    :param store: a pyoxigraph store to query instead (see :meth:`from_build`)
    :param timeout: seconds to wait for an endpoint's answer
    :param queries_dir: where the shipped queries are (default: ``queries/``)
    """

    def __init__(self, endpoint: str | None = None, *,
                 store: GraphStore | pyoxigraph.Store | None = None,
                 timeout: float | None = None, queries_dir: Path = QUERIES_DIR,
                 text_index: TextIndex | None = None) -> None:
        if (endpoint is None) == (store is None):
            raise ValueError("give a Client either an endpoint URL or a store")
        self.endpoint = endpoint
        if isinstance(store, pyoxigraph.Store):
            store = OxigraphStore(store)
        self.store: GraphStore = store or RemoteSparqlStore(endpoint, timeout=timeout or 60.0)
        self.timeout = timeout
        self.queries_dir = queries_dir
        #: answers ``tip:matches`` for a local store (an endpoint answers it itself)
        self.text_index = text_index
        self._text_search: bool | None = None  # whether the endpoint answers it

    @classmethod
    def from_build(cls, build_dir: Path | str = "build", **options: Any) -> Client:
        """A client of the current build in ``build_dir``, its store opened read-only.

        :raises TipgraphError: when ``build_dir`` has no current build
        """
        current = BuildDir(Path(build_dir)).current()
        if current is None:
            raise TipgraphError(f"{build_dir} has no current build: run `tipgraph build` first")
        return cls(store=OxigraphStore.open(current / "store"),
                   text_index=TextIndex.open(current / TEXT_FILE), **options)

    def queries(self) -> list[Query]:
        """The shipped queries: name, title, description, parameters and text."""
        return shipped_queries(self.queries_dir)

    def query(self, name: str) -> Query:
        """The shipped query called ``name``."""
        return get_query(name, self.queries_dir)

    def run(self, query: str | Query, params: Mapping[str, str] | None = None,
            **more_params: str) -> Results:
        """Run a shipped query (by name) or a :class:`Query`, binding its parameters.

        Parameters not given take their declared default.
        """
        query = self.query(query) if isinstance(query, str) else query
        return self.sparql(query.bind({**(params or {}), **more_params}))

    def sparql(self, text: str) -> Results:
        """Run a SPARQL query as it is (its ``tip:matches`` answered from the build's text
        index when the store is local: :mod:`tipgraph.serving.text_sparql`)."""
        if self.endpoint is None:
            if self.text_index is None and uses_text_search(text):  # a store, not a build
                self.text_index = TextIndex.of_store(self.store)
            store = self.store
            text = rewrite(text, self.text_index,
                           lambda check: int(next(iter(store.query(check)))[ROWS].value))
        elif uses_text_search(text) and not self._answers_text_search():
            # another store would take tip:matches for a property it has no triple of
            raise ClientError(f"{self.endpoint} does not answer tip:matches (tipgraph's text "
                              "search: its service description names no sd:feature "
                              "tip:matches); ask a tipgraph endpoint, or a local build")
        return run_on_store(self.store, text, failed="" if self.endpoint else
                            "the query failed: ")

    def _answers_text_search(self) -> bool:
        """Whether the endpoint says (in its service description) it answers tip:matches."""
        if self._text_search is None:
            request = urllib.request.Request(str(self.endpoint),
                                             headers={"Accept": "text/turtle"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout or 60.0) as response:
                    description = pyoxigraph.Store()
                    description.load(response.read(), pyoxigraph.RdfFormat.TURTLE)
                self._text_search = bool(description.query(
                    f"ASK {{ ?service <{_SD_FEATURE}> <{MATCHES}> }}"))
            except (OSError, ValueError, SyntaxError):  # no description: no such feature
                self._text_search = False
        return self._text_search


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; the value may itself contain ``=``.

    >>> parse_params(["region=West and Central Africa", "text=a=b"])
    {'region': 'West and Central Africa', 'text': 'a=b'}
    """
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ClientError(f"--param {pair!r} should read name=value")
        params[name.strip()] = value
    return params
