"""The fast SHACL engine: shapes compiled to SPARQL queries that Oxigraph answers.

pyshacl (:mod:`tipgraph.validation`) is the reference; this engine reports exactly the
same results for the SHACL Core subset ``shapes/tipgraph.ttl`` uses, and refuses shapes
with any other construct (:class:`UnsupportedShapes`), as the fast reasoner does.

Supported: node shapes with ``sh:targetClass`` (subclasses included, as SHACL
instances are), property shapes with an IRI ``sh:path``, ``sh:minCount``,
``sh:maxCount``, ``sh:class``, ``sh:datatype``, ``sh:nodeKind``, ``sh:in``,
``sh:pattern`` (with ``sh:flags``), ``sh:minInclusive`` and its three siblings,
``sh:or`` and ``sh:qualifiedValueShape`` (of shapes made of those value tests),
``sh:qualifiedMinCount``/``MaxCount``, ``sh:severity``, ``sh:message`` (one per
shape) and ``sh:deactivated``.

Each constraint of each shape becomes a :class:`Check`, answered by a query over the
store's default graph. Where pyshacl's answer is Python's own (``sh:pattern`` is a
Python regular expression, a datatype's well-formedness is rdflib's), SPARQL only
picks the candidates and Python decides them as pyshacl does.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import partial

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.term import Node

from tipgraph.errors import TipgraphError
from tipgraph.graphs import Triple
from tipgraph.namespaces import RDF, RDFS, XSD

SH = Namespace("http://www.w3.org/ns/shacl#")

Result = tuple[str, str, str | None, str, str | None]  # severity, focus, path, message, value

#: Queries of one validation asked of the store at once, each by a thread of its own:
#: Oxigraph evaluates a query without holding Python's lock, so they run on as many cores
#: (a million publications' store alone, on a machine of two: 109.8 s with one, 74.0 with two).
QUERY_THREADS = min(4, os.cpu_count() or 1)


class UnsupportedShapes(TipgraphError):
    """The shapes use a construct the fast engine cannot check; use ``engine="pyshacl"``."""


def local_name(node: Node | None) -> str:
    """``sh:Violation`` -> ``Violation`` (how reports name severities)."""
    return str(node).rsplit("#", 1)[-1] if node is not None else "Violation"


# --------------------------------------------------------------------------- Oxigraph terms

SUBCLASS = str(RDFS.subClassOf)


def load_triples(store: ox.Store, triples: Iterable[Triple]) -> list[Triple]:
    """Add rdflib ``triples`` to the default graph of ``store``; blank node ids are kept.

    :return: the triples left out because their subject is a literal (RDF has none)
    """
    datatypes: dict[Node, ox.NamedNode] = {}

    def term(node: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
        kind = type(node)  # exact types first: isinstance and rdflib's __eq__ cost a call each
        if kind is URIRef:
            return ox.NamedNode(node)
        if kind is BNode:
            return ox.BlankNode(node)
        if not isinstance(node, Literal):
            return _to_oxigraph(node)
        if node.language:
            return ox.Literal(node, language=node.language)
        if node.datatype is None:
            return ox.Literal(node)
        datatype = datatypes.get(node.datatype)
        if datatype is None:
            datatype = datatypes[node.datatype] = ox.NamedNode(node.datatype)
        return ox.Literal(node, datatype=datatype)

    skipped: list[Triple] = []
    quads = []
    for triple in triples:
        if isinstance(triple[0], Literal):
            skipped.append(triple)
        else:
            quads.append(ox.Quad(term(triple[0]), term(triple[1]), term(triple[2])))
    store.bulk_extend(quads)
    return skipped


def _to_oxigraph(node: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    if isinstance(node, URIRef):
        return ox.NamedNode(str(node))
    if isinstance(node, BNode):
        return ox.BlankNode(str(node))
    if isinstance(node, Literal):
        if node.language:
            return ox.Literal(str(node), language=node.language)
        if node.datatype is not None:
            return ox.Literal(str(node), datatype=ox.NamedNode(str(node.datatype)))
        return ox.Literal(str(node))
    raise TypeError(f"not an RDF term: {node!r}")


def _to_rdflib(term: ox.NamedNode | ox.BlankNode | ox.Literal) -> Node:
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    if term.datatype.value == str(XSD.string):
        return Literal(term.value)
    with _quiet_rdflib():
        return Literal(term.value, datatype=URIRef(term.datatype.value))


@contextmanager
def _quiet_rdflib() -> Iterator[None]:
    """rdflib logs every ill-typed literal it meets; the fast engine looks for them."""
    logger = logging.getLogger("rdflib.term")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _sparql(node: Node) -> str:
    if isinstance(node, URIRef | Literal):
        return node.n3()
    raise UnsupportedShapes(f"the fast engine cannot name the blank node {node} in a query")


# --------------------------------------------------------------------------- value tests
#
# A value test is a condition on one value node. Each has a SPARQL expression over ?v that
# is true when the node MAY fail (never an error); an exact test's expression is true
# exactly when it fails, the others are decided in Python, as pyshacl decides them.

#: Lexical forms that rdflib surely reads as an xsd:integer (Python's int() accepts more).
SURE_INTEGER = "^[+-]?[0-9]+$"
SURE_DECIMAL = r"^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)$"
#: The SPARQL operator that holds when a value passes sh:minInclusive etc.
RANGES = {SH.minInclusive: ">=", SH.maxInclusive: "<=", SH.minExclusive: ">",
          SH.maxExclusive: "<"}
NODE_KIND_NAMES = ("IRI", "Literal", "BlankNode", "BlankNodeOrIRI", "IRIOrLiteral",
                   "BlankNodeOrLiteral")
NODE_KINDS = {SH.IRI: "!isIRI(?v)", SH.Literal: "!isLiteral(?v)", SH.BlankNode: "!isBlank(?v)",
              SH.BlankNodeOrIRI: "isLiteral(?v)", SH.IRIOrLiteral: "isBlank(?v)",
              SH.BlankNodeOrLiteral: "isIRI(?v)"}

Classes = Callable[[str], str]  # class IRI -> a SPARQL pattern "?v is an instance" (uses ?v)


@dataclass(eq=False)
class Leaf:
    """One value-type constraint: sh:class, sh:datatype, sh:nodeKind, sh:in, sh:pattern, a range."""

    kind: URIRef
    param: Node
    flags: int = 0
    members: tuple[Node, ...] = ()

    def __post_init__(self) -> None:
        self.exact = self.kind in (SH["class"], SH.nodeKind, SH["in"]) or (
            self.kind == SH.datatype and _datatype_is_exact(self.param))
        if self.kind == SH.pattern:
            self.regex = re.compile(str(self.param), self.flags)

    def leaves(self) -> Iterator[Leaf]:
        yield self

    def may_fail(self, classes: Classes) -> str:
        kind, param = self.kind, self.param
        if kind == SH["class"]:
            return f"NOT EXISTS {{ {classes(str(param))} }}"
        if kind == SH.nodeKind:
            return NODE_KINDS[param]  # type: ignore[index]
        if kind == SH["in"]:
            return "!(" + " || ".join([f"sameTerm(?v, {_sparql(m)})" for m in self.members]
                                      or ["false"]) + ")"
        if kind == SH.datatype:
            if param == RDF.langString:
                return '(!isLiteral(?v) || lang(?v) = "")'
            if param == RDFS.Literal:
                return "!isLiteral(?v)"
            wrong = f"(!isLiteral(?v) || datatype(?v) != {_sparql(param)})"
            if self.exact:
                return wrong
            if param == XSD.integer:
                return f'COALESCE({wrong} || !REGEX(STR(?v), "{SURE_INTEGER}"), true)'
            return "true"
        if kind == SH.pattern:
            sure = _sure_regex(str(param), self.flags)
            if sure is None:
                return "true"
            return f'COALESCE(isBlank(?v) || !REGEX(STR(?v), {_string(sure)}), true)'
        # a range: surely passes when both sides are well-formed integers or decimals
        sure = (f'(isLiteral(?v) && ((datatype(?v) = {_sparql(XSD.integer)} '
                f'&& REGEX(STR(?v), "{SURE_INTEGER}")) || (datatype(?v) = {_sparql(XSD.decimal)} '
                f'&& REGEX(STR(?v), "{SURE_DECIMAL}"))) && ?v {RANGES[kind]} {_sparql(param)})')
        return f"COALESCE(!{sure}, true)"

    def fails(self, value: ox.NamedNode | ox.BlankNode | ox.Literal) -> bool:
        """Python's verdict on a candidate, mirroring pyshacl's constraint components."""
        if self.kind == SH.pattern:
            if isinstance(value, ox.BlankNode):
                return True
            return not self.regex.search(value.value)  # pyshacl: match(), then search()
        node = _to_rdflib(value)
        if self.kind == SH.datatype:
            return not _datatype_matches(node, self.param)
        return not _in_range(node, self.param, self.kind)


class _Combined:
    """What a conjunction and a disjunction of tests share: their leaves, and whether the
    store's answer for all of them is exact (else Python decides, as pyshacl does)."""

    def parts(self) -> tuple[Leaf | Conjunction | Disjunction, ...]:
        raise NotImplementedError

    def leaves(self) -> Iterator[Leaf]:
        for part in self.parts():
            yield from part.leaves()

    @property
    def exact(self) -> bool:
        return all(leaf.exact for leaf in self.leaves())


@dataclass(eq=False)
class Conjunction(_Combined):
    """A node shape's value-type constraints: the node conforms when it passes all."""

    tests: tuple[Leaf | Disjunction, ...]

    def parts(self) -> tuple[Leaf | Disjunction, ...]:
        return self.tests

    def may_fail(self, classes: Classes) -> str:
        return "(" + " || ".join([t.may_fail(classes) for t in self.tests] or ["false"]) + ")"

    def verdict(self, value: ox.NamedNode | ox.BlankNode | ox.Literal,
                flags: dict[int, bool]) -> bool:
        return any(t.verdict(value, flags) if isinstance(t, Disjunction)
                   else _leaf_verdict(t, value, flags) for t in self.tests)


@dataclass(eq=False)
class Disjunction(_Combined):
    """``sh:or``: the node conforms when it conforms to one of the shapes."""

    shapes: tuple[Conjunction, ...]

    def parts(self) -> tuple[Conjunction, ...]:
        return self.shapes

    def may_fail(self, classes: Classes) -> str:
        return "(" + " && ".join([s.may_fail(classes) for s in self.shapes] or ["true"]) + ")"

    def verdict(self, value: ox.NamedNode | ox.BlankNode | ox.Literal,
                flags: dict[int, bool]) -> bool:
        return all(s.verdict(value, flags) for s in self.shapes)


Test = Leaf | Conjunction | Disjunction


def _leaf_verdict(leaf: Leaf, value: ox.NamedNode | ox.BlankNode | ox.Literal,
                  flags: dict[int, bool]) -> bool:
    """Does ``value`` fail ``leaf``, given SPARQL's may-fail flags of the row."""
    return flags[id(leaf)] and (leaf.exact or leaf.fails(value))


def _verdict(test: Test, value: ox.NamedNode | ox.BlankNode | ox.Literal,
             flags: dict[int, bool]) -> bool:
    if isinstance(test, Leaf):
        return _leaf_verdict(test, value, flags)
    return test.verdict(value, flags)


def _datatype_is_exact(datatype: Node) -> bool:
    """True when SPARQL's datatype() alone decides: rdflib has no reading of the datatype."""
    if datatype in (RDF.langString, XSD.string, RDFS.Literal):
        return True
    with _quiet_rdflib():
        return Literal("", datatype=datatype).ill_typed is None


def _datatype_matches(node: Node, datatype: Node) -> bool:
    """pyshacl's DatatypeConstraintComponent, for one value."""
    if not isinstance(node, Literal):
        return False
    if node.datatype == datatype:
        if node.ill_typed is True:
            return False
        return _value_has_type(node.value, datatype)
    if datatype == RDFS.Literal:
        return True
    if node.datatype is None and node.language is None and datatype == XSD.string:
        return True
    return datatype == RDF.langString and bool(node.language)


#: The Python types pyshacl wants a literal's value to have, by datatype (others pass).
VALUE_TYPES: dict[Node, type | tuple[type, ...]] = {
    XSD.string: (str, bytes), RDF.langString: (str, bytes), XSD.integer: int, XSD.float: float,
    XSD.decimal: Decimal, XSD.boolean: bool, XSD.date: date, XSD.time: time,
    XSD.dateTime: datetime}


def _value_has_type(value: object, datatype: Node) -> bool:
    kind = VALUE_TYPES.get(datatype)
    return kind is None or isinstance(value, kind)


def _in_range(node: Node, bound: Node, kind: URIRef) -> bool:
    """pyshacl's Min/MaxIn/Exclusive constraint components, for one value."""
    if not isinstance(node, Literal) or not isinstance(bound, Literal):
        return False
    if isinstance(bound.value, str) != isinstance(node.value, str):
        return False
    # pyshacl's own comparison; imported when first needed (pyshacl takes a while)
    from pyshacl.rdfutil.compare import compare_literal

    try:
        order = compare_literal(node, bound)
    except (TypeError, NotImplementedError):
        return False
    return {SH.minInclusive: order >= 0, SH.maxInclusive: order <= 0,
            SH.minExclusive: order > 0, SH.maxExclusive: order < 0}[kind]


_RUST_META = set("\\.+*?()|[]{}^$#&-~")
#: Python's shorthand classes, narrowed to ASCII sets that are surely inside them.
_NARROW = {"d": "[0-9]", "w": "[A-Za-z0-9_]", "s": "[ \\t\\n\\r\\f\\v]", "S": "[!-~]"}


def _sure_regex(pattern: str, flags: int) -> str | None:
    """A regex for Oxigraph (Rust syntax) whose every match Python's ``re`` also finds.

    Oxigraph's matches then surely pass sh:pattern, and only the strings it rejects
    need Python. None when the pattern uses anything outside a small common subset.
    """
    if flags:
        return None
    out: list[str] = []
    i, in_class, after_atom = 0, False, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 == len(pattern):
                return None
            e = pattern[i + 1]
            i += 2
            if e in _NARROW and not in_class:
                out.append(_NARROW[e])
            elif e in _RUST_META or e in "tnrfv":
                out.append("\\" + e)
            elif e in "/\"',:;=!@%_<>`" and not in_class:
                out.append(e)
            else:
                return None
            after_atom = True
            continue
        if in_class:
            if c == "[" or pattern[i:i + 2] in ("&&", "--", "~~"):
                return None
            in_class = c != "]"
            out.append(c)
            after_atom = not in_class
            i += 1
            continue
        if c == "[":
            start = i + 2 if pattern[i + 1:i + 2] == "^" else i + 1
            if pattern[start:start + 1] in ("]", ""):
                return None
            out.append(pattern[i:start])
            in_class, i = True, start
            continue
        if c == "(":
            group = "(?:" if pattern.startswith("(?:", i) else "("
            if pattern.startswith("(?", i) and group == "(":
                return None
            out.append(group)
            i += len(group)
            after_atom = False
            continue
        if c == "{":
            quantifier = re.match(r"\{\d+(,\d*)?\}", pattern[i:])
            if quantifier is None or not after_atom:
                return None
            out.append(quantifier.group())
            i += len(quantifier.group())
            after_atom = False
            continue
        elif c in "*+?":
            if not after_atom and not (c == "?" and out and out[-1][-1] in "*+?}"):
                return None
            after_atom = False
        else:
            after_atom = c not in "|^$"
        out.append(c)
        i += 1
    if in_class:
        return None
    sure = "".join(out)
    try:  # Oxigraph must take it, or a query would fail rather than fall back to Python
        rows = list(ox.Store().query(f"SELECT (REGEX(\"\", {_string(sure)}) AS ?x) {{}}"))
    except (SyntaxError, ValueError, OSError):
        return None
    return sure if rows and rows[0][0] is not None else None


def _string(text: str) -> str:
    """A SPARQL string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\r", "\\r") + '"'


# --------------------------------------------------------------------------- compiling shapes

#: The SHACL terms the fast engine checks as pyshacl does; the shapes may use no other.
SUPPORTED = frozenset(SH[t] for t in (
    "NodeShape", "PropertyShape", "targetClass", "property", "path", "minCount", "maxCount",
    "class", "datatype", "nodeKind", "in", "pattern", "flags", "minInclusive", "maxInclusive",
    "minExclusive", "maxExclusive", "or", "qualifiedValueShape", "qualifiedMinCount",
    "qualifiedMaxCount", "qualifiedValueShapesDisjoint", "severity", "message", "deactivated",
    "name", "description", "order", "Violation", "Warning", "Info", *NODE_KIND_NAMES))
#: Parameters of the value-type constraints, each a :class:`Leaf`.
LEAF_KINDS = (SH["class"], SH.datatype, SH.nodeKind, SH["in"], SH.pattern, *RANGES)
#: Parameters that only a property shape (one with a path) may have.
PATH_ONLY = (SH.minCount, SH.maxCount, SH.qualifiedValueShape, SH.qualifiedMinCount,
             SH.qualifiedMaxCount)


@dataclass(frozen=True)
class Check:
    """One constraint of one shape and what pyshacl reports when a focus node breaks it.

    ``kind`` is ``minCount``/``maxCount`` (bound ``low``/``high``), ``value`` (each value
    failing ``test`` is a result) or ``qualified`` (between ``low`` and ``high`` values
    conform to ``test``).
    """

    targets: tuple[str, ...]
    path: str | None  # None: the constraint is on the focus node itself
    severity: str
    message: str
    kind: str
    test: Test | None = None
    low: int | None = None
    high: int | None = None


@dataclass
class CompiledShapes:
    """A shapes graph compiled to checks, each answered by one or two SPARQL queries."""

    checks: list[Check]

    def run(self, store: ox.Store, focus: Iterable[str] | None = None) -> set[Result]:
        """Every result of every check over the default graph of ``store``; with
        ``focus`` (IRIs), only those whose focus node is one of them, asked of those nodes
        alone (an incremental build checks the nodes it changed: :func:`depending`)."""
        run = _Run(store, focus)
        shared: dict[str, list[Check]] = {}  # checks that can share one scan of their path
        alone: list[Callable[[], Iterator[Result]]] = []
        for check in self.checks:
            if check.path is not None and (check.kind == "maxCount" or (
                    check.kind == "value" and _as_minus(check.test, run.instance_of) is None)):
                shared.setdefault(check.path, []).append(check)
            else:
                alone.append(partial(run.check, check))
        # the scans first: they take longest, and the threads share out what is left
        tasks = [partial(run.shared_scan, path, checks) if len(checks) > 1
                 else partial(run.check, checks[0]) for path, checks in shared.items()]
        tasks += alone
        found: set[Result] = set()
        with ThreadPoolExecutor(QUERY_THREADS, thread_name_prefix="shacl") as pool:
            for results in pool.map(lambda task: set(task()), tasks):
                found.update(results)
        return found

    @staticmethod
    def depending(store: ox.Store, changed: Iterable[str]) -> set[str] | None:
        """The focus nodes whose results may differ once the N-Triples lines ``changed``
        were added to or removed from ``store`` (which has them, or not, by now): their
        results are :meth:`run` for those nodes plus the earlier results of the others.
        None: every node's (a changed blank node or class hierarchy).

        What the supported subset asks of a focus node is its own triples (its types,
        its values on a path), and of a value its types (``sh:class``, in ``sh:or`` and
        ``sh:qualifiedValueShape`` too): so the subjects of the changed lines, and the
        nodes with a value whose types changed. A value gained or lost is a changed line
        of the focus node itself; one kept is in ``store``.
        """
        subjects: set[str] = set()
        typed: set[str] = set()
        for line in changed:
            if not line.startswith("<"):
                return None
            subject, predicate, _ = line.split(" ", 2)
            if predicate == f"<{SUBCLASS}>":
                return None
            subjects.add(subject[1:-1])
            if predicate == f"<{RDF.type}>":
                typed.add(subject)
        if typed:
            query = (f"SELECT DISTINCT ?f WHERE {{ VALUES ?s {{ {' '.join(sorted(typed))} }} "
                     f"?f ?p ?s }}")
            for row in store.query(query):
                if not isinstance(row[0], ox.NamedNode):
                    return None
                subjects.add(row[0].value)
        return subjects

    def focus_classes(self, store: ox.Store) -> set[str]:
        """Every class whose instances some shape targets (subclasses included)."""
        run = _Run(store)
        return {s.value for check in self.checks for t in check.targets
                for s in run.subclasses(t)}


def compile_shapes(shapes: Graph) -> CompiledShapes:
    """Compile ``shapes`` for the fast engine.

    :raises UnsupportedShapes: naming each construct outside the supported subset
    """
    unsupported = {t for triple in shapes for t in triple
                   if isinstance(t, URIRef) and t.startswith(str(SH)) and t not in SUPPORTED}
    if unsupported:
        names = ", ".join(sorted(f"sh:{local_name(t)}" for t in unsupported))
        raise UnsupportedShapes(f"the fast engine cannot check {names}; use pyshacl")
    for shape, disjoint in shapes.subject_objects(SH.qualifiedValueShapesDisjoint):
        if _true(disjoint):
            raise UnsupportedShapes(f"the fast engine cannot check sh:qualifiedValueShapesDisjoint "
                                    f"true ({shape}); use pyshacl")
    classes = {RDFS.Class, OWL_CLASS, *shapes.transitive_subjects(RDFS.subClassOf, RDFS.Class)}
    for shape in _shape_nodes(shapes):
        if set(shapes.objects(shape, RDF.type)) & classes:
            raise UnsupportedShapes(f"the fast engine cannot check implicit class targets "
                                    f"({shape} is a shape and a class); use sh:targetClass")
    checks: list[Check] = []
    for shape in sorted(set(shapes.subjects(SH.targetClass, None))):
        if _deactivated(shapes, shape):
            continue
        targets = tuple(sorted(str(c) for c in shapes.objects(shape, SH.targetClass)))
        path = _path(shapes, shape)
        if path is not None:
            if (shape, SH.property, None) in shapes:
                raise UnsupportedShapes(f"the fast engine cannot check sh:property on the "
                                        f"property shape {shape}; use pyshacl")
            checks += _own_checks(shapes, shape, targets, path)
            continue
        checks += _own_checks(shapes, shape, targets, None)
        for prop in sorted(set(shapes.objects(shape, SH.property))):
            prop_path = _path(shapes, prop)
            if prop_path is None:
                raise UnsupportedShapes(f"the property shape {prop} has no sh:path")
            if (prop, SH.property, None) in shapes:
                raise UnsupportedShapes(f"the fast engine cannot check sh:property on the "
                                        f"property shape {prop}; use pyshacl")
            if not _deactivated(shapes, prop):
                checks += _own_checks(shapes, prop, targets, prop_path)
    return CompiledShapes(checks)


OWL_CLASS = URIRef("http://www.w3.org/2002/07/owl#Class")


def _shape_nodes(shapes: Graph) -> set[Node]:
    """Every node that says something in SHACL's terms, or is said to be a shape."""
    nodes = {s for s, p, _ in shapes if str(p).startswith(str(SH))}
    nodes |= set(shapes.objects(None, SH.property))
    return nodes | {s for s, _, o in shapes.triples((None, RDF.type, None))
                    if str(o).startswith(str(SH))}


def _path(shapes: Graph, shape: Node) -> str | None:
    paths = list(shapes.objects(shape, SH.path))
    if not paths:
        return None
    if len(paths) > 1 or not isinstance(paths[0], URIRef):
        raise UnsupportedShapes(f"the fast engine checks only IRI paths, not the sh:path of "
                                f"{shape}; use pyshacl")
    return str(paths[0])


def _deactivated(shapes: Graph, shape: Node) -> bool:
    values = list(shapes.objects(shape, SH.deactivated))
    if len(values) > 1:
        raise UnsupportedShapes(f"{shape} has more than one sh:deactivated")
    return bool(values) and _true(values[0])


def _true(node: Node) -> bool:
    return isinstance(node, Literal) and bool(node.value)


def _one(shapes: Graph, shape: Node, parameter: URIRef) -> Node | None:
    values = list(shapes.objects(shape, parameter))
    if len(values) > 1:
        raise UnsupportedShapes(f"{shape} has more than one sh:{local_name(parameter)}")
    return values[0] if values else None


def _count(shapes: Graph, shape: Node, parameter: URIRef) -> int | None:
    value = _one(shapes, shape, parameter)
    if value is None:
        return None
    if not (isinstance(value, Literal) and value.datatype == XSD.integer
            and isinstance(value.value, int) and value.value >= 0):
        raise UnsupportedShapes(f"sh:{local_name(parameter)} of {shape} is not an integer >= 0")
    return value.value


def _own_checks(shapes: Graph, shape: Node, targets: tuple[str, ...],
                path: str | None) -> list[Check]:
    """The checks of ``shape``'s own constraints, with its severity and message."""
    if path is None and any((shape, p, None) in shapes for p in PATH_ONLY):
        raise UnsupportedShapes(f"the node shape {shape} has a constraint only a property "
                                f"shape may have")
    severity = _one(shapes, shape, SH.severity)
    messages = list(shapes.objects(shape, SH.message))
    base = {"targets": targets, "path": path, "severity": local_name(severity or SH.Violation),
            "message": str(messages[0]) if messages else ""}
    checks = [Check(kind="value", test=test, **base) for test in _tests(shapes, shape)]
    low, high = _count(shapes, shape, SH.minCount), _count(shapes, shape, SH.maxCount)
    if low:
        checks.append(Check(kind="minCount", low=low, **base))
    if high is not None:
        checks.append(Check(kind="maxCount", high=high, **base))
    qualified = list(shapes.objects(shape, SH.qualifiedValueShape))
    if not qualified and any((shape, p, None) in shapes for p in PATH_ONLY[3:]):
        raise UnsupportedShapes(f"{shape} has a qualified count without sh:qualifiedValueShape")
    if qualified:
        if len(qualified) > 1:
            raise UnsupportedShapes(f"{shape} has more than one sh:qualifiedValueShape")
        q_low = _count(shapes, shape, SH.qualifiedMinCount)
        q_high = _count(shapes, shape, SH.qualifiedMaxCount)
        if q_low is None and q_high is None:
            raise UnsupportedShapes(f"{shape} has sh:qualifiedValueShape without a count")
        checks.append(Check(kind="qualified", test=_node_test(shapes, qualified[0]),
                            low=q_low, high=q_high, **base))
    if checks and len(messages) != 1:
        raise UnsupportedShapes(f"the fast engine reports a shape's one sh:message; {shape} "
                                f"has {len(messages)}")
    return checks


def _tests(shapes: Graph, shape: Node) -> list[Leaf | Disjunction]:
    """``shape``'s value-type constraints and its sh:or lists."""
    tests: list[Leaf | Disjunction] = []
    flags_value = _one(shapes, shape, SH.flags)
    flags = 0
    if flags_value is not None:  # pyshacl honours these two flags and no other
        flags = (re.I if "i" in str(flags_value).lower() else 0) | (
            re.M if "m" in str(flags_value).lower() else 0)
    for kind in LEAF_KINDS:
        params = sorted(shapes.objects(shape, kind))
        if len(params) > 1 and kind in (SH.datatype, SH.nodeKind, SH["in"]):
            raise UnsupportedShapes(f"{shape} has more than one sh:{local_name(kind)}")
        for param in params:
            members: tuple[Node, ...] = ()
            if kind == SH["in"]:
                members = tuple(Collection(shapes, param))
                for member in members:
                    _sparql(member)
            elif kind == SH["class"]:
                _sparql(param)
            elif kind == SH.nodeKind and param not in NODE_KINDS:
                raise UnsupportedShapes(f"{shape} has an unknown sh:nodeKind {param}")
            elif kind == SH.datatype and param == RDFS.Datatype:
                raise UnsupportedShapes("the fast engine cannot check sh:datatype rdfs:Datatype")
            elif kind in (SH.pattern, *RANGES) and not isinstance(param, Literal):
                raise UnsupportedShapes(f"sh:{local_name(kind)} of {shape} is not a literal")
            tests.append(Leaf(kind, param, flags if kind == SH.pattern else 0, members))
    for head in shapes.objects(shape, SH["or"]):
        members = tuple(Collection(shapes, head))
        if not members:
            raise UnsupportedShapes(f"the sh:or of {shape} has no shapes")
        tests.append(Disjunction(tuple(_node_test(shapes, m) for m in members)))
    return tests


def _node_test(shapes: Graph, shape: Node) -> Conjunction:
    """A shape a value node must conform to (in sh:or, sh:qualifiedValueShape)."""
    for parameter in (SH.path, SH.property, SH.targetClass, SH.deactivated, *PATH_ONLY):
        if (shape, parameter, None) in shapes:
            raise UnsupportedShapes(f"the fast engine cannot check sh:{local_name(parameter)} in "
                                    f"the nested shape {shape}; use pyshacl")
    return Conjunction(tuple(_tests(shapes, shape)))


# --------------------------------------------------------------------------- running checks

Term = ox.NamedNode | ox.BlankNode | ox.Literal


class _Run:
    """The checks' queries over one store.

    Queries scan a property's triples first and leave the focus test (is the subject a
    target instance?) to a Python set: Oxigraph answers a one-pattern scan with a filter
    many times faster than a join with the rdf:type triples, and most scans find nothing.
    """

    def __init__(self, store: ox.Store, focus: Iterable[str] | None = None) -> None:
        self.store = store
        #: a pattern binding ?f to the focus nodes asked about, before any other ("": all)
        self.only = "" if focus is None else \
            "VALUES ?f { " + " ".join(f"<{iri}>" for iri in sorted(focus)) + " }"
        self._subclasses: dict[str, list[Term]] = {}
        self._focus: dict[tuple[str, ...], set[Term]] = {}
        self._names = itertools.count(1)  # (next() is atomic: the run's threads share it)

    def subclasses(self, cls: str) -> list[Term]:
        found = self._subclasses.get(cls)
        if found is None:
            # the class itself, even when the store does not mention it (Oxigraph then
            # leaves it out of the zero-length path)
            query = f"SELECT DISTINCT ?s WHERE {{ ?s <{SUBCLASS}>+ <{cls}> }}"
            found = [ox.NamedNode(cls)]
            found += [row[0] for row in self.store.query(query) if row[0] != found[0]]
            self._subclasses[cls] = found
        return found

    def instance(self, var: str, cls: str) -> str:
        """A pattern that holds when ``var`` is a SHACL instance of ``cls``."""
        subclasses = self.subclasses(cls)
        if any(isinstance(s, ox.BlankNode) for s in subclasses):
            return f"{var} <{RDF.type}>/<{SUBCLASS}>* <{cls}> ."
        if len(subclasses) == 1:
            return f"{var} <{RDF.type}> {subclasses[0]} ."
        t = f"?t{next(self._names)}"
        return f"{var} <{RDF.type}> {t} . VALUES {t} {{ {' '.join(map(str, subclasses))} }}"

    def instance_of(self, cls: str) -> str:
        return self.instance("?v", cls)

    def focus(self, targets: tuple[str, ...]) -> str:
        """A pattern binding ``?f`` to each focus node once."""
        patterns = [self.instance("?f", t) for t in targets]
        if len(patterns) == 1 and len(self.subclasses(targets[0])) == 1:
            return f"{self.only} {patterns[0]}"
        union = " UNION ".join(f"{{ {p} }}" for p in patterns)
        return f"{{ SELECT DISTINCT ?f WHERE {{ {self.only} {union} }} }}"

    def values(self, path: str) -> str:
        """A pattern binding ``?f`` and its values ``?v`` on ``path``."""
        return f"{self.only} ?f <{path}> ?v ."

    def focus_nodes(self, targets: tuple[str, ...]) -> set[Term]:
        found = self._focus.get(targets)
        if found is None:
            query = f"SELECT ?f WHERE {{ {self.focus(targets)} }}"
            found = self._focus[targets] = {row[0] for row in self.store.query(query)}
        return found

    def check(self, check: Check) -> Iterator[Result]:
        head = (check.severity, check.path, check.message)
        if check.path is None:  # a constraint on the focus node itself
            assert check.test is not None
            return self._values(check.test, check.targets, "BIND(?f AS ?v)", head,
                                focus=self.focus(check.targets))
        values = self.values(check.path)
        if check.kind == "minCount":
            focus = self.focus(check.targets)
            if check.low == 1:
                query = f"SELECT ?f WHERE {{ {focus} MINUS {{ {values} }} }}"
            else:
                query = (f"SELECT ?f WHERE {{ {focus} OPTIONAL {{ {values} }} }} GROUP BY ?f "
                         f"HAVING (COUNT(?v) < {check.low})")
            return (_result(head, row[0]) for row in self.store.query(query))
        if check.kind == "maxCount":
            if check.high == 0:
                query = f"SELECT DISTINCT ?f WHERE {{ {values} }}"
            else:  # an (?f, path, ?v) triple is there once, so COUNT needs no DISTINCT
                query = (f"SELECT ?f WHERE {{ {values} }} GROUP BY ?f "
                         f"HAVING (COUNT(?v) > {check.high})")
            return self._focused(check.targets, head, self.store.query(query))
        assert check.test is not None
        if check.kind == "value":
            return self._values(check.test, check.targets, values, head)
        return self._qualified(check, self.focus(check.targets), values, head)

    def shared_scan(self, path: str, checks: list[Check]) -> Iterator[Result]:
        """maxCount and value checks on one path from one scan of its triples.

        The scan counts each subject's values and the values that may fail each test;
        only a test with suspects is then run on its own.
        """
        tests = [c for c in checks if c.kind == "value"]
        highs = [c.high for c in checks if c.kind == "maxCount" and c.high is not None]
        counts = [f"SUM(IF({c.test.may_fail(self.instance_of)}, 1, 0))"  # type: ignore[union-attr]
                  for c in tests]
        having = [f"{count} > 0" for count in counts]
        if highs:
            having.append(f"COUNT(?v) > {min(highs)}")
        columns = " ".join(f"({count} AS ?b{i})" for i, count in enumerate(counts))
        query = (f"SELECT ?f (COUNT(?v) AS ?n) {columns} WHERE {{ {self.values(path)} }} "
                 f"GROUP BY ?f HAVING ({' || '.join(having)})")
        rows = [(row[0], int(row[1].value), [int(row[2 + i].value) for i in range(len(tests))])
                for row in self.store.query(query)]
        suspects: set[int] = set()
        for check in checks:
            if check.kind == "maxCount":
                for focus, count, _ in rows:
                    if count > (check.high or 0) and focus in self.focus_nodes(check.targets):
                        yield _result((check.severity, check.path, check.message), focus)
        for i, check in enumerate(tests):
            if any(bad[i] and focus in self.focus_nodes(check.targets)
                   for focus, _, bad in rows):
                suspects.add(i)
        for i in sorted(suspects):
            yield from self.check(tests[i])

    def _focused(self, targets: tuple[str, ...], head: tuple,
                 rows: Iterable[ox.QuerySolution]) -> Iterator[Result]:
        """Results for the rows (?f, ?v) whose ?f is a focus node."""
        focus: set[Term] | None = None
        for row in rows:
            if focus is None:
                focus = self.focus_nodes(targets)
            if row[0] in focus:
                yield _result(head, row[0], row[1] if len(row) > 1 else None)

    def _values(self, test: Test, targets: tuple[str, ...], values: str, head: tuple,
                focus: str = "") -> Iterator[Result]:
        minus = _as_minus(test, self.instance_of)
        if minus is not None:
            query = f"SELECT ?f ?v WHERE {{ {focus} {values} {minus} }}"
        else:
            condition = test.may_fail(self.instance_of)
            query = f"SELECT ?f ?v WHERE {{ {focus} {values} FILTER({condition}) }}"
        if test.exact:
            rows = self.store.query(query)
            yield from (self._focused(targets, head, rows) if not focus
                        else (_result(head, row[0], row[1]) for row in rows))
            return
        leaves, binds, columns = self._leaf_columns(test)
        query = (f"SELECT ?f ?v {columns} WHERE {{ "
                 f"{focus} {values} FILTER({test.may_fail(self.instance_of)}) {binds} }}")
        verdicts: dict[tuple, bool] = {}
        failing = []
        for row in self.store.query(query):
            flags = tuple(_bool(row[2 + i]) for i in range(len(leaves)))
            key = (row[1], flags)
            failed = verdicts.get(key)
            if failed is None:
                named = {id(leaf): flag for leaf, flag in zip(leaves, flags, strict=True)}
                failed = verdicts[key] = _verdict(test, row[1], named)
            if failed:
                failing.append((row[0], row[1]))
        if focus:
            yield from (_result(head, f, v) for f, v in failing)
        else:
            yield from self._focused(targets, head, failing)

    def _leaf_columns(self, test: Test) -> tuple[list[Leaf], str, str]:
        """For a test Python decides: its leaves, a BIND of each leaf's SPARQL answer to
        ``?c<i>``, and those variables for the SELECT."""
        leaves = list(test.leaves())
        binds = " ".join(f"BIND({leaf.may_fail(self.instance_of)} AS ?c{i})"
                         for i, leaf in enumerate(leaves))
        return leaves, binds, " ".join(f"?c{i}" for i in range(len(leaves)))

    def _qualified(self, check: Check, focus: str, values: str,
                   head: tuple) -> Iterator[Result]:
        test = check.test
        assert test is not None
        low = check.low if check.low is not None else -1
        high = check.high
        if test.exact:
            too_many = f" || COUNT(?v) > {high}" if high is not None else ""
            query = (f"SELECT ?f WHERE {{ {focus} OPTIONAL {{ {values} "
                     f"FILTER(!{test.may_fail(self.instance_of)}) }} }} GROUP BY ?f "
                     f"HAVING (COUNT(?v) < {low}{too_many})")
            for row in self.store.query(query):
                yield _result(head, row[0])
            return
        leaves, binds, columns = self._leaf_columns(test)
        query = f"SELECT ?f ?v {columns} WHERE {{ {focus} OPTIONAL {{ {values} {binds} }} }}"
        conforming: dict[Term, set[Term]] = {}
        for row in self.store.query(query):
            found = conforming.setdefault(row[0], set())
            value = row[1]
            if value is not None:
                flags = {id(leaf): _bool(row[2 + i]) for i, leaf in enumerate(leaves)}
                if not _verdict(test, value, flags):
                    found.add(value)
        for focus_node, found in conforming.items():
            if len(found) < low or (high is not None and len(found) > high):
                yield _result(head, focus_node)


def _as_minus(test: Test, instance_of: Classes) -> str | None:
    """sh:class, or sh:or of single sh:class shapes, as MINUS groups (faster than NOT EXISTS)."""
    if isinstance(test, Leaf) and test.kind == SH["class"]:
        return f"MINUS {{ {instance_of(str(test.param))} }}"
    if isinstance(test, Disjunction) and test.shapes and all(
            len(s.tests) == 1 and isinstance(s.tests[0], Leaf) and s.tests[0].kind == SH["class"]
            for s in test.shapes):
        return " ".join(f"MINUS {{ {instance_of(str(s.tests[0].param))} }}"  # type: ignore[union-attr]
                        for s in test.shapes)
    return None


def _bool(term: Term | None) -> bool:
    return term is not None and term.value == "true"


def _result(head: tuple, focus: Term, value: Term | None = None) -> Result:
    severity, path, message = head
    return (severity, focus.value, path, message, value.value if value is not None else None)
