"""Issue 10 item 7: zarr stores carry per-chunk checksums; damage is an error, never a value."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from tests.core.test_netcdf import assert_same_assembly, make_assembly

from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.cli import main
from brainbridge.errors import AssemblyError
from brainbridge.packaging import write_zarr
from brainbridge.zarr_checksums import (
    CHECKSUMS_GROUP,
    ZarrIntegrityError,
    read_checksums,
    verify_zarr_checksums,
)

zarr = pytest.importorskip("zarr")


def _chunks(store, zarr_format):
    data = store / "data"
    if zarr_format == 3:
        return sorted(p for p in (data / "c").rglob("*") if p.is_file())
    return sorted(p for p in data.iterdir() if p.is_file() and not p.name.startswith("."))


def _validate(path):
    return CliRunner().invoke(main, ["validate", str(path)])


@pytest.fixture(params=[3, 2], ids=["v3", "v2"])
def store(request, tmp_path):
    path = tmp_path / "assy.zarr"
    write_zarr(make_assembly(30), path, chunks={"presentation": 7}, zarr_format=request.param)
    return path, request.param


def test_written_stores_record_every_file(store):
    path, fmt = store
    recorded = read_checksums(str(path))
    chunk_keys = {p.relative_to(path).as_posix() for p in _chunks(path, fmt)}
    assert len(chunk_keys) == 5 and chunk_keys <= set(recorded)
    assert ("zarr.json" if fmt == 3 else ".zgroup") in recorded
    assert verify_zarr_checksums(str(path)) == len(recorded)
    result = _validate(path)
    assert result.exit_code == 0 and f"zarr checksums: {len(recorded)} files match" in result.output
    # other readers see a plain (empty) group, not a stray file
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        group = zarr.open_group(str(path), mode="r")
        members = dict(group.members())
    assert "data" in members
    if fmt == 3:  # (v2 readers use the consolidated metadata, written before the manifest)
        assert CHECKSUMS_GROUP in members and len(list(group[CHECKSUMS_GROUP].keys())) == 0
    assert_same_assembly(make_assembly(30), NeuronRecordingAssembly.from_files(path))


def test_a_deleted_chunk_is_an_error_not_nan(store):
    path, fmt = store
    _chunks(path, fmt)[2].unlink()
    with pytest.raises(ZarrIntegrityError, match="missing"):
        NeuronRecordingAssembly.from_files(path)
    result = _validate(path)
    assert result.exit_code != 0 and "missing" in result.output and "Traceback" not in result.output


def test_a_chunk_deleted_after_opening_is_an_error_on_read(store):
    path, fmt = store
    lazy = NeuronRecordingAssembly.from_files(path, chunks={})
    _chunks(path, fmt)[0].unlink()
    with pytest.raises(ZarrIntegrityError, match="missing"):
        lazy.values  # noqa: B018


def test_a_flipped_byte_is_an_error_on_read(store):
    path, fmt = store
    chunk = _chunks(path, fmt)[1]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x01
    chunk.write_bytes(bytes(data))
    assembly = NeuronRecordingAssembly.from_files(path)  # the listing is intact: opening works
    with pytest.raises(ZarrIntegrityError, match="checksum"):
        assembly.values  # noqa: B018
    result = _validate(path)
    assert result.exit_code != 0 and "checksum" in result.output


def test_edited_metadata_and_added_files_are_refused(store):
    path, fmt = store
    meta = path / "data" / ("zarr.json" if fmt == 3 else ".zattrs")
    document = json.loads(meta.read_text())
    document.setdefault("attributes" if fmt == 3 else "note", {})
    meta.write_text(json.dumps(document, indent=4))
    if fmt == 3:
        with pytest.raises(AssemblyError):
            NeuronRecordingAssembly.from_files(path).values  # noqa: B018
    # (v2 reads its metadata from .zmetadata, which is checked: the edited copy is never used)
    result = _validate(path)
    assert result.exit_code != 0 and "checksum" in result.output
    meta2 = path / "extra.bin"
    meta2.write_bytes(b"x")
    with pytest.raises(ZarrIntegrityError, match="not there when it was written"):
        NeuronRecordingAssembly.from_files(path)


def test_chunks_equal_to_the_fill_value_are_written(tmp_path):
    assembly = make_assembly(30)
    assembly.values[:7] = np.nan  # a whole chunk of NaN (zarr skips such chunks by default)
    path = tmp_path / "nan.zarr"
    write_zarr(assembly, path, chunks={"presentation": 7})
    assert len(_chunks(path, 3)) == 5
    loaded = NeuronRecordingAssembly.from_files(path)
    assert np.isnan(loaded.values[:7]).all()
    _chunks(path, 3)[0].unlink()
    with pytest.raises(ZarrIntegrityError):
        NeuronRecordingAssembly.from_files(path)


def test_stores_without_checksums_still_read(tmp_path):
    path = tmp_path / "plain.zarr"
    write_zarr(make_assembly(6), path, checksums=False)
    assert read_checksums(str(path)) is None
    assert_same_assembly(make_assembly(6), NeuronRecordingAssembly.from_files(path))
    result = _validate(path)
    assert result.exit_code == 0 and "without recorded checksums" in result.output


def test_remote_store_through_fsspec():
    fsspec = pytest.importorskip("fsspec")
    url = "memory://integrity/assy.zarr"
    write_zarr(make_assembly(30), url, chunks={"presentation": 7}, mode="w")
    assert_same_assembly(make_assembly(30), NeuronRecordingAssembly.from_files(url))
    fs = fsspec.filesystem("memory")
    chunk = sorted(k for k in fs.find("/integrity/assy.zarr/data/c"))[0]
    fs.rm(chunk)
    with pytest.raises(ZarrIntegrityError, match="missing"):
        NeuronRecordingAssembly.from_files(url)
    fs.rm("/integrity", recursive=True)


def test_the_verifying_store_travels_to_dask_workers(store):
    """Distributed workers receive the store pickled: the checks must come along."""
    import pickle

    from brainbridge.zarr_checksums import open_verified_store

    path, fmt = store
    copy = pickle.loads(pickle.dumps(open_verified_store(str(path))))
    assert copy._checksums == read_checksums(str(path))
    _chunks(path, fmt)[0].unlink()
    import xarray as xr

    with pytest.raises(ZarrIntegrityError, match="missing"):
        xr.open_zarr(copy, consolidated=fmt == 2)["data"].values  # noqa: B018
