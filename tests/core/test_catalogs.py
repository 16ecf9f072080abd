"""Catalogs: reading, validation, appending, discovery and lookups that fetch and load."""

from __future__ import annotations

import hashlib
import shutil
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import brainbridge
import brainbridge.config
from brainbridge import catalogs
from brainbridge.catalogs import LOOKUP_COLUMNS, Catalog
from brainbridge.errors import (
    AssemblyLookupError,
    CatalogError,
    ChecksumMismatchError,
    LookupFailedError,
    StimulusSetLookupError,
)


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture
def brainio_catalog(fixtures_dir, tmp_path) -> Catalog:
    """A local catalog over BrainIO's own fixture files: one stimulus set, one assembly."""
    folder = tmp_path / "catalog"
    folder.mkdir()
    images = fixtures_dir / "brainio" / "images"
    csv = folder / "stimulus_test_ten.csv"
    shutil.copy(images / "image_test_ten_images.csv", csv)
    zip_path = folder / "stimulus_test_ten.zip"
    with zipfile.ZipFile(zip_path, "w") as z:
        for png in sorted(images.glob("*.png")):
            z.write(png, png.name)
    nc = folder / "assy_test_TestMe.nc"
    shutil.copy(fixtures_dir / "brainio" / "assy_test_TestMe.nc", nc)
    rows = [
        dict(
            identifier="test.ten",
            lookup_type="stimulus_set",
            **{"class": "StimulusSet"},
            location_type="local",
            location=csv.name,
            sha1=sha1(csv),
            stimulus_set_identifier="",
        ),
        dict(
            identifier="test.ten",
            lookup_type="stimulus_set",
            **{"class": ""},
            location_type="local",
            location=zip_path.name,
            sha1=sha1(zip_path),
            stimulus_set_identifier="",
        ),
        dict(
            identifier="test.TestMe",
            lookup_type="assembly",
            **{"class": "NeuronRecordingAssembly"},
            location_type="local",
            location=nc.name,
            sha1=sha1(nc),
            stimulus_set_identifier="test.ten",
        ),
    ]
    lookup = folder / "lookup.csv"
    pd.DataFrame(rows, columns=LOOKUP_COLUMNS).to_csv(lookup, index=False)
    return brainbridge.register(Catalog.from_files("test-catalog", lookup))


def test_brainio_lookup_files_read_and_validate(fixtures_dir):
    for name in ("lookup.csv", "lookup2.csv"):
        catalog = Catalog.from_files("brainio", fixtures_dir / "brainio" / name)
        assert list(catalog.columns[:7]) == LOOKUP_COLUMNS
        assert catalog.identifier == "brainio"
        assert (catalog["lookup_type"].isin(["assembly", "stimulus_set"])).all()
        catalog.validate()


def test_validate_reports_every_problem(tmp_path):
    frame = pd.DataFrame(
        [
            ["a", "assembly", "NoSuchAssembly", "local", "a.nc", "xyz", "missing.set"],
            ["b", "weird", "", "local", "b.nc", "", ""],
            ["c", "assembly", "DataAssembly", "local", "c.nc", "0" * 40, ""],
            ["c", "assembly", "DataAssembly", "local", "c2.nc", "1" * 40, ""],
        ],
        columns=LOOKUP_COLUMNS,
    )
    path = tmp_path / "lookup.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(CatalogError) as info:
        Catalog.from_files("bad", path).validate()
    message = str(info.value)
    for expected in (
        "unknown assembly class 'NoSuchAssembly'",
        "lookup_type 'weird'",
        "'xyz' is not 40",
        "'c' (assembly) appears 2 times",
        "unknown stimulus set 'missing.set'",
    ):
        assert expected in message


def test_missing_columns_and_malformed_csv(tmp_path):
    path = tmp_path / "lookup.csv"
    path.write_text("identifier,lookup_type\nx,assembly\n")
    with pytest.raises(CatalogError, match="lacks columns"):
        Catalog.from_files("c", path)
    with pytest.raises(CatalogError, match="not found"):
        Catalog.from_files("c", tmp_path / "absent.csv")


def test_append_rows_is_atomic_idempotent_and_refuses_silent_duplicates(tmp_path):
    catalog = Catalog.create("mine", tmp_path / "lookup.csv")
    row = dict(
        identifier="x.assy",
        lookup_type="assembly",
        location_type="local",
        location="x.nc",
        sha1="a" * 40,
        stimulus_set_identifier="",
        **{"class": "NeuronRecordingAssembly"},
    )
    catalog.append_rows([row])
    catalog.append_rows([row])  # same content: no-op
    assert len(Catalog.from_files("mine", tmp_path / "lookup.csv")) == 1
    with pytest.raises(CatalogError, match="already has assembly 'x.assy'"):
        catalog.append_rows([{**row, "sha1": "b" * 40}])
    reread = Catalog.from_files("mine", tmp_path / "lookup.csv")
    assert reread["sha1"].tolist() == ["a" * 40]
    assert not list(tmp_path.glob("*.tmp"))


def test_get_assembly_fetches_verifies_and_merges(brainio_catalog):
    assert "test-catalog" in brainbridge.list_catalogs()
    assert "test.TestMe" in brainbridge.list_assemblies()
    assert "test.ten" in brainbridge.list_stimulus_sets()
    assembly = brainbridge.get_assembly("test.TestMe")
    assert isinstance(assembly, brainbridge.NeuronRecordingAssembly)
    assert assembly.attrs["identifier"] == "test.TestMe"
    assert assembly.attrs["stimulus_set_identifier"] == "test.ten"
    # stimulus-set columns joined onto presentations, on stimulus_id
    stimuli = assembly.attrs["stimulus_set"]
    thing = dict(zip(stimuli["stimulus_id"], stimuli["thing"]))
    assert [thing[s] for s in assembly["stimulus_id"].values] == list(assembly["thing"].values)
    assert assembly.sel(stimulus_id="n1").sizes["presentation"] == 2
    # the file in the cache is content-addressed and its checksum verified
    row = catalogs.lookup_assembly("test.TestMe")
    cached = list(brainbridge.config.cache_dir().rglob("assy_test_TestMe.nc"))
    assert [p.parent.name for p in cached] == [row["sha1"]]
    stimulus_set = brainbridge.get_stimulus_set("test.ten")
    assert stimulus_set.get_stimulus("n3").exists()
    assert stimulus_set.identifier == "test.ten"


def test_corrupted_source_is_reported_with_both_checksums(brainio_catalog):
    nc = brainio_catalog.base_dir / "assy_test_TestMe.nc"
    data = bytearray(nc.read_bytes())
    data[-10] ^= 0xFF
    nc.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError) as info:
        brainbridge.get_assembly("test.TestMe")
    row = catalogs.lookup_assembly("test.TestMe")
    assert info.value.expected == row["sha1"]
    assert info.value.actual == sha1(nc)


def test_unknown_identifiers_suggest_close_names(brainio_catalog):
    with pytest.raises(AssemblyLookupError, match="did you mean 'test.TestMe'"):
        brainbridge.get_assembly("test.TestMee")
    with pytest.raises(StimulusSetLookupError, match="test.ten"):
        brainbridge.get_stimulus_set("test.tne")
    with pytest.raises(KeyError):  # still a KeyError for BrainIO-style callers
        brainbridge.get_assembly("nothing.like.it")
    with pytest.raises(LookupFailedError, match="no catalog named"):
        brainbridge.get_catalog("test-catalg")


def test_conflicting_definitions_across_catalogs_are_an_error(brainio_catalog, tmp_path):
    frame = pd.DataFrame(brainio_catalog)[LOOKUP_COLUMNS].copy()
    frame.loc[frame["identifier"] == "test.TestMe", "sha1"] = "f" * 40
    path = tmp_path / "other.csv"
    frame.to_csv(path, index=False)
    brainbridge.register(Catalog.from_files("other", path))
    with pytest.raises(LookupFailedError, match="defined differently"):
        brainbridge.get_assembly("test.TestMe")


def test_identical_definitions_across_catalogs_are_fine(brainio_catalog, tmp_path):
    # the same rows in a second catalog (a mirror) do not make the lookup ambiguous
    path = brainio_catalog.base_dir / "mirror.csv"
    pd.DataFrame(brainio_catalog)[LOOKUP_COLUMNS].to_csv(path, index=False)
    brainbridge.register(Catalog.from_files("mirror", path))
    assert catalogs.lookup_assembly("test.TestMe")["identifier"] == "test.TestMe"


def _install_catalog_package(root: Path, group: str, name: str, lookup_rows: list[list[str]]) -> None:
    """A real installed distribution (dist-info + module) that exposes a catalog entry point."""
    module = root / "bbtest_catalog_pkg"
    module.mkdir()
    pd.DataFrame(lookup_rows, columns=LOOKUP_COLUMNS).to_csv(module / "lookup.csv", index=False)
    (module / "__init__.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from brainbridge.catalogs import Catalog

            def catalog():
                return Catalog.from_files({name!r}, Path(__file__).parent / "lookup.csv")
            """
        )
    )
    dist = root / "bbtest_catalog_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bbtest-catalog-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{name} = bbtest_catalog_pkg:catalog\n")


@pytest.mark.parametrize("group", ["brainio_lookups", "brainbridge_catalogs"])
def test_entry_point_discovery(tmp_path, monkeypatch, group):
    rows = [["pkg.assy", "assembly", "NeuronRecordingAssembly", "local", "a.nc", "c" * 40, ""]]
    _install_catalog_package(tmp_path, group, "pkg-catalog", rows)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bbtest_catalog_pkg", None)
    assert "pkg-catalog" in brainbridge.list_catalogs()
    assert "pkg.assy" in brainbridge.list_assemblies()
    assert brainbridge.get_catalog("pkg-catalog").source_path.name == "lookup.csv"


def test_entry_point_with_wrong_name_is_rejected(tmp_path, monkeypatch):
    _install_catalog_package(tmp_path, "brainio_lookups", "declared-name", [])
    (tmp_path / "bbtest_catalog_pkg" / "__init__.py").write_text(
        "from pathlib import Path\nfrom brainbridge.catalogs import Catalog\n"
        "def catalog():\n    return Catalog.from_files('other-name', Path(__file__).parent / 'lookup.csv')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bbtest_catalog_pkg", None)
    with pytest.raises(CatalogError, match="returned a catalog named 'other-name'"):
        brainbridge.get_catalog("declared-name")
    # ...and a broken catalog does not break lookups in the others
    with pytest.warns(UserWarning, match="skipping catalog 'declared-name'"):
        brainbridge.list_assemblies()


def test_user_catalog_folder(tmp_path, monkeypatch):
    folder = tmp_path / "user"
    folder.mkdir()
    pd.DataFrame(
        [["u.assy", "assembly", "DataAssembly", "local", "u.nc", "d" * 40, ""]], columns=LOOKUP_COLUMNS
    ).to_csv(folder / "my-lab.csv", index=False)
    monkeypatch.setenv("BRAINBRIDGE_CATALOGS", str(folder))
    assert "my-lab" in brainbridge.list_catalogs()
    assert "u.assy" in brainbridge.list_assemblies()


def test_registered_catalog_takes_precedence_and_can_be_removed(tmp_path, monkeypatch):
    _install_catalog_package(tmp_path, "brainbridge_catalogs", "pkg-catalog", [])
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bbtest_catalog_pkg", None)
    catalog = Catalog.create("pkg-catalog", tmp_path / "mine" / "lookup.csv")
    brainbridge.register(catalog)
    assert brainbridge.get_catalog("pkg-catalog") is catalog
    catalogs.unregister("pkg-catalog")
    installed = brainbridge.get_catalog("pkg-catalog")
    assert installed is not catalog
    assert installed.source_path.parent.name == "bbtest_catalog_pkg"


def test_register_rejects_non_catalogs():
    with pytest.raises(TypeError):
        brainbridge.register(pd.DataFrame({"identifier": []}))


def test_netcdf_groups_become_metadata_assemblies(fixtures_dir, tmp_path):
    nc = tmp_path / "assy_extras.nc"
    shutil.copy(fixtures_dir / "brainio" / "assy_test_package_assembly_extras.nc", nc)
    lookup = tmp_path / "lookup.csv"
    pd.DataFrame(
        [["x.extras", "assembly", "DataAssembly", "local", nc.name, sha1(nc), ""]], columns=LOOKUP_COLUMNS
    ).to_csv(lookup, index=False)
    brainbridge.register(Catalog.from_files("extras", lookup))
    assembly = brainbridge.get_assembly("x.extras")
    assert "test" in assembly.attrs
    extra = assembly.attrs["test"]
    assert isinstance(extra, brainbridge.MetadataAssembly)
    assert extra.sizes == {"event": 40}
    # values and every coordinate equal what xarray itself reads from the group
    with xr.open_dataset(nc, group="test") as group:
        np.testing.assert_array_equal(np.asarray(extra.values), group["data"].values)
        for name in group.coords:
            assert np.asarray(extra[name].values).tolist() == group[name].values.tolist(), name


def test_user_catalog_folder_ignores_other_csv_files(tmp_path, monkeypatch):
    folder = tmp_path / "user"
    folder.mkdir()
    pd.DataFrame(
        [["u.assy", "assembly", "DataAssembly", "local", "u.nc", "d" * 40, ""]], columns=LOOKUP_COLUMNS
    ).to_csv(folder / "my-lab.csv", index=False)
    # a packaged stimulus set's CSV stored beside the catalog is not a catalog
    pd.DataFrame({"stimulus_id": ["1"], "filename": ["1.png"]}).to_csv(
        folder / "stimulus_lab_set.csv", index=False
    )
    monkeypatch.setenv("BRAINBRIDGE_CATALOGS", str(folder))
    assert "my-lab" in brainbridge.list_catalogs()
    assert "stimulus_lab_set" not in brainbridge.list_catalogs()


def test_bit_rot_in_the_cache_is_never_served_by_get_assembly(brainio_catalog):
    import os

    first = brainbridge.get_assembly("test.TestMe")
    expected = first.values.copy()
    row = catalogs.lookup_assembly("test.TestMe")
    cached = brainbridge.config.cache_dir() / row["sha1"][:2] / row["sha1"] / "assy_test_TestMe.nc"
    st = cached.stat()
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit; size and mtime kept: the manifest still vouches for it
    cached.write_bytes(bytes(data))
    os.utime(cached, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = brainbridge.get_assembly("test.TestMe")
    np.testing.assert_array_equal(again.values, expected)
    assert sha1(cached) == row["sha1"]  # a good copy was fetched again
    aside = list((brainbridge.config.cache_dir() / ".quarantine").iterdir())
    assert len(aside) == 1 and sha1(aside[0]) != row["sha1"]
