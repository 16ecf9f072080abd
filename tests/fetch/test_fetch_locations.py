"""Catalog locations: parsing (BrainIO's real lookup tables included), resolution and redaction."""

from __future__ import annotations

import csv
import hashlib

import pytest

from brainbridge.errors import FetchError
from brainbridge.fetch import fetch_file, parse_location, redact_url, resolve_location


@pytest.mark.parametrize(
    ("location", "bucket", "key", "region", "version"),
    [
        ("s3://bucket/dir/file.nc", "bucket", "dir/file.nc", None, None),
        ("https://brainio-brainscore.s3.amazonaws.com/assy.nc", "brainio-brainscore", "assy.nc", None, None),
        (
            "https://brainio.dicarlo.s3.amazonaws.com/image_dicarlo_hvm.zip",
            "brainio.dicarlo",
            "image_dicarlo_hvm.zip",
            None,
            None,
        ),
        ("https://b.s3.us-west-2.amazonaws.com/a/b.nc?versionId=v1", "b", "a/b.nc", "us-west-2", "v1"),
        ("https://b.s3-eu-west-1.amazonaws.com/x.nc", "b", "x.nc", "eu-west-1", None),
        ("https://s3.amazonaws.com/b/k.nc", "b", "k.nc", None, None),
        ("https://s3.us-east-2.amazonaws.com/b/k%20space.nc", "b", "k space.nc", "us-east-2", None),
    ],
)
def test_s3_location_forms(location, bucket, key, region, version, monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "BRAINBRIDGE_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    parsed = parse_location("S3", location)
    assert (parsed.kind, parsed.bucket, parsed.key, parsed.region, parsed.version_id) == (
        "s3",
        bucket,
        key,
        region,
        version,
    )
    assert parsed.endpoint_url is None  # AWS itself
    assert parsed.url == f"s3://{bucket}/{key}"


def test_endpoint_configuration_order(monkeypatch):
    location = "https://bucket.s3.amazonaws.com/k.nc"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    assert parse_location("S3", location).endpoint_url == "http://generic:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-specific:2")
    assert parse_location("S3", location).endpoint_url == "http://s3-specific:2"
    monkeypatch.setenv("BRAINBRIDGE_S3_ENDPOINT_URL", "http://ours:3")
    assert parse_location("S3", location).endpoint_url == "http://ours:3"
    assert parse_location("S3", location, endpoint_url="http://arg:4").endpoint_url == "http://arg:4"
    # a URL on an S3-compatible host names its own endpoint
    assert parse_location("S3", "http://10.0.0.5:9000/b/k.nc").endpoint_url == "http://10.0.0.5:9000"
    assert (
        parse_location("S3", "https://bkt.s3.wasabisys.com/k.nc").endpoint_url == "https://s3.wasabisys.com"
    )


def test_local_and_http_locations(tmp_path):
    assert resolve_location("local", "sub/f.nc", tmp_path) == str(tmp_path / "sub" / "f.nc")
    assert resolve_location("local", f"file://{tmp_path}/f.nc") == str(tmp_path / "f.nc")
    assert resolve_location("", "https://example.org/f.nc") == "https://example.org/f.nc"
    assert parse_location("https", "https://example.org/a/f.nc").name == "f.nc"
    assert resolve_location("S3", "https://b.s3.amazonaws.com/k.nc?versionId=x") == "s3://b/k.nc?versionId=x"
    with pytest.raises(FetchError, match="unknown location_type 'ftp'"):
        parse_location("ftp", "ftp://example.org/f")
    with pytest.raises(FetchError, match="bucket and an object key"):
        parse_location("S3", "s3://bucket-only/")
    with pytest.raises(FetchError):
        parse_location("http", "not a url")


def test_redaction():
    assert redact_url("https://user:pw@host/p") == "https://user:***@host/p"
    redacted = redact_url("https://h/p?X-Amz-Signature=abc&X-Amz-Security-Token=t&AWSAccessKeyId=AK&keep=1")
    assert "abc" not in redacted and "AK" not in redacted and "=t&" not in redacted and "keep=1" in redacted
    assert redact_url("/local/path?x=1") == "/local/path?x=1"


def test_brainio_lookup_tables_resolve(fixtures_dir):
    rows = []
    for name in ("lookup.csv", "lookup2.csv"):
        with open(fixtures_dir / "brainio" / name, newline="") as f:
            rows += list(csv.DictReader(f))
    assert rows
    for row in rows:
        parsed = parse_location(row["location_type"], row["location"])
        assert parsed.kind == "s3" and parsed.bucket and parsed.key
        assert parsed.key == row["location"].rsplit("/", 1)[1]


def test_brainio_row_served_by_an_s3_compatible_endpoint(fixtures_dir, s3_env):
    # a real BrainIO row, its bucket mirrored on the moto server, the file a real BrainIO netCDF
    with open(fixtures_dir / "brainio" / "lookup.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["location"].endswith(".nc"))
    parsed = parse_location(row["location_type"], row["location"])
    data = (fixtures_dir / "brainio" / "assy_test_TestMe.nc").read_bytes()
    s3_env.create_bucket(parsed.bucket)
    s3_env.put_object(parsed.bucket, parsed.key, data)
    path = fetch_file(row["location_type"], row["location"], hashlib.sha1(data).hexdigest(), backoff=0.01)
    assert path.read_bytes() == data and path.name == parsed.key
