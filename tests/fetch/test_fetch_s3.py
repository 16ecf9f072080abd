"""S3 fetches and uploads against moto's server on loopback, through s3fs/boto3."""

from __future__ import annotations

import hashlib
import os

import pytest

from brainbridge.errors import FetchError
from brainbridge.fetch import (
    AccessDeniedError,
    RemoteNotFoundError,
    fetch_file,
    parse_location,
    resolve_location,
    sha1_hash,
    upload_file,
)
from brainbridge.fetch.cache import DownloadCache

FAST = {"backoff": 0.01, "read_timeout": 5.0}


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_public_bucket_is_read_anonymously(bucket, s3_env):
    data = os.urandom(200_000)
    s3_env.put_object(bucket, "assy/data.nc", data)
    path = fetch_file("S3", f"s3://{bucket}/assy/data.nc", sha1(data), **FAST)
    assert path.read_bytes() == data
    assert path.parent.name == sha1(data)


def test_brainio_https_bucket_url_resolves_to_the_configured_endpoint(bucket, s3_env):
    # a BrainIO catalog row: location_type "S3" and a virtual-hosted AWS URL
    data = os.urandom(50_000)
    s3_env.put_object(bucket, "assy_dicarlo_Majaj2015.nc", data)
    location = f"https://{bucket}.s3.amazonaws.com/assy_dicarlo_Majaj2015.nc"
    parsed = parse_location("S3", location)
    assert (parsed.bucket, parsed.key, parsed.endpoint_url) == (
        bucket,
        "assy_dicarlo_Majaj2015.nc",
        s3_env.endpoint_url,
    )
    assert resolve_location("S3", location) == f"s3://{bucket}/assy_dicarlo_Majaj2015.nc"
    assert fetch_file("S3", location, sha1(data), **FAST).read_bytes() == data


def test_endpoint_can_be_passed_instead_of_the_environment(bucket, s3_env, monkeypatch):
    data = b"endpoint from the catalog configuration"
    s3_env.put_object(bucket, "k.txt", data)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    path = fetch_file(
        "S3", f"https://s3.amazonaws.com/{bucket}/k.txt", sha1(data), endpoint_url=s3_env.endpoint_url, **FAST
    )
    assert path.read_bytes() == data


def test_path_style_url_on_a_compatible_server_names_its_endpoint(bucket, s3_env, monkeypatch):
    data = b"path style"
    s3_env.put_object(bucket, "dir/p.bin", data)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert (
        fetch_file("S3", f"{s3_env.endpoint_url}/{bucket}/dir/p.bin", sha1(data), **FAST).read_bytes() == data
    )


def test_private_object_needs_credentials(s3_env, monkeypatch):
    data = b"private"
    bucket = s3_env.create_bucket("private-bucket", public=False)
    s3_env.put_object(bucket, "private.bin", data, public=False)
    with pytest.raises(AccessDeniedError) as info:
        fetch_file("S3", f"s3://{bucket}/private.bin", sha1(data), **FAST)
    assert isinstance(info.value, PermissionError)
    # configured credentials are used (signed requests)
    for name, value in s3_env.credentials().items():
        monkeypatch.setenv(name, value)
    assert fetch_file("S3", f"s3://{bucket}/private.bin", sha1(data), **FAST).read_bytes() == data


def test_public_object_with_unrelated_credentials(bucket, s3_env):
    data = b"public, read with explicit credentials"
    s3_env.put_object(bucket, "pub.bin", data)
    options = {"key": "testing-access-key", "secret": "testing-secret-key"}
    path = fetch_file("S3", f"s3://{bucket}/pub.bin", sha1(data), storage_options=options, **FAST)
    assert path.read_bytes() == data


def test_missing_key_is_not_found(bucket, s3_env):
    with pytest.raises(RemoteNotFoundError):
        fetch_file("S3", f"s3://{bucket}/nope.nc", None, **FAST)


def test_version_id_selects_the_object_version(s3_env):
    name = "versioned-bucket"
    s3_env.create_bucket(name, versioned=True)
    old, new = b"version one", b"version two"
    first = s3_env.put_object(name, "v.txt", old)
    s3_env.put_object(name, "v.txt", new)
    path = fetch_file("S3", f"s3://{name}/v.txt?versionId={first['VersionId']}", sha1(old), **FAST)
    assert path.read_bytes() == old
    assert fetch_file("S3", f"s3://{name}/v.txt", sha1(new), **FAST).read_bytes() == new


def test_interrupted_s3_download_resumes_with_a_ranged_get(bucket, s3_env, monkeypatch):
    from brainbridge.fetch import stores

    data = os.urandom(3 * 65536 + 123)
    s3_env.put_object(bucket, "big.bin", data)
    monkeypatch.setattr(stores, "S3_CHUNK", 65536)  # several ranged GETs for a small object
    # first attempt: break the connection after two ranged GETs
    calls = []
    real = stores.S3Store.open

    def failing_open(self, offset, validator, timeouts):
        body = real(self, offset, validator, timeouts)
        calls.append(body.start)
        inner = body.chunks

        def chunks():
            for i, chunk in enumerate(inner):
                if len(calls) == 1 and i == 2:
                    raise stores.TransientFetchError("connection reset (injected)")
                yield chunk

        body.chunks = chunks()
        return body

    monkeypatch.setattr(stores.S3Store, "open", failing_open)
    path = fetch_file("S3", f"s3://{bucket}/big.bin", sha1(data), **FAST)
    assert path.read_bytes() == data
    assert calls == [0, 2 * 65536]  # the second attempt started where the first stopped


def test_upload_to_s3_then_fetch_back(bucket, s3_env, tmp_path, monkeypatch):
    for name, value in s3_env.credentials().items():
        monkeypatch.setenv(name, value)
    source = tmp_path / "stimulus_set.zip"
    source.write_bytes(os.urandom(100_000))
    location = upload_file(source, "S3", f"s3://{bucket}/stimuli/")
    assert location == f"s3://{bucket}/stimuli/stimulus_set.zip"
    head = s3_env.client().head_object(Bucket=bucket, Key="stimuli/stimulus_set.zip")
    assert head["ContentLength"] == 100_000
    fetched = fetch_file("S3", location, sha1_hash(source), **FAST)
    assert fetched.read_bytes() == source.read_bytes()
    # publishing the same bytes again is a no-op; different bytes are refused without overwrite
    assert upload_file(source, "S3", location, overwrite=False) == location
    changed = tmp_path / "changed.zip"
    changed.write_bytes(b"other bytes")
    with pytest.raises(FetchError, match="different content"):
        upload_file(changed, "S3", location, overwrite=False)
    # BrainIO-style https location: returned as given
    url = f"https://{bucket}.s3.amazonaws.com/assy.nc"
    assert upload_file(source, "S3", url) == url
    assert fetch_file("S3", url, sha1_hash(source), **FAST).read_bytes() == source.read_bytes()


def test_upload_without_credentials_is_refused(s3_env, tmp_path):
    bucket = s3_env.create_bucket("private-uploads", public=False)
    source = tmp_path / "f.bin"
    source.write_bytes(b"x")
    with pytest.raises(AccessDeniedError):
        upload_file(source, "S3", f"s3://{bucket}/f.bin", retries=0)


def test_upload_to_local_mirror(tmp_path):
    source = tmp_path / "assy.nc"
    source.write_bytes(os.urandom(10_000))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    location = upload_file(source, "local", str(mirror))
    assert location == f"{mirror}/assy.nc"
    assert (mirror / "assy.nc").read_bytes() == source.read_bytes()
    assert [p.name for p in mirror.iterdir()] == ["assy.nc"]  # no temporary left behind
    # relative destination against a catalog folder, then fetched through the cache
    relative = upload_file(source, "local", "sub/copy.nc", base_dir=mirror)
    assert relative == "sub/copy.nc"
    path = fetch_file("local", relative, sha1_hash(source), base_dir=mirror)
    assert path.read_bytes() == source.read_bytes()
    assert path.parent.parent.parent == DownloadCache().root
    other = tmp_path / "other.nc"
    other.write_bytes(b"different")
    from brainbridge.errors import FetchError

    with pytest.raises(FetchError, match="different content"):
        upload_file(other, "local", str(mirror / "assy.nc"), overwrite=False)
    with pytest.raises(FetchError, match="read-only"):
        upload_file(source, "https", "https://example.org/assy.nc")


def test_object_replaced_during_an_interrupted_download_is_not_spliced(bucket, s3_env, monkeypatch):
    from brainbridge.fetch import stores

    old, new = os.urandom(5 * 65536), os.urandom(5 * 65536)
    s3_env.put_object(bucket, "moving.bin", old)
    monkeypatch.setattr(stores, "S3_CHUNK", 65536)
    starts = []
    real = stores.S3Store.open

    def open_and_break_once(self, offset, validator, timeouts):
        body = real(self, offset, validator, timeouts)
        starts.append((offset, body.start))
        inner = body.chunks

        def chunks():
            for i, chunk in enumerate(inner):
                if len(starts) == 1 and i == 2:
                    s3_env.put_object(bucket, "moving.bin", new)  # replaced while we were away
                    raise stores.TransientFetchError("connection reset (injected)")
                yield chunk

        body.chunks = chunks()
        return body

    monkeypatch.setattr(stores.S3Store, "open", open_and_break_once)
    path = fetch_file("S3", f"s3://{bucket}/moving.bin", sha1(new), **FAST)
    assert path.read_bytes() == new
    # the resume asked for the rest with IfMatch, the changed ETag failed it, and it started over
    assert starts == [(0, 0), (2 * 65536, 0)]
