"""Fixtures of the fetch tests: real servers on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.support` also when pytest is started without `python -m`
    sys.path.insert(0, str(ROOT))

from tests.support.servers import HTTPFileServer, S3Server  # noqa: E402


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server for the whole session (buckets are per test: use unique names)."""
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """AWS clients point at moto; no credentials are configured (public access is anonymous)."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "BRAINBRIDGE_S3_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "BRAINBRIDGE_S3_ANON",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_server


@pytest.fixture
def http_server():
    """A fresh HTTP file server with Range support and fault injection."""
    with HTTPFileServer() as server:
        yield server


_counter = iter(range(1_000_000))


@pytest.fixture
def bucket(s3_env):
    """A fresh public-read bucket on the moto server."""
    name = f"bucket-{next(_counter)}"
    s3_env.create_bucket(name)
    return name
