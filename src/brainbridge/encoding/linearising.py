"""The linearising recipe of NED and BERG, trained on users' fMRI and EEG assemblies.

Frozen image features -> ``StandardScaler`` -> ``PCA(k)`` -> one ordinary least-squares (or
ridge) regression per output, exactly what scikit-learn's
``Pipeline([StandardScaler(), PCA(k), LinearRegression()])`` fits, per subject and ROI:

* **fMRI** (:class:`~brainbridge.assemblies.VoxelAssembly`): the targets are a subject's ROI
  voxels averaged over repetitions; predictions are ``(N, voxels)``;
* **EEG/MEG** (:class:`~brainbridge.assemblies.EEGAssembly`): NED fits **one regression per
  training repetition** (THINGS-EEG2: 4), each on that repetition's ``channels x times``;
  predictions are NED's ``(N, repetitions, channels, times)``.

The scaler and the PCA depend only on the training images' features, so they are fitted once
and shared by every repetition's regression. Because principal components are uncorrelated,
OLS on them is one division per component (``coef_j = z_j' y / z_j' z_j``; ridge adds ``alpha``
to the denominator): every output and every repetition are fitted in one matrix product. The
PCA is the exact eigendecomposition of the smaller Gram matrix (``n x n`` or ``p x p``) in
float64, so the fit is deterministic; tests compare it with scikit-learn's pipeline in float64.

Fits are cached like the other encoding fits (:mod:`brainbridge.encoding.cache`): a folder
``<BRAINBRIDGE_HOME>/encoding-models/<key>/`` keyed by the sha256 of the extractor's
fingerprint and layers (or the features' content), the assembly's content, subject, ROI, recipe
and library version, holding ``linearising.npz`` (arrays only, never pickles), ``outputs.npz``
(output coordinates), ``fit.json`` and ``checksums.json`` (checked on every read; a damaged
entry is moved aside and trained again).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from filelock import FileLock

from brainbridge.assemblies import EEGAssembly, VoxelAssembly, roi_names, select_rois
from brainbridge.atomic import atomic_dir
from brainbridge.encoding.cache import (
    _verify_checksums,
    _write_checksums,
    assembly_checksum,
    cache_root,
    cached_features,
    fit_key,
    load_or_discard,
)
from brainbridge.encoding.errors import EncodingError, FitCacheError, InvalidParameterError
from brainbridge.errors import valid_values_message
from brainbridge.paths import safe_component
from brainbridge.stats import group_means

__all__ = [
    "REGRESSIONS",
    "LinearisingFit",
    "LinearisingModel",
    "LinearisingRecipe",
    "eeg_accuracy",
    "fit_linearising",
    "fmri_accuracy",
    "get_or_train_linearising",
    "linearising_card",
    "load_linearising",
    "load_linearising_model",
    "ned_metadata",
    "training_targets",
]

REGRESSIONS = ("ols", "ridge")
_FILES = ("linearising.npz", "outputs.npz", "fit.json")
_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinearisingRecipe:
    """StandardScaler -> PCA(``n_components``) -> ``regression`` per output.

    Parameters
    ----------
    n_components
        Principal components kept (NED and BERG: 250); capped at ``min(n_train, n_features)``.
    regression
        ``'ols'`` (NED, BERG: ``LinearRegression``) or ``'ridge'`` (``Ridge(alpha)``).
    alpha
        The ridge penalty (ignored for OLS).
    """

    n_components: int = 250
    regression: str = "ols"
    alpha: float = 1.0

    def __post_init__(self):
        if not isinstance(self.n_components, (int, np.integer)) or self.n_components < 1:
            raise InvalidParameterError(f"n_components must be a positive integer, got {self.n_components!r}")
        if self.regression not in REGRESSIONS:
            raise InvalidParameterError(
                valid_values_message("regression", self.regression, list(REGRESSIONS))
            )
        if not float(self.alpha) >= 0:
            raise InvalidParameterError(f"alpha must be non-negative, got {self.alpha!r}")

    def sklearn_pipeline(self):
        """The scikit-learn pipeline this recipe fits (for users who want the estimator object)."""
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LinearRegression, Ridge
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        regression = LinearRegression() if self.regression == "ols" else Ridge(alpha=self.alpha)
        return Pipeline(
            [
                ("scaler", StandardScaler()),
                ("pca", PCA(self.n_components, svd_solver="full")),
                ("regression", regression),
            ]
        )


@dataclass
class LinearisingFit:
    """A fitted recipe: shared scaler and PCA, one linear map per repetition.

    Attributes
    ----------
    scaler_mean, scaler_scale
        ``StandardScaler``'s ``mean_`` and ``scale_`` (float64, ``(F,)``; a constant feature has scale 1).
    components
        ``PCA.components_`` (float32, ``(k, F)``); ``pca_mean`` is 0 (the features are standardised).
    explained_variance
        ``PCA.explained_variance_`` (``(k,)``).
    coef, intercept
        ``(repetitions, outputs, k)`` and ``(repetitions, outputs)``: each repetition's
        ``LinearRegression.coef_`` / ``intercept_`` (fMRI: one repetition).
    output_shape
        The shape of one image's prediction: ``(voxels,)`` or ``(repetitions, channels, times)``.
    outputs
        Output coordinates: ``voxel_id``, ``subject``, ``roi_*``... (fMRI) or ``channel_name``
        and ``time`` (EEG).
    info
        JSON-serialisable: modality, subject, ROI, recipe, layers, key inputs, training size and time.
    """

    key: str
    modality: str
    recipe: LinearisingRecipe
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    output_shape: tuple[int, ...]
    outputs: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    _folded: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_features(self) -> int:
        return int(self.components.shape[1])

    @property
    def n_repetitions(self) -> int:
        return int(self.coef.shape[0])

    def principal_components(self, features: np.ndarray) -> np.ndarray:
        """Standardise and project: ``(N, F)`` features -> float64 ``(N, k)`` components."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise EncodingError(f"the fit needs (N, {self.n_features}) features, got {x.shape}")
        return ((x - self.scaler_mean) / self.scaler_scale) @ self.components.T.astype(np.float64)

    def _maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The scaler folded into the PCA, and every repetition's regression side by side (float32)."""
        if self._folded is None:
            components = self.components.astype(np.float64)
            projection = (components / self.scaler_scale).T  # (F, k): standardise and project in one map
            offset = -(self.scaler_mean / self.scaler_scale) @ components.T
            reps, outputs, k = self.coef.shape
            # every repetition's regression in one product: (N, k) @ (k, reps * outputs)
            regression = np.ascontiguousarray(self.coef.reshape(reps * outputs, k).T, dtype=np.float32)
            self._folded = (
                projection.astype(np.float32),
                offset.astype(np.float32),
                regression,
                self.intercept.reshape(-1).astype(np.float32),
            )
        return self._folded

    def predict(self, features: np.ndarray) -> np.ndarray:
        """float32 predictions ``(N, *output_shape)`` for ``(N, F)`` features (float32 products, as
        scikit-learn's pipeline on float32 features)."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise EncodingError(f"the fit needs (N, {self.n_features}) features, got {x.shape}")
        projection, offset, regression, intercept = self._maps()
        z = x @ projection
        z += offset
        out = z @ regression
        out += intercept
        return out.reshape(len(x), *self.output_shape)

    def select(
        self, channels: np.ndarray | None = None, timepoints: np.ndarray | None = None
    ) -> LinearisingFit:
        """An EEG/MEG fit restricted to ``channels`` x ``timepoints`` (index arrays; ``None``: all).

        The selection is applied to the regression weights, so unselected outputs cost nothing
        at predict time (as BERG's ``selection``); the fit's key is kept (its cache entry is the
        whole fit) and the selection is recorded in ``info['selection']``.
        """
        if self.modality == "fmri":
            raise InvalidParameterError("channels and timepoints select the outputs of an EEG/MEG fit only")
        reps, n_channels, n_times = self.output_shape
        chosen_channels = np.arange(n_channels) if channels is None else np.asarray(channels, dtype=np.intp)
        chosen_times = np.arange(n_times) if timepoints is None else np.asarray(timepoints, dtype=np.intp)
        k = self.coef.shape[-1]
        coef = self.coef.reshape(reps, n_channels, n_times, k)[:, chosen_channels][:, :, chosen_times]
        intercept = self.intercept.reshape(reps, n_channels, n_times)[:, chosen_channels][:, :, chosen_times]
        outputs = dict(self.outputs)
        outputs["channel_name"] = np.asarray(self.outputs["channel_name"])[chosen_channels]
        outputs["time"] = np.asarray(self.outputs["time"])[chosen_times]
        info = {
            **self.info,
            "selection": {"channels": chosen_channels.tolist(), "timepoints": chosen_times.tolist()},
        }
        # the same fit (key, scaler, PCA) with fewer outputs; the folded maps are rebuilt on first use
        return replace(
            self,
            coef=np.ascontiguousarray(coef.reshape(reps, -1, k)),
            intercept=np.ascontiguousarray(intercept.reshape(reps, -1)),
            output_shape=(reps, len(chosen_channels), len(chosen_times)),
            outputs=outputs,
            info=info,
        )

    def ned_parameters(self) -> tuple[dict, dict, dict]:
        """NED's parameter dicts: ``(StandardScaler, PCA, {'rep-1': LinearRegression, ...})``."""
        scaler = {
            "mean_": self.scaler_mean,
            "scale_": self.scaler_scale,
            "var_": self.scaler_scale**2,
            "n_features_in_": self.n_features,
            "n_samples_seen_": int(self.info.get("n_train", 0)),
        }
        pca = {
            "components_": self.components,
            "mean_": np.zeros(self.n_features),
            "explained_variance_": self.explained_variance,
            "n_components_": int(self.components.shape[0]),
        }
        regressions = {
            f"rep-{r + 1}": {"coef_": self.coef[r], "intercept_": self.intercept[r]}
            for r in range(self.n_repetitions)
        }
        return scaler, pca, regressions

    def save(self, root: Path | None = None) -> Path:
        """Write the fit atomically to ``<root>/<key>`` (arrays and JSON, with checksums)."""
        root = Path(root) if root is not None else cache_root()
        root.mkdir(parents=True, exist_ok=True)
        target = root / safe_component(self.key, "fit key")
        with atomic_dir(target) as staging:
            np.savez(
                staging / "linearising.npz",
                scaler_mean=self.scaler_mean,
                scaler_scale=self.scaler_scale,
                components=self.components,
                explained_variance=self.explained_variance,
                coef=self.coef,
                intercept=self.intercept,
                output_shape=np.asarray(self.output_shape),
            )
            stored: dict[str, Any] = {k: _storable(v) for k, v in self.outputs.items()}
            np.savez(staging / "outputs.npz", **stored)
            (staging / "fit.json").write_text(
                json.dumps(
                    {"key": self.key, "modality": self.modality, "recipe": asdict(self.recipe), **self.info},
                    indent=2,
                    default=str,
                )
            )
            _write_checksums(staging, _FILES)
        self.path = target
        return target


def _storable(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    return arr.astype(str) if arr.dtype.kind == "O" else arr


def load_linearising(key: str, root: Path | None = None) -> LinearisingFit | None:
    """The cached fit under ``key`` (``None`` when absent); :class:`FitCacheError` when damaged."""
    folder = (Path(root) if root is not None else cache_root()) / safe_component(key, "fit key")
    if not folder.is_dir():
        return None
    _verify_checksums(folder, _FILES, "cached linearising fit")
    try:
        info = json.loads((folder / "fit.json").read_text())
        with np.load(folder / "linearising.npz", allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        with np.load(folder / "outputs.npz", allow_pickle=False) as data:
            outputs = {k: data[k] for k in data.files}
        if info.pop("key", None) != key:
            raise FitCacheError(f"cached fit {folder} does not belong to key {key}")
        return LinearisingFit(
            key=key,
            modality=info.pop("modality"),
            recipe=LinearisingRecipe(**info.pop("recipe")),
            scaler_mean=arrays["scaler_mean"],
            scaler_scale=arrays["scaler_scale"],
            components=arrays["components"],
            explained_variance=arrays["explained_variance"],
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            output_shape=tuple(int(n) for n in arrays["output_shape"]),
            outputs=outputs,
            info=info,
            path=folder,
        )
    except FitCacheError:
        raise
    except Exception as e:  # any damage is a miss
        raise FitCacheError(f"cached fit {folder} is unreadable: {type(e).__name__}: {e}") from e


# --------------------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------------------


def _pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` principal axes ``(k, F)`` and variances of centred float64 ``x`` (exact, deterministic).

    The eigendecomposition of the smaller Gram matrix; signs fixed so each axis's largest
    absolute loading is positive (any sign gives the same predictions).
    """
    n, p = x.shape
    if p <= n:
        values, vectors = np.linalg.eigh(x.T @ x)
        order = np.argsort(values)[::-1][:k]
        axes = vectors[:, order].T
    else:
        values, vectors = np.linalg.eigh(x @ x.T)
        order = np.argsort(values)[::-1][:k]
        singular = np.sqrt(np.clip(values[order], 0, None))
        axes = (x.T @ vectors[:, order] / np.where(singular > 0, singular, 1.0)).T
    variances = np.clip(values[order], 0, None) / max(n - 1, 1)
    flip = np.sign(axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)])
    return axes * np.where(flip == 0, 1.0, flip)[:, None], variances


def fit_linearising(
    features: np.ndarray,
    targets: np.ndarray,
    recipe: LinearisingRecipe | None = None,
) -> dict[str, Any]:
    """Fit the recipe: ``(N, F)`` features onto ``(N, repetitions, outputs)`` targets.

    Returns the arrays of a :class:`LinearisingFit` (``scaler_mean``, ``scaler_scale``,
    ``components``, ``explained_variance``, ``coef``, ``intercept``). ``targets`` may be
    ``(N, outputs)`` (one repetition). NaN targets are not allowed.
    """
    recipe = recipe or LinearisingRecipe()
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if y.ndim == 2:
        y = y[:, None, :]
    if x.ndim != 2 or y.ndim != 3 or len(x) != len(y):
        raise EncodingError(
            f"need (N, F) features and (N, [reps,] outputs) targets, got {x.shape} and {y.shape}"
        )
    if len(x) < 2:
        raise EncodingError(f"the recipe needs at least 2 training images, got {len(x)}")
    if not np.isfinite(y).all() or not np.isfinite(x).all():
        raise EncodingError("features and targets must be finite (average or drop NaN responses first)")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale == 0, 1.0, scale)  # StandardScaler's rule for constant features
    standardised = (x - mean) / scale
    k = min(recipe.n_components, *x.shape)
    axes, variances = _pca(standardised, k)
    z = standardised @ axes.T
    n, reps, outputs = y.shape
    centred = y.reshape(n, reps * outputs)
    y_mean = centred.mean(axis=0)
    denominator = (z * z).sum(axis=0) + (recipe.alpha if recipe.regression == "ridge" else 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        coef = np.where(denominator[:, None] > 0, z.T @ (centred - y_mean) / denominator[:, None], 0.0)
    # the PCs have mean 0, so the intercept is the targets' mean (as LinearRegression's)
    return {
        "scaler_mean": mean,
        "scaler_scale": scale,
        "components": axes.astype(np.float32),
        "explained_variance": variances,
        "coef": coef.T.reshape(reps, outputs, k).astype(np.float32),
        "intercept": y_mean.reshape(reps, outputs).astype(np.float32),
    }


def training_targets(
    assembly: xr.DataArray, *, subject: str | None = None, roi: str | Sequence[str] | None = None
) -> tuple[list[str], np.ndarray, tuple[int, ...], dict[str, np.ndarray]]:
    """The targets a fit learns: ``(stimulus_ids, (N, reps, outputs), output_shape, output coords)``.

    fMRI: the subject's voxels of ``roi`` averaged over repetitions (one "repetition");
    EEG/MEG: the subject's trials as ``(N, repetitions, channels * times)``, one regression
    per repetition.
    """
    if isinstance(assembly, VoxelAssembly) or "voxel" in assembly.dims:
        data = assembly
        if subject is not None:
            mask = np.asarray(data["subject"].values).astype(str) == str(subject)
            if not mask.any():
                raise InvalidParameterError(
                    valid_values_message(
                        "subject", subject, sorted(set(np.asarray(data["subject"].values).astype(str)))
                    )
                )
            data = data.isel(voxel=np.flatnonzero(mask))
        if roi is not None:
            try:
                data = select_rois(data, roi)
            except Exception as e:
                raise InvalidParameterError(str(e)) from None
        data = data.transpose("presentation", "voxel")
        codes, ids = pd.factorize(np.asarray(data["stimulus_id"].values))
        means = group_means(np.asarray(data.values), codes, len(ids))
        outputs = {}
        for name in data.coords:
            coord = data[name]
            if coord.dims == ("voxel",) and name != "voxel":
                outputs[str(name)] = np.asarray(coord.values)
        return [str(i) for i in ids], means[:, None, :], (data.sizes["voxel"],), outputs
    if isinstance(assembly, EEGAssembly) or "channel" in assembly.dims:
        data = assembly if isinstance(assembly, EEGAssembly) else EEGAssembly(assembly)
        if subject is not None and "subject" in data.coords:
            mask = np.asarray(data["subject"].values).astype(str) == str(subject)
            if not mask.any():
                raise InvalidParameterError(
                    valid_values_message(
                        "subject", subject, sorted(set(np.asarray(data["subject"].values).astype(str)))
                    )
                )
            data = EEGAssembly(data.isel(presentation=np.flatnonzero(mask)))
        trials, image_ids = data.trials()
        n, reps = trials.shape[:2]
        outputs = {
            "channel_name": np.asarray(data["channel_name"].values),
            "time": np.asarray(data["time"].values),
        }
        return [str(i) for i in image_ids], trials.reshape(n, reps, -1), trials.shape[1:], outputs
    raise EncodingError(
        f"the linearising recipe trains on fMRI (presentation x voxel) or EEG/MEG (presentation x channel x "
        f"time_bin) assemblies, got dims {tuple(assembly.dims)}"
    )


def _modality(assembly: xr.DataArray) -> str:
    if "voxel" in assembly.dims:
        return "fmri"
    return "meg" if type(assembly).__name__ == "MEGAssembly" else "eeg"


def get_or_train_linearising(
    assembly: xr.DataArray,
    *,
    extractor: Any = None,
    layers: str | Sequence[str] | None = None,
    features: xr.DataArray | None = None,
    subject: str | None = None,
    roi: str | Sequence[str] | None = None,
    recipe: LinearisingRecipe | None = None,
    assembly_sha1: str | None = None,
    root: Path | None = None,
    progress: bool | None = None,
) -> LinearisingFit:
    """The cached fit of the recipe for one subject (and ROI), trained on first use.

    Parameters
    ----------
    assembly
        A :class:`~brainbridge.assemblies.VoxelAssembly` or :class:`~brainbridge.assemblies.EEGAssembly`
        of training responses (its ``stimulus_id`` values name the images).
    extractor, layers
        The frozen feature extractor and its layers (concatenated); features of the assembly's
        stimulus set (``attrs['stimulus_set']``) are extracted once and cached.
    features
        Instead of an extractor: a ``presentation x neuroid`` features assembly with
        ``stimulus_id`` (the key then hashes its content).
    subject, roi
        Which voxels (fMRI: ``subject`` voxel coordinate and ``roi_<name>`` membership) or trials
        (EEG: ``subject`` presentation coordinate, if any).
    recipe
        :class:`LinearisingRecipe` (default: PCA 250 + OLS, as NED and BERG).
    assembly_sha1
        The assembly file's catalog sha1 (default: a hash of its content).
    """
    recipe = recipe or LinearisingRecipe()
    if extractor is None and features is None:
        raise InvalidParameterError("give a feature extractor (extractor=, layers=) or precomputed features=")
    if extractor is not None:
        wanted = extractor.resolve_layers(layers)
        source = {
            "extractor": extractor.identifier,
            "extractor_fingerprint": extractor.fingerprint(wanted),
            "layers": wanted,
        }
    else:
        wanted = None
        assert features is not None  # checked above
        source = {"features_sha1": assembly_checksum(features)}
    inputs = {
        "kind": "linearising",
        **source,
        "assembly_sha1": assembly_sha1 or assembly_checksum(assembly),
        "subject": None if subject is None else str(subject),
        "roi": roi if roi is None or isinstance(roi, str) else list(roi),
        "recipe": asdict(recipe),
    }
    key = fit_key(**inputs)
    root = Path(root) if root is not None else cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{key}.lock")):
        cached = load_or_discard(load_linearising, key, root)
        if cached is not None:
            return cached
        started = time.perf_counter()
        ids, targets, output_shape, outputs = training_targets(assembly, subject=subject, roi=roi)
        if features is None:
            stimulus_set = assembly.attrs.get("stimulus_set")
            if stimulus_set is None:
                raise EncodingError(
                    "the training assembly has no stimulus set (attrs['stimulus_set']); "
                    "load it from a catalog or pass features="
                )
            features = cached_features(extractor, stimulus_set, wanted, progress=progress)
        feature_ids = pd.Index(np.asarray(features["stimulus_id"].values).astype(str))
        rows = feature_ids.get_indexer(ids)
        if (rows < 0).any():
            missing = [i for i, r in zip(ids, rows) if r < 0]
            raise EncodingError(f"no features for {len(missing)} training stimuli, e.g. {missing[:5]}")
        x = np.asarray(features.transpose("presentation", "neuroid").values)[rows]
        arrays = fit_linearising(x, targets, recipe)
        info = {
            "inputs": inputs,
            "subject": inputs["subject"],
            "roi": inputs["roi"],
            "layers": wanted,
            "n_train": len(ids),
            "n_features": int(x.shape[1]),
            "train_time_s": round(time.perf_counter() - started, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        fit = LinearisingFit(
            key=key,
            modality=_modality(assembly),
            recipe=recipe,
            output_shape=tuple(output_shape),
            outputs=outputs,
            info=info,
            **arrays,
        )
        fit.save(root)
        return fit


def rois_of(assembly: xr.DataArray) -> list[str]:
    """The ROIs a voxel assembly can be trained on (its ``roi_<name>`` coordinates)."""
    return roi_names(assembly)


def ned_metadata(fit: LinearisingFit, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A NED-style metadata dict for a fit (``{'eeg': {ch_names, times}}`` or ``{'fmri': {ncsnr}}``)."""
    meta: dict[str, Any] = {}
    if fit.modality == "fmri":
        meta["fmri"] = {
            k: fit.outputs[k]
            for k in ("ncsnr", "voxel_id", "voxel_x", "voxel_y", "voxel_z")
            if k in fit.outputs
        }
    else:
        meta[fit.modality] = {
            "ch_names": [str(c) for c in fit.outputs["channel_name"]],
            "times": np.asarray(fit.outputs["time"]),
        }
    meta["encoding_models"] = {"train_img_num": int(fit.info.get("n_train", 0)), "recipe": asdict(fit.recipe)}
    meta["brainbridge"] = {
        "fit_key": fit.key,
        "layers": fit.info.get("layers"),
        "extractor": fit.info.get("inputs", {}).get("extractor"),
    }
    meta.update(dict(extra or {}))
    return meta


# --------------------------------------------------------------------------------------
# models: a card, an extractor and the fits of one subject
# --------------------------------------------------------------------------------------


@dataclass
class LinearisingModel:
    """A loaded linearising model: one fit per selected ROI (fMRI) or one fit (EEG/MEG).

    ``encode`` returns NED's numpy shapes: fMRI ``(N, voxels)`` (the selected ROIs' voxels
    concatenated in ROI order), EEG ``(N, repetitions, channels, times)``; ``encode_assembly``
    the same values labelled (what :func:`brainbridge.encoding.encode` returns for it).
    """

    card: Any
    rois: list[str]
    subject: str | None
    extractor: Any
    layers: list[str]
    fits: dict[str, LinearisingFit]
    #: EEG/MEG: the selected channel and time indices (``None``: all); the fit is already restricted
    channels: np.ndarray | None = None
    timepoints: np.ndarray | None = None

    @property
    def model_id(self) -> str:
        return self.card.model_id if self.card is not None else "linearising"

    @property
    def modality(self) -> str:
        return next(iter(self.fits.values())).modality

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Predictions for ``(N, F)`` features of the model's layers."""
        if self.modality == "fmri":
            return np.concatenate([self.fits[roi].predict(features) for roi in self.rois], axis=1)
        return self.fits[self.rois[0]].predict(features)

    def iter_encode(self, stimulus: Any, *, batch_size: int | None = None, progress: bool | None = None):
        """``(stimulus_ids, float32 predictions)`` batch by batch (one batch of features in memory)."""
        for ids, features, _ in self.extractor.iter_features(
            stimulus, layers=self.layers, batch_size=batch_size, progress=progress
        ):
            yield ids, self.predict_features(features)

    def encode(
        self, stimulus: Any, *, batch_size: int | None = None, progress: bool | None = None
    ) -> np.ndarray:
        """float32 in silico responses in NED's shape (see the class docstring)."""
        from brainbridge.encoding.images import image_source

        source = image_source(stimulus)
        parts = [pred for _, pred in self.iter_encode(source, batch_size=batch_size, progress=progress)]
        return np.concatenate(parts, axis=0)

    def output_coords(self) -> dict[str, tuple]:
        """Coordinates of the output dims except ``presentation``."""
        if self.modality == "fmri":
            names = [
                n
                for n in self.fits[self.rois[0]].outputs
                if all(n in self.fits[r].outputs for r in self.rois)
            ]
            return {n: ("voxel", np.concatenate([self.fits[r].outputs[n] for r in self.rois])) for n in names}
        fit = self.fits[self.rois[0]]  # restricted to the selected channels and times at load
        times = np.asarray(fit.outputs["time"], dtype=np.float64)
        return {
            "repetition_fit": ("repetition", np.arange(fit.n_repetitions)),
            "channel_name": ("channel", np.asarray(fit.outputs["channel_name"], dtype=object)),
            "time": ("time_bin", times),
        }

    def encode_assembly(self, stimulus: Any, *, batch_size: int | None = None, progress: bool | None = None):
        """The in silico responses as a labelled :class:`~brainbridge.assemblies.DataAssembly`."""
        from brainbridge.assemblies import DataAssembly
        from brainbridge.encoding.images import image_source

        source = image_source(stimulus)
        values = self.encode(source, batch_size=batch_size, progress=progress)
        dims = (
            ["presentation", "voxel"]
            if self.modality == "fmri"
            else ["presentation", "repetition", "channel", "time_bin"]
        )
        coords = {
            "stimulus_id": ("presentation", np.asarray(source.stimulus_ids, dtype=object)),
            **self.output_coords(),
        }
        attrs = {
            "model_id": self.model_id,
            "subject": self.subject or "",
            "fit_keys": json.dumps({roi: fit.key for roi, fit in self.fits.items()}),
        }
        return DataAssembly(values, dims=dims, coords=coords, attrs=attrs)

    def metadata(self) -> dict[str, Any]:
        """Card, selection, subject, extractor and each fit's key, recipe and training size."""
        return {
            "model_id": self.model_id,
            "card": self.card.to_dict() if self.card is not None else None,
            "selection": self._selection(),
            "subject": self.subject,
            "extractor": {
                "identifier": self.extractor.identifier,
                "layers": self.layers,
                "fingerprint": self.extractor.fingerprint(self.layers),
            },
            "output_dims": list(self.card.output_dims) if self.card is not None else None,
            "fits": {
                roi: {
                    "fit_key": fit.key,
                    "recipe": asdict(fit.recipe),
                    "n_train": fit.info.get("n_train"),
                    "output_shape": list(fit.output_shape),
                }
                for roi, fit in self.fits.items()
            },
        }

    def _selection(self) -> dict[str, Any]:
        if self.modality == "fmri":
            return {"roi": list(self.rois)}
        fit = self.fits[self.rois[0]]
        selection: dict[str, Any] = {"channels": [str(c) for c in fit.outputs["channel_name"]]}
        if self.timepoints is not None:
            selection["timepoints"] = [float(t) for t in np.asarray(fit.outputs["time"])]
        return selection

    def __repr__(self) -> str:
        return f"LinearisingModel({self.model_id!r}, rois={self.rois}, subject={self.subject!r})"


def _split_layers(spec: str) -> list[str]:
    return [layer for layer in spec.split("+") if layer]


def load_linearising_model(
    card: Any,
    *,
    selection: Mapping[str, Any] | None = None,
    subject: Any = None,
    device: str = "auto",
    assembly: xr.DataArray | None = None,
    root: Path | None = None,
    progress: bool | None = None,
) -> LinearisingModel:
    """The model a linearising card describes: its fits trained on the card's assembly on first use.

    fMRI cards select ROIs (``{'roi': name or [names]}``); EEG/MEG cards select channels and
    time points as BERG does (``{'channels': [names], 'timepoints': binary mask of one value per
    time point}``): the selection is applied to the regression weights (unselected outputs are
    never computed); the cached fit is the same.
    """
    from brainbridge.encoding.registry import get_extractor
    from brainbridge.encoding.selection import binary_mask_indices, check_selection_keys

    timepoints_mask = None
    if card.modality != "fmri" and isinstance(selection, Mapping):
        selection = check_selection_keys(selection, [card.roi_key.name, "timepoints"])
        timepoints_mask = selection.pop("timepoints", None)
    rois = card.resolve_selection(selection)
    subject_name = card.resolve_subject(subject)
    extractor = get_extractor(card.extractor, device=device)
    recipe = LinearisingRecipe(**dict(card.mapping_params))
    assembly_sha1 = None
    if assembly is None:
        from brainbridge.catalogs import get_assembly, lookup_assembly

        assembly = get_assembly(card.assembly)
        assembly_sha1 = str(lookup_assembly(card.assembly)["sha1"]) or None
    fits: dict[str, LinearisingFit] = {}
    channels = selected_times = None
    if card.modality == "fmri":
        layers = _split_layers(card.layers[rois[0]])
        for roi in rois:
            if _split_layers(card.layers[roi]) != layers:
                raise InvalidParameterError(
                    f"the selected ROIs {rois} read different layers; select them one by one"
                )
            fits[roi] = get_or_train_linearising(
                assembly,
                extractor=extractor,
                layers=layers,
                subject=subject_name,
                roi=roi,
                recipe=recipe,
                assembly_sha1=assembly_sha1,
                root=root,
                progress=progress,
            )
    else:
        layers = _split_layers(next(iter(card.layers.values())))
        fit = get_or_train_linearising(
            assembly,
            extractor=extractor,
            layers=layers,
            subject=subject_name,
            recipe=recipe,
            assembly_sha1=assembly_sha1,
            root=root,
            progress=progress,
        )
        names = [str(c) for c in fit.outputs["channel_name"]]
        if selection is not None and card.roi_key.name in selection:
            channels = np.asarray([names.index(c) for c in rois])
            channels = (
                channels if len(channels) != len(names) or (channels != np.arange(len(names))).any() else None
            )
        if timepoints_mask is not None:
            timepoints = binary_mask_indices(timepoints_mask, fit.output_shape[2])
            if len(timepoints) < fit.output_shape[2]:
                selected_times = timepoints
        if channels is not None or selected_times is not None:
            fit = fit.select(channels, selected_times)
        rois = ["all"]
        fits["all"] = fit
    return LinearisingModel(
        card=card,
        rois=rois,
        subject=subject_name,
        extractor=extractor,
        layers=layers,
        fits=fits,
        channels=channels,
        timepoints=selected_times,
    )


def linearising_card(
    assembly: xr.DataArray,
    *,
    assembly_identifier: str,
    train_dataset: str,
    model: str,
    extractor: str,
    layers: str | Sequence[str],
    recipe: LinearisingRecipe | None = None,
    description: str = "",
    species: str = "human",
    stimuli: str = "images",
):
    """A model card for the recipe on a catalogued fMRI or EEG/MEG assembly.

    fMRI: the ROI key is ``roi`` (the assembly's ``roi_<name>`` coordinates), subjects from its
    ``subject`` voxel coordinate. EEG/MEG: the key is ``channels`` (channel names; one fit
    serves every channel), subjects from a ``subject`` presentation coordinate if any.
    """
    from brainbridge.encoding.registry import ModelCard, SelectionKey

    recipe = recipe or LinearisingRecipe()
    spec = layers if isinstance(layers, str) else "+".join(layers)
    modality = _modality(assembly)
    subjects: tuple[str, ...] = ()
    if "subject" in assembly.coords:
        subjects = tuple(sorted(set(np.asarray(assembly["subject"].values).astype(str))))
    if modality == "fmri":
        key = SelectionKey(
            name="roi",
            coord="roi",
            valid_values=tuple(roi_names(assembly)),
            description="ROI (a voxel may be in several): the voxels of roi_<name>.",
        )
    else:
        key = SelectionKey(
            name="channels",
            coord="channel_name",
            valid_values=tuple(np.asarray(assembly["channel_name"].values).astype(str)),
            description=(
                "Channel names; with it, 'timepoints': a binary mask of one value per time point "
                "(applied to the weights; one fit serves every selection)."
            ),
        )
    return ModelCard(
        modality=modality,
        train_dataset=train_dataset,
        model=model,
        species=species,
        stimuli=stimuli,
        description=description
        or (
            f"{extractor} features ({spec}) -> StandardScaler -> PCA({recipe.n_components}) "
            f"-> {recipe.regression.upper()} per output (NED/BERG's linearising recipe)"
        ),
        extractor=extractor,
        layers=dict.fromkeys(key.valid_values, spec),
        assembly=assembly_identifier,
        roi_key=key,
        subjects=subjects,
        subject_coord="subject" if subjects else None,
        mapping="linearising",
        mapping_params=asdict(recipe),
        references=(
            "Gifford et al. 2024 (NED)",
            "Gifford et al. 2022, NeuroImage (THINGS-EEG2)",
            "Allen et al. 2022, Nat Neurosci (NSD)",
        ),
    )


# --------------------------------------------------------------------------------------
# accuracy on held-out test images
# --------------------------------------------------------------------------------------


def fmri_accuracy(predictions: np.ndarray, test: xr.DataArray, stimulus_ids: Sequence[str]) -> dict[str, Any]:
    """NSD's per-voxel accuracy: r with the repetition-averaged test responses, noise ceiling and
    explained variance.

    ``predictions`` ``(N, voxels)`` for ``stimulus_ids``; ``test`` a voxel assembly of the same
    voxels with repeated test images and ``ncsnr``. The ceiling uses ``n`` = the number of
    repetitions averaged (NSD: 3).
    """
    from brainbridge.stats import ncsnr_noise_ceiling, noise_normalised_explained_variance, pearson_columns

    data = test.transpose("presentation", "voxel")
    codes, ids = pd.factorize(np.asarray(data["stimulus_id"].values).astype(str))
    means = group_means(np.asarray(data.values), codes, len(ids))
    rows = pd.Index(list(stimulus_ids)).get_indexer(pd.Index(ids))
    if (rows < 0).any():
        raise EncodingError("predictions are missing for some test images")
    r = np.asarray(pearson_columns(np.asarray(predictions)[rows], means))
    n_reps = float(np.bincount(codes).mean())
    nc = None
    if "ncsnr" in data.coords:
        nc = np.asarray(ncsnr_noise_ceiling(np.asarray(data["ncsnr"].values), n_reps))
    out = {"r": r, "n_repetitions": np.asarray(n_reps)}
    if nc is not None:
        out["noise_ceiling"] = nc
        out["explained_variance"] = noise_normalised_explained_variance(r, nc)
    return out


def eeg_accuracy(
    predictions: np.ndarray,
    test: xr.DataArray,
    stimulus_ids: Sequence[str],
    *,
    n_iterations: int = 10,
    random_state: int | None = 0,
):
    """NED's THINGS-EEG2 accuracy per channel and time with its split-half ceilings.

    ``predictions`` ``(N, repetitions, channels, times)`` (averaged over the model's
    repetitions, as NED's ``correlation_averaged_repetitions``); ``test`` an EEG assembly with
    many repetitions per test image. Returns :class:`brainbridge.stats.SplitHalfCeilings`.
    """
    from brainbridge.stats import split_half_ceilings

    trials, ids = (test if isinstance(test, EEGAssembly) else EEGAssembly(test)).trials()
    rows = pd.Index([str(s) for s in stimulus_ids]).get_indexer(pd.Index([str(i) for i in ids]))
    if (rows < 0).any():
        raise EncodingError("predictions are missing for some test images")
    averaged = np.asarray(predictions, dtype=np.float64)[rows].mean(axis=1)
    return split_half_ceilings(trials, averaged, n_iterations=n_iterations, random_state=random_state)
