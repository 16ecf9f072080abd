"""The import graph of a package, read from its source: every import, wherever it is written.

Read without importing anything: module-level and function-level ``import``/``from ... import``
(absolute and relative), ``importlib.import_module("...")`` and every other string that names
one of the package's modules (``"pkg.mod"``, ``"pkg.mod:attr"`` entry specs, tuples of command
modules), and, in a package's ``__init__``, the lazy ``__getattr__`` tables that name its
submodules by their short name (``{"score": "scoring"}``). Imports under ``if TYPE_CHECKING:``
are kept too: a type-only import is still a dependency of the code's shape.

:func:`layer_violations` and :func:`cycles` are the two checks of ``tests/test_architecture.py``;
they take the graph as plain data, so a test can plant a violation in a synthetic graph or in a
temporary copy of the package and see them fail.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_MODULE_STRING = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?$")


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target``; ``how`` says in which form, ``line`` where."""

    source: str
    target: str
    how: str
    line: int


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (whose folder is ``root``): dotted name -> file."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join([package, *parts])] = path
    return found


def _resolve(name: str, known: Mapping[str, Path]) -> str | None:
    """The longest known module that ``name`` is or lies inside (``pkg.mod.attr`` -> ``pkg.mod``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _relative_base(module: str, is_package: bool, level: int) -> str:
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts)


def _edges_of(module: str, path: Path, known: Mapping[str, Path], package: str) -> Iterable[Edge]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    in_collection: set[int] = set()
    imported_by_call: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                imported_by_call.add(id(node.args[0]))
        if isinstance(node, ast.Dict):
            in_collection.update(id(v) for v in node.values if v is not None)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            in_collection.update(id(e) for e in node.elts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, known)
                if target:
                    yield Edge(module, target, "import", node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _relative_base(module, is_package, node.level)
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            for alias in node.names:
                # `from pkg import submodule` imports the submodule; `from pkg import name` the package
                target = _resolve(f"{name}.{alias.name}", known) or _resolve(name, known)
                if target:
                    yield Edge(module, target, "from-import", node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
            if not _MODULE_STRING.match(text):
                continue
            dotted = text.split(":")[0]
            # a module named where code will import it: import_module's argument, an entry in a
            # table (dict, list, tuple), or a "module:attribute" spec; not e.g. a logger's name
            named_for_import = id(node) in imported_by_call or id(node) in in_collection or ":" in text
            if dotted.split(".")[0] == package and named_for_import and (dotted != package or ":" in text):
                target = dotted if dotted in known else None
                if target:
                    yield Edge(module, target, "string", node.lineno)
            elif is_package and id(node) in in_collection and f"{module}.{dotted}" in known:
                # a lazy table in a package __init__ naming a submodule by its short name
                yield Edge(module, f"{module}.{dotted}", "lazy-table", node.lineno)


def import_graph(root: Path, package: str) -> dict[str, list[Edge]]:
    """``module -> [Edge]`` for every module of ``package`` (only edges inside the package)."""
    known = modules(root, package)
    graph: dict[str, list[Edge]] = {}
    for module, path in known.items():
        edges = {}
        for edge in _edges_of(module, path, known, package):
            if edge.target != module:
                edges.setdefault(edge.target, edge)
        graph[module] = sorted(edges.values(), key=lambda e: e.line)
    return graph


def cycles(graph: Mapping[str, Iterable[Edge]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted.

    An import cycle between modules, however long, puts all its modules in one component.
    """
    adjacency = {m: sorted({e.target for e in edges if e.target in graph}) for m, edges in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative, so a deep graph cannot hit the recursion limit
        nonlocal counter
        work = [(start, iter(adjacency[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(adjacency[succ])))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(adjacency):
        if module not in index:
            visit(module)
    return sorted(found)


def layer_violations(
    graph: Mapping[str, Iterable[Edge]],
    layer_of: Callable[[str], tuple[int, str]],
) -> list[str]:
    """Every edge that points to a higher layer, or sideways into another part of the same layer.

    ``layer_of(module)`` gives ``(rank, part)``: an import may go down (lower rank) or stay
    within the same part; going up, or to another part of the same rank (one consumer into
    another), is a violation.
    """
    problems = []
    for module, edges in sorted(graph.items()):
        rank, part = layer_of(module)
        for edge in edges:
            target_rank, target_part = layer_of(edge.target)
            if target_rank > rank or (target_rank == rank and target_part != part):
                problems.append(
                    f"{module} (layer {rank} {part}) imports {edge.target} (layer {target_rank} "
                    f"{target_part}) [{edge.how}, line {edge.line}]"
                )
    return problems
