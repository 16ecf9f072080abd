"""Fitted encoding models, trained on first use and cached on disk under a content hash.

A fit maps one layer of one feature extractor onto the neuroids of one ROI of a benchmark
assembly. Its cache key (:func:`fit_key`) is the sha256 of everything the fit depends on:

* the extractor's fingerprint (weights checksum + preprocessing + layers + library version),
* the layer,
* the assembly's checksum (its catalog sha1, or a hash of its values and coordinates) and
  the stimulus set's (catalog sha1s, or a hash of the stimulus ids and file bytes),
* the ROI selection and the time bin,
* the mapping and its parameters, the accuracy procedure, and the brainbridge version.

So a changed image size, layer, weight or data value never reuses a stale fit (the pain
point of name-only keys such as ``{name}_{roi}_regression.pkl``).

Each fit is a folder ``<BRAINBRIDGE_HOME>/encoding-models/<key>/`` written atomically (built
in a temporary sibling, then renamed) under a file lock, holding only arrays and JSON —
never pickles:

``mapping.npz``   the mapping's parameters and fitted arrays (:func:`.mappings.save_mapping`)
``neuroids.npz``  the neuroid coordinates of the targets (``neuroid_id``, ``region``, ``animal``...)
``accuracy.npz``  per-neuroid cross-validated r (``r``, and ``r_split``: split x neuroid), ceiling
``fit.json``      the key's inputs, summary accuracy, the splits and timing
``checksums.json`` the sha256 of each of the four files above

An entry is used only when every file matches its recorded sha256 and reads back; a damaged
entry (flipped byte, truncated or edited file, missing checksums) is a logged cache miss: it
is moved aside to ``<root>/.damaged/`` and the fit is trained again.

Image features are computed once in the same way (:func:`cached_features`): a folder
``<BRAINBRIDGE_HOME>/encoding-features/<key>/`` keyed by the extractor's fingerprint, the
layers and the stimuli's content, holding ``features.npz``, ``features.json`` and
``checksums.json``, with the same integrity check and the same move-aside on damage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import pandas as pd
import xarray as xr
from filelock import FileLock

from brainbridge import config
from brainbridge.assemblies import align, average_repetitions, average_time_bins, select, walk_coords
from brainbridge.atomic import atomic_dir
from brainbridge.deprecation import renamed_parameters
from brainbridge.encoding.errors import EncodingError, FitCacheError
from brainbridge.encoding.registry import Accuracy
from brainbridge.hashing import arrays_digest, file_digest, json_digest
from brainbridge.paths import safe_component

if TYPE_CHECKING:
    from brainbridge.encoding.features import Extractor, FeatureExtractor
    from brainbridge.encoding.mappings import MappingEstimator

__all__ = [
    "Fit",
    "assembly_checksum",
    "cache_root",
    "cached_features",
    "features_key",
    "features_root",
    "fit_key",
    "get_or_train",
    "load_fit",
    "load_or_discard",
    "prepare_target",
    "stimulus_checksum",
    "train_fit",
]

#: 2: entries carry checksums.json (older entries, without it, get other keys and are retrained)
_FORMAT = 2
_FILES = ("mapping.npz", "neuroids.npz", "accuracy.npz", "fit.json")
_CHECKSUMS = "checksums.json"
_FEATURE_FILES = ("features.npz", "features.json")
_DAMAGED = ".damaged"
_logger = logging.getLogger(__name__)


def cache_root() -> Path:
    """``<BRAINBRIDGE_HOME>/encoding-models`` (read from the environment on every call)."""
    return config.home() / "encoding-models"


def _version() -> str:
    from brainbridge._version import __version__

    return __version__


# --------------------------------------------------------------------------------------
# checksums and keys
# --------------------------------------------------------------------------------------


def assembly_checksum(assembly: xr.DataArray) -> str:
    """sha1 of an assembly's content: dims, values and every 1-D coordinate (name + values).

    Used when an assembly is not a catalogued file (whose catalog sha1 is used instead).
    """
    coords = sorted(walk_coords(assembly), key=lambda item: str(item[0]))
    arrays = [("values", np.asarray(assembly.values))]
    arrays += [(f"{name}{dims}", values) for name, dims, values in coords]
    return arrays_digest(arrays, algorithm="sha1", prefix=repr(tuple(assembly.dims)))


def stimulus_checksum(stimulus_set: pd.DataFrame) -> str:
    """sha1 over the stimulus ids and the bytes of their files (in id order)."""
    digest = hashlib.sha1()
    paths = getattr(stimulus_set, "stimulus_paths", {}) or {}
    for sid in sorted(map(str, stimulus_set["stimulus_id"])):
        digest.update(f"{sid}\x1f".encode())
        path = paths.get(sid)
        if path is not None and Path(path).is_file():
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def fit_key(**inputs: Any) -> str:
    """sha256 hex of the JSON of ``inputs`` (sorted keys) plus the library and format version."""
    return json_digest({**inputs, "brainbridge_version": _version(), "cache_format": _FORMAT})


# --------------------------------------------------------------------------------------
# the fit
# --------------------------------------------------------------------------------------


@dataclass
class Fit:
    """A fitted mapping from one layer's features to one ROI's neuroids.

    Attributes
    ----------
    key
        The cache key (a sha256 hex digest).
    mapping
        The fitted estimator (:class:`~brainbridge.encoding.mappings.RidgeCVPerTarget` or
        :class:`~brainbridge.encoding.mappings.PLS`).
    neuroids
        ``{coordinate: values}`` of the target neuroids, in output order.
    accuracy
        ``r`` (per neuroid, mean over splits), ``r_split`` (split x neuroid), ``ceiling``
        (per neuroid, internal consistency, mean over splits).
    info
        JSON-serialisable: the key's inputs, the summary (median r, ceiling, ceiled score),
        the splits and the training time.
    path
        The cache folder the fit was read from or written to.
    """

    key: str
    mapping: MappingEstimator
    neuroids: dict[str, np.ndarray]
    accuracy: dict[str, np.ndarray]
    info: dict[str, Any]
    path: Path | None = None

    @property
    def n_neuroids(self) -> int:
        return len(self.neuroids["neuroid_id"])

    def save(self, root: Path | None = None) -> Path:
        """Write the fit atomically to ``<root>/<key>`` and return that folder."""
        from brainbridge.encoding.mappings import save_mapping

        root = Path(root) if root is not None else cache_root()
        root.mkdir(parents=True, exist_ok=True)
        target = root / self.key
        with atomic_dir(target) as staging:
            save_mapping(self.mapping, staging / "mapping.npz")
            # keyword names are array names; numpy's stubs fear one could be ``allow_pickle``
            np.savez(staging / "neuroids.npz", **{k: _storable(v) for k, v in self.neuroids.items()})  # type: ignore[arg-type]
            np.savez(staging / "accuracy.npz", **{k: np.asarray(v) for k, v in self.accuracy.items()})  # type: ignore[arg-type]
            (staging / "fit.json").write_text(
                json.dumps({"key": self.key, **self.info}, indent=2, default=str)
            )
            _write_checksums(staging, _FILES)
        self.path = target
        return target


def _storable(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    return arr.astype(str) if arr.dtype.kind == "O" else arr


def _sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def _write_checksums(staging: Path, files: tuple[str, ...]) -> None:
    """Record the sha256 of each of ``files`` in ``checksums.json`` (inside the staging folder)."""
    sums = {name: _sha256(staging / name) for name in files}
    (staging / _CHECKSUMS).write_text(json.dumps(sums, indent=1, sort_keys=True))


def _verify_checksums(folder: Path, files: tuple[str, ...] = _FILES, what: str = "cached fit") -> None:
    """Raise FitCacheError unless every file of the entry matches its recorded sha256."""
    try:
        recorded = json.loads((folder / _CHECKSUMS).read_text())
    except FileNotFoundError as e:
        raise FitCacheError(f"{what} {folder} has no {_CHECKSUMS} (incomplete or foreign entry)") from e
    except (OSError, ValueError) as e:
        raise FitCacheError(f"{what} {folder}: {_CHECKSUMS} is unreadable: {e}") from e
    if not isinstance(recorded, dict) or set(recorded) != set(files):
        raise FitCacheError(f"{what} {folder}: {_CHECKSUMS} does not list exactly {list(files)}")
    for name in files:
        try:
            actual = _sha256(folder / name)
        except OSError as e:
            raise FitCacheError(f"{what} {folder}: cannot read {name}: {e}") from e
        if actual != recorded[name]:
            raise FitCacheError(
                f"{what} {folder}: {name} changed since it was written (sha256 {actual[:12]}..., "
                f"recorded {str(recorded[name])[:12]}...)"
            )


def load_fit(key: str, root: Path | None = None) -> Fit | None:
    """The cached fit under ``key``, or ``None`` when there is none.

    Every file is checked against its recorded sha256 before anything is parsed.

    Raises
    ------
    FitCacheError
        The folder exists but is damaged (checksum mismatch, missing file, unreadable or
        truncated archive), or belongs to another key.
    """
    from brainbridge.encoding.mappings import load_mapping

    folder = (Path(root) if root is not None else cache_root()) / safe_component(key, "fit key")
    if not folder.is_dir():
        return None
    _verify_checksums(folder)
    try:
        info = json.loads((folder / "fit.json").read_text())
        with np.load(folder / "neuroids.npz", allow_pickle=False) as data:
            neuroids = {k: data[k] for k in data.files}
        with np.load(folder / "accuracy.npz", allow_pickle=False) as data:
            accuracy = {k: data[k] for k in data.files}
        if info.pop("key", None) != key:
            raise FitCacheError(f"cached fit {folder} does not belong to key {key}")
        mapping = load_mapping(folder / "mapping.npz")
        n_out = len(
            np.atleast_1d(mapping.predict(np.zeros((1, mapping.n_features_in_), dtype=np.float32))[0])
        )
    except FitCacheError:
        raise
    except Exception as e:  # zipfile.BadZipFile, EOFError, KeyError...: any damage is a miss
        raise FitCacheError(f"cached fit {folder} is unreadable: {type(e).__name__}: {e}") from e
    if "neuroid_id" not in neuroids or len(neuroids["neuroid_id"]) != n_out:
        raise FitCacheError(f"cached fit {folder} has inconsistent neuroids and mapping")
    return Fit(key=key, mapping=mapping, neuroids=neuroids, accuracy=accuracy, info=info, path=folder)


_T = TypeVar("_T")


def load_or_discard(load: Callable[[str, Path], _T | None], key: str, root: Path) -> _T | None:
    """``load(key, root)``, or ``None`` after moving a damaged entry aside with a warning.

    The one recovery rule of every fit cache: a damaged entry is never used and never deleted
    silently; the caller trains it again.
    """
    try:
        return load(key, root)
    except FitCacheError as e:
        aside = _move_aside(root / key)
        where = f" (moved to {aside})" if aside is not None else ""
        _logger.warning("%s%s; training it again", e, where)
        warnings.warn(f"{e}{where}; training it again", stacklevel=3)
        return None


def _move_aside(folder: Path) -> Path | None:
    """Move a damaged entry to ``<root>/.damaged/`` (kept for inspection); ``None`` if it could not be."""
    aside = folder.parent / _DAMAGED / f"{folder.name}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    try:
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, aside)
    except OSError:
        return None
    return aside


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------


def prepare_target(
    assembly: xr.DataArray,
    *,
    roi_coord: str | None,
    roi: str | None,
    time_bin: tuple[float, float] | None = None,
) -> xr.DataArray:
    """The ROI's responses ``presentation x neuroid`` (repetitions kept), one time window.

    ``time_bin`` selects one ``(start, end)`` bin; otherwise responses are averaged over the
    ``time_bin`` dimension (a single bin is simply dropped).
    """
    target = assembly
    if roi_coord is not None and roi is not None:
        selection: dict[str, Any] = {roi_coord: roi}
        target = select(target, **selection)
    if "time_bin" in target.dims:
        if time_bin is not None:
            # a (start, end) pair, maybe a list read from JSON
            target = select(target, time_bin=cast("tuple[float, float]", tuple(time_bin)))
        target = average_time_bins(target)  # the same float64 average as scoring's
    extra = set(target.dims) - {"presentation", "neuroid"}
    if extra:
        raise EncodingError(f"cannot train on an assembly with extra dims {sorted(map(str, extra))}")
    return target


def _neuroid_table(target: xr.DataArray) -> dict[str, np.ndarray]:
    table = {}
    for name, dims, values in walk_coords(target):
        if dims == ("neuroid",) and name != "neuroid":
            table[str(name)] = _storable(values)
    if "neuroid_id" not in table:
        table["neuroid_id"] = np.asarray([f"neuroid_{i}" for i in range(target.sizes["neuroid"])])
    return table


@renamed_parameters(show_progress="progress")
def train_fit(
    extractor: FeatureExtractor,
    layer: str,
    target: xr.DataArray,
    *,
    key: str,
    mapping: str = "ridge_per_neuroid",
    mapping_params: Mapping[str, Any] | None = None,
    accuracy: Accuracy | None = None,
    key_inputs: Mapping[str, Any] | None = None,
    features: Any = None,
    progress: bool | None = None,
) -> Fit:
    """Fit ``layer`` features onto ``target`` and measure cross-validated accuracy.

    Parameters
    ----------
    extractor
        A feature extractor (applied to ``target.attrs['stimulus_set']``).
    layer
        The layer to read.
    target
        ``presentation x neuroid`` responses with repetitions (see :func:`prepare_target`);
        the mapping is fitted on the repetition average of every stimulus; the accuracy is
        Brain-Score's neural predictivity (per-neuroid r over held-out splits) and
        internal-consistency ceiling.
    key
        The cache key the fit will be stored under.
    mapping, mapping_params
        ``"ridge_per_neuroid"`` or ``"pls"`` and their parameters.
    accuracy
        The split procedure (default :class:`~brainbridge.encoding.registry.Accuracy`).
    key_inputs
        Recorded in ``info`` (what the key hashes).
    features
        The layer's features of the stimulus set (a features assembly, or a callable
        returning one, so several ROIs share one extraction); extracted here when ``None``.
    """
    from brainbridge.encoding.mappings import make_mapping
    from brainbridge.encoding.scoring import ScoringError, score
    from brainbridge.encoding.scoring import ceiling as ceiling_function
    from brainbridge.stats import ceiled_error, ceiled_value, mean_over_axis

    accuracy = accuracy or Accuracy()
    started = time.perf_counter()
    stimulus_set = target.attrs.get("stimulus_set")
    if stimulus_set is None:
        raise EncodingError(
            "the training assembly has no stimulus set (attrs['stimulus_set']); load it from a catalog"
        )
    averaged = average_repetitions(target)
    if callable(features):
        features = features()
    if features is None:
        features = cached_features(extractor, stimulus_set, [layer], progress=progress)
    X, Y = align(features, averaged)
    model = make_mapping(mapping, **dict(mapping_params or {}))
    model.fit(
        np.asarray(X.values, dtype=np.float32), np.asarray(Y.transpose("presentation", "neuroid").values)
    )

    stratify = accuracy.stratification_coord
    if stratify is not None and stratify not in target.coords:
        stratify = None
    params = dict(mapping_params or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        raw = score(
            features,
            target,
            mapping,
            stratification_coord=stratify,
            n_splits=accuracy.n_splits,
            train_size=accuracy.train_size,
            random_state=accuracy.random_state,
            mapping_params=params or None,
            progress=progress,
            region=None,
            ceiling=False,
        )
    if not np.isfinite(float(raw)):
        raise EncodingError(
            f"the fit of layer {layer!r} has no defined cross-validated accuracy (median r is {float(raw)}); "
            "it is not saved: the targets need responses that vary across stimuli"
        )
    ceiling_note = None
    try:
        ceiling_score = ceiling_function(target, mapping, region=None, progress=False)
        if not float(ceiling_score) > 0:
            ceiling_note = f"ceiling {float(ceiling_score):.4g} is not positive: no ceiled score"
    except ScoringError as e:  # e.g. a target without repetitions: unceiled, said in info
        ceiling_score, ceiling_note = None, f"no ceiling: {e}"
    neuroids = _neuroid_table(Y)
    order = pd.Index(neuroids["neuroid_id"])
    per_split = raw.per_split()
    assert per_split is not None  # a regression score keeps its per-split values
    split_ids = np.asarray(per_split["neuroid_id"].values).astype(str)
    r_split = np.asarray(per_split.values, dtype=np.float64)[:, pd.Index(split_ids).get_indexer(order)]
    if ceiling_score is not None:
        c_raw = ceiling_score.raw
        c_ids = np.asarray(c_raw["neuroid_id"].values).astype(str)
        per_neuroid = mean_over_axis(np.asarray(c_raw.values, dtype=np.float64), axis=0)
        ceiling = per_neuroid[pd.Index(c_ids).get_indexer(order)]
    else:
        ceiling = np.full(len(order), np.nan)
    ceiled: float | None = None
    ceiled_err: float | None = None
    if ceiling_score is not None and ceiling_note is None:
        ceiled = ceiled_value(float(raw), float(ceiling_score), "r2")
        assert raw.raw_error is not None  # a regression score has its error across splits
        ceiled_err = ceiled_error(float(raw), raw.raw_error, float(ceiling_score))
    summary = {
        "median_r": float(raw),
        "error": None if raw.raw_error is None else float(raw.raw_error),
        "ceiling": None if ceiling_score is None else float(ceiling_score),
        "ceiled_score": ceiled,
        "ceiled_error": ceiled_err,
        "ceiling_note": ceiling_note,
        "n_neuroids": len(order),
        "n_stimuli": int(X.sizes["presentation"]),
        "n_features": int(X.sizes["neuroid"]),
    }
    info = {
        "inputs": dict(key_inputs or {}),
        "summary": summary,
        "splits": asdict(accuracy) | {"stratification_coord_used": stratify},
        "train_time_s": round(time.perf_counter() - started, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return Fit(
        key=key,
        mapping=model,
        neuroids=neuroids,
        accuracy={"r": np.nanmean(r_split, axis=0), "r_split": r_split, "ceiling": ceiling},
        info=info,
    )


@renamed_parameters(show_progress="progress")
def get_or_train(
    extractor: FeatureExtractor,
    layer: str,
    assembly: xr.DataArray,
    *,
    roi_coord: str | None = None,
    roi: str | None = None,
    time_bin: tuple[float, float] | None = None,
    mapping: str = "ridge_per_neuroid",
    mapping_params: Mapping[str, Any] | None = None,
    accuracy: Accuracy | None = None,
    assembly_sha1: str | None = None,
    stimulus_sha1: str | None = None,
    root: Path | None = None,
    features: Any = None,
    progress: bool | None = None,
) -> Fit:
    """The cached fit for these inputs, training (and caching) it on first use.

    Parameters
    ----------
    extractor, layer
        Features to map from.
    assembly
        The benchmark responses (with repetitions and ``attrs['stimulus_set']``).
    roi_coord, roi
        Restrict the targets to neuroids whose ``roi_coord`` equals ``roi``.
    time_bin
        A ``(start, end)`` bin; ``None`` averages over time bins.
    mapping, mapping_params, accuracy
        See :func:`train_fit`.
    assembly_sha1, stimulus_sha1
        The catalog checksums of the assembly file and the stimulus set; computed from the
        content (:func:`assembly_checksum`, :func:`stimulus_checksum`) when ``None``.
    root
        The cache folder (default :func:`cache_root`).
    features
        Precomputed features of the stimulus set for ``layer`` (or a callable returning them);
        used only when a fit must be trained.

    Returns
    -------
    Fit
        Read from the cache when every input matches; otherwise trained, stored and returned.
        A damaged cache entry is moved aside and trained again (logged, with a warning).
    """
    accuracy = accuracy or Accuracy()
    stimulus_set = assembly.attrs.get("stimulus_set")
    inputs = {
        "extractor": extractor.identifier,
        "extractor_fingerprint": extractor.fingerprint([layer]),
        "layer": layer,
        "assembly_sha1": assembly_sha1 or assembly_checksum(assembly),
        "stimulus_sha1": stimulus_sha1
        or (stimulus_checksum(stimulus_set) if stimulus_set is not None else None),
        "roi_coord": roi_coord,
        "roi": roi,
        "time_bin": list(time_bin) if time_bin is not None else None,
        "mapping": mapping,
        "mapping_params": dict(mapping_params or {}),
        "accuracy": asdict(accuracy),
    }
    key = fit_key(**inputs)
    root = Path(root) if root is not None else cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{key}.lock")):
        cached = load_or_discard(load_fit, key, root)
        if cached is not None:
            return cached
        target = prepare_target(assembly, roi_coord=roi_coord, roi=roi, time_bin=time_bin)
        fit = train_fit(
            extractor,
            layer,
            target,
            key=key,
            mapping=mapping,
            mapping_params=mapping_params,
            accuracy=accuracy,
            key_inputs=inputs,
            features=features,
            progress=progress,
        )
        fit.save(root)
        return fit


# --------------------------------------------------------------------------------------
# features: computed once per (stimuli, extractor, layers)
# --------------------------------------------------------------------------------------


def features_root() -> Path:
    """``<BRAINBRIDGE_HOME>/encoding-features`` (read from the environment on every call)."""
    return config.home() / "encoding-features"


def features_key(
    extractor: Extractor, stimulus_set: pd.DataFrame, layers: list[str], stimulus_sha1: str | None = None
) -> str:
    """The cache key of a features assembly: sha256 over the extractor's fingerprint (weights,
    preprocessing, layers, pooling, library version), the layers and the stimuli's content."""
    return fit_key(
        kind="features",
        extractor=extractor.identifier,
        extractor_fingerprint=extractor.fingerprint(layers),
        layers=list(layers),
        stimulus_sha1=stimulus_sha1 or stimulus_checksum(stimulus_set),
    )


@renamed_parameters(show_progress="progress")
def cached_features(
    extractor: FeatureExtractor,
    stimulus_set: pd.DataFrame,
    layers: str | list[str] | None = None,
    *,
    stimulus_sha1: str | None = None,
    root: Path | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> xr.DataArray:
    """The extractor's features of a stimulus set, extracted once and then read from disk.

    Stored under :func:`features_key` in ``<root>/<key>/`` (``features.npz``: values, stimulus
    and neuroid coordinates; ``features.json``: the attrs), written atomically, with the same
    sha256 integrity check as the fits; a damaged entry is moved aside and extracted again.
    ``attrs['features_cached']`` says whether this call read the cache.
    """
    from brainbridge.assemblies import ModelFeaturesAssembly

    wanted = extractor.resolve_layers(layers)
    key = features_key(extractor, stimulus_set, wanted, stimulus_sha1)
    root = Path(root) if root is not None else features_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / safe_component(key, "features key")
    with FileLock(str(root / f".{key}.lock")):
        if folder.is_dir():
            try:
                _verify_checksums(folder, _FEATURE_FILES, "cached features")
                with np.load(folder / "features.npz", allow_pickle=False) as data:
                    arrays = {k: data[k] for k in data.files}
                attrs = json.loads((folder / "features.json").read_text())
                coords = {"stimulus_id": ("presentation", arrays["stimulus_id"].astype(object))}
                for name in ("neuroid_id", "layer"):
                    coords[name] = ("neuroid", arrays[name].astype(object))
                coords["neuroid_num"] = ("neuroid", arrays["neuroid_num"])
                features = ModelFeaturesAssembly(
                    arrays["values"], dims=["presentation", "neuroid"], coords=coords, attrs=attrs
                )
                features.attrs["features_cached"] = True
                return features
            except Exception as e:  # any damage is a logged miss
                aside = _move_aside(folder)
                where = f" (moved to {aside})" if aside is not None else ""
                _logger.warning("cached features %s are unreadable: %s%s; extracting again", folder, e, where)
                warnings.warn(
                    f"cached features {folder} are unreadable: {e}{where}; extracting again", stacklevel=2
                )
        features = extractor.extract(stimulus_set, layers=wanted, batch_size=batch_size, progress=progress)
        with atomic_dir(folder) as staging:
            np.savez(
                staging / "features.npz",
                values=np.asarray(features.values),
                stimulus_id=np.asarray(features["stimulus_id"].values).astype(str),
                neuroid_id=np.asarray(features["neuroid_id"].values).astype(str),
                layer=np.asarray(features["layer"].values).astype(str),
                neuroid_num=np.asarray(features["neuroid_num"].values),
            )
            (staging / "features.json").write_text(json.dumps(dict(features.attrs), indent=1, default=str))
            _write_checksums(staging, _FEATURE_FILES)
        features.attrs["features_cached"] = False
        return features
