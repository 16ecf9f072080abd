"""The package's shape: a light core that never depends on the consumer subpackages."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import brainbridge

SRC = Path(brainbridge.__file__).resolve().parent
CONSUMERS = ("ecephys", "encoding", "data")
# the application layer may reach every job (lazily); the core may not
APPLICATION = {"cli", "examples", "__init__.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _core_files() -> list[Path]:
    files = []
    for path in SRC.rglob("*.py"):
        top = path.relative_to(SRC).parts[0]
        if top in CONSUMERS or top in APPLICATION:
            continue
        files.append(path)
    return files


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_core_modules_never_import_consumers(path):
    offending = {
        name for name in _imports(path) if any(name.startswith(f"brainbridge.{c}") for c in CONSUMERS)
    }
    assert not offending, f"{path.relative_to(SRC)} imports {sorted(offending)}"


def test_consumers_do_not_import_each_other():
    for consumer in CONSUMERS:
        for path in (SRC / consumer).rglob("*.py"):
            others = [c for c in CONSUMERS if c != consumer]
            offending = {n for n in _imports(path) if any(n.startswith(f"brainbridge.{o}") for o in others)}
            assert not offending, f"{path.relative_to(SRC)} imports {sorted(offending)}"


def test_import_brainbridge_stays_light():
    code = (
        "import sys, json, brainbridge; "
        "print(json.dumps(sorted(m for m in ('torch', 'sklearn', 'pynwb', 'dask', 'scipy', 's3fs', 'matplotlib') "
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
