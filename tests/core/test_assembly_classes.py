"""The assembly classes as BrainIO defines them: DataArray subclasses without instance dicts."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import brainbridge
from brainbridge.packaging import write_netcdf

CLASSES = [
    "DataAssembly",
    "NeuronRecordingAssembly",
    "NeuroidAssembly",
    "BehavioralAssembly",
    "PropertyAssembly",
    "MetadataAssembly",
    "SpikeTimesAssembly",
]


@pytest.mark.parametrize("name", CLASSES)
def test_class_is_a_slotted_dataarray_that_survives_operations_and_files(name, tmp_path):
    cls = getattr(brainbridge, name)
    assert issubclass(cls, xr.DataArray)
    assert cls.__dict__.get("__slots__") == ()  # as BrainIO: xarray forbids new instance attributes
    a = cls(
        np.arange(6.0).reshape(3, 2),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ["001", "002", "003"]),
            "repetition": ("presentation", [0, 0, 1]),
            "neuroid_id": ("neuroid", ["a", "b"]),
        },
    )
    assert not hasattr(a, "__dict__")
    assert type(a.sel(stimulus_id="002")) is cls
    assert type(a.isel(neuroid=[0])) is cls
    assert type(a + 1) is cls
    path = tmp_path / "a.nc"
    write_netcdf(a, path)
    loaded = cls.from_files(path)
    assert type(loaded) is cls
    assert loaded.sel(stimulus_id="003").values.tolist() == [[4.0, 5.0]]
    assert loaded["stimulus_id"].values.tolist() == ["001", "002", "003"]  # ids stay strings
