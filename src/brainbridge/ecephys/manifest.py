"""The project cache's manifest: a versioned JSON file of path templates (AllenSDK's layout).

The file looks like AllenSDK's ``ecephys_project_manifest.json``::

    {"manifest": [
      {"type": "manifest_version", "value": "1.0.0"},
      {"type": "source", "value": "s3://bucket/project"},
      {"key": "BASEDIR", "type": "dir", "spec": "."},
      {"key": "sessions", "type": "file", "spec": "sessions.csv", "parent_key": "BASEDIR"},
      ...]}

Keys and templates are AllenSDK's. Differences, on purpose: versions are compared
semantically (``0.10.0`` is newer than ``0.3.0``), the message says what to do, and the
file is written atomically. Without an explicit ``version``, a manifest AllenSDK wrote
(0.2.x or 0.3.x: the same keys and templates) opens as it is, and the files it lists are
reused.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from brainbridge.atomic import atomic_write_text
from brainbridge.ecephys.errors import ManifestVersionError
from brainbridge.errors import ValidationError
from brainbridge.paths import path_within, safe_component

__all__ = [
    "DEFAULT_ENTRIES",
    "MANIFEST_VERSION",
    "READABLE_VERSIONS",
    "Manifest",
    "compare_versions",
    "is_readable_version",
]

#: version of the cache layout this code reads and writes
MANIFEST_VERSION = "1.0.0"

#: (key, type, spec, parent_key): AllenSDK's keys and templates, plus the project index
DEFAULT_ENTRIES: tuple[tuple[str, str, str, str | None], ...] = (
    ("BASEDIR", "dir", ".", None),
    ("project_index", "file", "project.json", "BASEDIR"),
    ("sessions", "file", "sessions.csv", "BASEDIR"),
    ("probes", "file", "probes.csv", "BASEDIR"),
    ("channels", "file", "channels.csv", "BASEDIR"),
    ("units", "file", "units.csv", "BASEDIR"),
    ("session_data", "dir", "session_%d", "BASEDIR"),
    ("session_nwb", "file", "session_%d.nwb", "session_data"),
    ("session_analysis_metrics", "file", "session_%d_analysis_metrics.csv", "session_data"),
    ("probe_lfp_nwb", "file", "probe_%d_lfp.nwb", "session_data"),
    ("movie_dir", "dir", "natural_movie_templates", "BASEDIR"),
    ("typewise_analysis_metrics", "file", "%s_analysis_metrics.csv", "BASEDIR"),
    ("natural_movie", "file", "natural_movie_%d.h5", "movie_dir"),
    ("natural_scene_dir", "dir", "natural_scene_templates", "BASEDIR"),
    ("natural_scene", "file", "natural_scene_%d.tiff", "natural_scene_dir"),
)


def _version_key(version: str) -> tuple:
    parts = []
    for piece in re.split(r"[.\-+]", str(version)):
        parts.append((0, int(piece), "") if piece.isdigit() else (1, 0, piece))
    return tuple(parts)


#: manifest layouts read without ``version=``: AllenSDK's 0.2.x and 0.3.x, and brainbridge's 1.x
READABLE_VERSIONS = ("0.2", "0.3", "1")


def is_readable_version(version: str) -> bool:
    """Whether a manifest of this version has a layout this code reads (same keys and templates)."""
    parts = str(version).split(".")
    return any(parts[: len(p.split("."))] == p.split(".") for p in READABLE_VERSIONS)


def compare_versions(a: str, b: str) -> int:
    """``-1``, ``0`` or ``1`` as ``a`` is older than, equal to or newer than ``b`` (semantic)."""
    ka, kb = _version_key(a), _version_key(b)
    return (ka > kb) - (ka < kb)


@dataclass
class Manifest:
    """Path templates of a cache folder, resolved relative to the manifest file's folder.

    Attributes
    ----------
    path : pathlib.Path
        The manifest file.
    version : str
        The layout version recorded in the file.
    source : str or None
        The project source the cache was filled from (informational).
    entries : list of dict
        The raw entries, in file order.
    """

    path: Path
    version: str
    source: str | None = None
    entries: list[dict] = field(default_factory=list)

    @classmethod
    def default_entries(cls) -> list[dict]:
        """The entries of a new manifest."""
        entries = []
        for key, kind, spec, parent in DEFAULT_ENTRIES:
            entry = {"key": key, "type": kind, "spec": spec}
            if parent is not None:
                entry["parent_key"] = parent
            entries.append(entry)
        return entries

    @classmethod
    def load_or_create(
        cls, path: str | os.PathLike, version: str | None = None, source: str | None = None
    ) -> Manifest:
        """Read the manifest at ``path``, or write a new one there.

        Raises
        ------
        ManifestVersionError
            The file records no version or another version than ``version``.
        ValidationError
            The file is not a manifest.
        """
        path = Path(path).expanduser().absolute()
        expected = version or MANIFEST_VERSION
        lenient = version is None  # no version asked for: any layout this code reads
        if not path.exists():
            manifest = cls(path=path, version=expected, source=source, entries=cls.default_entries())
            manifest.save()
            return manifest
        try:
            document = json.loads(path.read_text())
            raw = document["manifest"]
            if not isinstance(raw, list):
                raise TypeError("'manifest' is not a list")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValidationError(
                f"{path} is not a project cache manifest ({e}); remove it to start afresh"
            ) from e
        found = next((e.get("value") for e in raw if e.get("type") == "manifest_version"), None)
        recorded_source = next((e.get("value") for e in raw if e.get("type") == "source"), None)
        if lenient and found is not None and is_readable_version(str(found)):
            expected = str(found)
        if found is None or compare_versions(str(found), expected) != 0:
            if found is None:
                detail = "records no version"
            elif compare_versions(str(found), expected) < 0:
                detail = f"is out of date (version {found}; this cache needs {expected})"
            else:
                detail = f"was made with a newer version ({found}; this cache reads {expected})"
            raise ManifestVersionError(
                f"the manifest {path} {detail}. Remove it and the files next to it to rebuild the cache, "
                f"or pass version={found!r} to keep using it as it is.",
                expected=expected,
                found=None if found is None else str(found),
            )
        entries = [e for e in raw if e.get("type") not in ("manifest_version", "source")]
        # an AllenSDK manifest lacks brainbridge's own keys: use the defaults (in memory only)
        known = {e.get("key") for e in entries}
        entries.extend(e for e in cls.default_entries() if e["key"] not in known)
        return cls(path=path, version=str(found), source=recorded_source or source, entries=entries)

    def save(self) -> None:
        """Write the manifest atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entries: list[dict] = [{"type": "manifest_version", "value": self.version}]
        if self.source is not None:
            entries.append({"type": "source", "value": self.source})
        entries.extend(self.entries)
        atomic_write_text(self.path, json.dumps({"manifest": entries}, indent=2))

    @property
    def base_dir(self) -> Path:
        """The folder the templates are relative to."""
        return self.path.parent

    def _templates(self) -> dict[str, str]:
        resolved: dict[str, str] = {}
        for entry in self.entries:
            key, spec = entry.get("key"), entry.get("spec")
            if key is None or spec is None:
                continue
            parent = entry.get("parent_key")
            if parent is None:
                resolved[key] = str(self.base_dir / spec)
            elif parent in resolved:
                resolved[key] = str(Path(resolved[parent]) / spec)
            else:
                raise ValidationError(f"manifest entry {key!r} names an unknown parent {parent!r}")
        return resolved

    def keys(self) -> list[str]:
        """The template keys."""
        return list(self._templates())

    def get_path(self, key: str, *args) -> Path:
        """The path of ``key`` with ``args`` substituted (``%``-formatting, AllenSDK's rule).

        ``session_nwb`` takes ``(session_id, session_id)``, ``probe_lfp_nwb``
        ``(session_id, probe_id)``. String ids are accepted where a template says ``%d``.

        Raises
        ------
        ValidationError
            An unknown key or the wrong number of arguments.
        UnsafePathError
            An id that is not one plain file name (``../x``, ``a/b``...), or a path that
            would resolve outside the cache folder.
        """
        templates = self._templates()
        if key not in templates:
            raise ValidationError(f"unknown manifest key {key!r}; keys: {sorted(templates)}")
        template = templates[key]
        needed = len(re.findall(r"%[ds]", template))
        if needed != len(args):
            raise ValidationError(
                f"manifest key {key!r} ({template}) takes {needed} argument(s), got {len(args)}"
            )
        if not args:
            return path_within(self.base_dir, template, what=f"manifest entry {key!r}")
        # ids come from project tables and NWB files: each must stay one plain file name
        for arg in args:
            safe_component(arg, f"id {arg!r} for manifest key {key!r}")
        values = tuple(int(a) if isinstance(a, str) and a.lstrip("-").isdigit() else a for a in args)
        try:
            path = template % values
        except TypeError:
            # non-numeric ids (e.g. "sub-01_ses-02") in a %d template
            path = template.replace("%d", "%s") % values
        return path_within(self.base_dir, path, what=f"cache path of {key!r}")
