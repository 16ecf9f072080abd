"""What the pages show, gathered from the library: catalogs, assemblies (opened lazily), stimulus
sets, model cards, the scores store and ecephys projects.

Nothing here reads a file that a URL names: URLs carry identifiers, identifiers are looked up
in the catalogs (or the scores store, the model registry, the configured ecephys projects),
and every file reached that way is checked to lie inside a catalog's folder or the cache
(:func:`allowed_path`). Assemblies are opened lazily (:func:`brainbridge.readers.open_assembly_array`)
and their summary reads at most :data:`MAX_SUMMARY_VALUES` values.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainbridge import config
from brainbridge.errors import BrainbridgeError, UnsafePathError
from brainbridge.paths import path_within, safe_component
from brainbridge.web.errors import BadRequestError, NotFound

logger = logging.getLogger(__name__)

#: the most values an assembly page reads to draw its summary (a sample of neuroids beyond it)
MAX_SUMMARY_VALUES = 2_000_000
#: thumbnail edge, pixels
THUMBNAIL_SIZE = 96
#: coordinate values listed per coordinate on an assembly page
MAX_LISTED_VALUES = 8


# --------------------------------------------------------------------------------------
# catalogs
# --------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One catalogued assembly or stimulus set, as the index page lists it."""

    identifier: str
    kind: str  # "assembly" | "stimulus set"
    catalog: str
    cls: str
    location_type: str
    location: str
    sha1: str
    stimulus_set_identifier: str = ""
    path: Path | None = None
    size: int | None = None
    regions: list[str] = field(default_factory=list)
    modality: str = ""
    note: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)


def modality_of(cls: str, kind: str) -> str:
    """A short modality label from the catalog's class column."""
    if kind == "stimulus set":
        return "stimuli"
    name = cls.lower()
    for needle, label in (
        ("spike", "ephys"),
        ("neuron", "ephys"),
        ("fmri", "fmri"),
        ("voxel", "fmri"),
        ("eeg", "eeg"),
        ("meg", "meg"),
        ("features", "model features"),
        ("behavio", "behaviour"),
    ):
        if needle in name:
            return label
    return "other"


def allowed_roots() -> list[Path]:
    """The folders a page may read from: every catalog's folder and the cache."""
    from brainbridge.catalogs import get_catalog, list_catalogs

    roots = [config.cache_dir()]
    for name in list_catalogs():
        try:
            base = get_catalog(name).base_dir
        except BrainbridgeError:
            continue
        if base is not None:
            roots.append(Path(base))
    return roots


def allowed_path(path: Path, roots: list[Path] | None = None) -> Path | None:
    """``path`` if it resolves inside one of :func:`allowed_roots`, else ``None``."""
    for root in roots if roots is not None else allowed_roots():
        try:
            relative = Path(path).resolve().relative_to(Path(root).resolve())
        except (ValueError, OSError):
            continue
        try:
            return path_within(root, relative) if relative.parts else None
        except UnsafePathError:
            continue
    return None


def local_file(row: pd.Series, catalog: Any, roots: list[Path] | None = None) -> tuple[Path | None, str]:
    """The local copy of a catalog row's file and a note when there is none.

    Never downloads and never copies: a ``local`` row is its own file, which must lie inside
    the catalog's folder or the cache; a remote row is shown when the cache holds it.
    """
    from brainbridge.fetch.cache import DownloadCache, normalize_sha1
    from brainbridge.fetch.locations import parse_location

    try:
        location = parse_location(str(row["location_type"]), str(row["location"]), catalog.base_dir)
        if location.kind == "local":
            path = Path(location.url)
        else:
            cache = DownloadCache(config.cache_dir())
            key = cache.key_for(normalize_sha1(str(row["sha1"] or "")) or None, location.identity)
            path = cache.entry_path(key, location.name or "file")
    except BrainbridgeError as e:
        return None, f"unusable location ({str(e).splitlines()[0][:160]})"
    inside = allowed_path(path, roots)
    if inside is None:
        return None, "its file lies outside the catalog's folder and the cache: not shown"
    if not inside.exists():
        return None, "not on this machine (fetch it with: brainbridge fetch IDENTIFIER)"
    return inside, ""


def _size(path: Path | None) -> int | None:
    if path is None:
        return None
    if path.is_dir():  # a zarr store
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


class Catalogs:
    """The installed catalogs' entries, with their local files; re-read when the catalogs change."""

    def __init__(self):
        self._lock = threading.Lock()
        self._regions: dict[tuple, list[str]] = {}

    def entries(self) -> list[Entry]:
        from brainbridge.catalogs import get_catalog, list_catalogs

        roots = allowed_roots()
        entries: dict[tuple[str, str], Entry] = {}
        for name in list_catalogs():
            try:
                catalog = get_catalog(name)
            except BrainbridgeError as e:
                logger.warning("catalog %s skipped: %s", name, e)
                continue
            for _, row in catalog.iterrows():
                lookup_type = str(row["lookup_type"])
                kind = "stimulus set" if lookup_type.startswith("stimulus") else "assembly"
                identifier = str(row["identifier"])
                path, note = local_file(row, catalog, roots)
                file_info: dict[str, Any] = {
                    "location_type": str(row["location_type"]),
                    "location": str(row["location"]),
                    "sha1": str(row["sha1"] or ""),
                    "path": path,
                    "size": _size(path),
                    "note": note,
                }
                key = (kind, identifier)
                if key in entries:  # a stimulus set's CSV and ZIP rows
                    entry = entries[key]
                    entry.files.append(file_info)
                    entry.size = (
                        None
                        if entry.size is None or file_info["size"] is None
                        else (entry.size + file_info["size"])
                    )
                    continue
                entry = Entry(
                    identifier=identifier,
                    kind=kind,
                    catalog=name,
                    cls=str(row["class"] or ""),
                    location_type=file_info["location_type"],
                    location=file_info["location"],
                    sha1=file_info["sha1"],
                    stimulus_set_identifier=str(row.get("stimulus_set_identifier") or ""),
                    path=path,
                    size=file_info["size"],
                    note=note,
                    files=[file_info],
                )
                entry.modality = modality_of(entry.cls, kind)
                if kind == "assembly" and path is not None:
                    entry.regions = self._assembly_regions(path)
                entries[key] = entry
        return sorted(entries.values(), key=lambda e: (e.kind, e.identifier))

    def _assembly_regions(self, path: Path) -> list[str]:
        """The ``region`` values of an assembly file (read once per file version)."""
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._regions:
                return self._regions[key]
        regions: list[str] = []
        try:
            from brainbridge.readers import open_assembly_array

            array = open_assembly_array(path)
            for name in ("region", "brain_region", "roi"):
                if name in array.coords:
                    regions = [str(v) for v in pd.unique(np.asarray(array[name].values).astype(str).ravel())]
                    break
            else:  # fMRI: one boolean roi_<name> coordinate per ROI
                from brainbridge.regions import roi_names

                regions = roi_names(array)
        except BrainbridgeError as e:
            logger.warning("cannot read the regions of %s: %s", path, e)
        with self._lock:
            self._regions[key] = regions
        return regions

    def get(self, identifier: str, kind: str) -> Entry:
        for entry in self.entries():
            if entry.identifier == identifier and entry.kind == kind:
                return entry
        raise NotFound(f"no catalog lists the {kind} {identifier!r}")


def filter_entries(
    entries: list[Entry],
    *,
    q: str = "",
    kind: str = "",
    region: str = "",
    modality: str = "",
    min_mb: float | None = None,
    max_mb: float | None = None,
) -> list[Entry]:
    """The entries that match the index page's search form."""
    out = []
    for entry in entries:
        text = " ".join([entry.identifier, entry.catalog, entry.cls, entry.stimulus_set_identifier]).lower()
        if q and q.lower() not in text:
            continue
        if kind and entry.kind != kind:
            continue
        if region and region not in entry.regions:
            continue
        if modality and entry.modality != modality:
            continue
        mb = None if entry.size is None else entry.size / 1e6
        if min_mb is not None and (mb is None or mb < min_mb):
            continue
        if max_mb is not None and (mb is None or mb > max_mb):
            continue
        out.append(entry)
    return out


# --------------------------------------------------------------------------------------
# assemblies
# --------------------------------------------------------------------------------------


@dataclass
class AssemblySummary:
    """An assembly's page: structure (from the lazily opened file) and summary arrays (sampled)."""

    entry: Entry
    dims: dict[str, int]
    dtype: str
    n_values: int
    coords: list[dict[str, Any]]
    attrs: dict[str, str]
    sample_note: str
    values: np.ndarray | None  # (presentations, neuroids) read for the plots (time bins averaged)
    stimulus_codes: np.ndarray | None
    stimulus_ids: np.ndarray | None
    repetitions: np.ndarray | None
    neuroid_regions: np.ndarray | None
    categories: pd.Series | None  # stimulus_id -> category
    category_column: str | None
    #: ``"neuroid"``, ``"fmri"`` or ``"eeg"`` (:func:`brainbridge.assembly_plots.modality_of`)
    modality: str = "neuroid"
    #: in-memory sample for the modality plots of :mod:`brainbridge.assembly_plots` (fMRI, EEG/MEG)
    sample: Any = None
    #: ``[(name, column positions)]`` when groups overlap (fMRI ROIs), else from ``neuroid_regions``
    neuroid_groups: list[tuple[str, np.ndarray]] | None = None


def _coordinate_rows(array: Any) -> list[dict[str, Any]]:
    rows = []
    for name in array.coords:
        coord = array.coords[name]
        values = np.asarray(coord.values).ravel()
        try:
            unique = pd.unique(values.astype(str) if values.dtype.kind in "OUS" else values)
        except TypeError:
            unique = pd.unique(values.astype(str))
        rows.append(
            {
                "name": str(name),
                "dims": ", ".join(map(str, coord.dims)),
                "dtype": str(coord.dtype),
                "distinct": len(unique),
                "size": int(values.size),
                "examples": ", ".join(map(str, unique[:MAX_LISTED_VALUES]))
                + (" …" if len(unique) > MAX_LISTED_VALUES else ""),
            }
        )
    return rows


def _stimulus_csv(identifier: str) -> pd.DataFrame | None:
    """The metadata CSV of a catalogued stimulus set (local copies only), or ``None``."""
    from brainbridge.catalogs import get_catalog, lookup_stimulus_set
    from brainbridge.stimuli import read_stimulus_csv

    try:
        csv_row, _zip_row = lookup_stimulus_set(identifier)
    except BrainbridgeError:
        return None
    path, _note = local_file(csv_row, get_catalog(csv_row["source_catalog"]))
    if path is None:
        return None
    try:
        return read_stimulus_csv(path)
    except BrainbridgeError:
        return None


def summarize_assembly(entry: Entry, *, max_values: int = MAX_SUMMARY_VALUES) -> AssemblySummary:
    """Open ``entry``'s file lazily, describe it and read at most ``max_values`` values for its plots."""
    from brainbridge.readers import open_assembly_array

    if entry.path is None:
        raise NotFound(
            f"the assembly {entry.identifier!r} is catalogued, but {entry.note or 'not on this machine'}; "
            f"fetch it with: brainbridge fetch {entry.identifier}"
        )
    array = open_assembly_array(entry.path)  # lazy: values are read below, a bounded slab at most
    dims = {str(k): int(v) for k, v in array.sizes.items()}
    n_values = int(np.prod(list(dims.values()))) if dims else 1
    summary = AssemblySummary(
        entry=entry,
        dims=dims,
        dtype=str(array.dtype),
        n_values=n_values,
        coords=_coordinate_rows(array),
        attrs={str(k): str(v)[:200] for k, v in array.attrs.items()},
        sample_note="",
        values=None,
        stimulus_codes=None,
        stimulus_ids=None,
        repetitions=None,
        neuroid_regions=None,
        categories=None,
        category_column=None,
    )
    from brainbridge.assembly_plots import modality_of

    summary.modality = modality_of(array)
    pres_dim = "presentation" if "presentation" in dims else None
    neuroid_dim = {"fmri": "voxel", "eeg": None}.get(summary.modality, "neuroid")
    if pres_dim is not None and array.dtype.kind in "iuf" and summary.modality == "eeg":
        _stimulus_fields(summary, array, pres_dim)
        _sample_trials(summary, array, max_values)
        return summary
    if pres_dim is None or neuroid_dim not in dims or array.dtype.kind not in "iuf":
        summary.sample_note = (
            "no summary plots: they need numeric presentation x neuroid, presentation x voxel "
            "or presentation x channel x time_bin data"
        )
        return summary
    assert neuroid_dim is not None
    n_pres, n_neuroids = dims[pres_dim], dims[neuroid_dim]
    per_neuroid = n_values // max(n_neuroids, 1)
    keep = max(1, min(n_neuroids, max_values // max(per_neuroid, 1)))
    other = [d for d in array.dims if d not in (pres_dim, neuroid_dim)]
    block = array.transpose(pres_dim, neuroid_dim, *other)
    if keep < n_neuroids:
        chosen = np.unique(np.linspace(0, n_neuroids - 1, keep).round().astype(int))
        per_presentation = n_values // max(n_pres, 1)
        # windows of presentations with every neuroid, the chosen ones kept from each
        block = _read_presentations(
            block, np.arange(n_pres), window=max(1, max_values // max(per_presentation, 1)), keep=chosen
        )
        array = array.isel({neuroid_dim: chosen})
        summary.sample_note = (
            f"the plots use {len(chosen)} of {n_neuroids} {neuroid_dim}s (evenly spaced), "
            f"{len(chosen) * per_neuroid:,} of {n_values:,} values: the file is not read whole"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = np.asarray(block.values, dtype=np.float64)
        if values.ndim > 2:  # time bins and the like: averaged for the summary
            values = np.nanmean(values.reshape(n_pres, values.shape[1], -1), axis=2)
    summary.values = values
    if "region" in array.coords and array["region"].dims == (neuroid_dim,):
        summary.neuroid_regions = np.asarray(array["region"].values).astype(str)
    if summary.modality == "fmri":
        from brainbridge.regions import ROI_PREFIX, roi_names

        coords = {
            str(name): coord
            for name, coord in array.coords.items()
            if set(coord.dims) <= {pres_dim, neuroid_dim}
        }
        summary.sample = xr.DataArray(values, dims=(pres_dim, neuroid_dim), coords=coords, attrs=array.attrs)
        summary.neuroid_groups = [
            (roi, np.flatnonzero(np.asarray(array[ROI_PREFIX + roi].values, dtype=bool)))
            for roi in roi_names(array)
            if array[ROI_PREFIX + roi].dims == (neuroid_dim,)
        ] or None
    _stimulus_fields(summary, array, pres_dim)
    return summary


def _stimulus_fields(summary: AssemblySummary, array: Any, pres_dim: str) -> None:
    """Stimulus codes, repetitions and categories from the presentation coordinates (all of them)."""
    if "stimulus_id" in array.coords and array["stimulus_id"].dims == (pres_dim,):
        ids = np.asarray(array["stimulus_id"].values).astype(str)
        codes, uniques = pd.factorize(ids)
        summary.stimulus_codes, summary.stimulus_ids = codes, np.asarray(uniques)
        if "repetition" in array.coords and array["repetition"].dims == (pres_dim,):
            summary.repetitions = np.asarray(array["repetition"].values)
        entry = summary.entry
        metadata = _stimulus_csv(entry.stimulus_set_identifier) if entry.stimulus_set_identifier else None
        for column in ("category_name", "category", "object_name", "image_label", "label"):
            if metadata is not None and column in metadata.columns and "stimulus_id" in metadata.columns:
                summary.categories = pd.Series(
                    metadata[column].astype(str).to_numpy(),
                    index=metadata["stimulus_id"].astype(str).to_numpy(),
                )
                summary.category_column = column
                break
            if column in array.coords and array[column].dims == (pres_dim,):
                frame = pd.DataFrame({"s": ids, "c": np.asarray(array[column].values).astype(str)})
                summary.categories = frame.drop_duplicates("s").set_index("s")["c"]
                summary.category_column = column
                break


def _sample_trials(summary: AssemblySummary, array: Any, max_values: int) -> None:
    """Read at most ``max_values`` values of an EEG/MEG assembly into ``summary.sample``.

    A file within the bound is read whole. A larger one gives a balanced sample
    (:func:`brainbridge.assembly_plots.balanced_trials`: the stimuli shown most, their first
    repetitions; evenly spaced stimuli when even those are too many), so that the ERP and the
    split-half ceilings come from the same trials; without repeated stimuli, evenly spaced trials.
    """
    from brainbridge.assembly_plots import balanced_trials

    n_trials = summary.dims["presentation"]
    per_trial = summary.n_values // max(n_trials, 1)
    if per_trial > max_values:
        summary.sample_note = (
            f"no summary plots: one trial holds {per_trial:,} values, more than a page reads ({max_values:,})"
        )
        return
    data = array.transpose("presentation", "channel", "time_bin")
    if summary.n_values <= max_values:
        summary.sample = data.load()
        return
    table = None
    if summary.stimulus_codes is not None:
        try:
            table = balanced_trials(summary.stimulus_codes)
        except BrainbridgeError:
            table = None
    if table is not None and 2 * table.shape[1] * per_trial <= max_values:
        n_stimuli, n_reps = table.shape
        keep = min(n_stimuli, max_values // (n_reps * per_trial))
        if keep < n_stimuli:
            table = table[np.unique(np.linspace(0, n_stimuli - 1, keep).round().astype(int))]
        positions = np.sort(table.ravel())
        how = (
            f"{len(table):,} of the {n_stimuli:,} stimuli shown at least {n_reps} times"
            f"{' (evenly spaced)' if keep < n_stimuli else ''}, their first {n_reps} repetitions"
        )
    else:
        keep = max(1, max_values // per_trial)
        positions = np.unique(np.linspace(0, n_trials - 1, keep).round().astype(int))
        how = "evenly spaced trials"
    summary.sample = _read_presentations(data, positions, window=max(1, max_values // per_trial))
    summary.sample_note = (
        f"the plots of responses use {len(positions):,} of {n_trials:,} trials ({how}), "
        f"{len(positions) * per_trial:,} of {summary.n_values:,} values: the file is not read whole; "
        "the repetitions plot counts every trial"
    )


def _read_presentations(
    data: xr.DataArray, positions: np.ndarray, window: int, keep: np.ndarray | None = None
) -> xr.DataArray:
    """``data.isel(presentation=positions)`` (and ``keep`` along its second dimension) in memory,
    read ``window`` presentations at a time.

    An integer index array handed to the netCDF backend reads the whole variable (measured: the
    example's EEG set, and a 4000 x 2000 float32 file sampled to 500 neuroids: 56 MB peak for an
    8 MB sample); one slice per row is bounded but slow. Slices of ``window`` whole presentations
    keep the wanted entries of each: at most one window is held besides the sample.
    """
    axis = data.dims.index("presentation")
    second = data.dims[1 - axis] if data.ndim > 1 else None
    parts = []
    for start in range(int(positions[0]), int(positions[-1]) + 1, window):
        wanted = positions[(positions >= start) & (positions < start + window)]
        if len(wanted):
            block = np.asarray(data.isel(presentation=slice(start, int(wanted[-1]) + 1)).values)
            block = np.take(block, wanted - start, axis=axis)
            parts.append(block if keep is None else np.take(block, keep, axis=1 - axis))
    template = data.isel(presentation=positions)
    if keep is not None and second is not None:
        template = template.isel({second: keep})
    return template.copy(data=np.concatenate(parts, axis=axis))


def reliability(summary: AssemblySummary) -> np.ndarray | None:
    """Split-half internal consistency per neuroid (:func:`brainbridge.stats.split_half_reliability`)."""
    from brainbridge import stats

    if summary.values is None or summary.stimulus_codes is None:
        return None
    counts = np.bincount(summary.stimulus_codes)
    if counts.size == 0 or counts.max() < 2:
        return None
    try:
        result = stats.split_half_reliability(summary.values, summary.stimulus_codes, summary.repetitions)
    except (BrainbridgeError, ValueError):
        return None
    return np.asarray(result.per_neuroid, dtype=float)


# --------------------------------------------------------------------------------------
# stimulus sets
# --------------------------------------------------------------------------------------


class StimulusSets:
    """Loaded stimulus sets (the catalog's loader: verified, extracted once) and their thumbnails."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loaded: OrderedDict[str, Any] = OrderedDict()

    def get(self, identifier: str) -> Any:
        from brainbridge.catalogs import get_stimulus_set, list_stimulus_sets

        if identifier not in list_stimulus_sets():
            raise NotFound(f"no catalog lists the stimulus set {identifier!r}")
        with self._lock:
            if identifier in self._loaded:
                self._loaded.move_to_end(identifier)
                return self._loaded[identifier]
        from brainbridge.catalogs import get_catalog, lookup_stimulus_set

        for row in lookup_stimulus_set(identifier):  # the CSV and the ZIP: inside the catalogs or the cache
            _path, note = local_file(row, get_catalog(row["source_catalog"]))
            if note:
                raise NotFound(f"the stimulus set {identifier!r} is catalogued, but {note}")
        stimulus_set = get_stimulus_set(identifier, offline=True)
        with self._lock:
            self._loaded[identifier] = stimulus_set
            while len(self._loaded) > 8:
                self._loaded.popitem(last=False)
        return stimulus_set

    def stimulus_path(self, identifier: str, stimulus_id: str) -> Path:
        stimulus_set = self.get(identifier)
        try:
            path = stimulus_set.get_stimulus(stimulus_id)
        except (BrainbridgeError, KeyError):
            raise NotFound(f"the stimulus set {identifier!r} has no stimulus {stimulus_id!r}") from None
        inside = allowed_path(path)
        if inside is None:
            raise NotFound(f"the file of stimulus {stimulus_id!r} lies outside the catalogs and the cache")
        return inside

    def thumbnail(self, identifier: str, stimulus_id: str) -> Path:
        """A PNG thumbnail of one stimulus, made once under ``<cache>/thumbnails/`` (atomically)."""
        from brainbridge.atomic import atomic_write_bytes
        from brainbridge.catalogs import lookup_stimulus_set

        source = self.stimulus_path(identifier, stimulus_id)
        _csv_row, zip_row = lookup_stimulus_set(identifier)
        # keyed by the archive's checksum: new images under the same identifier get new thumbnails
        key = str(zip_row["sha1"] or "").lower() or safe_component(identifier, "stimulus set identifier")
        folder = path_within(
            config.cache_dir(), "thumbnails", safe_component(key, "checksum"), str(THUMBNAIL_SIZE)
        )
        target = path_within(folder, safe_component(f"{stimulus_id}.png", "stimulus id"))
        if target.is_file():
            return target
        import io

        from PIL import Image

        try:
            with Image.open(source) as image:
                image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                converted = image.convert("RGBA" if "A" in image.getbands() else "RGB")
                buffer = io.BytesIO()
                converted.save(buffer, format="PNG")
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise NotFound(f"stimulus {stimulus_id!r} is not an image this app can show ({e})") from None
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, buffer.getvalue())
        return target


# --------------------------------------------------------------------------------------
# ecephys projects
# --------------------------------------------------------------------------------------


#: the unit quality filters the ecephys page offers (AllenSDK's names and defaults)
UNIT_FILTERS = {
    "amplitude_cutoff_maximum": 0.1,
    "presence_ratio_minimum": 0.95,
    "isi_violations_maximum": 0.5,
}


class EcephysProjects:
    """The configured ecephys projects (``name -> location``), opened on first use."""

    def __init__(self, projects: Mapping[str, str | os.PathLike] | None = None):
        self.locations = {
            safe_component(name, "project name"): str(loc) for name, loc in (projects or {}).items()
        }
        self._caches: dict[str, Any] = {}
        self._sessions: OrderedDict[tuple, Any] = OrderedDict()
        self.lock = threading.RLock()  # pynwb/h5py objects are shared between request threads

    def cache(self, name: str) -> Any:
        if name not in self.locations:
            raise NotFound(
                f"no ecephys project called {name!r}; projects: {', '.join(self.locations) or 'none'} "
                "(add one with brainbridge serve --ecephys NAME=FOLDER)"
            )
        with self.lock:
            if name not in self._caches:
                from brainbridge.ecephys import EcephysProjectCache

                self._caches[name] = EcephysProjectCache.from_source(self.locations[name])
            return self._caches[name]

    def session(self, name: str, session_id: str, filters: dict[str, Any]) -> Any:
        cache = self.cache(name)
        with self.lock:
            sessions = cache.get_session_table()
            matches = [s for s in sessions.index if str(s) == str(session_id)]
            if not matches:
                raise NotFound(f"project {name!r} has no session {session_id!r}")
            key = (name, str(session_id), tuple(sorted((k, str(v)) for k, v in filters.items())))
            if key in self._sessions:
                self._sessions.move_to_end(key)
                return self._sessions[key]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                session = cache.get_session_data(matches[0], **filters)
            self._sessions[key] = session
            while len(self._sessions) > 6:
                _key, old = self._sessions.popitem(last=False)
                close = getattr(old, "close", None)
                if close is not None:
                    close()
            return session

    def close(self) -> None:
        with self.lock:
            for session in self._sessions.values():
                close = getattr(session, "close", None)
                if close is not None:
                    close()
            self._sessions.clear()


def unit_filters(query: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The quality-filter keyword arguments of a query string, and the form's values.

    ``all=1`` turns every filter off (each threshold ``None``, validity not required); an empty
    field opens that bound; a number sets it.
    """
    form: dict[str, str] = {}
    if query.get("all") == "1":
        kwargs: dict[str, Any] = {"filter_by_validity": False}
        kwargs.update(dict.fromkeys(UNIT_FILTERS))
        form["all"] = "1"
        for name in UNIT_FILTERS:
            form[name] = ""
        return kwargs, form
    kwargs = {"filter_by_validity": query.get("valid", "1") != "0"}
    form["valid"] = "1" if kwargs["filter_by_validity"] else "0"
    for name, default in UNIT_FILTERS.items():
        text = query.get(name)
        if text is None:
            kwargs[name] = default
            form[name] = str(default)
            continue
        text = text.strip()
        if not text:
            kwargs[name] = None
            form[name] = ""
            continue
        try:
            kwargs[name] = float(text)
        except ValueError:
            raise BadRequestError(
                f"{name} must be a number (or empty for no bound), got {text[:40]!r}"
            ) from None
        form[name] = text
    return kwargs, form
