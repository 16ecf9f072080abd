"""netCDF-4 assemblies: BrainIO's layout, round trips, determinism, atomic writes, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainbridge.assemblies import DataAssembly, NeuronRecordingAssembly
from brainbridge.cli import main
from brainbridge.errors import AssemblyError
from brainbridge.fetch import sha1_hash
from brainbridge.packaging import DEFAULT_COMPRESSION_LEVEL, to_dataset, write_netcdf

ROOT = Path(__file__).resolve().parents[2]
PEER_PYTHON = ROOT / "benchmarks" / "_work" / "brainio-venv" / "bin" / "python"


def make_assembly(n_presentations: int = 6, seed: int = 0, **attrs) -> NeuronRecordingAssembly:
    rng = np.random.default_rng(seed)
    ids = [f"{i % 3:03d}" for i in range(n_presentations)]
    return NeuronRecordingAssembly(
        rng.normal(size=(n_presentations, 3, 2)).astype("float32"),
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", ids),
            "repetition": ("presentation", np.arange(n_presentations) // 3),
            "object_name": ("presentation", ["café", "日本", "x"] * (n_presentations // 3)),
            "neuroid_id": ("neuroid", ["n0", "n1", "n2"]),
            "region": ("neuroid", ["V4", "IT", "IT"]),
            "time_bin_start": ("time_bin", [70, 170]),
            "time_bin_end": ("time_bin", [170, 270]),
        },
        attrs={"stimulus_set_identifier": "test.stimuli", **attrs},
    )


def assert_same_values(left, right, name=""):
    left, right = np.asarray(left), np.asarray(right)
    assert left.shape == right.shape, name
    if left.dtype.kind in "OUST" or right.dtype.kind in "OUST":
        assert [str(v) for v in left.ravel()] == [str(v) for v in right.ravel()], name
    else:
        np.testing.assert_array_equal(left, right, err_msg=name)


def assert_same_assembly(written: xr.DataArray, loaded: xr.DataArray):
    assert loaded.dims == written.dims
    np.testing.assert_array_equal(np.asarray(loaded.values), np.asarray(written.values))
    for name in written.coords:
        if name in written.dims and isinstance(written.indexes.get(name), pd.MultiIndex):
            continue
        assert name in loaded.coords, f"coordinate {name} lost"
        assert_same_values(loaded[name].values, written[name].values, str(name))


# --------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------


def test_brainio_layout(tmp_path):
    assembly = make_assembly(stimulus_set=pd.DataFrame({"a": [1]}), nothing=None)
    path = tmp_path / "assy.nc"
    sha1 = write_netcdf(assembly, path)
    assert sha1 == sha1_hash(path)
    with h5py.File(path, "r") as f:
        assert "data" in f and "__xarray_dataarray_variable__" not in f
        # MultiIndex levels are flat 1-D variables; the dimensions carry no coordinate variable
        for level in ("stimulus_id", "repetition", "object_name", "neuroid_id", "region", "time_bin_start"):
            assert f[level].ndim == 1
        for dim in ("presentation", "neuroid", "time_bin"):
            assert f[dim].attrs["NAME"].startswith(b"This is a netCDF dimension but not a netCDF variable")
        # strings are variable-length (NC_STRING), as BrainIO writes them
        assert h5py.check_string_dtype(f["stimulus_id"].dtype).length is None
        # attributes global and on data; DataFrame and None attrs dropped
        for attrs in (f.attrs, f["data"].attrs):
            assert attrs["stimulus_set_identifier"] == "test.stimuli"
            assert "stimulus_set" not in attrs and "nothing" not in attrs
        assert f["data"].compression == "gzip"
        assert f["data"].compression_opts == DEFAULT_COMPRESSION_LEVEL == 1
        assert f["data"].shuffle
        coordinates = f["data"].attrs["coordinates"]
        coordinates = coordinates.decode() if isinstance(coordinates, bytes) else coordinates
        assert coordinates.split() == sorted(coordinates.split())
    reopened = xr.open_dataarray(path)
    assert reopened.name == "data"
    assert reopened.attrs["stimulus_set_identifier"] == "test.stimuli"
    assert_same_values(reopened["stimulus_id"].values, assembly["stimulus_id"].values)


def test_plain_dimension_index_is_stored_with_underscore(tmp_path):
    array = xr.DataArray(
        np.arange(4.0), dims=["event"], coords={"event": [10, 11, 12, 13], "label": ("event", list("abcd"))}
    )
    path = tmp_path / "events.nc"
    write_netcdf(array, path)
    with h5py.File(path, "r") as f:
        assert "event_" in f and "label" in f
        np.testing.assert_array_equal(f["event_"][:], [10, 11, 12, 13])
    loaded = DataAssembly.from_files(path)
    assert_same_values(loaded["event_"].values, [10, 11, 12, 13])
    assert loaded.sel(label="c").values.tolist() == [2.0]


def test_compression_options(tmp_path):
    assembly = make_assembly(60)
    write_netcdf(assembly, tmp_path / "nine.nc", compression_level=9)
    write_netcdf(assembly, tmp_path / "raw.nc", compress=False)
    with h5py.File(tmp_path / "nine.nc", "r") as f:
        assert f["data"].compression_opts == 9
    with h5py.File(tmp_path / "raw.nc", "r") as f:
        assert f["data"].compression is None and f["data"].chunks is None
    for name in ("nine.nc", "raw.nc"):
        assert_same_assembly(assembly, NeuronRecordingAssembly.from_files(tmp_path / name))
    with pytest.raises(AssemblyError, match="compression_level"):
        write_netcdf(assembly, tmp_path / "bad.nc", compression_level=0)


def test_netcdf4_engine_and_library_read_it(tmp_path):
    netCDF4 = pytest.importorskip("netCDF4")
    assembly = make_assembly()
    path = tmp_path / "nc4.nc"
    write_netcdf(assembly, path, engine="netCDF4")
    h5_path = tmp_path / "h5.nc"
    write_netcdf(assembly, h5_path)
    for p in (path, h5_path):
        with netCDF4.Dataset(p) as ds:
            assert ds.variables["stimulus_id"].dtype is str  # NC_STRING
            assert list(ds.variables["stimulus_id"][:]) == list(assembly["stimulus_id"].values)
            np.testing.assert_array_equal(ds.variables["data"][:], assembly.values)
            assert ds.getncattr("stimulus_set_identifier") == "test.stimuli"
        assert_same_assembly(assembly, NeuronRecordingAssembly.from_files(p))


# --------------------------------------------------------------------------------------
# round trips over coordinate types
# --------------------------------------------------------------------------------------

_TEXT = st.one_of(
    st.sampled_from(["001", "007", "0", "1e3", "NaN", "True", "ü", "日本語", "a b", "x,y"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8),
)
_KINDS = {
    "int": st.integers(-(2**62), 2**62),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "str": _TEXT,
    "bool": st.booleans(),
    "datetime": st.datetimes(
        min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
        max_value=pd.Timestamp("2200-01-01").to_pydatetime(),
    ),
}


def _column(kind, values):
    if kind == "datetime":
        return np.array(values, dtype="datetime64[ns]")
    if kind == "str":
        return np.array(values, dtype=object)
    return np.array(values)


@st.composite
def assemblies(draw):
    n = draw(st.integers(1, 7))
    m = draw(st.integers(1, 3))
    coords = {"stimulus_id": ("presentation", draw(st.lists(_TEXT, min_size=n, max_size=n)))}
    for i, kind in enumerate(draw(st.lists(st.sampled_from(sorted(_KINDS)), min_size=1, max_size=4))):
        coords[f"p_{kind}_{i}"] = (
            "presentation",
            _column(kind, draw(st.lists(_KINDS[kind], min_size=n, max_size=n))),
        )
    for i, kind in enumerate(draw(st.lists(st.sampled_from(sorted(_KINDS)), min_size=0, max_size=2))):
        coords[f"n_{kind}_{i}"] = (
            "neuroid",
            _column(kind, draw(st.lists(_KINDS[kind], min_size=m, max_size=m))),
        )
    values = draw(st.lists(st.floats(allow_nan=True, width=32), min_size=n * m, max_size=n * m))
    data = np.array(values, dtype="float32").reshape(n, m)
    return DataAssembly(data, dims=["presentation", "neuroid"], coords=coords, attrs={"identifier": "prop"})


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(assembly=assemblies())
def test_round_trip_any_coordinate_types(tmp_path, assembly):
    path = tmp_path / "prop.nc"
    write_netcdf(assembly, path)
    loaded = DataAssembly.from_files(path)
    assert_same_assembly(assembly, loaded)
    assert loaded.attrs["identifier"] == "prop"
    assert sorted(map(str, loaded.coords)) == sorted(map(str, assembly.coords))


def test_round_trip_keeps_string_ids_and_lazy_dask(tmp_path):
    pytest.importorskip("dask")
    assembly = make_assembly(30)
    path = tmp_path / "assy.nc"
    write_netcdf(assembly, path)
    loaded = NeuronRecordingAssembly.from_files(path, chunks={})
    assert type(loaded.data).__module__.startswith("dask")
    assert loaded["stimulus_id"].values[0] == "000"
    assert_same_assembly(assembly, loaded.compute())


# --------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from brainbridge.assemblies import NeuronRecordingAssembly
    from brainbridge.packaging import write_netcdf
    coords = {"stimulus_id": ("presentation", ["b", "a", "c"]), "repetition": ("presentation", [0, 0, 1]),
              "z": ("presentation", [0.5, np.nan, 2.0]), "neuroid_id": ("neuroid", ["n1", "n0"]),
              "region": ("neuroid", ["IT", "V4"])}
    if sys.argv[2] == "reversed":
        coords = dict(reversed(list(coords.items())))
    attrs = {"stimulus_set_identifier": "s", "identifier": "a", "other": 3}
    if sys.argv[2] == "reversed":
        attrs = dict(reversed(list(attrs.items())))
    a = NeuronRecordingAssembly(np.arange(6, dtype="float32").reshape(3, 2), dims=["presentation", "neuroid"],
                                coords=coords, attrs=attrs)
    print(write_netcdf(a, sys.argv[1]))
    """
)


@pytest.mark.slow
def test_same_bytes_in_fresh_processes(tmp_path):
    digests, files = [], []
    for seed, order in (("1", "forward"), ("2", "reversed")):
        target = tmp_path / f"d{seed}.nc"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", _WRITER, str(target), order],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.append(out.stdout.strip())
        files.append(target.read_bytes())
    assert len(set(digests)) == 1, digests
    assert files[0] == files[1]


def test_encoding_inherited_from_a_read_file_does_not_change_bytes(tmp_path):
    assembly = make_assembly(9)
    first = write_netcdf(assembly, tmp_path / "a.nc", compression_level=9)
    again = NeuronRecordingAssembly.from_files(tmp_path / "a.nc").load()
    second = write_netcdf(again, tmp_path / "b.nc", compression_level=9)
    assert first == second
    assert write_netcdf(assembly, tmp_path / "c.nc") != first  # the level is part of the bytes


# --------------------------------------------------------------------------------------
# extras, atomicity, errors
# --------------------------------------------------------------------------------------


def test_extras_in_netcdf_groups(tmp_path):
    path = tmp_path / "assy.nc"
    write_netcdf(make_assembly(), path)
    events = DataAssembly(
        np.arange(5.0),
        dims=["event"],
        coords={"stimulus_id": ("event", list("abcde")), "time": ("event", np.linspace(0, 1, 5))},
    )
    sha1 = write_netcdf(events, path, append=True, group="events")
    assert sha1 == sha1_hash(path)
    with h5py.File(path, "r") as f:
        assert isinstance(f["events"], h5py.Group) and "data" in f["events"]
    extra = DataAssembly.from_files(path, group="events")
    assert_same_assembly(events, extra)
    assert_same_assembly(make_assembly(), NeuronRecordingAssembly.from_files(path))


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "assy.nc"
    bad = make_assembly(unstorable={"a": 1})  # a dict cannot be a netCDF attribute
    with pytest.raises(AssemblyError):
        write_netcdf(bad, path)
    assert list(tmp_path.iterdir()) == []
    write_netcdf(make_assembly(), path)
    before = path.read_bytes()
    with pytest.raises(AssemblyError):
        write_netcdf(bad, path, append=True, group="extra")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assy.nc"]


def test_append_needs_file_and_group(tmp_path):
    with pytest.raises(AssemblyError, match="does not exist"):
        write_netcdf(make_assembly(), tmp_path / "missing.nc", append=True, group="g")
    write_netcdf(make_assembly(), tmp_path / "a.nc")
    with pytest.raises(AssemblyError, match="group"):
        write_netcdf(make_assembly(), tmp_path / "a.nc", append=True)


def test_clashing_names_are_rejected():
    array = xr.DataArray(np.zeros(2), dims=["event"], coords={"event": [1, 2], "event_": ("event", [3, 4])})
    with pytest.raises(AssemblyError, match="event_"):
        to_dataset(array)


def test_truncated_and_missing_files(tmp_path):
    path = tmp_path / "assy.nc"
    write_netcdf(make_assembly(300), path)
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AssemblyError, match="cannot read"):
        NeuronRecordingAssembly.from_files(truncated).load()
    garbage = tmp_path / "garbage.nc"
    garbage.write_text("not a netCDF file")
    with pytest.raises(AssemblyError):
        NeuronRecordingAssembly.from_files(garbage)
    with pytest.raises(AssemblyError, match="not found"):
        NeuronRecordingAssembly.from_files(tmp_path / "absent.nc")


# --------------------------------------------------------------------------------------
# BrainIO itself
# --------------------------------------------------------------------------------------

_BRAINIO_READER = textwrap.dedent(
    """
    import sys, json
    from brainio.assemblies import NeuronRecordingAssembly, DataAssembly
    a = NeuronRecordingAssembly.from_files(sys.argv[1])
    extra = DataAssembly.from_files(sys.argv[1], group="events")
    it = a.sel(region="IT")
    print(json.dumps({"shape": list(a.shape), "it": list(it.shape),
                      "ids": [str(v) for v in a["stimulus_id"].values],
                      "sum": float(a.values.sum()), "extra": list(extra.shape),
                      "levels": sorted(a.indexes["presentation"].names)}))
    """
)


def _brainio_python() -> str | None:
    try:
        import brainio  # noqa: F401

        return sys.executable
    except ImportError:
        if not PEER_PYTHON.exists():
            return None
        probe = subprocess.run([str(PEER_PYTHON), "-c", "import brainio"], capture_output=True, timeout=120)
        return str(PEER_PYTHON) if probe.returncode == 0 else None


@pytest.mark.slow
def test_brainio_reads_our_files(tmp_path):
    python = _brainio_python()
    if python is None:
        pytest.skip("BrainIO 1.1 is not importable (`make peers` creates benchmarks/_work/brainio-venv)")
    import json

    assembly = make_assembly(12)
    path = tmp_path / "assy.nc"
    write_netcdf(assembly, path)
    events = DataAssembly(
        np.arange(4.0), dims=["event"], coords={"neuroid_id": ("event", ["n0", "n1", "n0", "n2"])}
    )
    write_netcdf(events, path, append=True, group="events")
    out = subprocess.run(
        [python, "-c", _BRAINIO_READER, str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [12, 3, 2]
    assert result["it"] == [12, 2, 2]
    assert result["ids"] == list(assembly["stimulus_id"].values)
    assert result["sum"] == pytest.approx(float(assembly.values.sum()), rel=1e-6)
    assert result["extra"] == [4]
    assert result["levels"] == ["object_name", "repetition", "stimulus_id"]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (
            {
                "presentation": ("presentation", [0, 1, 2, 3]),
                "presentation_": ("presentation", [10, 11, 12, 13]),
            },
            "collide",
        ),
        ({"neuroid": ("neuroid", [0, 1]), "neuroid_": ("neuroid", [5, 6])}, "collide"),
        ({"neuroid": ("presentation", [0, 1, 2, 3])}, "name of another dimension"),
        ({"presentation": ("neuroid", [0, 1])}, "name of another dimension"),
    ],
)
def test_colliding_coordinate_names_in_a_file_are_a_clear_error(tmp_path, extra, match):
    """Issue 10 item 14: a netCDF file whose coordinate names collide raised xarray's ValueError
    (or silently replaced one coordinate by another); now it is a one-line AssemblyError."""
    import h5netcdf

    path = tmp_path / "collide.nc"
    coords = {
        "stimulus_id": ("presentation", ["a", "b", "c", "d"]),
        "neuroid_id": ("neuroid", ["n0", "n1"]),
        "repetition": ("presentation", [0, 0, 0, 0]),
        **extra,
    }
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"presentation": 4, "neuroid": 2}
        f.create_variable("data", ("presentation", "neuroid"), "f4")[:] = np.arange(8).reshape(4, 2)
        for name, (dim, values) in coords.items():
            strings = isinstance(values[0], str)
            variable = f.create_variable(name, (dim,), h5py.string_dtype() if strings else "i8")
            variable[:] = np.array(values, dtype=object if strings else "i8")
        f.variables["data"].attrs["coordinates"] = " ".join(n for n in coords if n not in f.dimensions)
    with pytest.raises(AssemblyError, match=match):
        NeuronRecordingAssembly.from_files(path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code != 0 and match.split()[0] in result.output and "Traceback" not in result.output
