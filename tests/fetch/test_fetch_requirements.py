"""Fetch behaviours the other fetch tests do not pin down: real parallelism, exponential
backoff, the progress bar, and packaging into an S3 store (moto) with checksums in the catalog."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from brainbridge import catalogs
from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.catalogs import Catalog
from brainbridge.fetch import core as fetch_core
from brainbridge.fetch import fetch_file, fetch_files
from brainbridge.packaging import package_data_assembly, package_stimulus_set
from brainbridge.stimuli import StimulusSet

FAST = {"backoff": 0.01, "read_timeout": 5.0}


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_fetch_files_downloads_concurrently(http_server):
    # the first file stalls for a second, then its connection breaks and it is resumed; run
    # in parallel, the other files are requested while it stalls, serially only after it
    blobs = {f"/p{i}.bin": bytes([i + 1]) * 50_000 for i in range(3)}
    requests = [("http", http_server.add(path, data), sha1(data)) for path, data in blobs.items()]
    http_server.add_fault("/p0.bin", stall=1.0, stall_after=1000)
    paths = fetch_files(requests, workers=3, **FAST)
    assert [p.read_bytes() for p in paths] == list(blobs.values())
    order = [(r.path, r.range) for r in http_server.records()]
    resumed = order.index(("/p0.bin", "bytes=1000-"))
    assert order.index(("/p1.bin", None)) < resumed and order.index(("/p2.bin", None)) < resumed


def test_retries_back_off_exponentially(http_server, monkeypatch):
    data = b"backoff" * 100
    url = http_server.add("/b.bin", data)
    http_server.add_fault("/b.bin", status=503, times=4)
    delays: list[float] = []
    monkeypatch.setattr(fetch_core.time, "sleep", delays.append)
    assert fetch_file("http", url, sha1(data), backoff=0.2, retries=5).read_bytes() == data
    assert len(delays) == 4
    for attempt, delay in enumerate(delays):  # 0.2 * 2**attempt, with +-25 % jitter
        assert 0.75 * 0.2 * 2**attempt <= delay <= 1.25 * 0.2 * 2**attempt


def test_progress_bar_on_request_and_quiet_off_a_terminal(http_server, capsys):
    data = b"p" * 300_000
    url = http_server.add("/bar/quiet.bin", data)
    fetch_file("http", url, sha1(data))  # stderr is not a terminal here: no bar
    assert capsys.readouterr().err == ""
    url = http_server.add("/bar/shown.bin", data + b"!")
    fetch_file("http", url, sha1(data + b"!"), progress=True)
    err = capsys.readouterr().err
    assert "shown.bin" in err and "%" in err
    fetch_files([("http", http_server.add("/bar/a.bin", b"a"), sha1(b"a"))], progress=False)
    assert capsys.readouterr().err == ""


@pytest.fixture
def s3_catalog(tmp_path, s3_env, monkeypatch):
    for name, value in s3_env.credentials().items():  # uploads need credentials
        monkeypatch.setenv(name, value)
    name = f"s3-catalog-{tmp_path.name}"
    return catalogs.register(Catalog.create(name, tmp_path / "catalog" / "lookup.csv"))


def test_package_into_an_s3_store_records_checksums_and_fetches_back(s3_catalog, bucket, s3_env, tmp_path):
    ids = ["001", "002"]
    stimuli = StimulusSet({"stimulus_id": ids, "category": ["a", "b"]})
    stimuli.stimulus_paths = {}
    for sid in ids:
        (tmp_path / f"{sid}.png").write_bytes(b"png " + sid.encode())
        stimuli.stimulus_paths[sid] = tmp_path / f"{sid}.png"
    store = f"s3://{bucket}/packaged"
    package_stimulus_set(s3_catalog.identifier, stimuli, "s3test.stimuli", store=store)
    assembly = NeuronRecordingAssembly(
        np.arange(8.0, dtype="float32").reshape(4, 2),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids * 2),
            "repetition": ("presentation", [0, 0, 1, 1]),
            "neuroid_id": ("neuroid", ["n0", "n1"]),
            "region": ("neuroid", ["V4", "IT"]),
        },
    )
    package_data_assembly(s3_catalog.identifier, assembly, "s3test.assembly", "s3test.stimuli", store=store)

    lookup = pd.read_csv(s3_catalog.source_path, dtype=str, keep_default_na=False)
    assert len(lookup) == 3 and set(lookup["location_type"]) == {"S3"}
    client = s3_env.client()
    for location, checksum in zip(lookup["location"], lookup["sha1"]):
        assert location.startswith(store + "/")
        key = location[len(f"s3://{bucket}/") :]
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert sha1(body) == checksum  # the row's checksum is the uploaded object's

    loaded = catalogs.get_assembly("s3test.assembly")  # fetched from the bucket, verified, merged
    np.testing.assert_array_equal(loaded.values, assembly.values)
    assert loaded["category"].values.tolist() == ["a", "b", "a", "b"]
    assert loaded.attrs["stimulus_set"].get_stimulus("002").read_bytes() == b"png 002"


def test_brainio_bucket_name_by_position_uploads_to_that_s3_bucket(
    s3_catalog, bucket, s3_env, tmp_path, monkeypatch
):
    # BrainIO's signatures: package_stimulus_set(catalog, proto, identifier, bucket_name) and
    # package_data_assembly(catalog, proto, identifier, stimulus_set_id, class_name, bucket_name, extras)
    monkeypatch.chdir(tmp_path)
    ids = ["s1", "s2"]
    stimuli = StimulusSet({"stimulus_id": ids})
    stimuli.stimulus_paths = {}
    for sid in ids:
        (tmp_path / f"{sid}.png").write_bytes(b"png " + sid.encode())
        stimuli.stimulus_paths[sid] = tmp_path / f"{sid}.png"
    package_stimulus_set(s3_catalog.identifier, stimuli, "bucket.stimuli", bucket)
    assembly = NeuronRecordingAssembly(
        np.arange(4.0).reshape(2, 2),
        dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", ids), "neuroid_id": ("neuroid", ["n0", "n1"])},
    )
    package_data_assembly(
        s3_catalog.identifier,
        assembly,
        "bucket.assembly",
        "bucket.stimuli",
        "NeuronRecordingAssembly",
        bucket,
    )
    lookup = pd.read_csv(s3_catalog.source_path, dtype=str, keep_default_na=False)
    assert list(lookup["location"]) == [
        f"s3://{bucket}/stimulus_bucket_stimuli.csv",
        f"s3://{bucket}/stimulus_bucket_stimuli.zip",
        f"s3://{bucket}/assy_bucket_assembly.nc",
    ]
    keys = {o["Key"] for o in s3_env.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"stimulus_bucket_stimuli.csv", "assy_bucket_assembly.nc"} <= keys
    assert not (tmp_path / bucket).exists()  # never a local folder named after the bucket
    assert catalogs.get_assembly("bucket.assembly").sizes["presentation"] == 2


@pytest.mark.parametrize("bucket_name", ["./brainio-temp", "/tmp/x", "s3://b/k", "Upper", "ab"])
def test_bucket_name_that_is_not_a_bucket_is_refused(catalog_dir_factory, bucket_name, tmp_path):
    from brainbridge.errors import CatalogError

    catalog = catalog_dir_factory()
    stimuli = StimulusSet({"stimulus_id": ["a"]})
    (tmp_path / "a.png").write_bytes(b"a")
    stimuli.stimulus_paths = {"a": tmp_path / "a.png"}
    with pytest.raises(CatalogError, match="store="):
        package_stimulus_set(catalog.identifier, stimuli, "x.stimuli", bucket_name)
    with pytest.raises(CatalogError, match="not both"):
        package_stimulus_set(catalog.identifier, stimuli, "x.stimuli", "good-bucket", store=tmp_path / "s")
    assert len(pd.read_csv(catalog.source_path)) == 0


@pytest.fixture
def catalog_dir_factory(tmp_path):
    made = []

    def make():
        name = f"local-catalog-{tmp_path.name}-{len(made)}"
        made.append(catalogs.register(Catalog.create(name, tmp_path / f"catalog{len(made)}" / "lookup.csv")))
        return made[-1]

    return make
