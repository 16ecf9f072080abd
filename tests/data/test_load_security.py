"""Untrusted data files never run code: the attacks, with real files written by pandas/PyTables/h5py.

Each attack's payload opens (creates) a marker file when unpickled. Without ``allow_pickle``
the marker must not appear and the error must name the node; with ``allow_pickle=True`` the
same file runs its payload, which proves the attack file is real.
"""

from __future__ import annotations

import pickle
import pickletools
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import brainbridge.data as bd
from brainbridge.cli import main
from brainbridge.data.pickles import pickle_calls, scan_hdf5


class Payload:
    """Unpickling this calls ``open(marker, "w")``: the file appears when code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _fixed_frame_with_object_column(path, marker):
    """pandas' default (fixed) format pickles an object column into a PyTables VLArray."""
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "obj": [Payload(marker), "b", "c"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PerformanceWarning: pickling an object column
        frame.to_hdf(path, key="frame")


def _table_frame_with_attribute(path, marker, node="frame", attribute="info"):
    """A clean table-format frame whose metadata attribute is replaced by a protocol-0 pickle.

    PyTables unpickles every scalar byte-string attribute ending in '.' as soon as it opens
    the node's attributes; pandas' table format relies on that for its own metadata.
    """
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "s": ["a", "b", "c"]}).to_hdf(path, key="frame", format="table")
    with h5py.File(path, "r+") as f:
        f[node].attrs[attribute] = np.bytes_(pickle.dumps(Payload(marker), protocol=0))


def _dlc_file(path):
    cols = pd.MultiIndex.from_product(
        [["DLC_resnet50"], ["Hand", "Tongue"], ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    values = np.random.default_rng(0).uniform(0, 100, (10, len(cols)))
    values[:, 2::3] = 0.99
    pd.DataFrame(values, columns=cols).to_hdf(path, key="df_with_missing")


def test_object_column_pickle_is_refused_and_named(tmp_path):
    path, marker = tmp_path / "attack.h5", tmp_path / "PWNED"
    _fixed_frame_with_object_column(path, marker)
    with pytest.raises(bd.UnsafeFormatError, match="/frame/block1_values") as info:
        bd.load_data(path)
    assert "builtins.open" in str(info.value) or "io.open" in str(info.value)
    assert "format='table'" in str(info.value)  # says how to store strings without pickles
    with pytest.raises(bd.UnsafeFormatError, match="/frame/block1_values"):
        bd.load_data(path, key="frame")
    assert not marker.exists()
    out = bd.load_data(path, allow_pickle=True)  # the opt-in really unpickles: the payload ran
    assert out.shape == (3, 2) and marker.exists()


@pytest.mark.parametrize("node", ["/", "frame", "frame/table"])
def test_pickled_attribute_is_refused_on_every_node(tmp_path, node):
    path, marker = tmp_path / "attack.h5", tmp_path / "PWNED"
    _table_frame_with_attribute(path, marker, node=node, attribute="note")
    with pytest.raises(bd.UnsafeFormatError, match="attribute 'note'") as info:
        bd.load_data(path)
    assert ("of / " if node == "/" else f"of /{node} ") in str(info.value)
    assert not marker.exists()
    with pytest.raises(bd.UnsafeFormatError):
        bd.load_data(path, key="frame")
    assert not marker.exists()
    bd.load_data(path, allow_pickle=True)
    assert marker.exists()


def test_load_deeplabcut_and_cli_inspect_refuse_the_attack(tmp_path):
    path, marker = tmp_path / "videoDLC.h5", tmp_path / "PWNED"
    _dlc_file(path)
    clean = bd.load_deeplabcut(path)
    with h5py.File(path, "r+") as f:
        f["df_with_missing"].attrs["pandas_version"] = np.bytes_(pickle.dumps(Payload(marker), protocol=0))
    with pytest.raises(bd.UnsafeFormatError, match="attribute 'pandas_version' of /df_with_missing"):
        bd.load_deeplabcut(path)
    with pytest.raises(bd.UnsafeFormatError, match="df_with_missing"):
        bd.load_data(path)
    listing = CliRunner().invoke(main, ["data", "describe", str(path)])  # h5py only: lists, runs nothing
    assert listing.exit_code == 0 and "df_with_missing" in listing.output
    out = CliRunner().invoke(main, ["data", "describe", str(path), "--key", "df_with_missing"])
    assert out.exit_code != 0 and "df_with_missing" in out.output and "--allow-pickle" in out.output
    assert "Traceback" not in out.output
    assert not marker.exists()
    np.testing.assert_array_equal(bd.load_deeplabcut(path, allow_pickle=True), clean)
    assert marker.exists()


def test_cli_allow_pickle_opts_in(tmp_path):
    path, marker = tmp_path / "attack.h5", tmp_path / "PWNED"
    _fixed_frame_with_object_column(path, marker)
    out = CliRunner().invoke(main, ["data", "describe", str(path), "--key", "frame"])
    assert out.exit_code != 0 and "/frame/block1_values" in out.output and not marker.exists()
    out = CliRunner().invoke(main, ["data", "describe", str(path), "--key", "frame", "--allow-pickle"])
    assert out.exit_code == 0, out.output
    assert marker.exists()


def test_pytables_filters_pickle_is_allowed_but_nothing_else(tmp_path):
    """A table-format frame added to a file h5py created gets PyTables' pickled Filters: readable."""
    path = tmp_path / "mixed.h5"
    with h5py.File(path, "w") as f:
        f["neural"] = np.ones((2, 2))
    pd.DataFrame({"a": [1.0, 2.0]}).to_hdf(path, key="frame", format="table")
    with h5py.File(path) as f:
        filters = f["frame/_i_table/index"].attrs["FILTERS"]
    assert "tables.filters.Filters" in pickle_calls(filters)
    assert scan_hdf5(path) == []
    np.testing.assert_array_equal(bd.load_data(path, key="frame"), [[1.0], [2.0]])
    # the same attribute importing anything else is refused
    evil = filters.replace(b"ctables.filters\nFilters", b"cos\nsystem")
    with h5py.File(path, "r+") as f:
        f["frame/_i_table/index"].attrs["FILTERS"] = np.bytes_(evil)
    assert [n.node for n in scan_hdf5(path)] == ["/frame/_i_table/index"]
    with pytest.raises(bd.UnsafeFormatError, match="os.system"):
        bd.load_data(path, key="frame")


def test_clean_pandas_files_load_without_allow_pickle(tmp_path):
    """pandas' table format pickles only plain data (lists, dicts, strings): that is allowed."""
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "s": ["u", "v"]})
    frame.to_hdf(tmp_path / "t.h5", key="t", format="table", data_columns=["s"])
    with h5py.File(tmp_path / "t.h5") as f:
        metadata = f["t"].attrs["non_index_axes"]  # a real protocol-0 pickle
    assert metadata.endswith(b".") and pickle_calls(metadata) == ()
    assert scan_hdf5(tmp_path / "t.h5") == []
    assert bd.load_data(tmp_path / "t.h5", columns=["a", "b"]).tolist() == [[1.0, 3.0], [2.0, 4.0]]
    frame[["a", "b"]].to_hdf(tmp_path / "f.h5", key="f")  # fixed format, numbers only
    assert scan_hdf5(tmp_path / "f.h5") == []
    np.testing.assert_array_equal(bd.load_data(tmp_path / "f.h5"), frame[["a", "b"]].to_numpy())


def test_external_link_is_refused_before_pytables_follows_it(tmp_path):
    target, marker = tmp_path / "other.h5", tmp_path / "PWNED"
    _fixed_frame_with_object_column(target, marker)
    path = tmp_path / "linked.h5"
    pd.DataFrame({"x": [1.0, 2.0]}).to_hdf(path, key="frame")
    with h5py.File(path, "r+") as f:
        f["elsewhere"] = h5py.ExternalLink(str(target), "/frame")
    with pytest.raises(bd.UnsafeFormatError, match="external link"):
        bd.load_data(path, key="frame")
    assert not marker.exists()


def test_h5py_datasets_need_no_scan_and_never_read_other_files(tmp_path):
    """Plain h5py datasets are read by h5py alone, which never unpickles; a dataset whose bytes
    live in another file (external storage) is not read at all."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(8, dtype=np.float64).tobytes())
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["neural"] = np.ones((4, 2))
        f.create_dataset("stolen", shape=(8,), dtype=np.float64, external=[(str(secret), 0, 64)])
        f.attrs["note"] = np.bytes_(pickle.dumps(Payload(tmp_path / "PWNED"), protocol=0))
    np.testing.assert_array_equal(bd.load_data(path), np.ones((4, 2)))
    with pytest.raises(bd.DataKeyError, match="stolen"):
        bd.load_data(path, key="stolen")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_calls_finds_imports_in_every_protocol(tmp_path, protocol):
    data = pickle.dumps(Payload(tmp_path / "m"), protocol=protocol)
    calls = pickle_calls(data)
    assert any(c.endswith(".open") for c in calls) and "REDUCE" in calls
    assert (
        pickle_calls(pickle.dumps({"a": [1, 2.5, ("x", None, True)], "b": {3: "y"}}, protocol=protocol)) == ()
    )
    # a payload followed by garbage still runs up to the garbage: still reported
    assert pickle_calls(data[:-1] + b"\xff") != ()
    list(pickletools.genops(data))  # the scanner's parser accepts what pickle.dumps writes


def test_random_bytes_pt_is_unreadable_not_python_objects(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("random.pt", "random.pth"):
        (tmp_path / name).write_bytes(rng.bytes(4096))
        with pytest.raises(bd.UnreadableFileError, match="not.*PyTorch|PyTorch file") as info:
            bd.load_data(tmp_path / name)
        assert "Python objects" not in str(info.value) and isinstance(info.value, OSError)
    (tmp_path / "notorch.pt").write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip archive
    with pytest.raises(bd.UnreadableFileError, match="PyTorch"):
        bd.load_data(tmp_path / "notorch.pt")
    out = CliRunner().invoke(main, ["data", "describe", str(tmp_path / "random.pt")])
    assert out.exit_code != 0 and "PyTorch file" in out.output and "Traceback" not in out.output


def test_matlab_objects_and_function_handles_are_never_data(tmp_path):
    """scipy reads MATLAB objects and function handles as inert structs; they are not loaded as arrays."""
    scipy_io = pytest.importorskip("scipy.io")
    from pathlib import Path

    data = Path(scipy_io.__file__).parent / "matlab" / "tests" / "data"
    if not (data / "some_functions.mat").is_file():
        pytest.skip("scipy's MATLAB test files are not installed")
    # a, b, c are arrays; sqr, parabola, nCf are function handles
    assert bd.load_data(data / "some_functions.mat").tolist() == [[-3.9]]
    for key in ("sqr", "parabola", "nCf"):
        with pytest.raises(bd.DataKeyError, match="numeric"):
            bd.load_data(data / "some_functions.mat", key=key)
    with pytest.raises(bd.DataKeyError, match="no numeric array"):
        bd.load_data(data / "testobject_7.4_GLNX86.mat")
