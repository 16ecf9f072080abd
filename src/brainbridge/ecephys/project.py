"""A cache of an NWB electrophysiology project (AllenSDK's ``EcephysProjectCache``).

A *project source* is a store (a local folder, an ``http(s)://`` URL or an ``s3://`` prefix)
holding the project's tables (``sessions``, ``probes``, ``channels``, ``units``; CSV or
Parquet, with an ``id`` column) and one NWB file per session (``session_<id>/session_<id>.nwb``).
An optional ``project.json`` index (:func:`write_project_index`) lists each file's path, size
and SHA-1, so every download is verified.

:class:`EcephysProjectCache` copies what is asked for into a cache folder laid out by its
:class:`~brainbridge.ecephys.manifest.Manifest`, through :func:`brainbridge.fetch.fetch_file`
(verified, then renamed atomically: an interrupted download never looks complete, and resumes),
with fetch's one retry policy bounded by ``fetch_tries`` attempts. The downloads are entries of
brainbridge's download cache (``brainbridge cache list/verify/clean``); the project layout holds
hard links to them. :meth:`EcephysProjectCache.fixed`
never fetches. Tables, joins, counts and unit filters follow AllenSDK.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from brainbridge import config
from brainbridge.atomic import atomic_path, atomic_write_text
from brainbridge.ecephys.errors import (
    NWBFileError,
    ProjectFetchError,
    ProjectTableError,
    SessionNotFoundError,
)
from brainbridge.ecephys.manifest import MANIFEST_VERSION, Manifest
from brainbridge.ecephys.session import EcephysSession, filter_units
from brainbridge.errors import FetchError, OfflineError, ValidationError
from brainbridge.fetch import AccessDeniedError, RemoteNotFoundError, fetch_file, redact_url, sha1_hash
from brainbridge.hashing import text_digest
from brainbridge.paths import check_relative, path_within, safe_component
from brainbridge.stimuli import StimulusSet

if TYPE_CHECKING:
    from brainbridge.ecephys.derive import DerivedProject

__all__ = [
    "ALLEN_S3_SOURCE",
    "INDEX_NAME",
    "TABLES",
    "EcephysProjectCache",
    "FileSpec",
    "ProjectSource",
    "count_owned",
    "get_grouped_uniques",
    "read_table_file",
    "write_project_index",
]

#: AllenSDK's Visual Coding - Neuropixels cache on the public S3 bucket (read anonymously)
ALLEN_S3_BUCKET = "allen-brain-observatory"
ALLEN_S3_PREFIX = "visual-coding-neuropixels/ecephys-cache"
ALLEN_S3_SOURCE = f"s3://{ALLEN_S3_BUCKET}/{ALLEN_S3_PREFIX}"

INDEX_NAME = "project.json"
INDEX_FORMAT = "brainbridge.ecephys.project"
TABLES = ("sessions", "probes", "channels", "units")
TABLE_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class FileSpec:
    """One file of a project: its path in the store, and (when the index gives them) size and SHA-1."""

    path: str
    sha1: str | None = None
    size: int | None = None


# --------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------


class ProjectSource:
    """Where a project's files live.

    Parameters
    ----------
    location
        A local folder, an ``http(s)://`` URL, an ``s3://bucket/prefix`` URL, or a BrainIO-style
        ``https://<bucket>.s3.amazonaws.com/<prefix>`` URL.
    index
        The project index (``project.json`` content) when already known.
    """

    def __init__(self, location: str | os.PathLike, *, index: dict | None = None):
        text = os.fspath(location)
        scheme = urlparse(text).scheme.lower()
        if scheme in ("http", "https"):
            self.location_type = scheme
        elif scheme == "s3":
            self.location_type = "S3"
        elif scheme in ("", "file") or len(scheme) == 1:  # len 1: a Windows drive letter
            self.location_type = "local"
            text = str(Path(urlparse(text).path if scheme == "file" else text).expanduser().absolute())
        else:
            raise ValidationError(f"unsupported project location {text!r}: use a folder, http(s):// or s3://")
        self.location = text.rstrip("/")
        self._index = index

    def __repr__(self) -> str:
        return f"ProjectSource({self.location!r})"

    def url(self, relative: str) -> str:
        """The location of a file of the project (always inside the project's folder or prefix).

        Raises
        ------
        UnsafePathError
            ``relative`` (from the project index or a table) is absolute or climbs out with ``..``.
        """
        relative = check_relative(relative, "project file path")
        if self.location_type == "local":
            return str(path_within(self.location, relative, what="project file"))
        return f"{self.location}/{relative}"

    @property
    def is_local(self) -> bool:
        return self.location_type == "local"

    def set_index(self, index: dict | None) -> None:
        """Use this project index (``None``: the default layout)."""
        if index is not None and index.get("format") != INDEX_FORMAT:
            raise ProjectTableError(f"{self.url(INDEX_NAME)} is not a brainbridge project index")
        self._index = index

    @property
    def index(self) -> dict | None:
        """The project index, if the store has one (read here for local stores)."""
        if self._index is None and self.is_local:
            path = Path(self.location) / INDEX_NAME
            if path.is_file():
                self.set_index(json.loads(path.read_text()))
        return self._index

    def table_candidates(self, name: str) -> list[FileSpec]:
        """Files that may hold table ``name``, best first."""
        index = self.index
        if index is not None:
            entry = index.get("tables", {}).get(name)
            return [FileSpec(**entry)] if entry else []
        if self.is_local:
            found = [
                FileSpec(f"{name}{s}")
                for s in TABLE_SUFFIXES
                if (Path(self.location) / f"{name}{s}").is_file()
            ]
            return found
        return [FileSpec(f"{name}{s}") for s in TABLE_SUFFIXES]

    def file_spec(self, relative: str) -> FileSpec:
        """Any other file of the project (LFP, metrics, templates) by its path in the layout."""
        index = self.index
        if index is not None:
            entry = index.get("files", {}).get(relative)
            if entry:
                return FileSpec(**entry)
        return FileSpec(relative)

    def session_file(self, session_id) -> FileSpec | None:
        """The NWB file of a session (``None`` when the index does not list it)."""
        index = self.index
        if index is not None:
            entry = index.get("sessions", {}).get(str(session_id))
            return FileSpec(**entry) if entry else None
        session_id = safe_component(session_id, "session id")
        return FileSpec(f"session_{session_id}/session_{session_id}.nwb")


def write_project_index(folder: str | os.PathLike) -> Path:
    """Write ``project.json`` for a project folder: every table and session file with size and SHA-1.

    Tables are ``sessions|probes|channels|units`` ``.csv``/``.parquet``; sessions are
    ``session_<id>/session_<id>.nwb``. Upload the folder with the index to serve it from
    HTTP or S3 with verified downloads.

    Returns
    -------
    pathlib.Path
        The index file.
    """
    folder = Path(folder)
    tables = {}
    for name in TABLES:
        for suffix in TABLE_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                tables[name] = {"path": path.name, "sha1": sha1_hash(path), "size": path.stat().st_size}
                break
    sessions = {}
    for path in sorted(folder.glob("session_*/session_*.nwb")):
        session_id = path.stem.removeprefix("session_")
        if path.parent.name != f"session_{session_id}":
            continue
        sessions[session_id] = {
            "path": path.relative_to(folder).as_posix(),
            "sha1": sha1_hash(path),
            "size": path.stat().st_size,
        }
    listed = {t["path"] for t in tables.values()} | {e["path"] for e in sessions.values()} | {INDEX_NAME}
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and relative not in listed and not relative.startswith("."):
            # LFP files, analysis metrics, stimulus templates: verified downloads too
            files[relative] = {"path": relative, "sha1": sha1_hash(path), "size": path.stat().st_size}
    index = {"format": INDEX_FORMAT, "version": 1, "tables": tables, "sessions": sessions, "files": files}
    target = folder / INDEX_NAME
    return atomic_write_text(target, json.dumps(index, indent=2, sort_keys=True))


def _place(cached: Path, target: Path) -> None:
    """Put the cached file at ``target`` atomically: a hard link, else a copy."""
    with atomic_path(target) as tmp:
        try:
            os.link(cached, tmp)
        except OSError:
            shutil.copyfile(cached, tmp)


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------


def read_table_file(path: str | os.PathLike, index_col: str = "id") -> pd.DataFrame:
    """Read a project table (CSV or Parquet) indexed by ``index_col``.

    Raises
    ------
    ProjectTableError
        Unreadable file or no ``index_col`` column.
    """
    path = Path(path)
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as e:
        raise ProjectTableError(f"cannot read the table {path}: {e}") from e
    if frame.index.name == index_col:
        return frame
    if index_col not in frame.columns:
        raise ProjectTableError(
            f"the table {path} has no '{index_col}' column; columns: {list(frame.columns)}"
        )
    frame = frame.set_index(index_col)
    if not frame.index.is_unique:
        raise ProjectTableError(f"the table {path} repeats '{index_col}' values")
    return frame


def count_owned(this: pd.DataFrame, other: pd.DataFrame, foreign_key: str, count_key: str) -> pd.DataFrame:
    """Add ``count_key``: how many rows of ``other`` point at each row of ``this`` (0 if none)."""
    counts = other[foreign_key].value_counts() if foreign_key in other.columns else pd.Series(dtype=int)
    this = this.copy()
    # pandas maps an Index through a Series; pandas-stubs lists only mappings and callables
    this[count_key] = this.index.map(counts).fillna(0).astype(np.int64).to_numpy()  # type: ignore[arg-type]
    return this


def get_grouped_uniques(
    this: pd.DataFrame, other: pd.DataFrame, foreign_key: str, field_key: str, unique_key: str
) -> pd.DataFrame:
    """Add ``unique_key``: the distinct non-missing ``field_key`` values of ``other`` per row of
    ``this`` (a list in order of first appearance; ``None`` for rows nothing points at)."""
    this = this.copy()
    if field_key not in other.columns or foreign_key not in other.columns:
        this[unique_key] = None
        return this
    valid = other[[foreign_key, field_key]].dropna(subset=[field_key]).drop_duplicates()
    grouped = {k: list(v) for k, v in valid.groupby(foreign_key, sort=False)[field_key]}
    this[unique_key] = pd.Series([grouped.get(k) for k in this.index], index=this.index, dtype=object)
    return this


def _recorded_source(manifest: str | os.PathLike | None) -> str | None:
    """The source an existing manifest records (``None``: none, or no such file)."""
    if manifest is None:
        return None
    try:
        entries = json.loads(Path(manifest).expanduser().read_text())["manifest"]
        return next(
            (e.get("value") for e in entries if isinstance(e, dict) and e.get("type") == "source"), None
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _literal_list(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return [value]
        return list(parsed) if isinstance(parsed, (list, tuple)) else [parsed]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


# --------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------


class EcephysProjectCache:
    """Entry point to an NWB electrophysiology project: tables, joins, counts and sessions.

    Parameters
    ----------
    fetch_api
        The project source: a :class:`ProjectSource` or its location (folder, ``http(s)://``,
        ``s3://``). ``None`` only with ``offline=True`` (see :meth:`fixed`).
    fetch_tries
        Attempts per file (not retries): failed transfers in a row (an interrupted one resumes)
        and downloads with a wrong checksum are each bounded by it.
    manifest
        The manifest file (default: ``<BRAINBRIDGE_HOME>/ecephys/<project>/ecephys_project_manifest.json``).
    version
        The manifest version to expect (default :data:`~brainbridge.ecephys.manifest.MANIFEST_VERSION`).
    offline
        Never fetch: only cached files are used (default ``BRAINBRIDGE_OFFLINE``).
    progress
        Progress bars for downloads (default: when stderr is a terminal).
    retry_wait
        Seconds before the second attempt (doubled each further attempt, with jitter).
    fetch_options
        Extra :func:`brainbridge.fetch.fetch_file` arguments (``endpoint_url``, ``s3_anon``,
        ``storage_options``, ``read_timeout``...).

    Raises
    ------
    ManifestVersionError
        The manifest was written for another layout version.
    """

    SESSIONS_KEY = "sessions"
    PROBES_KEY = "probes"
    CHANNELS_KEY = "channels"
    UNITS_KEY = "units"
    SESSION_DIR_KEY = "session_data"
    SESSION_NWB_KEY = "session_nwb"
    PROBE_LFP_NWB_KEY = "probe_lfp_nwb"
    NATURAL_MOVIE_DIR_KEY = "movie_dir"
    NATURAL_MOVIE_KEY = "natural_movie"
    NATURAL_SCENE_DIR_KEY = "natural_scene_dir"
    NATURAL_SCENE_KEY = "natural_scene"
    SESSION_ANALYSIS_METRICS_KEY = "session_analysis_metrics"
    TYPEWISE_ANALYSIS_METRICS_KEY = "typewise_analysis_metrics"
    MANIFEST_VERSION = MANIFEST_VERSION

    SUPPRESS_FROM_UNITS = (
        "air_channel_index",
        "surface_channel_index",
        "has_nwb",
        "lfp_temporal_subsampling_factor",
        "epoch_name_quality_metrics",
        "epoch_name_waveform_metrics",
        "isi_experiment_id",
    )
    SUPPRESS_FROM_PROBES = (
        "air_channel_index",
        "surface_channel_index",
        "date_of_acquisition",
        "published_at",
        "specimen_id",
        "session_type",
        "isi_experiment_id",
        "age_in_days",
        "sex",
        "genotype",
        "has_nwb",
        "lfp_temporal_subsampling_factor",
    )
    SUPPRESS_FROM_CHANNELS = ("name", *SUPPRESS_FROM_PROBES)
    SUPPRESS_FROM_SESSION_TABLE = ("has_nwb", "isi_experiment_id", "date_of_acquisition")
    UNIT_RENAMES = {
        "PT_ratio": "waveform_PT_ratio",
        "amplitude": "waveform_amplitude",
        "duration": "waveform_duration",
        "halfwidth": "waveform_halfwidth",
        "recovery_slope": "waveform_recovery_slope",
        "repolarization_slope": "waveform_repolarization_slope",
        "spread": "waveform_spread",
        "velocity_above": "waveform_velocity_above",
        "velocity_below": "waveform_velocity_below",
        "l_ratio": "L_ratio",
    }
    SUBSTITUTE_CHANNEL_COLUMNS = (
        "ecephys_structure_id",
        "ecephys_structure_acronym",
        "anterior_posterior_ccf_coordinate",
        "dorsal_ventral_ccf_coordinate",
        "left_right_ccf_coordinate",
    )

    def __init__(
        self,
        fetch_api: ProjectSource | str | os.PathLike | None = None,
        fetch_tries: int = 2,
        manifest: str | os.PathLike | None = None,
        version: str | None = None,
        *,
        offline: bool | None = None,
        progress: bool | None = None,
        retry_wait: float = 0.5,
        fetch_options: dict[str, Any] | None = None,
    ):
        if fetch_tries < 1:
            raise ValidationError(
                f"fetch_tries is the total number of attempts and must be >= 1, got {fetch_tries}"
            )
        self.offline = config.offline() if offline is None else bool(offline)
        self.fetch_options = dict(fetch_options or {})
        if fetch_api is None and not self.offline:
            # AllenSDK's default: the Allen Institute's released data (here its public S3 cache),
            # unless the manifest records where its cache was filled from
            fetch_api = _recorded_source(manifest) or ALLEN_S3_SOURCE
        if fetch_api == ALLEN_S3_SOURCE:
            self.fetch_options.setdefault("s3_anon", True)
        self.source = (
            fetch_api
            if isinstance(fetch_api, ProjectSource) or fetch_api is None
            else ProjectSource(fetch_api)
        )
        self.fetch_tries = int(fetch_tries)
        self.progress = progress
        self.retry_wait = float(retry_wait)
        location = self.source.location if self.source is not None else None
        if manifest is None:
            slug = text_digest(location or "default", length=16)
            manifest = config.home() / "ecephys" / slug / "ecephys_project_manifest.json"
        self.manifest = Manifest.load_or_create(manifest, version=version, source=location)
        if location is not None and self.manifest.source not in (None, location):
            warnings.warn(
                f"the cache at {self.manifest.path} was filled from {self.manifest.source}, not {location}",
                stacklevel=2,
            )
        self._tables: dict[str, pd.DataFrame] = {}
        self._index_loaded = False
        self._derived: DerivedProject | None = None

    # constructors -----------------------------------------------------------------------

    @classmethod
    def from_source(cls, location: str | os.PathLike, **kwargs) -> EcephysProjectCache:
        """A cache of the project at ``location``.

        ``location`` is a project store (a folder, ``http(s)://`` or ``s3://`` URL with the
        tables and ``session_<id>/session_<id>.nwb`` files: AllenSDK's cache layout), a plain
        folder of NWB files or a DANDI dandiset's layout (``sub-*/sub-*_ses-*.nwb``: the tables
        are derived from the files, cached, and derived again when a file changes), or
        ``dandi:<dandiset id>[/<version>]`` when the ``dandi`` package is installed.
        """
        text = os.fspath(location)
        if text.lower().startswith("dandi:"):
            from brainbridge.ecephys.dandi import dandiset_folder

            manifest = kwargs.get("manifest")
            text = str(
                dandiset_folder(
                    text,
                    manifest=manifest,
                    offline=kwargs.get("offline"),
                    progress=kwargs.get("progress"),
                    fetch_options=kwargs.get("fetch_options"),
                )
            )
        return cls(ProjectSource(text), **kwargs)

    @classmethod
    def from_warehouse(
        cls,
        scheme: str | None = None,
        host: str | None = None,
        asynchronous: bool = False,  # noqa: ARG003 - AllenSDK's signature; reads are synchronous
        manifest: str | os.PathLike | None = None,
        version: str | None = None,
        cache: bool = True,
        fetch_tries: int = 2,
        timeout: float | None = 1200,
        **kwargs,
    ) -> EcephysProjectCache:
        """AllenSDK's constructor: the Allen Brain Observatory Visual Coding - Neuropixels release.

        Reads the release's public S3 cache (``s3://allen-brain-observatory/visual-coding-
        neuropixels/ecephys-cache``, anonymously): AllenSDK's tables with Allen's columns,
        ``session_<id>/session_<id>.nwb``, ``session_<id>/probe_<id>_lfp.nwb``, the
        ``<session_type>_analysis_metrics.csv`` tables and the natural scene and movie templates.
        Every download goes through :func:`brainbridge.fetch.fetch_file` (resumable, locked,
        verified, atomic).

        Parameters
        ----------
        scheme, host
            Together, a mirror of the same layout: ``<scheme>://<host>/visual-coding-neuropixels/
            ecephys-cache`` (``s3`` with a bucket as host, or ``http(s)``).
        asynchronous
            Accepted for AllenSDK compatibility; downloads are synchronous.
        manifest, version
            The cache manifest (an AllenSDK manifest of 0.2.x/0.3.x opens as it is) and the
            version to insist on (default: any readable layout).
        cache
            Must be ``True`` (AllenSDK's ``cache=False`` cannot work either).
        fetch_tries
            Total attempts per file.
        timeout
            Seconds allowed for one file's download, retries included (AllenSDK's deadline).
        **kwargs
            Other :class:`EcephysProjectCache` arguments (``fetch_options``, ``offline``...).
        """
        if not cache:
            raise ValidationError("cache=False is not supported: the cache is where files are read from")
        location = f"{scheme}://{host.rstrip('/')}/{ALLEN_S3_PREFIX}" if scheme and host else ALLEN_S3_SOURCE
        options = dict(kwargs.pop("fetch_options", None) or {})
        if timeout is not None:
            options.setdefault("timeout", float(timeout))
        if location.startswith("s3://"):
            options.setdefault("s3_anon", True)
        return cls(
            location,
            fetch_tries=fetch_tries,
            manifest=manifest,
            version=version,
            fetch_options=options,
            **kwargs,
        )

    @classmethod
    def from_s3_cache(cls, cache_dir: str | os.PathLike, **kwargs) -> EcephysProjectCache:
        """The public release (:meth:`from_warehouse`) cached in ``cache_dir`` (AllenSDK's newer
        project caches' constructor name)."""
        manifest = Path(cache_dir) / "ecephys_project_manifest.json"
        return cls.from_warehouse(manifest=manifest, **kwargs)

    def refresh(self) -> None:
        """Forget the tables read so far (a derived project re-checks its files on next use)."""
        self._tables.clear()
        self._derived = None

    @classmethod
    def fixed(
        cls, manifest: str | os.PathLike | None = None, version: str | None = None, source: str | None = None
    ) -> EcephysProjectCache:
        """A cache that never fetches: only files already cached are available.

        Give the ``manifest`` of an existing cache, or the ``source`` it was filled from (to
        find its default manifest).
        """
        return cls(
            ProjectSource(source) if source is not None else None,
            manifest=manifest,
            version=version,
            offline=True,
        )

    def __repr__(self) -> str:
        return (
            f"EcephysProjectCache(source={self.manifest.source!r}, "
            f"manifest={str(self.manifest.path)!r}, offline={self.offline})"
        )

    # fetching ---------------------------------------------------------------------------

    def get_cache_path(self, file_name: str | os.PathLike | None, key: str, *args) -> Path:
        """``file_name`` when given, else the manifest path of ``key`` (AllenSDK's method)."""
        return Path(file_name) if file_name is not None else self.manifest.get_path(key, *args)

    def _download(self, spec: FileSpec, target: Path) -> Path:
        """Fetch ``spec`` through :func:`brainbridge.fetch.fetch_file` and place it at ``target``.

        The download is an entry of brainbridge's download cache (``brainbridge cache``
        lists, verifies and cleans it) with fetch's one retry policy: an interrupted transfer
        resumes instead of starting over, and ``fetch_tries`` bounds the attempts. ``target``
        is a hard link to the cached file (a copy where links are impossible), so the
        project's AllenSDK-style layout costs no second copy of the bytes.
        """
        if self.offline or self.source is None:
            raise OfflineError(
                f"{target} is not in the cache and this cache never fetches (fixed/offline mode)"
            )
        url = self.source.url(spec.path)
        try:
            fetched = fetch_file(
                self.source.location_type,
                url,
                spec.sha1,
                offline=False,
                progress=self.progress,
                **self._fetch_kwargs(),
            )
        except (OfflineError, RemoteNotFoundError, AccessDeniedError):
            raise  # permanent: another try cannot help
        except FetchError as e:
            raise ProjectFetchError(
                f"could not fetch {redact_url(url)} after {self.fetch_tries} tries: {e}"
            ) from e
        if spec.size is not None and fetched.stat().st_size != spec.size:
            raise ProjectFetchError(
                f"{redact_url(url)}: expected {spec.size} bytes, got {fetched.stat().st_size}"
            )
        _place(fetched, target)
        return target

    def _fetch_kwargs(self) -> dict[str, Any]:
        """``fetch_tries`` attempts (for transient failures and for checksum mismatches alike)."""
        parameters = inspect.signature(fetch_file).parameters
        wanted = {
            "retries": self.fetch_tries - 1,
            "checksum_retries": self.fetch_tries - 1,
            "backoff": self.retry_wait,
            **self.fetch_options,
        }
        return {k: v for k, v in wanted.items() if k in parameters}

    def _cached(self, spec: FileSpec | None, target: Path, reader: Callable[[Path], Any]) -> Any:
        """Read ``target``, fetching it first when absent or unreadable (a damaged file is a miss)."""
        if target.exists() and (spec is None or spec.size is None or target.stat().st_size == spec.size):
            try:
                return reader(target)
            except (ProjectTableError, NWBFileError) as e:
                if self.offline or spec is None:
                    raise
                warnings.warn(f"cached file {target} is unreadable ({e}); fetching it again", stacklevel=3)
        if spec is None:
            raise OfflineError(f"{target} is not in the cache and the project source does not list it")
        self._download(spec, target)
        return reader(target)

    def _load_index(self) -> None:
        """Fetch the project index once (remote stores); a store without one uses the default layout."""
        if self._index_loaded or self.source is None:
            return
        self._index_loaded = True
        if self.source.is_local:
            return  # read directly by the source
        target = self.manifest.get_path("project_index")

        def read(path: Path) -> dict:
            try:
                return json.loads(path.read_text())
            except ValueError as e:
                raise ProjectTableError(f"{path} is not valid JSON: {e}") from e

        try:
            index = self._cached(FileSpec(INDEX_NAME), target, read)
        except (FetchError, ProjectTableError):
            index = None
        self.source.set_index(index)

    # raw tables -------------------------------------------------------------------------

    def _derived_project(self):
        """The tables derived from a local folder of NWB files (``None`` for other sources)."""
        if self._derived is None and self.source is not None and self.source.is_local and not self.offline:
            from brainbridge.ecephys.derive import derive_project, is_nwb_folder

            if is_nwb_folder(self.source.location):
                derived = derive_project(
                    self.source.location, self.manifest.base_dir / "derived", progress=self.progress
                )
                for table, frame in derived.tables.items():
                    # a plain copy in the cache too: fixed(manifest=...) reads it offline
                    target = self.manifest.get_path(table)
                    if derived.derived_files or not target.exists():
                        target.parent.mkdir(parents=True, exist_ok=True)
                        atomic_write_text(target, frame.to_csv())
                self._derived = derived
        return self._derived

    def _table(self, name: str) -> pd.DataFrame:
        if name in self._tables:
            return self._tables[name].copy()
        derived = self._derived_project()
        if derived is not None:
            self._tables[name] = derived.tables[name]
            return derived.tables[name].copy()
        csv_target = self.manifest.get_path(name)
        candidates: list[FileSpec] = []
        if self.source is not None and not self.offline:
            self._load_index()
            candidates = self.source.table_candidates(name)
        frame = None
        # a cached copy in either format
        for suffix in TABLE_SUFFIXES:
            target = csv_target.with_suffix(suffix)
            spec = next((c for c in candidates if Path(c.path).suffix == suffix), None)
            if target.exists():
                frame = self._cached(spec, target, read_table_file)
                break
        if frame is None:
            if not candidates:
                where = (
                    "the cache (fixed/offline mode)"
                    if self.offline or self.source is None
                    else str(self.source)
                )
                raise ProjectTableError(
                    f"the project has no {name} table in {where} (expected {name}.csv or {name}.parquet)"
                )
            errors = []
            for spec in candidates:
                try:
                    frame = self._cached(
                        spec, csv_target.with_suffix(Path(spec.path).suffix), read_table_file
                    )
                    break
                except ProjectFetchError as e:
                    errors.append(e)
            if frame is None:
                raise errors[-1]
        self._tables[name] = frame
        return frame.copy()

    def _get_sessions(self) -> pd.DataFrame:
        sessions = self._table(self.SESSIONS_KEY)
        if "structure_acronyms" in sessions.columns:
            sessions["ecephys_structure_acronyms"] = [
                _literal_list(v) for v in sessions["structure_acronyms"]
            ]
            sessions = sessions.drop(columns=["structure_acronyms"])
        return sessions

    def _get_probes(self) -> pd.DataFrame:
        probes = self._table(self.PROBES_KEY)
        if {"lfp_sampling_rate", "lfp_temporal_subsampling_factor"} <= set(probes.columns):
            probes["lfp_sampling_rate"] = (
                probes["lfp_sampling_rate"] / probes["lfp_temporal_subsampling_factor"]
            )
        return probes

    def _get_channels(self) -> pd.DataFrame:
        return self._table(self.CHANNELS_KEY)

    def _get_units(self, filter_by_validity: bool = True, **unit_filter_kwargs) -> pd.DataFrame:
        units = self._table(self.UNITS_KEY).rename(columns=self.UNIT_RENAMES)
        out_of_brain = unit_filter_kwargs.pop("filter_out_of_brain_units", True)
        return filter_units(
            units,
            filter_by_validity=filter_by_validity,
            filter_out_of_brain_units=out_of_brain,
            **unit_filter_kwargs,
        )

    def _get_annotated_probes(self) -> pd.DataFrame:
        return pd.merge(
            self._get_probes(),
            self._get_sessions(),
            left_on="ecephys_session_id",
            right_index=True,
            suffixes=("_probe", "_session"),
        )

    def _get_annotated_channels(self) -> pd.DataFrame:
        return pd.merge(
            self._get_channels(),
            self._get_annotated_probes(),
            left_on="ecephys_probe_id",
            right_index=True,
            suffixes=("_channel", "_probe"),
        )

    def _get_annotated_units(self, filter_by_validity: bool = True, **unit_filter_kwargs) -> pd.DataFrame:
        return pd.merge(
            self._get_units(filter_by_validity=filter_by_validity, **unit_filter_kwargs),
            self._get_annotated_channels(),
            left_on="ecephys_channel_id",
            right_index=True,
            suffixes=("_unit", "_channel"),
        )

    # public tables ----------------------------------------------------------------------

    def get_session_table(self, suppress: list[str] | None = None) -> pd.DataFrame:
        """One row per session with ``unit_count``, ``channel_count``, ``probe_count`` and
        ``ecephys_structure_acronyms`` (units counted with the default quality filters)."""
        sessions = self._get_sessions()
        channels = self._get_annotated_channels()
        sessions = count_owned(sessions, self._get_annotated_units(), "ecephys_session_id", "unit_count")
        sessions = count_owned(sessions, channels, "ecephys_session_id", "channel_count")
        sessions = count_owned(sessions, self._get_annotated_probes(), "ecephys_session_id", "probe_count")
        sessions = get_grouped_uniques(
            sessions,
            channels,
            "ecephys_session_id",
            "ecephys_structure_acronym",
            "ecephys_structure_acronyms",
        )
        suppress = list(self.SUPPRESS_FROM_SESSION_TABLE) if suppress is None else suppress
        sessions = sessions.drop(columns=suppress, errors="ignore")
        return sessions.rename(columns={"genotype": "full_genotype"})

    def get_probes(self, suppress: list[str] | None = None) -> pd.DataFrame:
        """One row per probe, annotated with its session, ``unit_count``, ``channel_count`` and
        ``ecephys_structure_acronyms``."""
        probes = self._get_annotated_probes()
        channels = self._get_annotated_channels()
        probes = count_owned(probes, self._get_annotated_units(), "ecephys_probe_id", "unit_count")
        probes = count_owned(probes, channels, "ecephys_probe_id", "channel_count")
        probes = get_grouped_uniques(
            probes, channels, "ecephys_probe_id", "ecephys_structure_acronym", "ecephys_structure_acronyms"
        )
        suppress = list(self.SUPPRESS_FROM_PROBES) if suppress is None else suppress
        return probes.drop(columns=suppress, errors="ignore")

    def get_channels(self, suppress: list[str] | None = None) -> pd.DataFrame:
        """One row per channel, annotated with its probe and session, and its ``unit_count``."""
        channels = count_owned(
            self._get_annotated_channels(), self._get_annotated_units(), "ecephys_channel_id", "unit_count"
        )
        suppress = list(self.SUPPRESS_FROM_CHANNELS) if suppress is None else suppress
        channels = channels.drop(columns=suppress, errors="ignore")
        return channels.rename(columns={"name": "probe_name"})

    def get_units(
        self, suppress: list[str] | None = None, filter_by_validity: bool = True, **unit_filter_kwargs
    ) -> pd.DataFrame:
        """All units of the project that pass the quality filters, annotated with channel,
        probe and session.

        Parameters
        ----------
        suppress
            Columns to hide (default :attr:`SUPPRESS_FROM_UNITS`).
        filter_by_validity
            Keep ``quality == "good"`` units only.
        **unit_filter_kwargs
            ``amplitude_cutoff_maximum`` (default 0.1), ``presence_ratio_minimum`` (0.95),
            ``isi_violations_maximum`` (0.5) — ``None`` opens a bound but still drops NaN
            metrics, as AllenSDK — and
            ``filter_out_of_brain_units`` (default ``True``).
        """
        units = self._get_annotated_units(filter_by_validity=filter_by_validity, **unit_filter_kwargs)
        suppress = list(self.SUPPRESS_FROM_UNITS) if suppress is None else suppress
        return units.drop(columns=suppress, errors="ignore")

    def _get_all_values(
        self, key: str, method: Callable[..., pd.DataFrame] | None = None, **method_kwargs
    ) -> list:
        data = (method or self.get_session_table)(**method_kwargs)
        if key not in data.columns:
            raise ProjectTableError(f"the table has no '{key}' column; columns: {list(data.columns)}")
        return data[key].unique().tolist()

    def get_all_session_types(self, **session_kwargs) -> list:
        """Distinct ``session_type`` values."""
        return self._get_all_values("session_type", self.get_session_table, **session_kwargs)

    def get_all_full_genotypes(self, **session_kwargs) -> list:
        """Distinct ``full_genotype`` values."""
        return self._get_all_values("full_genotype", self.get_session_table, **session_kwargs)

    def get_all_ages(self, **session_kwargs) -> list:
        """Distinct ``age_in_days`` values."""
        return self._get_all_values("age_in_days", self.get_session_table, **session_kwargs)

    def get_all_sexes(self, **session_kwargs) -> list:
        """Distinct ``sex`` values."""
        return self._get_all_values("sex", self.get_session_table, **session_kwargs)

    def get_structure_acronyms(self, **channel_kwargs) -> list:
        """Distinct ``ecephys_structure_acronym`` values of the channels."""
        return self._get_all_values("ecephys_structure_acronym", self.get_channels, **channel_kwargs)

    # sessions ---------------------------------------------------------------------------

    def _resolve_session_id(self, session_id) -> Any:
        sessions = self._get_sessions()
        candidates = [session_id]
        if isinstance(session_id, str) and session_id.lstrip("-").isdigit():
            candidates.append(int(session_id))
        elif isinstance(session_id, (int, np.integer)):
            candidates.append(str(session_id))
        for candidate in candidates:
            if candidate in sessions.index:
                return candidate
        shown = sessions.index[:20].tolist()
        raise SessionNotFoundError(
            f"the project has no session {session_id!r}; "
            f"sessions: {shown}{' ...' if len(sessions) > 20 else ''}"
        )

    def _substitute_channel_columns(self, session_id) -> pd.DataFrame:
        channels = self._get_annotated_channels()
        columns = [c for c in self.SUBSTITUTE_CHANNEL_COLUMNS if c in channels.columns]
        if not columns or "ecephys_session_id" not in channels.columns:
            return pd.DataFrame()
        mine = channels.loc[channels["ecephys_session_id"] == session_id]
        if "nwb_channel_id" in mine.columns:  # a derived project: the file's own channel ids
            mine = mine.set_index("nwb_channel_id")
        return mine[columns]

    def get_session_data(
        self, session_id, filter_by_validity: bool = True, *, presentations=None, **unit_filter_kwargs
    ) -> EcephysSession:
        """The session's NWB file (fetched and cached on first use) as an :class:`EcephysSession`.

        Units are filtered as in :meth:`get_units` (AllenSDK's defaults) and carry the
        session's analysis metrics when the project has them; the session's channels take
        their structure annotations from the project's channels table; ``get_lfp(probe_id)``
        fetches the probe's LFP file on first use; ``session_type`` comes from the sessions
        table. Sessions of a folder of NWB files are read in place (never copied).

        Raises
        ------
        SessionNotFoundError
            The project does not list ``session_id``.
        NWBFileError
            The file cannot be read even after fetching it again.
        """
        session_id = self._resolve_session_id(session_id)
        sessions = self._get_sessions()
        session_type = (
            sessions.loc[session_id, "session_type"] if "session_type" in sessions.columns else None
        )
        out_of_brain = unit_filter_kwargs.pop("filter_out_of_brain_units", True)
        kwargs = dict(
            session_id=session_id,
            presentations=presentations,
            filter_by_validity=filter_by_validity,
            filter_out_of_brain_units=out_of_brain,
            unit_filter_defaults=True,
            external_channel_columns=partial(self._substitute_channel_columns, session_id),
            session_type=None if pd.isna(session_type) else str(session_type),
            additional_unit_metrics=partial(self._session_metrics_or_none, session_id),
            **unit_filter_kwargs,
        )
        local = self._local_session_file(session_id, sessions)
        if local is not None:
            return EcephysSession.from_nwb(local, **kwargs)  # LFP files next to it are found there
        kwargs["probe_lfp_paths"] = self._probe_lfp_promises(session_id)
        kwargs["probe_ids"] = self._probe_ids_by_name(session_id)
        target = self.manifest.get_path(self.SESSION_NWB_KEY, session_id, session_id)
        spec = None
        if self.source is not None and not self.offline:
            self._load_index()
            spec = self.source.session_file(session_id)
        reader = partial(EcephysSession.from_nwb, **kwargs)
        if spec is None and not target.exists():
            if self.offline or self.source is None:
                raise OfflineError(
                    f"session {session_id} is not in the cache ({target}) and this cache never fetches"
                )
            raise SessionNotFoundError(
                f"the project source {self.source} has no NWB file for session {session_id}"
            )
        return self._cached(spec, target, reader)

    def _local_session_file(self, session_id, sessions: pd.DataFrame) -> Path | None:
        """A session file read in place: a derived project's, or one its sessions table names."""
        derived = self._derived_project()
        if derived is not None:
            return derived.session_paths[session_id]
        if "nwb_path" in sessions.columns and isinstance(sessions.loc[session_id, "nwb_path"], str):
            path = Path(sessions.loc[session_id, "nwb_path"])
            if path.is_absolute() and path.is_file():
                return path
        return None

    def _probe_lfp_promises(self, session_id) -> dict:
        """``{probe_id: callable}`` fetching each probe's LFP file of the session on first use."""
        probes = self._get_probes()
        if "ecephys_session_id" not in probes.columns:
            return {}
        mine = probes.index[(probes["ecephys_session_id"].astype(str) == str(session_id)).to_numpy()]
        return {
            probe_id: partial(self.get_file_path, self.PROBE_LFP_NWB_KEY, session_id, probe_id)
            for probe_id in mine
        }

    def _probe_ids_by_name(self, session_id) -> dict:
        """``{probe name: probe id}`` of the session, from the probes table (``name`` column)."""
        probes = self._get_probes()
        if not {"ecephys_session_id", "name"} <= set(probes.columns):
            return {}
        mine = probes[(probes["ecephys_session_id"].astype(str) == str(session_id)).to_numpy()]
        return {str(name): probe_id for name, probe_id in zip(mine["name"], mine.index)}

    def get_file_path(self, key: str, *args) -> Path:
        """The local path of any file of the layout (``probe_lfp_nwb``, ``natural_scene``...),
        fetched first when it is not cached yet (a file already there is reused as it is).

        Raises
        ------
        OfflineError
            Not cached, and this cache never fetches.
        """
        target = self.manifest.get_path(key, *args)
        if target.exists():
            return target
        if self.offline or self.source is None:
            raise OfflineError(
                f"{target} is not in the cache and this cache never fetches (fixed/offline mode)"
            )
        self._load_index()
        relative = target.relative_to(self.manifest.base_dir).as_posix()
        self._download(self.source.file_spec(relative), target)
        return target

    # analysis metrics ---------------------------------------------------------------------

    def get_unit_analysis_metrics_by_session_type(
        self, session_type: str, annotate: bool = True, filter_by_validity: bool = True, **unit_filter_kwargs
    ) -> pd.DataFrame:
        """The analysis metrics of every unit of a session type (``<type>_analysis_metrics.csv``),
        index ``ecephys_unit_id``; with ``annotate``, joined (inner) to :meth:`get_units`.

        Raises
        ------
        ValidationError
            An unknown session type.
        """
        known = self.get_all_session_types()
        if session_type not in known:
            raise ValidationError(f"unrecognized session type: {session_type!r}; available types: {known}")
        path = self.get_file_path(self.TYPEWISE_ANALYSIS_METRICS_KEY, session_type)
        metrics = read_table_file(path, index_col="ecephys_unit_id")
        return self._annotate_metrics(metrics, annotate, filter_by_validity, None, **unit_filter_kwargs)

    def get_unit_analysis_metrics_for_session(
        self, session_id, annotate: bool = True, filter_by_validity: bool = True, **unit_filter_kwargs
    ) -> pd.DataFrame:
        """The analysis metrics of one session's units, index ``ecephys_unit_id``.

        Read from ``session_<id>/session_<id>_analysis_metrics.csv`` when cached; else taken
        from the session type's table (which the public release publishes) and cached there.
        """
        session_id = self._resolve_session_id(session_id)
        target = self.manifest.get_path(self.SESSION_ANALYSIS_METRICS_KEY, session_id, session_id)
        if target.exists():
            metrics = read_table_file(target, index_col="ecephys_unit_id")
        else:
            sessions = self._get_sessions()
            session_type = (
                sessions.loc[session_id, "session_type"] if "session_type" in sessions.columns else None
            )
            if session_type is None or pd.isna(session_type):
                raise ProjectTableError(
                    f"session {session_id} has no session_type, so no analysis metrics table"
                )
            typewise = read_table_file(
                self.get_file_path(self.TYPEWISE_ANALYSIS_METRICS_KEY, session_type),
                index_col="ecephys_unit_id",
            )
            units = self._get_annotated_units(
                filter_by_validity=False,
                amplitude_cutoff_maximum=None,
                presence_ratio_minimum=None,
                isi_violations_maximum=None,
                filter_out_of_brain_units=False,
            )
            mine = units.index[(units["ecephys_session_id"].astype(str) == str(session_id)).to_numpy()]
            metrics = typewise[typewise.index.isin(mine)]
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, metrics.to_csv())
        return self._annotate_metrics(metrics, annotate, filter_by_validity, session_id, **unit_filter_kwargs)

    def _annotate_metrics(self, metrics, annotate, filter_by_validity, session_id, **unit_filter_kwargs):
        if annotate:
            units = self.get_units(filter_by_validity=filter_by_validity, **unit_filter_kwargs)
            if session_id is not None:
                units = units[(units["ecephys_session_id"].astype(str) == str(session_id)).to_numpy()]
            metrics = pd.merge(
                units, metrics, left_index=True, right_index=True, how="inner", suffixes=("", "_metrics")
            )
        metrics.index.name = "ecephys_unit_id"
        return metrics

    def _session_metrics_or_none(self, session_id) -> pd.DataFrame | None:
        """A session's metrics for its units table, or ``None`` where the project has none."""
        try:
            return self.get_unit_analysis_metrics_for_session(session_id, annotate=False)
        except (FetchError, OfflineError, ProjectTableError, ValidationError, OSError, KeyError):
            return None

    # stimulus templates -------------------------------------------------------------------

    def get_natural_scene_template(self, number: int) -> np.ndarray:
        """Natural scene ``number`` as an image array (``natural_scene_<n>.tiff``)."""
        from PIL import Image

        with Image.open(self.get_file_path(self.NATURAL_SCENE_KEY, int(number))) as image:
            return np.asarray(image)

    def get_natural_movie_template(self, number: int) -> np.ndarray:
        """Natural movie ``number`` as ``frames x height x width`` (``natural_movie_<n>.h5``).

        AllenSDK's files hold NumPy ``.npy`` bytes despite their name (read without pickles);
        an HDF5 file's first dataset is read otherwise.
        """
        path = self.get_file_path(self.NATURAL_MOVIE_KEY, int(number))
        try:
            return np.load(path, allow_pickle=False)
        except ValueError:
            import h5py

            with h5py.File(path, "r") as f:
                name = next(k for k in f if isinstance(f[k], h5py.Dataset))
                return f[name][()]

    def get_natural_scene_stimulus_set(self, numbers=range(118)) -> StimulusSet:
        """The natural scenes as a :class:`~brainbridge.stimuli.StimulusSet` (fetched, cached).

        ``stimulus_id`` is ``natural_scene_<n>``; ``frame`` is the scene number (the
        ``frame`` column of the natural-scene presentations); files are the cached TIFFs.
        Scenes the project lacks are left out (default numbers: the release's 0-117).
        """
        rows, paths = [], {}
        for number in numbers:
            try:
                path = self.get_file_path(self.NATURAL_SCENE_KEY, int(number))
            except (RemoteNotFoundError, OfflineError):
                continue
            stimulus_id = f"natural_scene_{int(number)}"
            rows.append(
                {
                    "stimulus_id": stimulus_id,
                    "frame": int(number),
                    "stimulus_name": "natural_scenes",
                    "filename": path.name,
                }
            )
            paths[stimulus_id] = path
        stimuli = StimulusSet(
            pd.DataFrame(rows, columns=["stimulus_id", "frame", "stimulus_name", "filename"])
        )
        stimuli.stimulus_paths = paths
        stimuli.identifier = "allen.natural_scenes"
        return stimuli

    def session_nwb_path(self, session_id) -> Path:
        """The cache path of a session's NWB file (whether or not it is cached yet)."""
        return self.manifest.get_path(self.SESSION_NWB_KEY, session_id, session_id)
