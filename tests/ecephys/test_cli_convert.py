"""The ``brainbridge ecephys`` command and the NWB -> catalog converter."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from brainbridge.cli import main


def _run(*args):
    result = CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)
    return result


def test_sessions_units_and_session_commands(project_dir, tmp_path):
    manifest = tmp_path / "m.json"
    result = _run("ecephys", "sessions", "--source", project_dir, "--manifest", manifest, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == [101, 102, 103] and all("unit_count" in r for r in rows)
    result = _run(
        "ecephys", "units", "--source", project_dir, "--manifest", manifest, "--csv", "--session-id", "102"
    )
    assert result.exit_code == 0 and result.output.startswith("id,")
    assert {line.split(",")[0][:3] for line in result.output.splitlines()[1:]} == {"102"}
    plot = tmp_path / "raster.png"
    result = _run(
        "ecephys", "describe", "101", "--source", project_dir, "--manifest", manifest, "--plot", plot
    )
    assert result.exit_code == 0, result.output
    assert "static_gratings: 12 presentations, 4 conditions" in result.output
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # offline, from the cache just filled
    assert _run("ecephys", "sessions", "--manifest", manifest, "--offline").exit_code == 0


def test_cli_errors_are_one_line(project_dir, tmp_path):
    result = _run("ecephys", "describe", "999", "--source", project_dir, "--manifest", tmp_path / "m.json")
    assert result.exit_code != 0 and "no session" in result.output and "Traceback" not in result.output
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    result = _run("ecephys", "describe", bad)
    assert result.exit_code != 0 and "cannot read" in result.output


def test_package_nwb_into_catalog_and_load_back(project_dir, fixtures_dir):
    from brainbridge.catalogs import get_assembly, get_stimulus_set, reload_catalogs

    nwb = project_dir / "session_101" / "session_101.nwb"
    result = _run(
        "ecephys",
        "package",
        nwb,
        fixtures_dir / "nwb" / "sub-anm369963_ses-20170228.nwb",
        "--catalog",
        "lab-ecephys",
        "--bin-edges",
        "0:0.25:0.05",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("assembly\t") == 2
    reload_catalogs()
    assembly = get_assembly("ecephys.101")
    assert assembly.dims == ("presentation", "neuroid", "time_bin") and assembly.shape[2] == 5
    stimuli = get_stimulus_set("ecephys.101.stimuli")
    assert len(stimuli) == 7 and set(assembly["stimulus_id"].values) == set(stimuli["stimulus_id"])
    description = json.loads(stimuli.get_stimulus(stimuli["stimulus_id"].iloc[0]).read_text())
    assert description["stimulus_id"] == stimuli["stimulus_id"].iloc[0]
    np.testing.assert_allclose(assembly["time_bin_end"].values, [0.05, 0.1, 0.15, 0.2, 0.25])
    real = get_assembly("ecephys.anm369963_2017-02-28_2")
    assert real.shape == (178, 1, 5)


def test_nwb_paths_expand_folders_and_reject_missing(project_dir, tmp_path):
    import pytest

    from brainbridge.ecephys.convert import nwb_paths
    from brainbridge.errors import ValidationError

    found = nwb_paths(project_dir)  # a project folder: every session file, recursively, sorted
    assert [p.name for p in found] == ["session_101.nwb", "session_102.nwb", "session_103.nwb"]
    single = project_dir / "session_102" / "session_102.nwb"
    assert nwb_paths([single, project_dir / "session_101"]) == [
        single,
        project_dir / "session_101" / "session_101.nwb",
    ]
    with pytest.raises(ValidationError, match="no such NWB file or folder"):
        nwb_paths(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match="no .nwb files"):
        nwb_paths(tmp_path / "empty")
    result = _run("ecephys", "package", tmp_path / "empty", "--catalog", "lab-ecephys-empty")
    assert result.exit_code != 0 and "no .nwb files" in result.output and "Traceback" not in result.output


def test_deprecated_format_option_and_session_command_still_work(project_dir, tmp_path):
    import pytest

    manifest = tmp_path / "m.json"
    new = _run("ecephys", "sessions", "--source", project_dir, "--manifest", manifest, "--json")
    with pytest.warns(DeprecationWarning, match="--format is deprecated"):
        old = _run("ecephys", "sessions", "--source", project_dir, "--manifest", manifest, "--format", "json")
    assert "note: --format is deprecated; use --json or --csv" in old.output
    assert json.loads(old.output.splitlines()[-1]) == json.loads(new.output)
    with pytest.warns(DeprecationWarning, match="brainbridge ecephys session is deprecated"):
        old = _run("ecephys", "session", "101", "--source", project_dir, "--manifest", manifest)
    assert old.exit_code == 0 and "static_gratings: 12 presentations" in old.output
