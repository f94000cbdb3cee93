"""The walls between the layers, read from the package's own imports (ast, no server).

The build writes, the read side reads, the web speaks HTTP (DESIGN.md, "Layers"):
no import cycle anywhere; the web layer never reaches a build stage, owlrl or
pyshacl; the read side and the build never reach Flask; no module outside
``store/`` asks which store class it has; and ``web/`` and ``serving/`` import
nothing inside a function unless a comment on that line says why.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "tipgraph"

#: The stages of the build pipeline (a module, or a package and its modules).
BUILD_STAGES = ("tipgraph.build", "tipgraph.sources", "tipgraph.reconcile", "tipgraph.mapping",
                "tipgraph.reasoning", "tipgraph.validation", "tipgraph.shacl_fast")
#: What the build's engines are proven equal to: never loaded by a web worker.
BUILD_LIBRARIES = ("owlrl", "pyshacl")
STORE_CLASSES = {"GraphStore", "OxigraphStore", "RemoteSparqlStore"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, tuple[Path, ast.Module]]:
    return {module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"), str(p)))
            for p in sorted(PACKAGE.rglob("*.py"))}


def _imported(node: ast.Import | ast.ImportFrom, name: str) -> Iterator[str]:
    """The modules an import statement in module ``name`` names (``from a import b``: a.b
    when that is a module of ours, else a)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: from the package of ``name``
        package = name.split(".")[:len(name.split(".")) - node.level + (
            1 if modules()[name][0].name == "__init__.py" else 0)]
        base = ".".join([*package, *([base] if base else [])])
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in modules() else base


def _typing_only(tree: ast.Module) -> set[int]:
    """The ids of the import statements under ``if TYPE_CHECKING:`` (never run)."""
    return {id(node) for branch in ast.walk(tree) if isinstance(branch, ast.If)
            and getattr(branch.test, "id", getattr(branch.test, "attr", None)) == "TYPE_CHECKING"
            for statement in branch.body for node in ast.walk(statement)}


@cache
def imports() -> dict[str, set[str]]:
    """Module -> every module it imports when run, at the top or inside a function (not
    the annotations' imports under ``if TYPE_CHECKING:``, which are never run)."""
    found: dict[str, set[str]] = {}
    for name, (_, tree) in modules().items():
        typing_only = _typing_only(tree)
        found[name] = {target for node in ast.walk(tree)
                       if isinstance(node, ast.Import | ast.ImportFrom)
                       and id(node) not in typing_only
                       for target in _imported(node, name)}
    return found


def _with_packages(name: str) -> list[str]:
    """``name`` and the packages importing it runs first (``a.b.c``: ``a``, ``a.b``)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def reached(start: str) -> set[str]:
    """Every module importing ``start`` may load (its packages' ``__init__`` included)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        for module in _with_packages(name):
            if module in seen:
                continue
            seen.add(module)
            todo.extend(imports().get(module, ()))
    return seen


def _in(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _cycles() -> list[list[str]]:
    """The import cycles among our modules (Tarjan's strongly connected components)."""
    graph = {name: {t for t in targets if t in modules()} for name, targets in imports().items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in graph[name]:
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == name:
                    break
            if len(component) > 1 or name in graph[name]:
                found.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return found


def test_no_module_imports_itself_back() -> None:
    assert _cycles() == []


def test_the_walls_see_the_imports() -> None:
    """The walls below would pass on an empty graph: they do not (the build reaches its
    stages, the web reaches Flask)."""
    assert _in("tipgraph.reconcile", tuple(reached("tipgraph.build")))
    assert "flask" in reached("tipgraph.web.blueprints")


@pytest.mark.parametrize("web", [m for m in sorted(modules()) if _in(m, ("tipgraph.web",))])
def test_the_web_never_reaches_a_build_stage(web: str) -> None:
    reach = reached(web)
    assert not {m for m in reach if _in(m, BUILD_STAGES + BUILD_LIBRARIES)}


@pytest.mark.parametrize("module", [m for m in sorted(modules())
                                    if _in(m, ("tipgraph.serving", *BUILD_STAGES))])
def test_the_read_side_and_the_build_never_reach_flask(module: str) -> None:
    reach = reached(module)
    assert not {m for m in reach if _in(m, ("flask", "tipgraph.web"))}


def test_only_the_stores_ask_which_store_they_are() -> None:
    asked = []
    for name, (path, tree) in modules().items():
        if _in(name, ("tipgraph.store",)):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance" \
                    and len(node.args) == 2:
                named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                named |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
                if named & STORE_CLASSES:
                    asked.append(f"{path.name}:{node.lineno}")
    assert asked == []


def test_the_serving_layers_import_inside_a_function_only_with_a_reason() -> None:
    """An import inside a function hides a dependency; allowed (say, a heavy optional one)
    only with a comment on its line that says why."""
    hidden = []
    for name, (path, tree) in modules().items():
        if not _in(name, ("tipgraph.web", "tipgraph.serving")):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom) \
                        and "#" not in lines[node.lineno - 1]:
                    hidden.append(f"{path.name}:{node.lineno}")
    assert hidden == []


def _loaded_by(statement: str, names: set[str]) -> set[str]:
    """Which of ``names`` a fresh interpreter has loaded after ``statement``."""
    check = f"import sys; {statement}; print(sorted(set({sorted(names)!r}) & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            check=True)
    return set(ast.literal_eval(result.stdout.strip()))


def test_a_web_worker_loads_no_build_stage() -> None:
    stages = {"tipgraph.build", "tipgraph.reconcile", "tipgraph.sources", "tipgraph.mapping",
              "tipgraph.reasoning", "tipgraph.validation", "owlrl", "pyshacl"}
    assert _loaded_by("import tipgraph.web.blueprints", stages) == set()


def test_the_read_side_and_the_build_load_no_flask() -> None:
    assert _loaded_by("import tipgraph.serving, tipgraph.build", {"flask", "werkzeug"}) == set()
