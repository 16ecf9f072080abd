"""pytest plugin loaded into the peer's test run (``-p _conformance_plugin``).

* deselects the tests listed in ``$BRAINBRIDGE_CONFORMANCE_DESELECT`` (a JSON list of node ids;
  an id also selects its parametrized variants and, for a file or class, everything in it):
  tests that need the peer's own servers, or that exercise only the peer's own code;
* provides a ``benchmark`` fixture that runs the function once (CEBRA's tests use
  pytest-benchmark's fixture; timings are not the point here);
* checks that the peer packages come from the shims (the installed peer is never used);
* writes every test's outcome to ``$BRAINBRIDGE_CONFORMANCE_REPORT`` (JSON).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

SHIMS = Path(__file__).resolve().parent
_outcomes: dict[str, dict] = {}
_deselected: dict[str, int] = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "network: needs the peer's own servers (deselected)")


@pytest.fixture
def benchmark():
    def run(function, *args, **kwargs):
        return function(*args, **kwargs)

    return run


def _selected(nodeid: str, wanted: set[str]) -> bool:
    if nodeid in wanted:
        return True
    base = nodeid.split("[", 1)[0]
    parts = base.split("::")
    return any("::".join(parts[:i]) in wanted for i in range(1, len(parts) + 1))


def pytest_collection_modifyitems(config, items):
    wanted = set(json.loads(os.environ.get("BRAINBRIDGE_CONFORMANCE_DESELECT", "[]")))
    network = set(json.loads(os.environ.get("BRAINBRIDGE_CONFORMANCE_NETWORK", "[]")))
    keep, drop = [], []
    for item in items:
        if _selected(item.nodeid, wanted):
            kind = "network" if _selected(item.nodeid, network) else "peer-only"
            if kind == "network":
                item.add_marker(pytest.mark.network)
            _deselected[kind] = _deselected.get(kind, 0) + 1
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    for name in ("brainio", "cebra"):
        module = sys.modules.get(name)
        if module is not None and not Path(module.__file__).resolve().is_relative_to(SHIMS):
            raise pytest.UsageError(
                f"{name} was imported from {module.__file__}, not from the shims in {SHIMS}"
            )


def pytest_runtest_logreport(report):
    entry = _outcomes.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
    if report.failed:
        entry["outcome"] = "failed"
        crash = getattr(report.longrepr, "reprcrash", None)
        entry["message"] = (crash.message if crash is not None else str(report.longrepr))[:500]
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        entry["message"] = str(
            report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        )[:300]


def pytest_collectreport(report):
    if report.failed:
        _outcomes[report.nodeid or "<collection>"] = {
            "outcome": "failed",
            "message": ("collection error: " + str(report.longrepr))[-800:],
        }


def pytest_sessionfinish(session):
    leaked = sorted(
        name
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in ("brainio", "cebra")
        and getattr(module, "__file__", None)
        and "site-packages" in str(module.__file__)
    )
    path = os.environ.get("BRAINBRIDGE_CONFORMANCE_REPORT")
    if path:
        Path(path).write_text(
            json.dumps(
                {"tests": _outcomes, "deselected": _deselected, "leaked_peer_modules": leaked}, indent=1
            )
        )
