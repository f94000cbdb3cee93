"""No RDF or SPARQL text is assembled from data in the build, the publisher or the web layer.

A value enters RDF or SPARQL text only through a function that checks or escapes it
(:func:`tipgraph.graphs.sparql_iri`, ``sparql_string``, ``sparql_term``, a pyoxigraph
term, an ``int``); text made from the code's own constants is fine. This test reads the
source (AST) and finds every f-string, ``%`` or ``.format`` that looks like RDF or SPARQL
text, and fails on each interpolated value it cannot show to be one of those.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "tipgraph"

#: The modules of the build, the publisher and the web layer.
CHECKED = sorted([
    *(PACKAGE / "sources").glob("*.py"), *(PACKAGE / "web").glob("*.py"),
    *(PACKAGE / name for name in ("build.py", "mapping.py", "graphs.py", "reconcile.py",
                                  "identity.py", "reasoning.py", "statistics.py",
                                  "validation.py", "store/publish.py")),
])

#: Functions that write text of this kind on purpose, and why that is safe.
EXEMPT = {
    ("graphs.py", "term"): "the fast N-Triples writer: IRIs are checked when made "
                           "(mapping.iri), literals escaped by it",
    ("graphs.py", "ntriples_lines"): "the fast N-Triples writer's IRI-only lines, "
                                     "written as its term() writes an IRI: IRIs are "
                                     "checked when made (mapping.iri)",
    ("web/resources.py", "alternates"): "an HTTP Link header of this server's own paths",
    ("web/resources.py", "document_links"): "an HTTP Link header naming the served IRI",
    ("statistics.py", "sort_key_line"): "the N-Triples line of a publication's sort key "
                                        "(incremental builds): its IRI was checked when made "
                                        "(mapping.iri), the key is an int",
    ("store/publish.py", "insert"): "sends the N-Triples lines the build wrote (every term "
                                    "checked when made) into the graph named by sparql_iri",
}

SAFE_CALLS = frozenset({"sparql_iri", "sparql_string", "sparql_term", "int", "len",
                        "NamedNode", "Literal", "BlankNode"})
TERM_TYPES = frozenset({"int", "float", "bool", "NamedNode", "Literal", "BlankNode", "Term",
                        "Subject"})
_SPARQL = re.compile(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE|INSERT|DELETE|WHERE|PREFIX|GRAPH|"
                     r"FILTER|VALUES|BIND|OPTIONAL|UNION)\b")
#: ``>`` closing an IRI in RDF or SPARQL: then a term, a variable, a group or punctuation
#: (where a message says "<IRI> is in service", a word follows)
_IRI_END = re.compile(r'>\s*([<"?{}.;,]|\^\^|a\s)')
_CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*$")


def looks_like_rdf(parts: list[ast.expr]) -> bool:
    """An f-string whose text is a query, or that puts a value in ``<...>`` or ``"..."``."""
    text = "".join(p.value for p in parts if isinstance(p, ast.Constant))
    if _SPARQL.search(text):
        return True
    for before, value, after in zip(parts, parts[1:], parts[2:], strict=False):
        if isinstance(before, ast.Constant) and isinstance(value, ast.FormattedValue) \
                and isinstance(after, ast.Constant):
            if before.value.endswith("<") and (_IRI_END.match(after.value) or (
                    after is parts[-1] and after.value.strip() == ">")):
                return True
            if before.value.endswith('"') and after.value.startswith(('"^^', '"@')):
                return True
    return False


@dataclass
class Scope:
    """What one function tells about its names: annotations and assignments."""

    annotated: set[str] = field(default_factory=set)
    assigned: dict[str, list[ast.expr]] = field(default_factory=dict)
    term_functions: set[str] = field(default_factory=set)


def _annotation_names(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node)
            if isinstance(n, ast.Name | ast.Attribute)}


def scope_of(function: ast.FunctionDef | ast.Module, term_functions: set[str]) -> Scope:
    scope = Scope(term_functions=term_functions)
    if isinstance(function, ast.FunctionDef):
        for arg in [*function.args.args, *function.args.kwonlyargs]:
            names = _annotation_names(arg.annotation)
            if names and names <= TERM_TYPES | {"list", "tuple", "Iterable", "pyoxigraph"}:
                scope.annotated.add(arg.arg)
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    scope.assigned.setdefault(target.id, []).append(node.value)
                elif isinstance(target, ast.Tuple):  # a, b = x, y: each its own; else unknown
                    pairs = zip(target.elts, node.value.elts, strict=True) \
                        if isinstance(node.value, ast.Tuple) \
                        and len(node.value.elts) == len(target.elts) \
                        else ((t, t) for t in target.elts)
                    for name, value in pairs:
                        if isinstance(name, ast.Name):
                            scope.assigned.setdefault(name.id, []).append(value)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            scope.assigned.setdefault(node.target.id, []).append(node.value or node.target)
        elif isinstance(node, ast.For | ast.comprehension):
            for target in ast.walk(node.target):
                if isinstance(target, ast.Name):  # a loop's names: unknown values
                    scope.assigned.setdefault(target.id, []).append(target)
    return scope


def is_safe(expr: ast.expr, scope: Scope, seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``expr`` is a constant of the code or a checked or escaped value."""
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        if _CONSTANT.match(expr.id) or expr.id in scope.annotated:
            return True
        values = scope.assigned.get(expr.id)
        if not values or expr.id in seen:
            return False
        return all(value is not expr and not (isinstance(value, ast.Name) and value.id == expr.id)
                   and is_safe(value, scope, seen | {expr.id}) for value in values)
    if isinstance(expr, ast.Attribute | ast.Subscript):
        root = expr
        while isinstance(root, ast.Attribute | ast.Subscript):
            root = root.value
        return isinstance(root, ast.Name) and bool(_CONSTANT.match(root.id))
    if isinstance(expr, ast.Call):
        func = expr.func
        name = func.id if isinstance(func, ast.Name) else \
            func.attr if isinstance(func, ast.Attribute) else None
        if name in SAFE_CALLS or name in scope.term_functions:
            return True
        if name == "join" and isinstance(func, ast.Attribute) \
                and isinstance(func.value, ast.Constant) and len(expr.args) == 1:
            return is_safe(expr.args[0], scope, seen)
        if name == "map" and expr.args and isinstance(expr.args[0], ast.Name):
            return expr.args[0].id in SAFE_CALLS
        return False
    if isinstance(expr, ast.GeneratorExp | ast.ListComp):
        return is_safe(expr.elt, scope, seen)
    if isinstance(expr, ast.JoinedStr):
        return all(is_safe(p.value, scope, seen) for p in expr.values
                   if isinstance(p, ast.FormattedValue))
    if isinstance(expr, ast.FormattedValue):
        return is_safe(expr.value, scope, seen)
    if isinstance(expr, ast.BinOp):
        return is_safe(expr.left, scope, seen) and is_safe(expr.right, scope, seen)
    if isinstance(expr, ast.IfExp):
        return is_safe(expr.body, scope, seen) and is_safe(expr.orelse, scope, seen)
    return False


def unsafe_formatting(source: str, module: str) -> list[str]:
    """Every value put into RDF or SPARQL text in ``source`` without a check, as
    ``module:line: expression``."""
    tree = ast.parse(source)
    term_functions = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                      and _annotation_names(f.returns) and _annotation_names(f.returns)
                      <= TERM_TYPES | {"pyoxigraph"}}
    found: list[str] = []
    functions = [tree, *(f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef))]
    owner: dict[int, ast.AST] = {}
    for function in functions:  # innermost function last: it wins
        for node in ast.walk(function):
            owner[id(node)] = function
    scopes = {id(f): scope_of(f, term_functions) for f in functions}
    for node in ast.walk(tree):
        function = owner[id(node)]
        name = getattr(function, "name", "")
        if (module, name) in EXEMPT:
            continue
        scope = scopes[id(function)]
        if isinstance(node, ast.JoinedStr) and looks_like_rdf(node.values):
            for part in node.values:
                if isinstance(part, ast.FormattedValue) and not is_safe(part.value, scope):
                    found.append(f"{module}:{node.lineno}: {ast.unparse(part.value)}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) \
                and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) \
                and looks_like_rdf([node.left, ast.FormattedValue(ast.Constant(0), -1),
                                    ast.Constant("")]):
            found.append(f"{module}:{node.lineno}: % {ast.unparse(node.right)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "format" and isinstance(node.func.value, ast.Constant) \
                and isinstance(node.func.value.value, str) \
                and looks_like_rdf([node.func.value]):
            found.append(f"{module}:{node.lineno}: .format({ast.unparse(node)})")
    return found


def test_no_rdf_or_sparql_text_is_assembled_from_data() -> None:
    found = [problem for path in CHECKED
             for problem in unsafe_formatting(path.read_text(encoding="utf-8"),
                                              path.relative_to(PACKAGE).as_posix())]
    assert found == []


@pytest.mark.parametrize("code", [
    'def f(uri: str):\n    return store.query(f"SELECT ?p WHERE {{ <{uri}> ?p ?o }}")\n',
    'def f(row):\n    iri = row["g"].value\n    return f"DROP GRAPH <{iri}>"\n',
    'def f(title):\n    return f\'<urn:s> <urn:p> "{title}"@en .\'\n',
    'def f(base):\n    return "SELECT * WHERE { ?s ?p \'%s\' }" % base\n',
    'def f(x):\n    return "ASK {{ <{}> ?p ?o }}".format(x)\n',
])
def test_the_check_finds_data_put_into_query_text(code: str) -> None:
    assert unsafe_formatting(code, "example.py")


@pytest.mark.parametrize("code", [
    'def f(uri: str):\n    return f"SELECT ?p WHERE {{ {sparql_iri(uri)} ?p ?o }}"\n',
    'def f(node: NamedNode, limit: int):\n    return f"SELECT ?p WHERE {{ {node} ?p ?o }} '
    'LIMIT {limit + 1}"\n',
    'def f(uris):\n    values = " ".join(map(sparql_iri, uris))\n'
    '    return f"SELECT ?s WHERE {{ VALUES ?s {{ {values} }} <{DCT.title}> ?o }}"\n',
])
def test_the_check_lets_checked_terms_and_constants_through(code: str) -> None:
    assert unsafe_formatting(code, "example.py") == []
