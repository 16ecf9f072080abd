"""zarr (v3 by default) assemblies: round trips, strings other readers can read, chunks, modes."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from tests.core.test_netcdf import assemblies, assert_same_assembly, make_assembly

from brainbridge.assemblies import DataAssembly, NeuronRecordingAssembly
from brainbridge.errors import AssemblyError
from brainbridge.packaging import write_zarr

zarr = pytest.importorskip("zarr")


def test_round_trip_v3_and_layout(tmp_path):
    assembly = make_assembly(30)
    store = tmp_path / "assy.zarr"
    assert write_zarr(assembly, store) == str(store)
    root = json.loads((store / "zarr.json").read_text())
    assert root["zarr_format"] == 3 and root["node_type"] == "group"
    assert root["attributes"]["stimulus_set_identifier"] == "test.stimuli"
    meta = json.loads((store / "stimulus_id" / "zarr.json").read_text())
    # the registered v3 "string" type with the vlen-utf8 codec, not the unregistered fixed-width one
    assert meta["data_type"] == "string"
    assert meta["codecs"][0]["name"] == "vlen-utf8"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opening our store must not warn (no consolidated-metadata probe)
        loaded = NeuronRecordingAssembly.from_files(store)
        assert_same_assembly(assembly, loaded)
    assert loaded.attrs["stimulus_set_identifier"] == "test.stimuli"
    assert loaded.sel(region="IT").sizes["neuroid"] == 2


def test_other_readers_see_plain_arrays(tmp_path):
    assembly = make_assembly(6)
    store = tmp_path / "assy.zarr"
    write_zarr(assembly, store)
    group = zarr.open_group(str(store), mode="r")  # zarr alone, no xarray
    assert list(group["stimulus_id"][:]) == list(assembly["stimulus_id"].values)
    assert list(group["object_name"][:]) == ["café", "日本", "x", "café", "日本", "x"]
    np.testing.assert_array_equal(group["data"][:], assembly.values)
    assert group["data"].attrs["stimulus_set_identifier"] == "test.stimuli"


def test_chunks_and_dask(tmp_path):
    pytest.importorskip("dask")
    assembly = make_assembly(30)
    store = tmp_path / "assy.zarr"
    write_zarr(assembly, store, chunks={"presentation": 7})
    meta = json.loads((store / "data" / "zarr.json").read_text())
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [7, 3, 2]
    lazy = NeuronRecordingAssembly.from_files(store, chunks={})
    assert type(lazy.data).__module__.startswith("dask")
    assert lazy.data.chunks[0][0] == 7
    assert_same_assembly(assembly, lazy.compute())
    # a dask-backed assembly writes chunk by chunk
    copy = tmp_path / "copy.zarr"
    write_zarr(lazy, copy, chunks=(10, 3, 2))
    assert_same_assembly(assembly, NeuronRecordingAssembly.from_files(copy))
    with pytest.raises(AssemblyError, match="unknown dimensions"):
        write_zarr(assembly, tmp_path / "x.zarr", chunks={"nope": 2})
    with pytest.raises(AssemblyError, match="do not match"):
        write_zarr(assembly, tmp_path / "y.zarr", chunks=(2,))


def test_modes_and_v2(tmp_path):
    store = tmp_path / "assy.zarr"
    write_zarr(make_assembly(6, seed=1), store)
    with pytest.raises(AssemblyError, match="already exists"):
        write_zarr(make_assembly(6, seed=2), store)
    write_zarr(make_assembly(6, seed=2), store, mode="w")
    assert_same_assembly(make_assembly(6, seed=2), NeuronRecordingAssembly.from_files(store))
    v2 = tmp_path / "v2.zarr"
    write_zarr(make_assembly(6), v2, zarr_format=2)
    assert (v2 / ".zgroup").exists() and (v2 / ".zmetadata").exists()
    assert_same_assembly(make_assembly(6), NeuronRecordingAssembly.from_files(v2))


def test_fsspec_url(tmp_path):
    pytest.importorskip("fsspec")
    url = "memory://brainbridge-test/assy.zarr"
    assembly = make_assembly(9)
    write_zarr(assembly, url)
    assert_same_assembly(assembly, NeuronRecordingAssembly.from_files(url))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(assembly=assemblies())
def test_round_trip_any_coordinate_types(tmp_path_factory, assembly):
    store = tmp_path_factory.mktemp("zarr") / "prop.zarr"
    write_zarr(assembly, store)
    loaded = DataAssembly.from_files(store)
    assert_same_assembly(assembly, loaded)
    assert sorted(map(str, loaded.coords)) == sorted(map(str, assembly.coords))
