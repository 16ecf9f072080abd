"""Conformance gates: BrainIO 1.1.0's and CEBRA 0.6.1's own test suites, run against brainbridge.

Each gate downloads the peer's source distribution from the package index (pinned version and
SHA-256, cached outside git; see ``_peers.py``), unpacks its ``tests/`` and runs them in a
subprocess whose ``brainio`` / ``cebra`` packages are the shims in ``shims/`` (re-exports of
brainbridge; the installed peers are never imported). Every test must pass, except those in
``expectations.py``: deliberate differences (each with its reason and the brainbridge test that
shows the behaviour), peer internals brainbridge does not provide, tests that fail on the peer
itself, and tests that need the peer's own servers (deselected, counted as ``network``).

Without the package index the gates skip, saying why; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conformance import _peers, expectations

import brainbridge

HERE = Path(__file__).resolve().parent
SHIMS = HERE / "shims"
SRC = Path(brainbridge.__file__).resolve().parents[1]
FIXTURES = HERE.parents[2] / "shared" / "fixtures" / "brainio"
#: CEBRA's data-layer test files (the rest train models, plot, or need its datasets)
CEBRA_FILES = [
    "test_api.py",
    "test_data_helper.py",
    "test_data_masking.py",
    "test_datasets.py",
    "test_distributions.py",
    "test_load.py",
    "test_loader.py",
]
#: test_dlc.py downloads DeepLabCut files from CEBRA's data host while it is collected
CEBRA_NETWORK_FILES = {"test_dlc.py": 19}


def _sdist(sdist: _peers.Sdist) -> Path:
    try:
        return _peers.fetch(sdist)
    except _peers.IndexUnreachable as error:
        message = f"the package index is unreachable, so {sdist.filename} cannot be fetched: {error}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _run(
    work: Path, args: list[str], env_extra: dict[str, str], pythonpath: list[Path], deselect, network=None
) -> dict:
    report = work / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "BRAINBRIDGE_"))}
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [SHIMS, SRC, *pythonpath])
    env["BRAINBRIDGE_CONFORMANCE_REPORT"] = str(report)
    env["BRAINBRIDGE_CONFORMANCE_DESELECT"] = json.dumps(sorted(deselect))
    env["BRAINBRIDGE_CONFORMANCE_NETWORK"] = json.dumps(sorted(deselect if network is None else network))
    env["BRAINBRIDGE_HOME"] = str(work / "home")
    env["BRAINBRIDGE_CATALOGS"] = str(work / "no-user-catalogs")
    env["MPLBACKEND"] = "Agg"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "_conformance_plugin",
        "--timeout",
        "300",
        "-rN",
        *args,
    ]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    if not report.exists():
        raise AssertionError(
            f"the peer's test run produced no report (exit {done.returncode}):\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return json.loads(report.read_text())


def _judge(
    name: str,
    result: dict,
    expected: dict[str, expectations.Expected],
    network: int,
    summaries: list[str],
    peer_only: int = 0,
) -> None:
    tests = result["tests"]
    assert not result["leaked_peer_modules"], (
        f"the installed peer was imported: {result['leaked_peer_modules']}"
    )
    failed = {n: t["message"] for n, t in tests.items() if t["outcome"] == "failed"}
    unexpected = {n: m for n, m in failed.items() if n not in expected}
    allowed = {n: expected[n] for n in failed if n in expected}
    listed_but_passing = sorted(
        n
        for n, e in expected.items()
        if n in tests and tests[n]["outcome"] == "passed" and e.kind != "network"
    )
    passed = sum(t["outcome"] == "passed" for t in tests.values())
    skipped = sum(t["outcome"] == "skipped" for t in tests.values())
    kinds = {}
    for entry in allowed.values():
        kinds[entry.kind] = kinds.get(entry.kind, 0) + 1
    summary = (
        f"{name}: run {len(tests)} / pass {passed} / allowed {len(allowed)} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}) / skipped {skipped} / "
        f"network {network} (not run)" + (f" / peer-only {peer_only} (not run)" if peer_only else "")
    )
    print(summary)
    summaries.append(summary)
    for nodeid in listed_but_passing:
        summaries.append(f"  listed in expectations but passes now: {nodeid}")
    detail = "\n".join(f"  {n}: {m}" for n, m in sorted(unexpected.items()))
    assert not unexpected, f"{summary}\n{len(unexpected)} unexpected failures:\n{detail}"


@pytest.mark.slow
def test_brainio_1_1_0_test_suite_passes_on_brainbridge(tmp_path, conformance_summary):
    if not FIXTURES.is_dir():
        pytest.skip(f"BrainIO's test data (shared fixtures) not found at {FIXTURES}")
    archive = _sdist(_peers.BRAINIO)
    work = _peers.unpack(archive, ["tests", "brainio-test"], _peers.BRAINIO, tmp_path / "brainio")
    tests = work / "tests"
    (tests / "files").mkdir()
    for name in (
        "assy_test_TestMe.nc",
        "assy_test_package_assembly.nc",
        "assy_test_package_assembly_extras.nc",
    ):
        shutil.copy(FIXTURES / name, tests / "files" / name)
    shutil.copytree(FIXTURES / "images", tests / "images")
    package = work / "brainio-test" / "brainio_test"
    for name in ("lookup.csv", "lookup2.csv"):
        shutil.copy(FIXTURES / name, package / name)
    shutil.copy(HERE / "brainio_conftest.py", tests / "conftest.py")
    # BrainIO's test catalogs, found through its entry point group like an installed package's
    dist_info = work / "site" / "brainio_test-0.0.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: brainio_test\nVersion: 0.0.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[brainio_lookups]\nbrainio_test = brainio_test.entrypoint:brainio_test\n"
        "brainio_test2 = brainio_test.entrypoint:brainio_test2\n"
    )
    (work / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    private_access: needs BrainIO's private buckets\n"
    )
    result = _run(work, ["tests"], {}, [work / "brainio-test", work / "site"], expectations.BRAINIO_NETWORK)
    _judge(
        "BrainIO 1.1.0",
        result,
        expectations.BRAINIO,
        result["deselected"].get("network", 0),
        conformance_summary,
    )


@pytest.mark.slow
def test_cebra_0_6_1_data_layer_tests_pass_on_brainbridge(tmp_path, conformance_summary):
    pytest.importorskip("torch")
    archive = _sdist(_peers.CEBRA)
    work = _peers.unpack(archive, ["tests", "cebra"], _peers.CEBRA, tmp_path / "cebra")
    peer_source = work / "peer"
    (work / "cebra").rename(peer_source.mkdir() or peer_source / "cebra")
    # CEBRA's own pytest settings (pyproject.toml), minus its addopts that name its package tree
    (work / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    slow\n    requires_dataset\n    cpu\n    cuda\n    benchmark\n"
        "filterwarnings =\n"
        "    error:The given NumPy array is not writable."
        "*PyTorch does not support non-writable tensors:UserWarning\n"
    )
    files = [f"tests/{name}" for name in CEBRA_FILES]
    not_run = expectations.CEBRA_NETWORK | set(expectations.CEBRA_PEER_ONLY)
    result = _run(
        work,
        ["-m", "not requires_dataset", *files],
        {"BRAINBRIDGE_CONFORMANCE_CEBRA_SRC": str(peer_source)},
        [],
        not_run,
        expectations.CEBRA_NETWORK,
    )
    network = result["deselected"].get("network", 0) + sum(CEBRA_NETWORK_FILES.values())
    _judge(
        "CEBRA 0.6.1 data layer",
        result,
        expectations.CEBRA,
        network,
        conformance_summary,
        result["deselected"].get("peer-only", 0),
    )
