"""load_data / list_entries / ``data inspect`` on brainbridge's own files (.nc assemblies, .nwb)
and on multi-entry files (.npz, .mat, .h5), each written by its own library."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import xarray as xr
from click.testing import CliRunner

import brainbridge.data as bd
from brainbridge.assemblies import NeuroidAssembly
from brainbridge.cli import main
from brainbridge.data.load import list_entries
from brainbridge.packaging import write_netcdf

pynwb = pytest.importorskip("pynwb")


def _assembly_file(path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 4, 2))
    assembly = NeuroidAssembly(
        values,
        coords={
            "stimulus_id": ("presentation", [f"s{i}" for i in range(6)]),
            "repetition": ("presentation", [0, 1] * 3),
            "neuroid_id": ("neuroid", ["n0", "n1", "n2", "n3"]),
            "region": ("neuroid", ["V1", "V1", "IT", "IT"]),
            "time_bin_start": ("time_bin", [70, 120]),
            "time_bin_end": ("time_bin", [120, 170]),
        },
        dims=["presentation", "neuroid", "time_bin"],
    )
    write_netcdf(assembly, path)
    return values


def test_netcdf_assembly_values_and_numeric_coordinates(tmp_path):
    path = tmp_path / "assembly.nc"
    values = _assembly_file(path)
    np.testing.assert_array_equal(bd.load_data(path), values)
    np.testing.assert_array_equal(bd.load_data(path, key="repetition"), [0, 1] * 3)
    with pytest.raises(bd.DataKeyError, match="not numeric"):
        bd.load_data(path, key="region")
    with pytest.raises(bd.DataKeyError, match="not a coordinate"):
        bd.load_data(path, key="nope")
    entries = {e.name: e for e in list_entries(path)}
    assert entries[None].shape == (6, 4, 2) and entries[None].default and entries[None].kind == "assembly"
    assert entries["repetition"].loadable and not entries["stimulus_id"].loadable
    # the same values xarray reads
    np.testing.assert_array_equal(bd.load_data(path), xr.open_dataarray(path, engine="h5netcdf").values)


def _nwb_with_extension(path, tmp_path):
    """An NWB file with units, trials and an object of an extension type, whose namespace is cached."""
    from pynwb import NWBHDF5IO, NWBFile, get_class, load_namespaces
    from pynwb.spec import NWBAttributeSpec, NWBGroupSpec, NWBNamespaceBuilder

    builder = NWBNamespaceBuilder(
        "a test extension", "ndx-bb-test", version="0.1.0", author="t", contact="t@t"
    )
    builder.include_type("LabMetaData", namespace="core")
    spec = NWBGroupSpec(
        neurodata_type_def="BbTestMeta",
        neurodata_type_inc="LabMetaData",
        doc="extension type",
        attributes=[NWBAttributeSpec(name="payload", doc="text", dtype="text")],
    )
    builder.add_spec("ndx-bb-test.extensions.yaml", spec)
    builder.export(str(tmp_path / "ndx-bb-test.namespace.yaml"), outdir=str(tmp_path))
    load_namespaces(str(tmp_path / "ndx-bb-test.namespace.yaml"))
    meta_class = get_class("BbTestMeta", "ndx-bb-test")
    nwb = NWBFile(
        session_description="s", identifier="x", session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc)
    )
    nwb.add_lab_meta_data(meta_class(name="meta", payload="x"))
    nwb.add_unit_column(name="firing_rate", description="Hz")
    nwb.add_unit_column(name="quality", description="label")
    nwb.add_unit(spike_times=[0.1, 0.2, 0.3], firing_rate=3.0, quality="good", id=951)
    nwb.add_unit(spike_times=[0.5], firing_rate=1.0, quality="noise", id=952)
    nwb.add_trial_column(name="orientation", description="deg")
    nwb.add_trial(start_time=0.0, stop_time=1.0, orientation=45.0)
    nwb.add_trial(start_time=1.0, stop_time=2.0, orientation=90.0)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_nwb_units_spike_times_trials_without_loading_its_namespaces(tmp_path):
    path = tmp_path / "session.nwb"
    # written in a child process, so this process's pynwb never sees the extension
    import subprocess
    import sys

    code = (
        "import sys, pathlib; sys.path[:0] = [sys.argv[3]]\n"
        "from test_project_files import _nwb_with_extension\n"
        "_nwb_with_extension(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))\n"
    )
    from pathlib import Path

    here = str(Path(__file__).parent)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path), here],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(bd.load_data(path, key="units/spike_times"), [0.1, 0.2, 0.3, 0.5])
    np.testing.assert_array_equal(bd.load_data(path, key="units/spike_times_index"), [3, 4])
    np.testing.assert_array_equal(bd.load_data(path, key="units"), [[3.0], [1.0]])  # strings left out
    np.testing.assert_array_equal(bd.load_data(path, key="trials", columns=["orientation"]), [[45.0], [90.0]])
    np.testing.assert_array_equal(bd.load_data(path, key="trials"), [[0.0, 1.0, 45.0], [1.0, 2.0, 90.0]])
    with pytest.raises(bd.DataKeyError, match=r"pass key=.*units/spike_times"):
        bd.load_data(path)
    with pytest.raises(bd.DataKeyError, match="available"):
        bd.load_data(path, key="lfp")
    assert "ndx-bb-test" not in pynwb.get_type_map().namespace_catalog.namespaces
    # the file is never written: same bytes after reading
    before = path.read_bytes()
    entries = {e.name: e for e in list_entries(path)}
    assert path.read_bytes() == before
    assert entries["units/spike_times"].shape == (4,) and entries["trials"].shape == (2, 3)
    out = CliRunner().invoke(main, ["data", "describe", str(path), "--json"])
    assert out.exit_code == 0, out.output
    listed = {e["name"]: e for e in json.loads(out.output)["entries"]}
    assert listed["units"]["shape"] == [2, 1] and not any(e["default"] for e in listed.values())


def test_inspect_lists_every_entry_of_npz_mat_h5(tmp_path):
    np.savez(tmp_path / "d.npz", names=np.array(["a", "b"]), neural=np.ones((4, 3)), trial=np.arange(4))
    scipy.io.savemat(tmp_path / "v5.mat", {"label": "text", "neural": np.ones((5, 2)), "trial": np.arange(5)})
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f["names"] = np.array([b"a", b"b"])
        f["g/neural"] = np.ones((3, 2))
    pd.DataFrame({"a": [1.0, 2.0], "s": ["u", "v"]}).to_hdf(path, key="frame", format="table")
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": [5.0, 6.0]}).to_hdf(path, key="fixed")
    expected = {
        "d.npz": {"names": ([2], False), "neural": ([4, 3], True), "trial": ([4], False)},
        "v5.mat": {"label": ([1], False), "neural": ([5, 2], True), "trial": ([1, 5], False)},
        "m.h5": {
            "frame": ([2, 2], False),
            "fixed": ([2, 3], False),
            "names": ([2], False),
            "g/neural": ([3, 2], False),
        },
    }
    for name, want in expected.items():
        out = CliRunner().invoke(main, ["data", "describe", str(tmp_path / name), "--json"])
        assert out.exit_code == 0, out.output
        got = {e["name"]: (e["shape"], e["default"]) for e in json.loads(out.output)["entries"]}
        assert got == want, name
        text = CliRunner().invoke(main, ["data", "describe", str(tmp_path / name)]).output
        assert all(key in text for key in want)
    # each listed default is what load_data loads without a key
    np.testing.assert_array_equal(bd.load_data(tmp_path / "d.npz"), np.ones((4, 3)))
    with pytest.raises(bd.DataKeyError, match="2 DataFrames"):
        bd.load_data(path)
    npz_dtypes = {e.name: e.dtype for e in list_entries(tmp_path / "d.npz")}
    assert npz_dtypes == {"names": "<U1", "neural": "float64", "trial": "int64"}
