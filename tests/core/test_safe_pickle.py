"""The restricted unpickler: NED/BERG's pickled ``.npy`` dicts load, anything else is refused unrun."""

from __future__ import annotations

import builtins
import io
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from brainbridge.errors import BrainbridgeError, ValidationError
from brainbridge.safe_pickle import UnsafePickleError, load_npy, loads


class _WritesMarker:
    """On unpickling, runs ``exec`` that creates a marker file (a stand-in for any payload)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('pwned')",))


class _SystemCall:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _save_dict(path, value):
    np.save(path, value, allow_pickle=True)  # exactly how NED writes its metadata
    return path


def test_a_legit_ned_metadata_dict_with_nested_arrays_loads(tmp_path):
    meta = {
        "eeg": {"ch_names": ["Fp1", "Fz"], "times": np.linspace(-0.1, 0.6, 5, dtype=np.float32)},
        "encoding_models": {
            "correlation_single_repetitions": np.arange(24, dtype=np.float64).reshape(4, 2, 3),
            "train_img_num": np.int64(16540),
            "r": np.float32(0.5),
            "complex": 1 + 2j,
            "tuple": (1, 2.5, None, True),
            "set": {1, 2},
            "frozen": frozenset({"a"}),
            "bytes": b"\x00\x01",
            "objects": np.array(["a", 1], dtype=object),
            "ordered": OrderedDict(a=1),
        },
    }
    path = _save_dict(tmp_path / "metadata_sub-01.npy", meta)
    loaded = load_npy(path)
    assert loaded.keys() == meta.keys()
    enc = loaded["encoding_models"]
    np.testing.assert_array_equal(
        enc["correlation_single_repetitions"], meta["encoding_models"]["correlation_single_repetitions"]
    )
    assert enc["correlation_single_repetitions"].dtype == np.float64
    assert loaded["eeg"]["times"].dtype == np.float32
    assert enc["train_img_num"] == 16540 and isinstance(enc["train_img_num"], np.int64)
    assert enc["tuple"] == (1, 2.5, None, True) and enc["set"] == {1, 2} and enc["bytes"] == b"\x00\x01"
    assert enc["complex"] == 1 + 2j and enc["frozen"] == frozenset({"a"}) and enc["ordered"] == {"a": 1}
    assert list(enc["objects"]) == ["a", 1]
    assert loaded["eeg"]["ch_names"] == ["Fp1", "Fz"]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_of_arrays_loads(protocol):
    value = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "dt": np.dtype("<i4"), "s": np.float64(2.5)}
    loaded = loads(pickle.dumps(value, protocol=protocol))
    np.testing.assert_array_equal(loaded["w"], value["w"])
    assert loaded["dt"] == np.dtype("<i4") and loaded["s"] == 2.5


def test_a_plain_numeric_npy_loads_without_pickle(tmp_path):
    np.save(tmp_path / "w.npy", np.eye(3))
    np.testing.assert_array_equal(load_npy(tmp_path / "w.npy"), np.eye(3))


@pytest.mark.parametrize("payload", [_WritesMarker, _SystemCall])
def test_a_malicious_metadata_file_is_refused_and_never_run(tmp_path, payload):
    marker = tmp_path / "marker"
    path = _save_dict(tmp_path / "metadata_sub-01.npy", {"fmri": {"ncsnr": payload(marker)}})
    with pytest.raises(UnsafePickleError) as info:
        load_npy(path)
    assert isinstance(info.value, BrainbridgeError) and isinstance(info.value, ValidationError)
    message = str(info.value)
    assert ("builtins.exec" in message) or ("system" in message)
    assert not marker.exists()
    # the file really is a payload: numpy's own loader runs it
    np.load(path, allow_pickle=True)
    assert marker.exists()


def test_an_unknown_numpy_global_is_refused_too():
    class Sneaky:
        def __reduce__(self):
            return (np.load, ("/nonexistent",))

    with pytest.raises(UnsafePickleError, match="numpy.*load"):
        loads(pickle.dumps(Sneaky(), protocol=3))


def test_a_truncated_file_fails_clearly(tmp_path):
    path = _save_dict(tmp_path / "m.npy", {"a": np.arange(100)})
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValidationError, match="unreadable pickle"):
        load_npy(path)
    (tmp_path / "x.npy").write_bytes(b"not numpy")
    with pytest.raises(ValidationError, match="not a .npy"):
        load_npy(tmp_path / "x.npy")


class _RunsSystem:
    def __reduce__(self):
        return (os.system, ("true",))


class _Plain:
    pass


def test_torch_refused_global_reads_both_of_torchs_wordings():
    torch = pytest.importorskip("torch")
    from brainbridge.safe_pickle import torch_refused_global

    seen = []
    for payload in (_RunsSystem(), _Plain()):
        buffer = io.BytesIO()
        torch.save({"x": payload}, buffer)
        buffer.seek(0)
        with pytest.raises(pickle.UnpicklingError) as info:
            torch.load(buffer, weights_only=True)
        seen.append(torch_refused_global(info.value))
    # a blocked module (posix) and a plain unsupported class are both named
    assert seen[0] in ("posix.system", "nt.system") and seen[1].endswith("_Plain")
    assert torch_refused_global(pickle.UnpicklingError("truncated archive")) is None
