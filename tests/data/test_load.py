"""load_data and load_deeplabcut: every format written by its own library and read back."""

from __future__ import annotations

import pickle

import h5py
import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.io
import torch

import brainbridge.data as bd

X = np.arange(24, dtype=np.float64).reshape(8, 3) / 7.0
Y = np.arange(8, dtype=np.int64)


def test_npy_and_case_insensitive_suffix(tmp_path):
    np.save(tmp_path / "a.npy", X)
    (tmp_path / "a.npy").rename(tmp_path / "A.NPY")
    np.testing.assert_array_equal(bd.load_data(tmp_path / "A.NPY"), X)


def test_npy_object_array_refused_without_allow_pickle(tmp_path):
    obj = np.array([{"a": 1}, None], dtype=object)
    np.save(tmp_path / "o.npy", obj, allow_pickle=True)
    with pytest.raises(bd.UnsafeFormatError, match="allow_pickle=True"):
        bd.load_data(tmp_path / "o.npy")
    assert bd.load_data(tmp_path / "o.npy", allow_pickle=True)[0] == {"a": 1}


def test_npz_key_resolution(tmp_path):
    np.savez(tmp_path / "d.npz", names=np.array(["a", "b"]), neural=X, trial=Y)
    np.testing.assert_array_equal(bd.load_data(tmp_path / "d.npz"), X)  # first non-string entry
    np.testing.assert_array_equal(bd.load_data(tmp_path / "d.npz", key="trial"), Y)
    with pytest.raises(AttributeError, match="not found"):
        bd.load_data(tmp_path / "d.npz", key="missing")
    with pytest.raises(bd.DataKeyError, match="numeric"):
        bd.load_data(tmp_path / "d.npz", key="names")


@pytest.mark.parametrize("suffix", [".h5", ".hdf", ".hdf5", ".h"])
def test_h5py_datasets_including_unsigned(tmp_path, suffix):
    path = tmp_path / f"d{suffix}"
    with h5py.File(path, "w") as f:
        f["counts"] = Y.astype(np.uint16)
        f.create_group("g")["neural"] = X
    np.testing.assert_array_equal(bd.load_data(path), Y)  # CEBRA skips uint datasets
    np.testing.assert_array_equal(bd.load_data(path, key="g/neural"), X)
    with pytest.raises(bd.DataKeyError, match="available"):
        bd.load_data(path, key="nope")


def test_pandas_hdf_with_key_and_columns(tmp_path):
    path = tmp_path / "frame.h5"
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df.to_hdf(path, key="behaviour")
    pd.DataFrame({"z": Y}).to_hdf(path, key="other")
    with pytest.raises(bd.DataKeyError, match=r"2 DataFrames.*\['behaviour', 'other'\]"):
        bd.load_data(path)  # two frames and no key: ambiguous (CEBRA raises too)
    np.testing.assert_array_equal(bd.load_data(path, key="behaviour"), X)
    np.testing.assert_array_equal(bd.load_data(path, key="other"), Y[:, None])
    np.testing.assert_array_equal(bd.load_data(path, key="behaviour", columns=["c", "a"]), X[:, [2, 0]])
    with pytest.raises(AttributeError, match="columns"):
        bd.load_data(path, key="behaviour", columns=["q"])
    df.to_hdf(tmp_path / "one.h5", key="behaviour")
    np.testing.assert_array_equal(bd.load_data(tmp_path / "one.h5"), X)  # one frame: no key needed


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".p"])
def test_torch_files(tmp_path, suffix):
    torch.save(torch.from_numpy(X), tmp_path / f"t{suffix}")
    np.testing.assert_array_equal(bd.load_data(tmp_path / f"t{suffix}"), X)
    torch.save({"meta": 3, "neural": torch.from_numpy(X), "y": torch.from_numpy(Y)}, tmp_path / f"d{suffix}")
    np.testing.assert_array_equal(bd.load_data(tmp_path / f"d{suffix}"), X)
    np.testing.assert_array_equal(bd.load_data(tmp_path / f"d{suffix}", key="y"), Y)


class Opaque:
    """An arbitrary class: unpickling it means running importable code."""

    def __init__(self, value):
        self.value = value


class _RunsCode:
    """Unpickling this calls ``os.system``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_torch_file_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"x": torch.zeros(2), "payload": _RunsCode(marker)}, tmp_path / "evil.pt")
    with pytest.raises(bd.UnsafeFormatError, match="allow_pickle"):
        bd.load_data(tmp_path / "evil.pt")
    assert not marker.exists()


def test_torch_file_with_objects_refused(tmp_path):
    torch.save({"x": torch.zeros(2), "obj": Opaque(1)}, tmp_path / "o.pt")
    with pytest.raises(bd.UnsafeFormatError, match="allow_pickle"):
        bd.load_data(tmp_path / "o.pt")
    np.testing.assert_array_equal(bd.load_data(tmp_path / "o.pt", key="x", allow_pickle=True), np.zeros(2))


def test_csv_with_and_without_header(tmp_path):
    pd.DataFrame(X).to_csv(tmp_path / "plain.csv", header=False, index=False)
    np.testing.assert_allclose(bd.load_data(tmp_path / "plain.csv"), X)
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(tmp_path / "head.csv", index=False)
    np.testing.assert_allclose(bd.load_data(tmp_path / "head.csv"), X)
    np.testing.assert_allclose(bd.load_data(tmp_path / "head.csv", columns=["b"]), X[:, [1]])


@pytest.mark.parametrize("suffix", [".xlsx", ".xlsm"])
def test_excel_sheets(tmp_path, suffix):
    path = tmp_path / f"book{suffix}"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame(X).to_excel(writer, sheet_name="neural", header=False, index=False)
        pd.DataFrame({"t": Y}).to_excel(writer, sheet_name="trial", index=False)
    np.testing.assert_allclose(bd.load_data(path), X)
    np.testing.assert_array_equal(bd.load_data(path, key="trial"), Y[:, None])
    np.testing.assert_array_equal(bd.load_data(path, key=1, columns=["t"]), Y[:, None])
    with pytest.raises(bd.DataKeyError):
        bd.load_data(path, key="missing")


def test_xls_reads_when_xlwt_and_xlrd_exist(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    pytest.importorskip("xlrd")
    book = xlwt.Workbook()
    sheet = book.add_sheet("s")
    for i, row in enumerate(X):
        for j, v in enumerate(row):
            sheet.write(i, j, float(v))
    book.save(str(tmp_path / "old.xls"))
    np.testing.assert_allclose(bd.load_data(tmp_path / "old.xls"), X)


def test_joblib_and_pickle_need_allow_pickle(tmp_path):
    joblib.dump({"label": "x", "neural": X}, tmp_path / "d.jl")
    with open(tmp_path / "d.pkl", "wb") as f:
        pickle.dump({"neural": X, "trial": Y}, f)
    for name in ("d.jl", "d.pkl"):
        with pytest.raises(bd.UnsafeFormatError, match="arbitrary code"):
            bd.load_data(tmp_path / name)
    np.testing.assert_array_equal(bd.load_data(tmp_path / "d.jl", allow_pickle=True), X)
    np.testing.assert_array_equal(bd.load_data(tmp_path / "d.pkl", key="trial", allow_pickle=True), Y)
    with pytest.raises(bd.DataKeyError):
        bd.load_data(tmp_path / "d.jl", key="label", allow_pickle=True)


def test_mat_v5_and_v73(tmp_path):
    scipy.io.savemat(tmp_path / "v5.mat", {"label": "text", "neural": X, "trial": Y})
    np.testing.assert_array_equal(bd.load_data(tmp_path / "v5.mat"), X)
    np.testing.assert_array_equal(bd.load_data(tmp_path / "v5.mat", key="trial"), Y[None, :])
    # a v7.3 file is HDF5 with MATLAB attributes and column-major arrays
    with h5py.File(tmp_path / "v73.mat", "w", userblock_size=512) as f:
        d = f.create_dataset("neural", data=X.T)
        d.attrs["MATLAB_class"] = np.bytes_("double")
        s = f.create_dataset("name", data=np.frombuffer(b"a\x00b\x00", dtype=np.uint16))
        s.attrs["MATLAB_class"] = np.bytes_("char")
    with open(tmp_path / "v73.mat", "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")
    np.testing.assert_array_equal(bd.load_data(tmp_path / "v73.mat"), X)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(bd.UnsupportedFormatError, match="not supported"):
        bd.load_data(tmp_path / "x.txt")
    with pytest.raises(OSError, match="not supported"):
        bd.load_data(tmp_path / "noext")
    with pytest.raises(bd.DataFileError, match="no such file"):
        bd.load_data(tmp_path / "missing.npy")
    for name in ("bad.npy", "bad.h5", "bad.pt", "bad.mat", "bad.xlsx"):
        (tmp_path / name).write_bytes(b"this is not a valid file at all")
        with pytest.raises(bd.DataFileError, match="cannot read"):
            bd.load_data(tmp_path / name)


def _dlc_frame(n=12, bodyparts=("Hand", "Tongue", "Joystick"), seed=0):
    rng = np.random.default_rng(seed)
    cols = pd.MultiIndex.from_product(
        [["DLC_resnet50"], list(bodyparts), ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"]
    )
    values = rng.uniform(0, 100, (n, len(cols)))
    values[:, 2::3] = 0.99
    return pd.DataFrame(values, columns=cols)


def test_load_deeplabcut_masks_and_interpolates_only_missing_entries(tmp_path):
    frame = _dlc_frame()
    hand = frame["DLC_resnet50"]["Hand"]
    frame.loc[0, ("DLC_resnet50", "Hand", "likelihood")] = 0.1  # first frame (CEBRA skips it)
    frame.loc[[4, 5, 6], ("DLC_resnet50", "Hand", "likelihood")] = 0.2  # a 3-frame gap
    frame.loc[11, ("DLC_resnet50", "Tongue", "likelihood")] = 0.0  # last frame
    path = tmp_path / "video1DLC.h5"
    frame.to_hdf(path, key="df_with_missing")
    data, mask = bd.load_deeplabcut(path, keypoints=["Hand", "Tongue"], pcutoff=0.6, return_mask=True)
    assert data.shape == (12, 4)  # one row per frame
    assert mask[:, 0].tolist() == [True, False, False, False, True, True, True] + [False] * 5
    x = hand["x"].to_numpy()
    np.testing.assert_allclose(data[4:7, 0], np.interp([4, 5, 6], [3, 7], [x[3], x[7]]))
    assert data[0, 0] == x[1]  # edge: nearest valid value
    untouched = ~np.repeat(mask, 2, axis=1)
    original = frame["DLC_resnet50"][["Hand", "Tongue"]].xs("x", level="coords", axis=1)
    np.testing.assert_array_equal(data[:, ::2][untouched[:, ::2]], original.to_numpy()[untouched[:, ::2]])
    assert data[11, 2] == frame[("DLC_resnet50", "Tongue", "x")].iloc[10]
    # load_data recognises a DeepLabCut file; columns are keypoints
    np.testing.assert_array_equal(bd.load_data(path, columns=["Hand", "Tongue"]), data)
    assert bd.load_data(path).shape == (12, 6)


def test_load_deeplabcut_errors(tmp_path):
    path = tmp_path / "dlc.h5"
    _dlc_frame().to_hdf(path, key="df_with_missing")
    with pytest.raises(AttributeError, match="Nose"):
        bd.load_deeplabcut(path, keypoints=["Nose"])
    with pytest.raises(ValueError, match="list"):
        bd.load_deeplabcut(path, keypoints="Hand")
    cols = pd.MultiIndex.from_product(
        [["s"], ["mouse1"], ["Hand"], ["x", "y", "likelihood"]],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    pd.DataFrame(np.zeros((3, 3)), columns=cols).to_hdf(tmp_path / "ma.h5", key="df_with_missing")
    with pytest.raises(bd.UnsupportedFormatError, match="multi-animal"):
        bd.load_deeplabcut(tmp_path / "ma.h5")
    low = _dlc_frame()
    low[("DLC_resnet50", "Hand", "likelihood")] = 0.0
    low.to_hdf(tmp_path / "low.h5", key="df_with_missing")
    with pytest.warns(RuntimeWarning, match="every frame"):
        out = bd.load_deeplabcut(tmp_path / "low.h5")
    assert np.isnan(out[:, :2]).all() and np.isfinite(out[:, 2:]).all()
