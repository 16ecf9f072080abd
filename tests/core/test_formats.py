"""brainbridge.formats: one module per format, the xarray backend, and the assembly rules."""

from __future__ import annotations

import importlib.metadata

import dask.array
import numpy as np
import pytest
import xarray as xr

from brainbridge.assemblies import DataAssembly, NeuronRecordingAssembly, SpikeTimesAssembly
from brainbridge.errors import AssemblyError
from brainbridge.formats import open_assembly_array
from brainbridge.formats.netcdf import is_netcdf_file, write_netcdf
from brainbridge.formats.nwb import is_nwb_file, nwb_version
from brainbridge.formats.xarray_backend import BrainbridgeBackendEntrypoint
from brainbridge.formats.zarr import is_zarr_store, write_zarr


def make_assembly(n_presentations: int = 40, n_neuroids: int = 6) -> NeuronRecordingAssembly:
    rng = np.random.default_rng(1)
    return NeuronRecordingAssembly(
        rng.normal(size=(n_presentations, n_neuroids, 1)).astype("float32"),
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", [f"s{i % 10:02d}" for i in range(n_presentations)]),
            "repetition": ("presentation", np.arange(n_presentations) // 10),
            "object_name": ("presentation", ["café", "日本", "x", "y"] * (n_presentations // 4)),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(n_neuroids)]),
            "region": ("neuroid", ["V4", "IT"] * (n_neuroids // 2)),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
        attrs={"stimulus_set_identifier": "test.stimuli"},
    )


@pytest.fixture
def netcdf_file(tmp_path):
    path = tmp_path / "assembly.nc"
    write_netcdf(make_assembly(), path)  # zlib + shuffle, chunked: the parallel reader's case
    return path


def test_backend_reads_what_xarrays_default_engine_reads(netcdf_file):
    ours = xr.open_dataset(netcdf_file, engine=BrainbridgeBackendEntrypoint)
    theirs = xr.open_dataset(netcdf_file, engine="h5netcdf")
    xr.testing.assert_identical(ours.load(), theirs.load())
    assert list(ours.variables) == list(theirs.variables)
    for name in theirs.variables:
        assert ours[name].dtype == theirs[name].dtype, name
    array = xr.open_dataarray(netcdf_file, engine=BrainbridgeBackendEntrypoint)
    np.testing.assert_array_equal(array.values, theirs["data"].values)


_SPLIT_CHUNKS = pytest.mark.filterwarnings("ignore:The specified chunks separate the stored chunks")


@_SPLIT_CHUNKS
def test_backend_with_chunks_is_dask_backed_and_equal(netcdf_file):
    ours = xr.open_dataarray(netcdf_file, engine=BrainbridgeBackendEntrypoint, chunks={"presentation": 7})
    theirs = xr.open_dataarray(netcdf_file, engine="h5netcdf", chunks={"presentation": 7})
    assert isinstance(ours.data, dask.array.Array)
    assert ours.chunks == theirs.chunks
    np.testing.assert_array_equal(ours.values, theirs.values)
    auto = xr.open_dataarray(netcdf_file, engine=BrainbridgeBackendEntrypoint, chunks={})
    assert isinstance(auto.data, dask.array.Array)
    assert auto.chunks == xr.open_dataarray(netcdf_file, engine="h5netcdf", chunks={}).chunks


@_SPLIT_CHUNKS
def test_chunked_open_uses_the_parallel_reader(netcdf_file, monkeypatch):
    from brainbridge.formats import netcdf

    reads = []
    original = netcdf._DeflateChunkReader.read
    monkeypatch.setattr(
        netcdf._DeflateChunkReader,
        "read",
        lambda self, region=None, workers=None: reads.append(region) or original(self, region, workers),
    )
    assembly = NeuronRecordingAssembly.from_files(netcdf_file, chunks={"presentation": 16})
    assert isinstance(assembly.data, dask.array.Array)
    np.testing.assert_array_equal(assembly.values, make_assembly().values)
    assert len(reads) == 3  # one read per dask chunk (40 presentations in chunks of 16)


def test_backend_decoding_options_go_to_xarray(netcdf_file):
    ours = xr.open_dataset(
        netcdf_file, engine=BrainbridgeBackendEntrypoint, decode_times=False, mask_and_scale=False
    )
    theirs = xr.open_dataset(netcdf_file, engine="h5netcdf", decode_times=False, mask_and_scale=False)
    xr.testing.assert_identical(ours.load(), theirs.load())


def test_backend_guesses_brainio_netcdf_and_zarr(tmp_path, netcdf_file):
    store = write_zarr(make_assembly(), tmp_path / "assembly.zarr")
    backend = BrainbridgeBackendEntrypoint()
    assert backend.guess_can_open(netcdf_file) and backend.guess_can_open(str(netcdf_file))
    assert backend.guess_can_open(store)
    text = tmp_path / "notes.nc"
    text.write_text("not a netCDF file")
    assert not backend.guess_can_open(text) and not backend.guess_can_open(tmp_path / "missing.nc")
    from_zarr = xr.open_dataarray(store, engine=BrainbridgeBackendEntrypoint, chunks={})
    assert isinstance(from_zarr.data, dask.array.Array)
    np.testing.assert_array_equal(from_zarr.values, make_assembly().values)


def test_one_zarr_detection(tmp_path):
    store = write_zarr(make_assembly(), tmp_path / "folder_without_suffix", mode="w")
    assert (
        is_zarr_store(store) and is_zarr_store(tmp_path / "x.zarr") and is_zarr_store("s3://bucket/x.zarr/")
    )
    assert (
        not is_zarr_store(tmp_path) and not is_zarr_store(tmp_path / "x.nc") and not is_zarr_store("s3://b/x")
    )
    np.testing.assert_array_equal(open_assembly_array(store).values, make_assembly().values)


def test_netcdf_and_nwb_detection(tmp_path, netcdf_file):
    import h5py

    assert is_netcdf_file(netcdf_file) and not is_nwb_file(netcdf_file)
    nwb = tmp_path / "session.nwb"
    with h5py.File(nwb, "w") as f:
        f.attrs["nwb_version"] = "2.8.0"
    assert is_nwb_file(nwb) and nwb_version(nwb) == "2.8.0"
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(nwb.read_bytes()[:100])
    assert not is_nwb_file(truncated) and nwb_version(tmp_path / "missing.nwb") is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda a: a.assign_coords(neuroid_id=("neuroid", ["n0"] * 6)), "neuroid_id values are not unique"),
        (lambda a: a.assign_coords(repetition=("presentation", np.zeros(40, int))), "pairs are not unique"),
        (lambda a: a.assign_coords(time_bin_end=("time_bin", [50])), "time_bin_start >= time_bin_end"),
        (lambda a: a.drop_vars("stimulus_id"), "no 'stimulus_id' coordinate"),
    ],
)
def test_validate_names_the_broken_rule(change, problem):
    plain = xr.DataArray(make_assembly()).reset_index(list(make_assembly().dims))
    broken = change(plain)
    with pytest.raises(AssemblyError, match=problem):
        DataAssembly(broken).validate()
    with pytest.raises(AssemblyError, match=problem):
        NeuronRecordingAssembly(broken).validate()
    make_assembly().validate()


def test_subclasses_add_their_dimensions():
    wrong = NeuronRecordingAssembly(
        np.zeros((2, 2)), dims=["event", "other"], coords={"event": [0, 1], "other": [0, 1]}
    )
    with pytest.raises(AssemblyError, match="presentation x neuroid"):
        wrong.validate()
    DataAssembly(wrong).validate()  # the generic class has no dimension rule
    spikes = SpikeTimesAssembly(
        np.arange(3.0),
        dims=["event"],
        coords={"neuroid_id": ("event", ["a", "b", "a"]), "time": ("event", [0.1, 0.2, 0.3])},
    )
    spikes.validate()


def _installed_backend():
    return [ep for ep in importlib.metadata.entry_points(group="xarray.backends") if ep.name == "brainbridge"]


@pytest.mark.skipif(
    not _installed_backend(),
    reason="needs the package reinstalled (pip install -e .) "
    "so that its xarray.backends entry point is in the installed metadata",
)
def test_engine_brainbridge_is_registered(netcdf_file):
    """Installed metadata only: ``engine="brainbridge"`` by name (pyproject's entry point)."""
    assert _installed_backend()[0].value == "brainbridge.formats.xarray_backend:BrainbridgeBackendEntrypoint"
    array = xr.open_dataarray(netcdf_file, engine="brainbridge", chunks={"presentation": 8})
    assert isinstance(array.data, dask.array.Array)
    np.testing.assert_array_equal(array.values, make_assembly().values)
