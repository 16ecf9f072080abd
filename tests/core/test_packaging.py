"""package_stimulus_set / package_data_assembly into a real catalog, and back out through lookups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainbridge import catalogs
from brainbridge.assemblies import DataAssembly, NeuronRecordingAssembly
from brainbridge.catalogs import Catalog
from brainbridge.errors import AssemblyError, CatalogError, StimulusSetError, ValidationError
from brainbridge.fetch import sha1_hash
from brainbridge.packaging import (
    assembly_filename,
    package_data_assembly,
    package_stimulus_set,
    stimulus_set_filenames,
)
from brainbridge.stimuli import StimulusSet


@pytest.fixture
def catalog(tmp_path):
    name = f"test-catalog-{tmp_path.name}"
    return catalogs.register(Catalog.create(name, tmp_path / "catalog" / "lookup.csv"))


def proto_stimuli(tmp_path, ids=("001", "002", "003")) -> StimulusSet:
    folder = tmp_path / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for sid in ids:
        (folder / f"img_{sid}.png").write_bytes(b"png " + sid.encode())
        paths[sid] = folder / f"img_{sid}.png"
    s = StimulusSet({"stimulus_id": list(ids), "category": ["a", "b", "a"][: len(ids)]})
    s.stimulus_paths = paths
    return s


def proto_assembly(ids=("001", "002", "003"), reps=2, seed=0) -> NeuronRecordingAssembly:
    rng = np.random.default_rng(seed)
    n = len(ids) * reps
    return NeuronRecordingAssembly(
        rng.normal(size=(n, 4, 1)).astype("float32"),
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", list(ids) * reps),
            "repetition": ("presentation", np.repeat(np.arange(reps), len(ids))),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(4)]),
            "region": ("neuroid", ["V4", "V4", "IT", "IT"]),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
    )


def test_file_names():
    assert stimulus_set_filenames("lab.Author2024.public") == (
        "stimulus_lab_Author2024_public.csv",
        "stimulus_lab_Author2024_public.zip",
    )
    assert assembly_filename("lab.Author2024") == "assy_lab_Author2024.nc"
    for bad in ("", "../x", "a/b", "with space", ".hidden"):
        with pytest.raises(ValidationError):
            assembly_filename(bad)


def test_package_and_load_back(catalog, tmp_path):
    stimuli = proto_stimuli(tmp_path)
    info = package_stimulus_set(catalog.identifier, stimuli, "test.stimuli")
    folder = catalog.source_path.parent
    assert (folder / "stimulus_test_stimuli.csv").exists() and (folder / "stimulus_test_stimuli.zip").exists()
    assert info["csv_sha1"] == sha1_hash(folder / "stimulus_test_stimuli.csv")
    assert info["location_type"] == "local" and info["csv_location"] == "stimulus_test_stimuli.csv"

    assembly = proto_assembly()
    extra = DataAssembly(
        np.arange(3.0), dims=["event"], coords={"stimulus_id": ("event", ["001", "002", "003"])}
    )
    result = package_data_assembly(
        catalog.identifier, assembly, "test.assembly", "test.stimuli", extras={"events": extra}
    )
    assert result["location"] == "assy_test_assembly.nc"
    assert result["sha1"] == sha1_hash(folder / "assy_test_assembly.nc")
    assert result["cls"] == "NeuronRecordingAssembly"
    assert (
        "stimulus_set" not in assembly.attrs and "identifier" not in assembly.attrs
    )  # caller's object untouched

    lookup = pd.read_csv(catalog.source_path, dtype=str, keep_default_na=False)
    assert list(lookup.columns) == catalogs.LOOKUP_COLUMNS
    assert lookup["identifier"].tolist() == ["test.stimuli", "test.stimuli", "test.assembly"]
    assert lookup["class"].tolist() == ["StimulusSet", "", "NeuronRecordingAssembly"]
    assert lookup["stimulus_set_identifier"].tolist() == ["", "", "test.stimuli"]

    loaded_stimuli = catalogs.get_stimulus_set("test.stimuli")
    assert loaded_stimuli.get_stimulus("002").read_bytes() == b"png 002"
    loaded = catalogs.get_assembly("test.assembly")
    np.testing.assert_array_equal(loaded.values, assembly.values)
    assert loaded["category"].values.tolist() == [
        "a",
        "b",
        "a",
        "a",
        "b",
        "a",
    ]  # merged from the stimulus set
    assert loaded.attrs["identifier"] == "test.assembly"
    assert loaded.attrs["stimulus_set_identifier"] == "test.stimuli"
    assert loaded.attrs["events"].sizes["event"] == 3


def test_repackaging_same_content_is_a_no_op_and_other_content_is_refused(catalog, tmp_path):
    package_stimulus_set(catalog.identifier, proto_stimuli(tmp_path), "test.stimuli")
    package_data_assembly(catalog.identifier, proto_assembly(), "test.assembly", "test.stimuli")
    before = catalog.source_path.read_text()
    package_data_assembly(catalog.identifier, proto_assembly(), "test.assembly", "test.stimuli")
    assert catalog.source_path.read_text() == before
    stored = (catalog.source_path.parent / "assy_test_assembly.nc").read_bytes()
    with pytest.raises(CatalogError, match="already lists"):
        package_data_assembly(catalog.identifier, proto_assembly(seed=1), "test.assembly", "test.stimuli")
    assert (catalog.source_path.parent / "assy_test_assembly.nc").read_bytes() == stored
    other = proto_stimuli(tmp_path / "other")
    other["category"] = ["z", "z", "z"]
    with pytest.raises(CatalogError):
        package_stimulus_set(catalog.identifier, other, "test.stimuli")
    assert catalog.source_path.read_text() == before


def test_file_in_the_store_with_other_content_is_not_overwritten(catalog, tmp_path):
    package_stimulus_set(catalog.identifier, proto_stimuli(tmp_path), "test.stimuli")
    squatter = catalog.source_path.parent / "assy_test_assembly.nc"
    squatter.write_bytes(b"somebody else's file")
    with pytest.raises(CatalogError, match="already exists"):
        package_data_assembly(catalog.identifier, proto_assembly(), "test.assembly", "test.stimuli")
    assert squatter.read_bytes() == b"somebody else's file"
    assert "test.assembly" not in catalog.source_path.read_text()


def test_validation_failures_leave_nothing(catalog, tmp_path):
    package_stimulus_set(catalog.identifier, proto_stimuli(tmp_path), "test.stimuli")
    before = sorted(p.name for p in catalog.source_path.parent.iterdir())
    lookup = catalog.source_path.read_text()
    with pytest.raises(AssemblyError, match="not in stimulus set"):
        package_data_assembly(
            catalog.identifier, proto_assembly(ids=("001", "999", "003")), "test.bad", "test.stimuli"
        )
    wrong_dims = NeuronRecordingAssembly(
        np.zeros((2, 2)), dims=["trial", "unit"], coords={"trial_id": ("trial", ["a", "b"])}
    )
    with pytest.raises(AssemblyError, match="presentation"):
        package_data_assembly(catalog.identifier, wrong_dims, "test.bad", "test.stimuli")
    no_ids = proto_assembly().drop_vars(["presentation", "stimulus_id", "repetition"])
    with pytest.raises(AssemblyError, match="stimulus_id"):
        package_data_assembly(catalog.identifier, no_ids, "test.bad", "test.stimuli")
    with pytest.raises(AssemblyError, match="unknown assembly class"):
        package_data_assembly(
            catalog.identifier, proto_assembly(), "test.bad", "test.stimuli", assembly_class_name="Nope"
        )
    broken = proto_stimuli(tmp_path / "broken")
    broken.stimulus_paths["002"].unlink()
    with pytest.raises(StimulusSetError):
        package_stimulus_set(catalog.identifier, broken, "test.broken")
    assert sorted(p.name for p in catalog.source_path.parent.iterdir()) == before
    assert catalog.source_path.read_text() == lookup


def test_other_local_store_and_plain_dataarray(catalog, tmp_path):
    store = tmp_path / "elsewhere"
    package_stimulus_set(catalog.identifier, proto_stimuli(tmp_path), "test.stimuli", store=store)
    plain = xr.DataArray(
        proto_assembly().values,
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            k: (v.dims, v.values)
            for k, v in proto_assembly().coords.items()
            if k not in ("presentation", "neuroid", "time_bin")
        },
    )
    info = package_data_assembly(catalog.identifier, plain, "test.plain", "test.stimuli", store=store)
    assert info["location"] == str((store / "assy_test_plain.nc").resolve())
    assert (store / "stimulus_test_stimuli.zip").exists()
    loaded = catalogs.get_assembly("test.plain")
    np.testing.assert_array_equal(loaded.values, plain.values)
    assert loaded.sel(region="IT").sizes["neuroid"] == 2


def test_uncatalogued_stimulus_set_is_refused_and_none_is_allowed(catalog, tmp_path):
    with pytest.raises(CatalogError, match="package it first"):
        package_data_assembly(catalog.identifier, proto_assembly(), "test.solo", "not.catalogued")
    assert list(catalog.source_path.parent.iterdir()) == [catalog.source_path]
    properties = DataAssembly(
        np.arange(3.0), dims=["neuroid"], coords={"neuroid_id": ("neuroid", ["a", "b", "c"])}
    )
    info = package_data_assembly(
        catalog.identifier, properties, "test.props", None, assembly_class_name="PropertyAssembly"
    )
    assert info["stimulus_set_identifier"] is None and info["cls"] == "PropertyAssembly"
    loaded = catalogs.get_assembly("test.props")
    assert loaded["neuroid_id"].values.tolist() == ["a", "b", "c"]
