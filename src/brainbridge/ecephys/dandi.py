"""A DANDI dandiset as a project source (``dandi:<id>[/<version>]``), when ``dandi`` is installed.

The dandiset's NWB assets are listed with the ``dandi`` client and downloaded through
:func:`brainbridge.fetch.fetch_file` into ``<cache>/dandi/<id>/<asset path>`` (DANDI's own
``sub-*/sub-*_ses-*.nwb`` layout); the folder is then a project whose tables are derived from
the files (:mod:`brainbridge.ecephys.derive`). Offline, the files already downloaded are used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from brainbridge import config
from brainbridge.errors import BrainbridgeError, ValidationError

__all__ = ["dandiset_folder", "parse_dandi_source"]

_SOURCE = re.compile(r"dandi:(?P<id>\d{6})(?:/(?P<version>[\w.]+))?", re.IGNORECASE)


def parse_dandi_source(text: str) -> tuple[str, str | None]:
    """``("000021", "draft")`` from ``dandi:000021/draft``.

    Raises
    ------
    ValidationError
        Not ``dandi:`` followed by a six-digit dandiset id.
    """
    match = _SOURCE.fullmatch(text.strip())
    if not match:
        raise ValidationError(f"{text!r} is not a dandiset source; use dandi:<6-digit id>[/<version>]")
    return match.group("id"), match.group("version")


def _safe_relative(path: str) -> Path:
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValidationError(f"the dandiset lists an asset path outside the dandiset: {path!r}")
    return relative


def dandiset_folder(
    source: str,
    *,
    manifest: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool | None = None,
    fetch_options: dict[str, Any] | None = None,
) -> Path:
    """Download a dandiset's NWB files (once) and return the local folder holding them.

    Raises
    ------
    BrainbridgeError
        ``dandi`` is not installed (``pip install dandi``) and the folder is not cached.
    """
    from brainbridge.fetch import fetch_file

    dandiset_id, version = parse_dandi_source(source)
    base = (
        Path(manifest).expanduser().absolute().parent if manifest is not None else config.home() / "ecephys"
    )
    folder = base / "dandi" / dandiset_id
    offline = config.offline() if offline is None else offline
    if offline:
        if not folder.is_dir():
            raise BrainbridgeError(
                f"dandiset {dandiset_id} is not cached in {folder} and this cache never fetches"
            )
        return folder
    try:
        from dandi.dandiapi import DandiAPIClient
    except ImportError as e:
        if folder.is_dir():
            return folder
        raise BrainbridgeError(
            "a dandi: source needs the dandi client (pip install dandi); or download the dandiset and "
            "give its folder to EcephysProjectCache.from_source"
        ) from e
    with DandiAPIClient() as client:
        dandiset = client.get_dandiset(dandiset_id, version) if version else client.get_dandiset(dandiset_id)
        for asset in dandiset.get_assets():
            if not asset.path.endswith(".nwb"):
                continue
            target = folder / _safe_relative(asset.path)
            if target.exists() and target.stat().st_size == asset.size:
                continue
            url = asset.get_content_url(follow_redirects=1, strip_query=True)
            fetched = fetch_file(
                "https",
                url,
                None,
                cache_dir=target.parent / ".incoming",
                progress=progress,
                **(fetch_options or {}),
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(fetched, target)
    return folder
