"""Storage of mappings: parameters and fitted state as plain arrays, never pickles.

The storage layer of :mod:`brainbridge.encoding.mappings` (which it never imports):
:func:`to_arrays` / :func:`from_arrays` turn an estimator into a ``{name: ndarray}`` dict and
back (no object arrays), and :func:`write_arrays` / :func:`read_arrays` keep it in an ``.npz``
file read with ``allow_pickle=False``, so a cached fit never needs unpickling.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from brainbridge.atomic import atomic_path
from brainbridge.encoding.errors import FitCacheError

_C = TypeVar("_C", bound=type)

__all__ = ["FITTED_ARRAYS", "from_arrays", "read_arrays", "to_arrays", "write_arrays"]

#: the fitted attributes stored for each class (all that ``predict`` needs, plus the CV scores)
FITTED_ARRAYS: dict[str, tuple[str, ...]] = {
    "RidgeCVPerTarget": ("coef_", "intercept_", "alpha_", "cv_scores_", "n_features_in_"),
    "PLS": ("coef_", "intercept_", "x_mean_", "n_features_in_"),
}
#: attributes that come back as a Python float after a 1-D fit
_SCALAR_AFTER_1D = {"intercept_", "alpha_"}


def to_arrays(model: Any) -> dict[str, np.ndarray]:
    """Parameters (``param.<name>``) and fitted state of ``model`` as plain arrays."""
    name = type(model).__name__
    if name not in FITTED_ARRAYS:
        raise FitCacheError(f"cannot store a {name} as arrays (storable: {sorted(FITTED_ARRAYS)})")
    arrays: dict[str, np.ndarray] = {"mapping_class": np.asarray(name)}
    for key, value in model.get_params(deep=False).items():
        if value is None:
            continue
        if key == "dtype":
            value = np.dtype(value).name
        if key == "cv" and not isinstance(value, (int, np.integer, str)):
            continue  # a splitter object is not storable as an array; the fit does not need it
        arrays[f"param.{key}"] = np.asarray(value)
    if hasattr(model, "coef_"):
        for key in FITTED_ARRAYS[name]:
            arrays[key] = np.asarray(getattr(model, key))
        arrays["predict_1d_"] = np.asarray(bool(getattr(model, "_predict_1d", False)))
    return arrays


def from_arrays(cls: type, arrays: Mapping[str, np.ndarray]) -> Any:
    """Rebuild a ``cls`` estimator (fitted when the arrays hold a fit) from :func:`to_arrays`."""
    stored = str(np.asarray(arrays.get("mapping_class", cls.__name__)))
    if stored != cls.__name__:
        raise FitCacheError(f"the arrays hold a {stored}, not a {cls.__name__}")
    params = {}
    for key, value in arrays.items():
        if key.startswith("param."):
            value = np.asarray(value)
            params[key[len("param.") :]] = value.item() if value.ndim == 0 else value.tolist()
    model = cls(**params)
    if "coef_" in arrays:
        one_d = bool(arrays["predict_1d_"])
        for key in FITTED_ARRAYS[cls.__name__]:
            array = np.asarray(arrays[key])
            fitted: Any = array
            if key == "n_features_in_":
                fitted = int(array)
            elif one_d and key in _SCALAR_AFTER_1D and array.ndim <= 1 and array.size == 1:
                fitted = float(array.reshape(-1)[0])
            setattr(model, key, fitted)
        model._predict_1d = one_d
    return model


def write_arrays(arrays: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write :func:`to_arrays` output to an ``.npz`` file, atomically (:mod:`brainbridge.atomic`).

    As :func:`numpy.savez`, ``.npz`` is appended to a path without it.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        # keyword names are array names; numpy's stubs fear one could be ``allow_pickle``
        np.savez(f, **arrays)  # type: ignore[arg-type]


def read_arrays(path: str | os.PathLike, known: Mapping[str, _C]) -> tuple[_C, dict[str, np.ndarray]]:
    """The class (from ``known``, by the stored name) and arrays of a file of :func:`write_arrays`.

    Never unpickles.

    Raises
    ------
    FitCacheError
        The file is unreadable or does not hold one of the ``known`` classes.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as e:
        raise FitCacheError(f"cannot read a mapping from {path}: {e}") from e
    name = str(arrays.get("mapping_class", ""))
    if name not in known:
        raise FitCacheError(f"{path} does not hold a known mapping (class {name!r}; known: {sorted(known)})")
    return known[name], arrays
