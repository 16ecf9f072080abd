"""Lazy, chunked assemblies: averaging, selection and alignment stay lazy and match eager results."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback
from tests.scale._data import recording, write_netcdf_file, write_zarr_store
from tests.support.servers import S3Server

from brainbridge.assemblies import (
    DataAssembly,
    NeuronRecordingAssembly,
    align,
    average_repetitions,
    select,
)


def _forbid_compute(*args, **kwargs):
    raise AssertionError("the dask graph was computed at call time")


class _TaskSizes(Callback):
    """Record the size of every task result (the memory one task holds)."""

    def __init__(self):
        super().__init__()
        self.sizes: list[int] = []

    def _posttask(self, key, result, dsk, state, worker_id):
        self.sizes.append(int(getattr(result, "nbytes", 0)))


@pytest.fixture(params=["zarr", "netcdf"])
def stored(request, tmp_path):
    assembly = recording(n_stimuli=40, repetitions=3, n_neuroids=12)
    if request.param == "zarr":
        path = write_zarr_store(assembly, tmp_path / "rec.zarr", {"presentation": 25, "neuroid": 5})
    else:
        path = write_netcdf_file(assembly, tmp_path / "rec.nc")
    return assembly, path


def test_lazy_average_equals_eager_exactly(stored):
    eager_input, path = stored
    lazy = NeuronRecordingAssembly.from_files(path, chunks={"presentation": 25, "neuroid": 5})
    assert isinstance(lazy.data, da.Array)
    averaged = average_repetitions(lazy)
    assert isinstance(averaged, NeuronRecordingAssembly)
    assert isinstance(averaged.data, da.Array)
    eager = average_repetitions(eager_input)
    assert averaged.dtype == eager.dtype == np.float32
    np.testing.assert_array_equal(averaged.values, eager.values)  # NaN == NaN, bit for bit
    assert list(averaged["stimulus_id"].values) == list(eager["stimulus_id"].values)
    assert "object_name" in averaged.coords and "repetition" not in averaged.coords
    # the all-NaN stimulus stays NaN, every other entry is finite
    first = list(averaged["stimulus_id"].values).index("im0000")
    assert np.isnan(averaged.values[first, 0]) and np.isfinite(averaged.values[first, 1:]).all()


def test_dask_average_does_not_compute_at_call_time(tmp_path):
    path = write_zarr_store(recording(), tmp_path / "rec.zarr", {"presentation": 16})
    lazy = NeuronRecordingAssembly.from_files(path, chunks={})
    with dask.config.set(scheduler=_forbid_compute):
        averaged = average_repetitions(lazy)
        it = select(averaged, region="IT")
        by_level = averaged.sel(region="IT")
    assert isinstance(it.data, da.Array) and isinstance(by_level.data, da.Array)
    np.testing.assert_array_equal(it.values, by_level.values)


def test_time_bins_and_integer_data_average_lazily(tmp_path):
    assembly = recording(n_stimuli=10, repetitions=4, n_neuroids=6, n_time_bins=3, seed=3)
    lazy = assembly.copy(data=da.from_array(assembly.values, chunks=(7, 4, 2)))
    assert isinstance(lazy, DataAssembly)
    np.testing.assert_array_equal(average_repetitions(lazy).values, average_repetitions(assembly).values)
    counts = (np.nan_to_num(assembly.values) * 100).astype(np.int32)
    ints = assembly.copy(data=counts)
    lazy_ints = ints.copy(data=da.from_array(counts, chunks=(9, 6, 3)))
    result = average_repetitions(lazy_ints)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result.values, average_repetitions(ints).values)
    # skipna=False propagates NaN exactly like the eager path
    np.testing.assert_array_equal(
        average_repetitions(lazy, skipna=False).values, average_repetitions(assembly, skipna=False).values
    )


def test_average_runs_chunk_by_chunk_with_bounded_task_memory(tmp_path):
    assembly = recording(n_stimuli=30, repetitions=8, n_neuroids=64, seed=1)
    path = write_zarr_store(assembly, tmp_path / "rec.zarr", {"presentation": 20, "neuroid": 16})
    lazy = NeuronRecordingAssembly.from_files(path, chunks={})
    assert lazy.data.numblocks == (12, 4)
    averaged = average_repetitions(lazy)
    sizes = _TaskSizes()
    with sizes, dask.config.set(scheduler="sync"):
        values = averaged.values
    np.testing.assert_array_equal(values, average_repetitions(assembly).values)
    # no task holds more than one column block's accumulator (12 bytes x stimuli x 16 neuroids)
    # or one input block: never the whole assembly, never the whole result
    # (the last task is the concatenation .values asks for: the result itself)
    accumulator = 30 * 16 * (8 + 4)
    working = sorted(sizes.sizes)[:-1]
    assert sorted(sizes.sizes)[-1] == values.nbytes
    assert max(working) <= accumulator < assembly.values.nbytes / 8
    assert max(working) < values.nbytes


def test_selection_and_alignment_stay_lazy(stored):
    eager_input, path = stored
    lazy = NeuronRecordingAssembly.from_files(path, chunks={"presentation": 25})
    with dask.config.set(scheduler=_forbid_compute):
        averaged = average_repetitions(lazy)
        v4 = select(averaged, region="V4", object_name=["obj1", "obj2"])
        other = averaged.isel(presentation=slice(None, None, -1))
        left, right = align(averaged, other)
    assert all(isinstance(a.data, da.Array) for a in (v4, left, right))
    eager = average_repetitions(eager_input)
    np.testing.assert_array_equal(v4.values, select(eager, region="V4", object_name=["obj1", "obj2"]).values)
    np.testing.assert_array_equal(left.values, right.values)
    assert list(left["stimulus_id"].values) == sorted(eager["stimulus_id"].values)


@pytest.fixture(scope="module")
def s3_server():
    with S3Server() as server:
        yield server


def test_zarr_on_s3_reads_only_the_chunks_it_needs(s3_server, tmp_path):
    assembly = recording(n_stimuli=20, repetitions=2, n_neuroids=8, seed=2)
    local = write_zarr_store(assembly, tmp_path / "rec.zarr", {"presentation": 10})
    bucket = s3_server.create_bucket("scale-lazy")
    fs = s3_server.filesystem()
    fs.put(local, f"{bucket}/rec.zarr", recursive=True)
    options = {
        "endpoint_url": s3_server.endpoint_url,
        "key": s3_server.credentials()["AWS_ACCESS_KEY_ID"],
        "secret": s3_server.credentials()["AWS_SECRET_ACCESS_KEY"],
    }
    lazy = NeuronRecordingAssembly.from_files(f"s3://{bucket}/rec.zarr", chunks={}, storage_options=options)
    assert isinstance(lazy.data, da.Array) and lazy.data.chunks[0] == (10,) * 4
    # drop every data chunk except the first presentation block: reading it alone must work
    data_chunks = [k for k in fs.find(f"{bucket}/rec.zarr/data") if "/c/" in k]
    assert len(data_chunks) == 4
    for key in data_chunks:
        if "/c/0/" not in key:
            fs.rm(key)
    first = lazy.isel(presentation=slice(0, 10)).values
    np.testing.assert_array_equal(first, assembly.values[:10])
    # the other blocks were never downloaded when the store was opened: they are gone now
    # and zarr fills a missing chunk with the fill value
    assert np.isnan(lazy.isel(presentation=slice(10, 20)).values).all()
