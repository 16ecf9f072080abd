"""BrainIO 1.1 API that Brain-Score code calls on assemblies: multi_groupby, multi_dim_apply,
and from_files attaching a file's extra netCDF groups (BrainIO's GroupAppend loader).

Expected values are computed independently (pandas group-bys over the same coordinates), and
BrainIO's own tests of these methods run against brainbridge in tests/conformance.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainbridge.assemblies import (
    DataAssembly,
    GroupbyBridge,
    GroupbyError,
    MetadataAssembly,
    NeuronRecordingAssembly,
    SpikeTimesAssembly,
)
from brainbridge.errors import AssemblyError
from brainbridge.stimuli import StimulusSet


def recording(seed: int = 0) -> NeuronRecordingAssembly:
    rng = np.random.default_rng(seed)
    n = 24
    return NeuronRecordingAssembly(
        rng.normal(size=(n, 3, 1)),
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", [f"s{i % 8}" for i in range(n)]),
            "repetition": ("presentation", [i // 8 for i in range(n)]),
            "category_name": ("presentation", rng.choice(["car", "face", "dog"], n)),
            "object_name": ("presentation", rng.choice(["a", "b"], n)),
            "neuroid_id": ("neuroid", ["n0", "n1", "n2"]),
            "region": ("neuroid", ["V4", "IT", "IT"]),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
    )


def test_multi_groupby_means_equal_a_pandas_groupby_and_keep_the_class_and_index():
    assembly = recording()
    grouped = assembly.multi_groupby(["category_name", "object_name"])
    assert isinstance(grouped, GroupbyBridge)
    result = grouped.mean(dim="presentation")
    assert isinstance(result, NeuronRecordingAssembly)
    assert result.dims == ("presentation", "neuroid", "time_bin")
    assert list(result.indexes["presentation"].names) == ["category_name", "object_name"]
    frame = pd.DataFrame(assembly.values[:, :, 0], columns=["n0", "n1", "n2"])
    frame["category_name"] = assembly["category_name"].values
    frame["object_name"] = assembly["object_name"].values
    expected = frame.groupby(["category_name", "object_name"], sort=True).mean()
    got = list(zip(result["category_name"].values, result["object_name"].values))
    assert got == list(expected.index)  # sorted value tuples, as BrainIO orders them
    np.testing.assert_allclose(result.values[:, :, 0], expected.values)
    assert result.sel(region="IT").sizes["neuroid"] == 2  # other dims keep their index


def test_multi_groupby_one_name_is_a_plain_groupby_and_other_dims_are_refused():
    assembly = recording()
    single = assembly.multi_groupby(["category_name"]).mean("presentation")
    assert sorted(single["category_name"].values) == sorted(set(assembly["category_name"].values))
    with pytest.raises(GroupbyError, match="single dimension"):
        assembly.multi_groupby(["category_name", "region"])
    assert issubclass(GroupbyError, AssemblyError)


def test_multi_dim_apply_applies_per_block_and_keeps_coords():
    assembly = DataAssembly(
        np.arange(12.0).reshape(4, 3),
        dims=["a", "b"],
        coords={
            "a": ["w", "x", "y", "z"],
            "aa": ("a", ["p", "p", "q", "q"]),
            "b": ["i", "j", "k"],
            "c": "scalar",
        },
    )
    seen = []

    def centre(cells, **coords):
        seen.append((tuple(coords["aa"]), coords["b"], coords["c"], np.shape(cells)))
        return cells - cells.mean()

    result = assembly.multi_dim_apply(["b", "aa"], centre)  # the order of the names does not matter
    values = assembly.values
    expected = values - pd.DataFrame(values).groupby(np.array(["p", "p", "q", "q"])).transform("mean").values
    np.testing.assert_allclose(result.values, expected)
    assert result["c"].item() == "scalar" and list(result["aa"].values) == ["p", "p", "q", "q"]
    # each block: two cells of one `aa` value and one `b` value, with the coords of those cells
    assert sorted(seen) == sorted(((aa, aa), b, "scalar", (2,)) for aa in "pq" for b in "ijk")
    with pytest.raises(AssemblyError, match="every dimension"):
        assembly.multi_dim_apply(["aa"], centre)


def test_from_files_attaches_extra_groups_with_the_stimulus_set(fixtures_dir, tmp_path):
    path = tmp_path / "extras.nc"
    shutil.copy(fixtures_dir / "brainio" / "assy_test_package_assembly_extras.nc", path)
    stimuli = StimulusSet({"stimulus_id": [f"n{i}" for i in range(10)], "thing": list("abcdefghij")})
    assembly = SpikeTimesAssembly.from_files(
        path, stimulus_set_identifier="test.TenImages", stimulus_set=stimuli
    )
    assert assembly.sizes == {"event": 1000}
    extra = assembly.attrs["test"]
    assert isinstance(extra, MetadataAssembly) and extra.sizes == {"event": 40}
    assert extra.attrs["stimulus_set"] is stimuli
    assert extra.attrs["stimulus_set_identifier"] == "test.TenImages"
    assert "thing" not in extra.coords  # attached, not merged (as BrainIO's loader)
    with xr.open_dataset(path, group="test") as group:
        np.testing.assert_array_equal(np.asarray(extra.values), group["data"].values)
    plain = SpikeTimesAssembly.from_files(path, attach_groups=False)
    assert "test" not in plain.attrs


def test_bundled_example_catalog_is_listed_beside_installed_ones():
    # a deliberate difference from BrainIO (its test counts exactly its own two catalogs)
    import brainbridge

    assert "brainbridge-examples" in brainbridge.list_catalogs()
