"""Every format tipgraph reads or writes, in one table: name, media types, extension, writer.

Query results (SELECT/ASK) and RDF documents (CONSTRUCT/DESCRIBE answers,
resource pages, dumps) share the table so that the SPARQL endpoint and the
linked-data pages negotiate the same way. A format is found by any name a
client might use: its short name, an alias, an extension or a media type
(parameters such as ``charset`` are ignored).

>>> rdf_format("ttl").media_type
'text/turtle'
>>> rdf_format("application/rdf+xml; charset=utf-8").name
'rdfxml'
>>> negotiate("text/html;q=0.5, text/turtle", ["application/ld+json", "text/turtle"])
'text/turtle'
>>> negotiate("image/png", ["text/turtle"]) is None
True
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal as KindLiteral
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph

from tipgraph.jsonld import compact
from tipgraph.negotiation import bare as _bare
from tipgraph.negotiation import choose_type

Kind = KindLiteral["results", "rdf", "html"]


@dataclass(frozen=True)
class Format:
    """One format: how clients name it and how tipgraph writes it."""

    name: str  # the short name tipgraph uses, e.g. in ``format=``
    kind: Kind
    media_type: str  # what tipgraph answers with (Content-Type)
    extension: str
    aliases: tuple[str, ...] = ()  # other short names clients send (SPARQLWrapper's among them)
    also_accepts: tuple[str, ...] = ()  # other media types that mean this format
    oxigraph: pyoxigraph.RdfFormat | None = None  # the writer, for RDF formats
    results: pyoxigraph.QueryResultsFormat | None = None  # the native writer, for results
    rdflib: str | None = None  # rdflib's name, for code that holds an rdflib Graph
    w3c: str | None = None  # the http://www.w3.org/ns/formats/ IRI (service description)

    @property
    def media_types(self) -> tuple[str, ...]:
        return (self.media_type, *self.also_accepts)

    @property
    def content_type(self) -> str:
        """Content-Type header value: text formats say they are UTF-8."""
        textual = self.media_type.startswith("text/") or self.media_type.endswith(
            ("json", "xml"))
        return f"{self.media_type}; charset=utf-8" if textual else self.media_type


_NS = "http://www.w3.org/ns/formats/"

#: The table. Order matters: within a kind, the first format is the default answer.
FORMATS: tuple[Format, ...] = (
    Format("json", "results", "application/sparql-results+json", "srj",
           aliases=("srj",), also_accepts=("application/json", "text/javascript",
                                           "application/javascript"),
           results=pyoxigraph.QueryResultsFormat.JSON, w3c=_NS + "SPARQL_Results_JSON"),
    Format("xml", "results", "application/sparql-results+xml", "srx",
           aliases=("srx",), also_accepts=("application/xml", "text/xml"),
           results=pyoxigraph.QueryResultsFormat.XML, w3c=_NS + "SPARQL_Results_XML"),
    Format("csv", "results", "text/csv", "csv", results=pyoxigraph.QueryResultsFormat.CSV,
           w3c=_NS + "SPARQL_Results_CSV"),
    Format("tsv", "results", "text/tab-separated-values", "tsv",
           results=pyoxigraph.QueryResultsFormat.TSV, w3c=_NS + "SPARQL_Results_TSV"),
    Format("turtle", "rdf", "text/turtle", "ttl", aliases=("ttl", "n3"),
           also_accepts=("application/turtle", "application/x-turtle", "text/n3",
                         "text/rdf+n3", "application/n3"),
           oxigraph=pyoxigraph.RdfFormat.TURTLE, rdflib="turtle", w3c=_NS + "Turtle"),
    Format("ntriples", "rdf", "application/n-triples", "nt", aliases=("nt", "n-triples"),
           also_accepts=("text/plain",), oxigraph=pyoxigraph.RdfFormat.N_TRIPLES,
           rdflib="nt", w3c=_NS + "N-Triples"),
    Format("jsonld", "rdf", "application/ld+json", "jsonld", aliases=("json-ld",),
           # a client asking a graph for plain JSON gets JSON-LD (JSON, and self-describing)
           also_accepts=("application/x-json+ld", "application/json"),
           oxigraph=pyoxigraph.RdfFormat.JSON_LD,
           rdflib="json-ld", w3c=_NS + "JSON-LD"),
    Format("rdfxml", "rdf", "application/rdf+xml", "rdf", aliases=("rdf", "rdf+xml", "owl"),
           oxigraph=pyoxigraph.RdfFormat.RDF_XML, rdflib="xml", w3c=_NS + "RDF_XML"),
    # dataset formats: our graphs are one default graph, written as N-Quads and TriG for
    # clients that load datasets (an N-Triples file is N-Quads, a Turtle file is TriG)
    Format("nquads", "rdf", "application/n-quads", "nq", aliases=("n-quads",),
           oxigraph=pyoxigraph.RdfFormat.N_QUADS, rdflib="nquads", w3c=_NS + "N-Quads"),
    Format("trig", "rdf", "application/trig", "trig", oxigraph=pyoxigraph.RdfFormat.TRIG,
           rdflib="trig", w3c=_NS + "TriG"),
    Format("html", "html", "text/html", "html", aliases=("htm",),
           also_accepts=("application/xhtml+xml",)),
)

#: Short names that mean a different format for graph answers than for tabular ones
#: (SPARQLWrapper sends ``format=xml`` for RDF/XML and ``format=json`` for JSON-LD).
_RDF_SYNONYMS = {"xml": "rdfxml", "json": "jsonld"}


def find(token: str, kinds: Iterable[Kind] = ("results", "rdf", "html")) -> Format | None:
    """The format of ``kinds`` that ``token`` names (short name, alias, extension, media type).

    >>> find("xml", ["rdf"]).media_type
    'application/rdf+xml'
    >>> find("text/xml").name
    'xml'
    """
    kinds = tuple(kinds)
    token = token.strip().lower().lstrip(".")
    if "/" in token:
        bare = _bare(token)
        return next((f for f in FORMATS if f.kind in kinds and bare in f.media_types), None)
    if "results" not in kinds:
        token = _RDF_SYNONYMS.get(token, token)
    return next((f for f in FORMATS if f.kind in kinds
                 and token in (f.name, f.extension, *f.aliases)), None)


def rdf_format(name_or_media_type: str) -> Format | None:
    """The RDF format a name, extension or media type stands for, or None."""
    return find(name_or_media_type, ["rdf"])


def results_format(name_or_media_type: str) -> Format | None:
    """The query-results format a name, extension or media type stands for, or None."""
    return find(name_or_media_type, ["results"])


def formats_of(*kinds: Kind) -> list[Format]:
    return [f for f in FORMATS if f.kind in kinds]


def media_types_of(*kinds: Kind) -> list[str]:
    """Every media type of ``kinds``, the main ones first (an ``offered`` list for negotiate)."""
    chosen = formats_of(*kinds)
    return [f.media_type for f in chosen] + [m for f in chosen for m in f.also_accepts]


# -- content negotiation ------------------------------------------------------------------

def negotiate(accept_header: str | None, offered: Sequence[str]) -> str | None:
    """The media type of ``offered`` the client prefers, or None when none is acceptable:
    :func:`tipgraph.negotiation.choose_type` over plain media types (each its own format;
    answers that offer formats use :func:`tipgraph.negotiation.choose`).

    :param accept_header: the request's ``Accept`` value, or None
    :param offered: media types the server can produce, its favourite first

    >>> negotiate(None, ["application/sparql-results+json", "text/csv"])
    'application/sparql-results+json'
    >>> negotiate("text/*;q=0.5, text/csv", ["text/tab-separated-values", "text/csv"])
    'text/csv'
    >>> negotiate("*/*, text/csv;q=0", ["text/csv"]) is None
    True
    """
    index = choose_type(accept_header, [(m, ()) for m in offered])
    return None if index is None else offered[index]


# -- writers ------------------------------------------------------------------------------

Term = pyoxigraph.NamedNode | pyoxigraph.BlankNode | pyoxigraph.Literal | pyoxigraph.Triple
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def term_json(term: Term) -> dict[str, object]:
    """A term as the SPARQL 1.1 JSON results format writes it."""
    if isinstance(term, pyoxigraph.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, pyoxigraph.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, pyoxigraph.Triple):
        return {"type": "triple", "value": {"subject": term_json(term.subject),
                                            "predicate": term_json(term.predicate),
                                            "object": term_json(term.object)}}
    value: dict[str, object] = {"type": "literal", "value": term.value}
    if term.language:
        value["xml:lang"] = term.language
    elif term.datatype.value != _XSD_STRING:
        value["datatype"] = term.datatype.value
    return value


def _term_xml(term: Term) -> str:
    if isinstance(term, pyoxigraph.NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, pyoxigraph.BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    if isinstance(term, pyoxigraph.Triple):
        return (f"<triple><subject>{_term_xml(term.subject)}</subject><predicate>"
                f"{_term_xml(term.predicate)}</predicate><object>{_term_xml(term.object)}"
                "</object></triple>")
    if term.language:
        return f"<literal xml:lang={quoteattr(term.language)}>{escape(term.value)}</literal>"
    if term.datatype.value != _XSD_STRING:
        return (f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}"
                "</literal>")
    return f"<literal>{escape(term.value)}</literal>"


def _term_csv(term: Term | None) -> str:
    if term is None:
        return ""
    if isinstance(term, pyoxigraph.BlankNode):
        return f"_:{term.value}"
    if isinstance(term, pyoxigraph.Triple):
        return str(term)
    return term.value


Row = Sequence[Term | None]


def write_results(fmt: Format, variables: Sequence[str], rows: Iterable[Row]) -> bytes:
    """SELECT solutions (``rows`` in the order of ``variables``) in a results format."""
    if fmt.name == "json":
        bindings = [{v: term_json(t) for v, t in zip(variables, row, strict=True)
                     if t is not None} for row in rows]
        return json.dumps({"head": {"vars": list(variables)},
                           "results": {"bindings": bindings}},
                          ensure_ascii=False).encode("utf-8")
    if fmt.name == "xml":
        out = ['<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'
               "<head>", *(f"<variable name={quoteattr(v)}/>" for v in variables),
               "</head><results>"]
        for row in rows:
            out.append("<result>")
            out.extend(f"<binding name={quoteattr(v)}>{_term_xml(t)}</binding>"
                       for v, t in zip(variables, row, strict=True) if t is not None)
            out.append("</result>")
        out.append("</results></sparql>\n")
        return "".join(out).encode("utf-8")
    if fmt.name == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(variables)
        writer.writerows([_term_csv(t) for t in row] for row in rows)
        return buffer.getvalue().encode("utf-8")
    if fmt.name == "tsv":
        lines = ["\t".join(f"?{v}" for v in variables)]
        lines.extend("\t".join("" if t is None else str(t) for t in row) for row in rows)
        return ("\n".join(lines) + "\n").encode("utf-8")
    raise ValueError(f"{fmt.name} is not a query results format")


def write_boolean(fmt: Format, value: bool) -> bytes:
    """An ASK answer in a results format (CSV/TSV as Jena writes it: one ``_askResult``)."""
    word = "true" if value else "false"
    if fmt.name == "json":
        return json.dumps({"head": {}, "boolean": value}).encode("utf-8")
    if fmt.name == "xml":
        return ('<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">'
                f"<head/><boolean>{word}</boolean></sparql>\n").encode()
    if fmt.name == "csv":
        return f"_askResult\r\n{word}\r\n".encode()
    if fmt.name == "tsv":
        return f"?_askResult\n{word}\n".encode()
    raise ValueError(f"{fmt.name} is not a query results format")


def write_rdf(fmt: Format, triples: Iterable[pyoxigraph.Triple],
              prefixes: dict[str, str] | None = None) -> bytes:
    """Triples in an RDF format; Turtle and RDF/XML use ``prefixes``, and JSON-LD is
    compacted with them as its context (:func:`tipgraph.jsonld.compact`)."""
    if fmt.oxigraph is None:
        raise ValueError(f"{fmt.name} is not an RDF format")
    if fmt.oxigraph in (pyoxigraph.RdfFormat.TURTLE, pyoxigraph.RdfFormat.RDF_XML):
        return pyoxigraph.serialize(triples, format=fmt.oxigraph, prefixes=prefixes or {})
    data = pyoxigraph.serialize(triples, format=fmt.oxigraph)
    if fmt.oxigraph == pyoxigraph.RdfFormat.JSON_LD and prefixes:
        return compact(data, prefixes)
    return data


#: The JSON-LD context the project ships: our prefixes, with ``schema:`` as ``https://``.
#: schema.org's own context maps ``schema:`` to ``http://schema.org/``; ours is inline
#: in every JSON-LD we write, so expanding never fetches it and yields exactly our triples.
CONTEXT_PATH = Path(__file__).resolve().parent / "context.jsonld"


def jsonld_context() -> dict[str, str]:
    """The JSON-LD context of our dumps and documents (``context.jsonld``, shipped).

    >>> jsonld_context()["schema"]
    'https://schema.org/'
    """
    return dict(_shipped_context())


@cache
def _shipped_context() -> dict[str, str]:
    """Read once per process: documents ask for it on every JSON-LD request."""
    return json.loads(CONTEXT_PATH.read_text(encoding="utf-8"))["@context"]
