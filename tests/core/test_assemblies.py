"""The data model: indexes, selection, lazy opening, stimulus merge and the domain helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainbridge.assemblies import (
    DataAssembly,
    NeuronRecordingAssembly,
    align,
    average_repetitions,
    gather_indexes,
    select,
)
from brainbridge.errors import AssemblyError
from brainbridge.packaging import write_netcdf
from brainbridge.stimuli import StimulusSet


def recording(n_stimuli=4, reps=3, seed=0, nan=False) -> NeuronRecordingAssembly:
    rng = np.random.default_rng(seed)
    ids = [f"{i:03d}" for i in range(n_stimuli)]
    order = rng.permutation(n_stimuli * reps)
    stimulus = np.tile(np.arange(n_stimuli), reps)[order]
    repetition = np.repeat(np.arange(reps), n_stimuli)[order]
    values = rng.normal(size=(n_stimuli * reps, 5, 2)).astype("float32")
    if nan:
        values[rng.random(values.shape) < 0.2] = np.nan
    return NeuronRecordingAssembly(
        values,
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", np.array(ids, dtype=object)[stimulus]),
            "repetition": ("presentation", repetition),
            "object_name": (
                "presentation",
                np.array([f"obj{i % 2}" for i in range(n_stimuli)], dtype=object)[stimulus],
            ),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(5)]),
            "region": ("neuroid", ["V4", "V4", "IT", "IT", "IT"]),
            "time_bin_start": ("time_bin", [70, 170]),
            "time_bin_end": ("time_bin", [170, 270]),
        },
        attrs={"stimulus_set_identifier": "test.stimuli"},
    )


# --------------------------------------------------------------------------------------
# indexes and selection
# --------------------------------------------------------------------------------------


def test_gather_indexes_builds_multiindexes_and_keeps_single_names():
    a = recording()
    presentation = a.indexes["presentation"]
    assert isinstance(presentation, pd.MultiIndex)
    assert set(presentation.names) == {"stimulus_id", "repetition", "object_name"}
    single = DataAssembly(
        np.zeros((2, 3)),
        dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", ["a", "b"]), "neuroid_id": ("neuroid", ["x", "y", "z"])},
    )
    # a dimension with one coordinate keeps that coordinate's name (BrainIO renamed it to the dim)
    assert "neuroid_id" in single.coords and "neuroid_id" in single.xindexes
    assert single.dims == ("presentation", "neuroid")
    assert single.sel(neuroid_id="y").shape == (2,)
    plain = xr.DataArray(
        np.zeros(3),
        dims=["neuroid"],
        coords={"neuroid_id": ("neuroid", ["x", "y", "z"]), "region": ("neuroid", ["a", "b", "b"])},
    )
    gathered = gather_indexes(plain)
    assert isinstance(gathered.indexes["neuroid"], pd.MultiIndex)
    assert "neuroid" not in plain.indexes  # the input is not modified


def test_sel_on_levels_keeps_dims():
    a = recording()
    it = a.sel(region="IT")
    assert it.dims == a.dims and it.sizes["neuroid"] == 3
    assert isinstance(it, NeuronRecordingAssembly)
    one = a.sel(stimulus_id="002")
    assert one.sizes["presentation"] == 3 and sorted(one["repetition"].values.tolist()) == [0, 1, 2]
    np.testing.assert_array_equal(one.values, a.values[np.asarray(a["stimulus_id"].values) == "002"])
    assert a.multisel(region="V4", object_name="obj0").shape == (6, 2, 2)


def test_plain_dimension_coordinate_becomes_a_level():
    a = DataAssembly(
        np.arange(3.0), dims=["event"], coords={"event": [5, 6, 7], "label": ("event", list("abc"))}
    )
    assert set(a.indexes["event"].names) == {"event_", "label"}
    assert a.sel(label="b").values.tolist() == [1.0]


# --------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------


def test_from_files_is_lazy_and_keeps_stored_identifier(tmp_path):
    path = tmp_path / "a.nc"
    write_netcdf(recording(), path)
    a = NeuronRecordingAssembly.from_files(path)
    assert not a.variable._in_memory  # values are read on first use
    assert a.attrs["stimulus_set_identifier"] == "test.stimuli"  # not overwritten with None
    np.testing.assert_array_equal(a.values, recording().values)
    b = NeuronRecordingAssembly.from_files(path, stimulus_set_identifier="other")
    assert b.attrs["stimulus_set_identifier"] == "other"


def test_stimulus_set_merge(tmp_path):
    path = tmp_path / "a.nc"
    write_netcdf(recording(), path)
    stimuli = StimulusSet(
        {
            "stimulus_id": ["003", "001", "000", "002", "extra"],
            "color": ["red", "green", "blue", "cyan", "x"],
            "object_name": ["stim wins?"] * 5,
            "size": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    a = NeuronRecordingAssembly.from_files(path, stimulus_set=stimuli)
    lookup = dict(zip(stimuli["stimulus_id"], stimuli["color"]))
    assert [lookup[s] for s in a["stimulus_id"].values] == a["color"].values.tolist()
    assert set(a["object_name"].values) == {"obj0", "obj1"}  # the assembly wins clashes
    assert a.sel(color="red").sizes["presentation"] == 3
    assert a.attrs["stimulus_set"] is stimuli
    partial = StimulusSet({"stimulus_id": ["000"], "size": [9.0]})
    b = NeuronRecordingAssembly.from_files(path, stimulus_set=partial)
    sizes = b["size"].values
    assert np.all(sizes[b["stimulus_id"].values == "000"] == 9.0)
    assert np.isnan(sizes[b["stimulus_id"].values != "000"]).all()  # unknown ids: missing values
    with pytest.raises(AssemblyError, match="duplicates"):
        NeuronRecordingAssembly.from_files(
            path, stimulus_set=pd.DataFrame({"stimulus_id": ["000", "000"], "x": [1, 2]})
        )


# --------------------------------------------------------------------------------------
# fast reads: chunks decompressed on every core, string coordinates, factorization by stimulus
# --------------------------------------------------------------------------------------


def _h5_dataset(path, **kwargs):
    import h5py

    rng = np.random.default_rng(4)
    dtype = kwargs.pop("dtype", "float32")
    values = (rng.normal(size=(103, 7, 3)) * 1000).astype(dtype)
    with h5py.File(path, "w") as f:
        f.create_dataset("v", data=values, **kwargs)
    return values


@pytest.mark.parametrize(
    "options",
    [
        {"chunks": (10, 7, 3), "compression": "gzip", "compression_opts": 1, "shuffle": True},
        {"chunks": (16, 4, 2), "compression": "gzip", "compression_opts": 9},  # edge chunks on every axis
        {"chunks": (5, 7, 1), "compression": "gzip", "shuffle": True, "dtype": "int16"},
        {"chunks": (50, 7, 3), "compression": "gzip", "shuffle": True, "dtype": ">f8"},
    ],
)
def test_parallel_chunk_reader_equals_h5py(tmp_path, options):
    from brainbridge.formats.netcdf import _DeflateChunkReader

    path = str(tmp_path / "v.h5")
    values = _h5_dataset(path, **options)
    reader = _DeflateChunkReader.for_dataset(path, "v")
    assert reader is not None
    for workers in (1, 3):
        whole = reader.read(workers=workers)
        assert whole.dtype == values.dtype
        np.testing.assert_array_equal(whole, values)
        region = (slice(7, 94), slice(1, 6), slice(2, 3))
        np.testing.assert_array_equal(reader.read(region, workers=workers), values[region])
    assert reader.read((slice(5, 5), slice(0, 7), slice(0, 3))).shape == (0, 7, 3)


def test_parallel_chunk_reader_reads_unallocated_chunks_as_fill_value(tmp_path):
    import h5py

    from brainbridge.formats.netcdf import _DeflateChunkReader

    path = str(tmp_path / "v.h5")
    with h5py.File(path, "w") as f:
        dataset = f.create_dataset(
            "v", shape=(40, 6), dtype="f4", chunks=(10, 6), compression="gzip", fillvalue=-1.5
        )
        dataset[12:18] = 7.0  # only the second chunk is ever written
    expected = np.full((40, 6), -1.5, dtype="f4")
    expected[12:18] = 7.0
    np.testing.assert_array_equal(_DeflateChunkReader.for_dataset(path, "v").read(workers=2), expected)


@pytest.mark.parametrize(
    "options",
    [
        {},  # contiguous
        {"chunks": (10, 7, 3)},  # chunked, no filter
        {"chunks": (10, 7, 3), "compression": "gzip", "fletcher32": True},
        {"chunks": (10, 7, 3), "compression": "lzf"},
    ],
)
def test_parallel_chunk_reader_declines_other_layouts(tmp_path, options):
    from brainbridge.formats.netcdf import _DeflateChunkReader

    path = str(tmp_path / "v.h5")
    _h5_dataset(path, **options)
    assert _DeflateChunkReader.for_dataset(path, "v") is None


def _strings_assembly():
    rng = np.random.default_rng(8)
    n = 60
    ids = np.array([f"stim_{i % 13:02d}" for i in range(n)], dtype=object)
    values = rng.normal(size=(n, 4, 2)).astype("float32")
    values[3, 1, 0] = np.nan
    return NeuronRecordingAssembly(
        values,
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", ids),
            "label": ("presentation", np.array(["Straße", "", "a b ", "x"] * 15, dtype=object)),
            "repetition": ("presentation", np.arange(n) // 13),
            "size": ("presentation", rng.normal(size=n)),
            "neuroid_id": ("neuroid", ["n0", "n1", "n2", "n3"]),
            "region": ("neuroid", ["V4", "IT", "IT", "IT"]),
            "time_bin_start": ("time_bin", [70, 170]),
            "time_bin_end": ("time_bin", [170, 270]),
        },
        attrs={"stimulus_set_identifier": "s"},
    )


@pytest.mark.parametrize("compress", [True, False])
def test_fast_open_is_identical_to_xarrays_reads(tmp_path, compress):
    from brainbridge.formats.netcdf import _ParallelBackendArray
    from brainbridge.formats.netcdf import open_netcdf_array as open_assembly_array

    path = tmp_path / "a.nc"
    write_netcdf(_strings_assembly(), path, compress=compress)
    fast = open_assembly_array(path)
    backend = fast.variable._data.array.array.array
    assert isinstance(backend, _ParallelBackendArray) == compress  # uncompressed: xarray's reads
    assert not fast.variable._in_memory
    slow = open_assembly_array(path, engine="h5netcdf", cache=True)  # any option: plain xarray
    assert not isinstance(slow.variable._data.array.array.array, _ParallelBackendArray)
    assert list(fast.coords) == list(slow.coords)
    for name in slow.coords:
        assert fast[name].dtype == slow[name].dtype, name
        assert fast[name].attrs == slow[name].attrs
    np.testing.assert_array_equal(
        fast.isel(presentation=slice(50, 3, -4), neuroid=2).values,
        slow.isel(presentation=slice(50, 3, -4), neuroid=2).values,
    )
    xr.testing.assert_identical(fast, slow)
    assert fast.encoding["zlib"] == compress
    assert NeuronRecordingAssembly.from_files(path).sel(label="Straße").sizes["presentation"] == 15


def test_fast_open_leaves_decoded_variables_to_xarray(tmp_path):
    from brainbridge.formats.netcdf import _ParallelBackendArray
    from brainbridge.formats.netcdf import open_netcdf_array as open_assembly_array

    path = tmp_path / "packed.nc"
    stored = xr.DataArray(np.arange(24, dtype="float64").reshape(6, 4) / 4, dims=["presentation", "neuroid"])
    stored = stored.assign_coords(stimulus_id=("presentation", list("abcdef")))
    encoding = {"dtype": "int16", "scale_factor": 0.25, "_FillValue": -1, "zlib": True, "chunksizes": (3, 4)}
    stored.to_dataset(name="data").to_netcdf(path, engine="h5netcdf", encoding={"data": encoding})
    opened = open_assembly_array(path)
    assert not isinstance(opened.variable._data.array.array.array, _ParallelBackendArray)
    np.testing.assert_array_equal(opened.values, stored.values)


@settings(max_examples=25, deadline=None)
@given(
    n_stimuli=st.integers(1, 6),
    reps=st.integers(1, 4),
    seed=st.integers(0, 10**6),
    varying=st.booleans(),
)
def test_levels_factorized_through_stimulus_id_equal_pandas(n_stimuli, reps, seed, varying):
    from brainbridge.assemblies import _KeyFactorization

    rng = np.random.default_rng(seed)
    stimulus = rng.permutation(np.repeat(np.arange(n_stimuli), reps))
    per_stimulus = {
        "float": rng.choice([np.nan, -0.0, 0.0, 1.5], n_stimuli),
        "object": np.array(rng.choice(["a", "b", None], n_stimuli), dtype=object),
        "unicode": rng.choice(["x", "yy", "zzz"], n_stimuli),
        "int": rng.integers(0, 3, n_stimuli),
    }
    key = _KeyFactorization.of(np.array([f"s{i}" for i in stimulus], dtype=object))
    if reps == 1:
        assert key is None  # nothing repeats: plain factorization
        return
    for table in per_stimulus.values():
        values = table[stimulus]
        if varying:
            values = values.copy()
            values[rng.integers(len(values))] = values[rng.integers(len(values))]
        expected_codes, expected_levels = pd.factorize(values, sort=True)
        found = key.factorize(False, values)
        if found is None:  # only allowed when a value differs from its stimulus's first
            first = values[key.first][key.codes]
            assert not np.array_equal(values.astype(str), first.astype(str))
            continue
        codes, levels = found
        np.testing.assert_array_equal(codes, expected_codes)
        assert type(levels) is type(expected_levels) and levels.dtype == expected_levels.dtype
        np.testing.assert_array_equal(np.asarray(levels), np.asarray(expected_levels))


def test_index_built_through_stimulus_id_equals_plain_index(monkeypatch):
    import brainbridge.assemblies as module

    a = _strings_assembly()
    a = a.assign_coords(
        object_name=("presentation", np.array([f"o{int(s[-2:]) % 3}" for s in a["stimulus_id"].values]))
    )
    plain = xr.DataArray(
        a.values, dims=a.dims, coords={n: (c.dims, c.values) for n, c in a.coords.items() if n not in a.dims}
    )
    names = [n for n in plain.coords if plain[n].dims == ("presentation",)]
    fast = module._set_multiindex(plain, "presentation", names).indexes["presentation"]
    monkeypatch.setattr(module, "_KEY_LEVEL", "no such level")  # every level factorized in full
    full = module._set_multiindex(plain, "presentation", names).indexes["presentation"]
    assert fast.names == full.names and fast.equals(full)
    for ours, theirs in zip(fast.levels, full.levels):
        assert ours.equals(theirs) and ours.dtype == theirs.dtype
    for ours, theirs in zip(fast.codes, full.codes):
        np.testing.assert_array_equal(ours, theirs)
    assert fast.equals(plain.set_index(presentation=names).indexes["presentation"])  # xarray's own


def test_merged_string_columns_equal_xarrays_conversion(tmp_path):
    from brainbridge.assemblies import merge_stimulus_set_meta, open_assembly_array

    path = tmp_path / "a.nc"
    write_netcdf(_strings_assembly(), path)
    stimuli = pd.DataFrame(
        {
            "stimulus_id": [f"stim_{i:02d}" for i in range(12)],  # stim_12 missing
            "file": [f"f{i}.png" for i in range(12)],
            "maybe": pd.Series(["p", None] * 6, dtype=object),
            "n": np.arange(12),
        }
    )
    merged = merge_stimulus_set_meta(open_assembly_array(path), stimuli)
    for column in ("file", "maybe", "n"):
        values = merged[column].values
        reference = xr.Variable(("presentation",), values.copy()).values  # xarray's own conversion
        assert values.dtype == reference.dtype
        assert pd.Series(values).equals(pd.Series(reference)), column
    assert pd.isna(merged["file"].values[merged["stimulus_id"].values == "stim_12"]).all()


# --------------------------------------------------------------------------------------
# average over repetitions
# --------------------------------------------------------------------------------------


def groupby_mean(assembly):
    """The slow reference: a pandas groupby on stimulus_id (NaN skipped)."""
    frame = pd.DataFrame(np.asarray(assembly.values).reshape(assembly.sizes["presentation"], -1))
    frame["stimulus_id"] = np.asarray(assembly["stimulus_id"].values)
    return frame.groupby("stimulus_id", sort=False).mean()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_stimuli=st.integers(1, 6), reps=st.integers(1, 4), seed=st.integers(0, 10**6), nan=st.booleans())
def test_average_repetitions_matches_groupby(n_stimuli, reps, seed, nan):
    a = recording(n_stimuli, reps, seed, nan)
    averaged = average_repetitions(a)
    expected = groupby_mean(a)
    assert isinstance(averaged, NeuronRecordingAssembly)
    assert averaged["stimulus_id"].values.tolist() == expected.index.tolist()
    np.testing.assert_allclose(
        np.asarray(averaged.values).reshape(n_stimuli, -1), expected.to_numpy(), rtol=1e-5, atol=1e-6
    )
    assert ("repetition" in averaged.coords) == (reps == 1)  # dropped when it varies within a stimulus
    assert "object_name" in averaged.coords  # constant within a stimulus
    assert averaged.sizes["neuroid"] == 5 and averaged.sel(region="IT").sizes["neuroid"] == 3


def uneven_recording(seed=0, nan=True, dtype="float32") -> xr.DataArray:
    """Stimuli shown 1-5 times in shuffled order (incomplete occurrence ranks), optional NaNs."""
    rng = np.random.default_rng(seed)
    stimulus = rng.permutation(np.repeat(np.arange(7), [5, 1, 3, 4, 2, 5, 3]))
    values = rng.normal(size=(len(stimulus), 4, 3))
    if nan:
        values[rng.random(values.shape) < 0.25] = np.nan
        values[stimulus == 1, 0, 0] = np.nan  # a stimulus whose only repetition is NaN
    if dtype == "complex128":
        values = values + 1j * rng.normal(size=values.shape)
    return xr.DataArray(
        values.astype(dtype),
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", np.array([f"s{i}" for i in range(7)], dtype=object)[stimulus]),
            "size": ("presentation", np.array([1.5, np.nan, 2.0, np.nan, 3.0, 4.0, 5.0])[stimulus]),
            "jitter": ("presentation", rng.normal(size=len(stimulus))),
            "region": ("neuroid", ["V4", "IT", "IT", "IT"]),
        },
    )


def sequential_mean(array: xr.DataArray, skipna: bool = True) -> np.ndarray:
    """The reference arithmetic: each stimulus's presentations added one by one, in index order."""
    values = np.asarray(array.values)
    wide = np.complex128 if values.dtype.kind == "c" else np.float64
    ids = np.asarray(array["stimulus_id"].values)
    out = []
    for sid in pd.unique(ids):
        total = np.zeros(values.shape[1:], dtype=wide)
        count = np.zeros(values.shape[1:])
        for row in values[ids == sid].astype(wide):
            valid = ~np.isnan(row) if skipna and values.dtype.kind == "f" else np.ones(row.shape, bool)
            total = total + np.where(valid, row, 0)
            count = count + valid
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(total / count)
    return np.stack(out).astype(values.dtype if values.dtype.kind in "fc" else np.float64)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "complex128"])
@pytest.mark.parametrize("skipna", [True, False])
def test_average_is_the_sequential_sum_bit_for_bit(dtype, skipna):
    a = uneven_recording(nan=dtype.startswith("float"), dtype=dtype)
    result = average_repetitions(a, skipna=skipna)
    assert result.dtype == (np.float64 if dtype == "int32" else np.dtype(dtype))
    np.testing.assert_array_equal(result.values, sequential_mean(a, skipna))
    assert result["stimulus_id"].values.tolist() == list(pd.unique(a["stimulus_id"].values))
    # constant within each stimulus (NaN == NaN) is kept, varying is dropped
    assert "size" in result.coords and "jitter" not in result.coords
    order = [int(sid[1:]) for sid in pd.unique(a["stimulus_id"].values)]
    np.testing.assert_array_equal(
        result["size"].values, np.array([1.5, np.nan, 2.0, np.nan, 3.0, 4.0, 5.0])[order]
    )


@pytest.mark.parametrize("nan", [False, True])
def test_average_in_row_blocks_matches_one_block(monkeypatch, nan):
    import brainbridge.stats as module  # the group means live there

    a = uneven_recording(seed=3, nan=nan)
    whole = average_repetitions(a)
    row_bytes = 4 * 3 * 4  # one presentation's float32 values
    for rows in (1, 2, 3):  # blocks of a few presentations: slices and scattered groups both
        monkeypatch.setattr(module, "_BLOCK_BYTES", rows * row_bytes)
        np.testing.assert_array_equal(average_repetitions(a).values, whole.values)
    np.testing.assert_array_equal(whole.values, sequential_mean(a))


def test_average_indexed_assembly_matches_plain_array():
    plain = uneven_recording(seed=5)
    indexed = NeuronRecordingAssembly(plain)
    assert isinstance(indexed.indexes["presentation"], pd.MultiIndex)
    from_levels = average_repetitions(indexed)  # constancy checked on MultiIndex codes
    from_values = average_repetitions(plain)  # constancy checked on values
    np.testing.assert_array_equal(from_levels.values, from_values.values)
    for name in ("stimulus_id", "size", "region"):
        np.testing.assert_array_equal(from_levels[name].values, from_values[name].values)
        assert from_levels[name].dtype == from_values[name].dtype
    assert "jitter" not in from_levels.coords
    assert from_levels.sel(region="IT").sizes["neuroid"] == 3


def test_average_lazy_uneven_groups_equals_eager():
    pytest.importorskip("dask")
    a = uneven_recording(seed=9)
    for chunks in ({"presentation": 4}, {"presentation": 5, "neuroid": 1, "time_bin": 2}):
        lazy = a.chunk(chunks)
        np.testing.assert_array_equal(average_repetitions(lazy).values, average_repetitions(a).values)
        np.testing.assert_array_equal(
            average_repetitions(lazy, skipna=False).values, average_repetitions(a, skipna=False).values
        )


def test_average_missing_ids_form_their_own_stimulus():
    a = uneven_recording(nan=False).assign_coords(
        stimulus_id=("presentation", np.array([None, "a", "b"] * 7 + [None, "a"], dtype=object))
    )
    result = average_repetitions(a)
    assert result.sizes["presentation"] == 3
    np.testing.assert_array_equal(
        result.values, sequential_mean(a.assign_coords(stimulus_id=a["stimulus_id"].fillna("x")))
    )


def test_average_on_plain_dataarray_and_dask():
    a = recording(nan=True)
    plain = xr.DataArray(
        a.values, dims=a.dims, coords={n: (c.dims, c.values) for n, c in a.coords.items() if n not in a.dims}
    )
    result = average_repetitions(plain)
    assert type(result) is xr.DataArray
    np.testing.assert_allclose(result.values, average_repetitions(a).values)
    pytest.importorskip("dask")
    lazy = a.chunk({"presentation": 5})
    np.testing.assert_allclose(average_repetitions(lazy).values, average_repetitions(a).values, rtol=1e-6)
    with pytest.raises(AssemblyError, match="no coordinate"):
        average_repetitions(a, by="nope")


# --------------------------------------------------------------------------------------
# select, align, accessor
# --------------------------------------------------------------------------------------


def test_select():
    a = recording()
    assert select(a, region="IT").sizes["neuroid"] == 3
    assert select(a, region=["IT", "V4"]).sizes["neuroid"] == 5
    late = select(a, time_bin=(170, 270))
    assert late.sizes["time_bin"] == 1 and late["time_bin_start"].values.tolist() == [170]
    assert select(a, time_bin=0)["time_bin_end"].values.tolist() == [170]
    assert select(a, object_name="obj1", region="V4").shape == (6, 2, 2)
    with pytest.raises(AssemblyError, match="no time bin"):
        select(a, time_bin=(0, 1))
    with pytest.raises(AssemblyError, match="no region"):
        select(a, region="V1")
    with pytest.raises(AssemblyError, match="no coordinate"):
        select(a, nope=1)


def test_align():
    first = average_repetitions(recording(4))
    second = average_repetitions(recording(6, seed=3)).isel(presentation=slice(None, None, -1))
    x, y = align(first, second)
    assert (
        x["stimulus_id"].values.tolist() == y["stimulus_id"].values.tolist() == ["000", "001", "002", "003"]
    )
    y2, x2 = align(second, first)
    assert x2["stimulus_id"].values.tolist() == x["stimulus_id"].values.tolist()
    with pytest.raises(AssemblyError, match="repeats"):
        align(recording(), second)
    other = xr.DataArray(
        first.values, dims=first.dims, coords={"stimulus_id": ("presentation", ["a", "b", "c", "d"])}
    )
    with pytest.raises(AssemblyError, match="share no"):
        align(other, second)


def test_accessor_on_plain_dataarray():
    a = recording()
    plain = xr.DataArray(
        a.values, dims=a.dims, coords={n: (c.dims, c.values) for n, c in a.coords.items() if n not in a.dims}
    )
    assert plain.brainbridge.select(region="IT").sizes["neuroid"] == 3
    assert plain.brainbridge.average_repetitions().sizes["presentation"] == 4
    wrapped = plain.brainbridge.to_assembly("NeuronRecordingAssembly")
    assert isinstance(wrapped, NeuronRecordingAssembly) and isinstance(
        wrapped.indexes["neuroid"], pd.MultiIndex
    )
    assert set(plain.brainbridge.coords_for_dim("neuroid")) == {"neuroid_id", "region"}
