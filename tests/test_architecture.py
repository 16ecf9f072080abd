"""The package's shape: layers that import one way, and no import cycles.

Layers, lowest first (an import may only go down, or stay inside its own part):

0. core: the top-level modules and :mod:`brainbridge.fetch`;
1. consumers: ``ecephys``, ``encoding``, ``data`` (each its own part: they never import each other);
2. application: ``cli``, ``examples``, ``web`` (``brainbridge serve``), the peer-compatible
   facades ``ned`` and ``berg``
   (``from brainbridge.ned import NED`` reaches :mod:`brainbridge.encoding`), every consumer's
   command-line module (``*.cli``, ``*_cli``) and the ``brainbridge`` package itself (its lazy
   table reaches the consumers).

The graph is read from the source by :mod:`tests.support.import_graph`: module-level and
function-level imports, ``importlib.import_module("...")``, lazy ``__getattr__`` tables and
tables of module path strings all count.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.import_graph import Edge, cycles, import_graph, layer_violations

import brainbridge

SRC = Path(brainbridge.__file__).resolve().parent
CONSUMERS = ("ecephys", "encoding", "data")
APPLICATION = ("cli", "examples", "ned", "berg", "web")


def layer_of(module: str) -> tuple[int, str]:
    """``(rank, part)`` of a brainbridge module (see the module docstring)."""
    parts = module.split(".")
    if module == "brainbridge":
        return 2, "application"
    if parts[1] in APPLICATION or parts[-1] == "cli" or parts[-1].endswith("_cli"):
        return 2, "application"
    if parts[1] in CONSUMERS:
        return 1, parts[1]
    return 0, "core"


def architecture_problems(root: Path) -> list[str]:
    """Every import cycle and every import against the layers in the package at ``root``."""
    graph = import_graph(root, "brainbridge")
    problems = [f"import cycle between {' <-> '.join(component)}" for component in cycles(graph)]
    return problems + layer_violations(graph, layer_of)


def test_the_package_has_no_import_cycles():
    graph = import_graph(SRC, "brainbridge")
    assert cycles(graph) == []


def test_imports_follow_the_layers():
    graph = import_graph(SRC, "brainbridge")
    assert layer_violations(graph, layer_of) == []


def test_the_library_never_imports_the_application_layer():
    graph = import_graph(SRC, "brainbridge")
    library = [m for m in graph if layer_of(m)[0] < 2]
    assert "brainbridge.assemblies" in library and "brainbridge.encoding.scoring" in library
    reached = {e.target for m in library for e in graph[m] if layer_of(e.target)[0] == 2}
    assert reached == set()


def test_the_graph_reads_every_form_of_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text(
        '"""pkg.never_a_module in a docstring does not count."""\n'
        '_LAZY = {"thing": "pkg.sub.lazy"}\n'  # a table of module path strings
        "_SHORT = {'helper': 'tables'}\n"  # a lazy table naming a submodule by its short name
    )
    (package / "tables.py").write_text("")
    (package / "top.py").write_text(
        "import logging\n"
        "logger = logging.getLogger('pkg.sub')\n"  # a logger's name is not an import
        "def f():\n"
        "    from pkg.sub import plain\n"  # function level
        "    import importlib\n"
        "    return importlib.import_module('pkg.sub.dynamic')\n"
        "STEPS = ['pkg.sub.spec:step']\n"  # an entry spec
    )
    (package / "sub" / "__init__.py").write_text("")
    for name in ("plain", "dynamic", "spec", "lazy"):
        (package / "sub" / f"{name}.py").write_text("")
    (package / "sub" / "relative.py").write_text("from . import plain\nfrom ..tables import x\n")

    graph = import_graph(package, "pkg")
    edges = {m: {(e.target, e.how) for e in es} for m, es in graph.items()}
    assert edges["pkg"] == {("pkg.sub.lazy", "string"), ("pkg.tables", "lazy-table")}
    assert edges["pkg.top"] == {
        ("pkg.sub.plain", "from-import"),
        ("pkg.sub.dynamic", "string"),
        ("pkg.sub.spec", "string"),
    }
    assert edges["pkg.sub.relative"] == {("pkg.sub.plain", "from-import"), ("pkg.tables", "from-import")}


def test_cycles_and_layer_violations_are_found_in_a_synthetic_graph():
    def graph(**edges):
        return {m: [Edge(m, t, "import", 1) for t in targets] for m, targets in edges.items()}

    cyclic = graph(a=["b"], b=["c"], c=["a"], d=["a"])
    assert cycles(cyclic) == [["a", "b", "c"]]
    assert cycles(graph(a=["b"], b=[], c=["a", "b"])) == []

    ranks = {"core": (0, "core"), "enc": (1, "enc"), "eph": (1, "eph"), "app": (2, "app")}
    fine = graph(app=["enc", "core"], enc=["core"], eph=["core"], core=[])
    assert layer_violations(fine, ranks.__getitem__) == []
    bad = graph(app=[], enc=["eph"], eph=[], core=["app"])
    problems = layer_violations(bad, ranks.__getitem__)
    assert len(problems) == 2
    assert problems[0].startswith("core (layer 0 core) imports app (layer 2 app)")
    assert problems[1].startswith("enc (layer 1 enc) imports eph (layer 1 eph)")


def test_a_violation_planted_in_a_copy_of_the_package_fails_the_checks(tmp_path):
    copy = tmp_path / "brainbridge"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert architecture_problems(copy) == []

    # the core reaching the application layer lazily, through a string, inside a function
    with (copy / "assemblies.py").open("a") as f:
        f.write(
            "\n\ndef _planted():\n    import importlib\n\n"
            "    return importlib.import_module('brainbridge.cli.core')\n"
        )
    # and a cycle between two consumer modules, one side written as a function-level import
    with (copy / "encoding" / "metrics.py").open("a") as f:
        f.write(
            "\n\ndef _planted():\n    from brainbridge.encoding.scoring import score\n\n    return score\n"
        )
    scoring = (copy / "encoding" / "scoring.py").read_text()
    assert "brainbridge.encoding.metrics" in scoring  # scoring already imports metrics

    problems = architecture_problems(copy)
    assert any(
        p.startswith(
            "brainbridge.assemblies (layer 0 core) imports brainbridge.cli.core (layer 2 application)"
        )
        for p in problems
    ), problems
    cycle = [p for p in problems if p.startswith("import cycle")]
    assert (
        len(cycle) == 1
        and "brainbridge.encoding.metrics" in cycle[0]
        and "brainbridge.encoding.scoring" in cycle[0]
    )


def test_import_brainbridge_stays_light():
    code = (
        "import sys, json, brainbridge; "
        "print(json.dumps(sorted(m for m in "
        "('torch', 'sklearn', 'pynwb', 'dask', 'scipy', 's3fs', 'matplotlib') "
        "if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_lazy_public_names_resolve():
    for name in brainbridge._LAZY:
        assert callable(getattr(brainbridge, name)), name
    assert set(brainbridge._LAZY) <= set(dir(brainbridge))
    with pytest.raises(AttributeError):
        brainbridge.no_such_function  # noqa: B018


def _imported_names() -> list[tuple[str, int, str, str]]:
    """Every ``from brainbridge.x import name`` in the package, wherever it sits in a module."""
    import ast

    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").startswith("brainbridge")
            ):
                found += [(str(path.relative_to(SRC)), node.lineno, node.module, a.name) for a in node.names]
    return found


def test_every_imported_name_exists():
    # a function-level import of a name that was renamed away only fails when that function runs
    import importlib

    missing = []
    for where, line, module, name in _imported_names():
        imported = importlib.import_module(module)
        if name != "*" and not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{where}:{line} from {module} import {name}")
    assert missing == []
