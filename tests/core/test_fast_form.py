"""The fast local form of netCDF assemblies (brainbridge.formats.fastform): same values, verified."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.fetch import tree_entries
from brainbridge.formats import fastform
from brainbridge.formats.netcdf import write_netcdf
from brainbridge.stimuli import StimulusSet


@pytest.fixture(autouse=True)
def _fast_form_on(monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_FAST_FORM", "1")  # opt-in (off by default)


def make_assembly(seed: int = 0) -> NeuronRecordingAssembly:
    rng = np.random.default_rng(seed)
    n = 60
    floats = rng.normal(size=n)
    floats[:3] = [np.nan, -0.0, 0.0]  # kept bit for bit
    return NeuronRecordingAssembly(
        rng.normal(size=(n, 4, 2)).astype("float32"),
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", [f"{i % 12:03d}" for i in range(n)]),
            "repetition": ("presentation", np.arange(n) // 12),
            "object_name": ("presentation", ["café", "日本", "x", "y"] * (n // 4)),
            "size": ("presentation", floats),
            "neuroid_id": ("neuroid", ["n0", "n1", "n2", "n3"]),
            "region": ("neuroid", ["V4", "IT", "IT", "V4"]),
            "time_bin_start": ("time_bin", [70, 170]),
            "time_bin_end": ("time_bin", [170, 270]),
        },
        attrs={
            "stimulus_set_identifier": "test.stimuli",
            "count": np.int64(3),
            "scale": np.float32(0.5),
            "bins": np.array([1.5, 2.5]),
            "flag": 1,
            "note": "ok",
        },
    )


@pytest.fixture
def assembly_file(tmp_path):
    path = tmp_path / "assembly.nc"
    write_netcdf(make_assembly(), path)
    return path


@pytest.fixture
def stimulus_set(tmp_path):
    folder = tmp_path / "stimuli"
    folder.mkdir()
    ids = [f"{i:03d}" for i in range(12)]
    for sid in ids:
        (folder / f"{sid}.png").write_bytes(b"png")
    frame = pd.DataFrame(
        {
            "stimulus_id": ids,
            "filename": [f"{s}.png" for s in ids],
            "split": ["train", "test"] * 6,
            "weight": np.arange(12) / 7,
        }
    )
    frame.to_csv(tmp_path / "stimuli.csv", index=False)
    return StimulusSet.from_files(tmp_path / "stimuli.csv", folder)


def _netcdf_read(path, monkeypatch, **kwargs):
    with monkeypatch.context() as m:
        m.setenv("BRAINBRIDGE_FAST_FORM", "0")
        return NeuronRecordingAssembly.from_files(path, **kwargs).load()


def assert_same(result, expected):
    """Identical, MultiIndex levels compared as coordinates (an index with NaN never equals itself)."""
    assert type(result) is type(expected)
    for dim in expected.dims:
        assert list(result.indexes[dim].names) == list(expected.indexes[dim].names), dim
        assert result.indexes[dim].equals(expected.indexes[dim]), dim
    dims = list(expected.dims)
    xr.testing.assert_identical(
        xr.DataArray(result).reset_index(dims), xr.DataArray(expected).reset_index(dims)
    )


def _forms():
    fastform.wait()  # forms are written in the background
    return [e for e in tree_entries() if e.kind == "fast-form"]


def _opened(path):
    fastform.wait()
    return fastform.open_fast_form(path)


def test_a_full_read_keeps_a_fast_form_that_reads_the_same(assembly_file, stimulus_set, monkeypatch):
    assert _opened(assembly_file) is None
    first = NeuronRecordingAssembly.from_files(assembly_file).load()  # reads the netCDF file, keeps the form
    assert len(_forms()) == 1
    opened = _opened(assembly_file)
    assert opened is not None and not isinstance(opened["data"].variable._data, np.ndarray)  # lazy
    expected = _netcdf_read(assembly_file, monkeypatch)
    for result in (first, NeuronRecordingAssembly.from_files(assembly_file).load()):
        assert_same(result, expected)
        assert {k: type(v) for k, v in result.attrs.items()} == {
            k: type(v) for k, v in expected.attrs.items()
        }
        np.testing.assert_array_equal(result.attrs["bins"], expected.attrs["bins"])
        assert result.attrs["scale"].dtype == np.float32 and result.attrs["count"] == 3
        for name in expected.coords:
            assert result[name].dtype == expected[name].dtype, name
        assert list(result.indexes["presentation"].names) == list(expected.indexes["presentation"].names)
        np.testing.assert_array_equal(np.signbit(result["size"].values), np.signbit(expected["size"].values))
    # with the stimulus set merged (the reader's factorization feeds the merge and the index)
    merged = NeuronRecordingAssembly.from_files(assembly_file, stimulus_set=stimulus_set).load()
    assert_same(merged, _netcdf_read(assembly_file, monkeypatch, stimulus_set=stimulus_set))
    assert merged.sel(split="train").sizes["presentation"] == 30
    # parts of the values, as xarray indexes them
    lazy = NeuronRecordingAssembly.from_files(assembly_file)
    np.testing.assert_array_equal(lazy[5:50:3, 1, ::-1].values, expected[5:50:3, 1, ::-1].values)
    assert not any(fastform.FACTORIZED_ENCODING in v.encoding for v in merged.coords.variables.values())
    # the mapped values can be changed in memory; the form is not
    merged.values[0, 0, 0] = 1234.0
    assert (
        NeuronRecordingAssembly.from_files(assembly_file).load().values[0, 0, 0] == expected.values[0, 0, 0]
    )


def test_a_tampered_fast_form_is_detected_and_rebuilt(assembly_file, monkeypatch, caplog):
    expected = _netcdf_read(assembly_file, monkeypatch)
    NeuronRecordingAssembly.from_files(assembly_file).load()
    folder = fastform._root() / _forms()[0].relpath.split("/")[-1]
    data = folder / "data.bin"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0xFF  # one changed byte in the values
    data.write_bytes(bytes(raw))
    fastform.wait()
    lazy = NeuronRecordingAssembly.from_files(assembly_file)
    with caplog.at_level(logging.WARNING, logger="brainbridge.formats.fastform"):
        assert_same(lazy.load(), expected)  # served from the netCDF file, not the form
    assert "damaged" in caplog.text and not folder.exists() and _forms() == []
    NeuronRecordingAssembly.from_files(assembly_file).load()  # the next full read keeps it again
    fastform.wait()
    assert folder.exists() and _opened(assembly_file) is not None
    # a changed coordinate file is found on open
    coordinate = folder / "c0.npy"
    coordinate.write_bytes(coordinate.read_bytes()[:-1] + b"!")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="brainbridge.formats.fastform"):
        assert _opened(assembly_file) is None
    assert "damaged" in caplog.text and not folder.exists()
    assert_same(NeuronRecordingAssembly.from_files(assembly_file).load(), expected)
    # a manifest changed together with its files' digests does not match its source record
    fastform.wait()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["attrs"]["note"] = {"str": "changed"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert _opened(assembly_file) is None
    assert_same(NeuronRecordingAssembly.from_files(assembly_file).load(), expected)


def test_a_changed_source_file_is_read_again(assembly_file, monkeypatch):
    NeuronRecordingAssembly.from_files(assembly_file).load()
    assert _opened(assembly_file) is not None
    write_netcdf(make_assembly(seed=1), assembly_file)  # same name, new content
    assert _opened(assembly_file) is None
    loaded = NeuronRecordingAssembly.from_files(assembly_file).load()
    np.testing.assert_array_equal(loaded.values, make_assembly(seed=1).values)
    assert len(_forms()) == 2  # keyed by content: the old content's form stays until cleaned


def test_fast_forms_can_be_turned_off(assembly_file, monkeypatch):
    monkeypatch.setenv("BRAINBRIDGE_FAST_FORM", "0")
    NeuronRecordingAssembly.from_files(assembly_file).load()
    assert _forms() == []


def test_the_fast_form_is_a_cache_entry(assembly_file):
    from brainbridge.fetch.cache import DownloadCache

    NeuronRecordingAssembly.from_files(assembly_file).load()
    (entry,) = _forms()
    cache = DownloadCache()
    assert cache.verify_tree(cache.root / entry.relpath) == []
    assert set(entry.files) >= {"data.bin", "manifest.json"}


def test_a_process_that_exits_right_after_the_read_still_keeps_the_form(tmp_path):
    import os
    import subprocess
    import sys

    big = NeuronRecordingAssembly(  # 4.8 MB: several chunks, so reads use a thread pool
        np.ones((3000, 400, 1), dtype="float32"),
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", [f"s{i % 50}" for i in range(3000)]),
            "repetition": ("presentation", np.arange(3000) // 50),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(400)]),
            "time_bin_start": ("time_bin", [0]),
            "time_bin_end": ("time_bin", [10]),
        },
    )
    path = tmp_path / "big.nc"
    write_netcdf(big, path)
    home = tmp_path / "home"
    code = (
        f"from brainbridge.assemblies import NeuronRecordingAssembly as A; A.from_files({str(path)!r}).load()"
    )
    env = {**os.environ, "BRAINBRIDGE_HOME": str(home)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert (home / "cache" / "fast-forms").is_dir()
    assert [p.name for p in (home / "cache" / "fast-forms").iterdir() if p.name != "sources"] != []
