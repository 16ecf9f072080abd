"""Catalog locations: what ``location_type``/``location`` pairs mean, and URL redaction.

A catalog row names a file by ``location_type`` and ``location``:

``local`` (also ``file`` or empty)
    A path, absolute or relative to the catalog's folder, or a ``file://`` URL.
``http`` / ``https``
    A URL fetched over HTTP(S).
``S3``
    ``s3://bucket/key``, BrainIO's virtual-hosted ``https://<bucket>.s3.amazonaws.com/<key>``
    (also with a region, ``<bucket>.s3.<region>.amazonaws.com``), path-style
    ``https://s3.amazonaws.com/<bucket>/<key>``, or a path-style URL on an S3-compatible server
    (``http://host:9000/<bucket>/<key>``). A ``?versionId=`` query selects an object version.

AWS locations use the endpoint given by the caller, else ``BRAINBRIDGE_S3_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (so a catalog of BrainIO URLs can be served by
an S3-compatible mirror), else AWS itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlparse, urlunparse

from brainbridge.errors import FetchError

__all__ = [
    "Location",
    "parse_location",
    "redact_text",
    "redact_url",
    "resolve_location",
    "s3_endpoint_from_env",
]

_LOCAL = {"", "local", "file", "path"}
_HTTP = {"http", "https", "url", "web"}
_S3 = {"s3"}
_SENSITIVE = re.compile(r"(signature|credential|token|secret|password|passwd|key|sig|auth)", re.IGNORECASE)
_AWS_HOST = re.compile(r"(^|\.)amazonaws\.com(\.cn)?$", re.IGNORECASE)
# <bucket>.s3.amazonaws.com, <bucket>.s3.<region>.amazonaws.com, <bucket>.s3-<region>.amazonaws.com
_VIRTUAL_HOST = re.compile(
    r"^(?P<bucket>.+?)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com(\.cn)?$", re.IGNORECASE
)
_PATH_HOST = re.compile(r"^s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com(\.cn)?$", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` without secrets: no password in the authority, sensitive query values masked.

    Used for every URL that ends up in a message, a log line or the cache manifest, so presigned
    URLs and ``user:password@host`` never leak.
    """
    try:
        parts = urlparse(url)
    except ValueError:
        return url
    if not parts.scheme or parts.scheme == "file":
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = parts.query
    if query:
        pairs = [
            (k, "***" if _SENSITIVE.search(k) or k.lower().startswith("x-amz-") else v)
            for k, v in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="*")
    return urlunparse(parts._replace(netloc=netloc, query=query))


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]]+")
# key=value pairs whose key looks secret, wherever they are (library errors quote URLs without
# their scheme, e.g. urllib3's "Max retries exceeded with url: /p?X-Amz-Signature=...")
_SECRET_PAIR = re.compile(
    r"(?i)\b((?:x-amz-|x-goog-)[a-z0-9-]+|[a-z0-9_-]*(?:signature|credential|token|secret|password|passwd|key|sig|auth)"
    r"[a-z0-9_-]*)=(?!\*\*\*)([^&\s'\"<>();,]+)"
)
# header values in dict reprs, e.g. botocore's "'Authorization': b'AWS4-HMAC-SHA256 ...'"
_SECRET_HEADER = re.compile(
    r"(?i)(['\"]?(?:authorization|x-amz-security-token|cookie|x-amz-credential|proxy-authorization)['\"]?\s*[:=]\s*b?['\"])"
    r"[^'\"]*"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s@'\"<>]+)@")


def redact_text(text: str) -> str:
    """``text`` (e.g. a library's error message) with every secret a URL can carry masked.

    Every URL in it goes through :func:`redact_url`; then any remaining ``key=value`` pair whose
    key looks secret (``X-Amz-*``, ``*token*``, ``*sig*``, ``*key*``...) and any
    ``scheme://user:password@`` are masked too. The one helper for anything shown or stored.
    """
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), str(text))
    text = _USERINFO.sub(
        lambda m: m.group(1) + ("***" if ":" not in m.group(2) else m.group(2).split(":")[0] + ":***") + "@",
        text,
    )
    text = _SECRET_HEADER.sub(lambda m: m.group(1) + "***", text)
    return _SECRET_PAIR.sub(lambda m: f"{m.group(1)}=***", text)


def s3_endpoint_from_env() -> str | None:
    """The S3 endpoint configured in the environment, if any.

    ``BRAINBRIDGE_S3_ENDPOINT_URL`` wins over the standard ``AWS_ENDPOINT_URL_S3`` and
    ``AWS_ENDPOINT_URL``.
    """
    for var in ("BRAINBRIDGE_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return None


@dataclass(frozen=True)
class Location:
    """A parsed catalog location.

    Attributes
    ----------
    kind : str
        ``"local"``, ``"http"`` or ``"s3"``.
    url : str
        Absolute path (local), URL (http) or canonical ``s3://bucket/key`` (s3).
    bucket, key, version_id : str or None
        The S3 object (``kind == "s3"`` only).
    endpoint_url : str or None
        The S3 endpoint; ``None`` means AWS.
    region : str or None
        The AWS region named by the URL, if any.
    """

    kind: str
    url: str
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    endpoint_url: str | None = None
    region: str | None = None

    @property
    def is_remote(self) -> bool:
        """Whether fetching it uses the network."""
        return self.kind != "local"

    @property
    def name(self) -> str:
        """The file's base name."""
        path = (
            self.key if self.kind == "s3" else (self.url if self.kind == "local" else urlparse(self.url).path)
        )
        return Path(unquote(path or "")).name

    @property
    def host(self) -> str:
        """The host the bytes come from (``localhost`` for local files, ``AWS`` for AWS S3)."""
        if self.kind == "local":
            return "localhost"
        if self.kind == "s3":
            return (urlparse(self.endpoint_url).hostname or "?") if self.endpoint_url else "AWS"
        return urlparse(self.url).hostname or "?"

    @property
    def identity(self) -> str:
        """A string that names the file uniquely (endpoint and version included)."""
        if self.kind == "s3":
            version = f"?versionId={self.version_id}" if self.version_id else ""
            return f"{self.endpoint_url or 'aws'}|{self.url}{version}"
        return self.url

    def display(self) -> str:
        """A redacted form for messages and logs."""
        if self.kind == "s3":
            version = f" (version {self.version_id})" if self.version_id else ""
            where = f" at {redact_url(self.endpoint_url)}" if self.endpoint_url else ""
            return f"{self.url}{version}{where}"
        return redact_url(self.url)


def _kind(location_type: str, location: str) -> str:
    kind = (location_type or "").strip().lower()
    scheme = urlparse(location).scheme.lower() if "://" in location else ""
    if scheme == "s3" or kind in _S3:
        return "s3"
    if kind in _HTTP:
        return "http"
    if kind in _LOCAL:
        if scheme in ("http", "https"):
            return "http"
        return "local"
    raise FetchError(
        f"unknown location_type {location_type!r} for {redact_url(location)}; "
        "valid: 'local' (or 'file'), 'http'/'https', 'S3'"
    )


def parse_location(
    location_type: str,
    location: str,
    base_dir: str | os.PathLike | None = None,
    endpoint_url: str | None = None,
) -> Location:
    """Parse a catalog row's ``location_type``/``location``.

    Parameters
    ----------
    location_type, location
        As in the catalog row.
    base_dir
        Folder that relative local paths are relative to (the catalog's folder).
    endpoint_url
        S3 endpoint for AWS-style locations (default: :func:`s3_endpoint_from_env`).

    Returns
    -------
    Location
    """
    location = (location or "").strip()
    if not location:
        raise FetchError("empty location")
    kind = _kind(location_type, location)
    if kind == "local":
        parsed = urlparse(location)
        raw = unquote(parsed.path) if parsed.scheme == "file" else location
        path = Path(raw).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir).expanduser() / path
        return Location("local", str(path.absolute()))
    if kind == "http":
        parsed = urlparse(location)
        if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc:
            raise FetchError(f"not an http(s) URL: {redact_url(location)}")
        return Location("http", location)
    return _parse_s3(location, endpoint_url)


def _parse_s3(location: str, endpoint_url: str | None) -> Location:
    parsed = urlparse(location)
    scheme = parsed.scheme.lower()
    query = dict(parse_qsl(parsed.query))
    version_id = query.get("versionId") or query.get("versionid") or None
    region = None
    if scheme == "s3" or scheme == "":
        rest = location.split("://", 1)[1] if scheme else location
        rest = rest.split("?", 1)[0]
        bucket, _, key = rest.partition("/")
        endpoint = endpoint_url or s3_endpoint_from_env()
    elif scheme in ("http", "https"):
        host = parsed.hostname or ""
        path = unquote(parsed.path).lstrip("/")
        virtual = _VIRTUAL_HOST.match(host)
        path_style = _PATH_HOST.match(host)
        if virtual:
            bucket, key, region = virtual.group("bucket"), path, virtual.group("region")
            endpoint = endpoint_url or s3_endpoint_from_env()
        elif path_style:
            bucket, _, key = path.partition("/")
            region = path_style.group("region")
            endpoint = endpoint_url or s3_endpoint_from_env()
        elif _AWS_HOST.search(host):
            raise FetchError(f"cannot find the bucket in the S3 URL {redact_url(location)}")
        elif ".s3." in f".{host}" and not _is_ip(host):
            # BrainIO's rule: a host containing "s3." is virtual-hosted on an S3-compatible service
            bucket, _, service = host.partition(".")
            key = path
            port = f":{parsed.port}" if parsed.port else ""
            endpoint = f"{scheme}://{service}{port}"
        else:
            # a path-style URL on an S3-compatible server: the URL names the endpoint
            bucket, _, key = path.partition("/")
            endpoint = f"{scheme}://{parsed.netloc.rsplit('@', 1)[-1]}"
        if region in ("external-1", "dualstack"):
            region = None
    else:
        raise FetchError(f"not an S3 location: {redact_url(location)}")
    if not bucket or not key or key.endswith("/"):
        raise FetchError(f"an S3 location needs a bucket and an object key: {redact_url(location)}")
    return Location("s3", f"s3://{bucket}/{key}", bucket, key, version_id, endpoint, region)


def _is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[\d.]+|\[?[0-9a-fA-F:]+\]?", host))


def resolve_location(location_type: str, location: str, base_dir: str | os.PathLike | None = None) -> str:
    """Turn a catalog row's ``location_type``/``location`` into a URL or absolute path.

    ``local`` locations become absolute paths (relative ones are taken relative to ``base_dir``,
    the folder of the catalog's lookup CSV); S3 locations become ``s3://bucket/key`` (plus
    ``?versionId=`` when pinned); HTTP URLs are returned as they are.
    """
    parsed = parse_location(location_type, location, base_dir)
    if parsed.kind == "s3" and parsed.version_id:
        return f"{parsed.url}?versionId={quote(parsed.version_id)}"
    return parsed.url
