"""Every file BrainIO wrote (../shared/fixtures/brainio) loads with all coordinates and values intact."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

from brainbridge.assemblies import DataAssembly, MetadataAssembly, NeuronRecordingAssembly
from brainbridge.packaging import write_netcdf
from brainbridge.stimuli import StimulusSet


def raw_variables(path, group=None):
    """Every 1-D/2-D variable of a netCDF file read with h5py alone (dimension scales excluded)."""
    out = {}
    with h5py.File(path, "r") as f:
        node = f[group] if group else f
        for name, item in node.items():
            if not isinstance(item, h5py.Dataset) or item.attrs.get("CLASS") == b"DIMENSION_SCALE":
                continue
            values = item[()]
            if values.dtype == object:
                values = np.array(
                    [v.decode() if isinstance(v, bytes) else v for v in values.ravel()], dtype=object
                )
            out[name] = values
    return out


def check_against_raw(assembly, raw, data_name):
    np.testing.assert_array_equal(np.asarray(assembly.values), raw.pop(data_name))
    for name, values in raw.items():
        assert name in assembly.coords, f"coordinate {name} lost"
        loaded = np.asarray(assembly[name].values)
        if values.dtype == object:
            assert [str(v) for v in loaded] == [str(v) for v in values], name
        elif loaded.dtype.kind == "M":
            continue  # CF-decoded dates: checked separately
        else:
            np.testing.assert_array_equal(loaded, values, err_msg=name)


def test_testme(fixtures_dir):
    path = fixtures_dir / "brainio" / "assy_test_TestMe.nc"
    assembly = NeuronRecordingAssembly.from_files(path)
    check_against_raw(assembly, raw_variables(path), "data")
    assert assembly["stimulus_id"].values.tolist() == ["n0", "n1", "n1", "n0", "n4", "n9"]
    assert assembly.sel(stimulus_id="n1")["repetition"].values.tolist() == [1, 2]
    beta = assembly.sel(neuroid_id="beta")  # the dimension keeps its name (BrainIO renamed it to "foo")
    assert beta.dims == ("presentation", "neuroid")
    assert beta.values[:, 0].tolist() == [2, 5, 8, 11, 14, 17]
    assert beta["foo"].values.tolist() == [2]
    assert assembly.dims == ("presentation", "neuroid")


def test_legacy_dataarray_variable_and_image_id(fixtures_dir):
    path = fixtures_dir / "brainio" / "assy_test_package_assembly.nc"
    assembly = NeuronRecordingAssembly.from_files(path)
    check_against_raw(assembly, raw_variables(path), "__xarray_dataarray_variable__")
    assert assembly.dims == ("presentation", "neuroid", "time_bin")
    # the legacy image_id also appears as stimulus_id (as BrainIO's loader does)
    assert assembly["stimulus_id"].values.tolist() == assembly["image_id"].values.tolist()
    assert "time_bin_start" in assembly.coords and "time_bin_end" in assembly.coords


def test_extras_group(fixtures_dir):
    path = fixtures_dir / "brainio" / "assy_test_package_assembly_extras.nc"
    root = DataAssembly.from_files(path)
    raw = raw_variables(path)
    check_against_raw(root, raw, "data")
    assert root.dims == ("event",) and root.sizes["event"] == 1000
    dates = root["datetime"].values
    assert dates.dtype.kind == "M"
    expected = pd.Timestamp("2021-02-16 11:41:55") + pd.to_timedelta(
        raw_variables(path)["datetime"], unit="D"
    )
    np.testing.assert_array_equal(dates, expected.to_numpy())
    extra = MetadataAssembly.from_files(path, group="test")
    check_against_raw(extra, raw_variables(path, "test"), "data")
    assert extra.sizes["event"] == 40


@pytest.mark.parametrize(
    "name", ["assy_test_TestMe.nc", "assy_test_package_assembly.nc", "assy_test_package_assembly_extras.nc"]
)
def test_rewrite_keeps_everything(fixtures_dir, tmp_path, name):
    original = DataAssembly.from_files(fixtures_dir / "brainio" / name).load()
    target = tmp_path / name
    write_netcdf(original, target)
    again = DataAssembly.from_files(target)
    np.testing.assert_array_equal(again.values, original.values)
    assert sorted(map(str, again.coords)) == sorted(map(str, original.coords))
    for coord in original.coords:
        if coord in original.dims:
            continue
        np.testing.assert_array_equal(np.asarray(again[coord].values), np.asarray(original[coord].values))


def test_ten_images_stimulus_set(fixtures_dir, tmp_path):
    images = fixtures_dir / "brainio" / "images"
    stimulus_set = StimulusSet.from_files(images / "image_test_ten_images.csv", images)
    assert list(stimulus_set["stimulus_id"]) == [f"n{i}" for i in range(10)]
    assert list(stimulus_set.columns) == ["stimulus_id", "filename", "thing"]
    assert stimulus_set.get_stimulus("n3") == images / "n3.png"
    # merged into the TestMe assembly on load, as BrainIO does
    copy = tmp_path / "TestMe.nc"
    shutil.copy(fixtures_dir / "brainio" / "assy_test_TestMe.nc", copy)
    assembly = NeuronRecordingAssembly.from_files(
        copy, stimulus_set_identifier="ten", stimulus_set=stimulus_set
    )
    assert assembly["thing"].values.tolist() == ["foo0", "foo1", "foo1", "foo0", "foo4", "foo9"]
    assert assembly.sel(thing="foo1").sizes["presentation"] == 2
    assert assembly.attrs["stimulus_set_identifier"] == "ten"


def test_every_netcdf_fixture_and_group_loads_intact(fixtures_dir):
    # any file added to the fixtures folder is covered too, with each of its netCDF groups
    files = sorted((fixtures_dir / "brainio").glob("*.nc"))
    assert len(files) >= 3
    for path in files:
        with h5py.File(path, "r") as f:
            groups = [None, *(name for name, item in f.items() if isinstance(item, h5py.Group))]
        for group in groups:
            raw = raw_variables(path, group)
            data_name = "data" if "data" in raw else "__xarray_dataarray_variable__"
            assembly = DataAssembly.from_files(path, group=group) if group else DataAssembly.from_files(path)
            check_against_raw(assembly, raw, data_name)
