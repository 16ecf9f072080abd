"""Encoding models: feature extractors, ridge/PLS mappings, Brain-Score scores, in silico responses.

Everything is imported on first access (PEP 562 ``__getattr__``), so ``import
brainbridge.encoding`` loads neither scikit-learn nor PyTorch; torch is imported only when a
torch feature extractor is built.

Examples
--------
>>> from brainbridge.encoding import score, ceiling, GaborV1          # doctest: +SKIP
>>> s = score(GaborV1(), assembly, "ridge")                           # doctest: +SKIP
>>> float(s), float(s.unceiled), float(s.ceiling), s.error            # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

#: public name -> submodule that defines it
_LAZY: dict[str, str] = {
    # scoring (Brain-Score procedure)
    "score": "scoring",
    "score_many": "scoring",
    "ceiling": "scoring",
    "Score": "scoring",
    "ScoringError": "errors",
    "neural_predictivity": "scoring",
    "internal_consistency": "scoring",
    "similarity": "scoring",
    "brainscore_splits": "scoring",
    "split_predictivity": "scoring",
    "METRICS": "scoring",
    # the scores store (SQLite under BRAINBRIDGE_HOME; read by `brainbridge serve`)
    "ScoresStore": "scores_store",
    "record_score": "scores_store",
    # metrics on arrays
    "pearson_columns": "metrics",
    "spearman_brown": "metrics",
    "rdm": "metrics",
    "rdm_similarity": "metrics",
    "cka": "metrics",
    # mappings
    "RidgeCVPerTarget": "mappings",
    "PLS": "mappings",
    "DEFAULT_ALPHAS": "mappings",
    "make_mapping": "mappings",
    "save_mapping": "mappings",
    "load_mapping": "mappings",
    # plots
    "plot_predictions": "plots",
    "plot_neuroid_ceiling": "plots",
    "plot_score": "plots",
    # feature extractors and stimulus input
    "Extractor": "features",
    "FeatureExtractor": "features",
    "GaborV1": "features",
    "TorchFeatureExtractor": "features",
    "Preprocessing": "features",
    "efficientnet_lite0": "features",
    "random_cnn": "features",
    "image_source": "images",
    "load_image": "images",
    # errors
    "EncodingError": "errors",
    "ModelNotFoundError": "errors",
    "InvalidParameterError": "errors",
    "InvalidSelectionError": "errors",
    "InvalidSubjectError": "errors",
    "UnknownLayerError": "errors",
    "StimulusError": "errors",
    "ModelCardError": "errors",
    "FitCacheError": "errors",
}

#: further submodules whose ``__all__`` is exported when present (registry, encode, cache...)
_OPTIONAL_MODULES = ("registry", "models", "cache", "insilico")


def _module(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def _exists(name: str) -> bool:
    return importlib.util.find_spec(f"{__name__}.{name}") is not None


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    if not name.startswith("_"):
        for module_name in _OPTIONAL_MODULES:
            if not _exists(module_name):
                continue
            module = _module(module_name)
            if name in getattr(module, "__all__", ()):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    names = set(globals()) | set(_LAZY)
    for module_name in _OPTIONAL_MODULES:
        if _exists(module_name):
            names.update(getattr(_module(module_name), "__all__", ()))
    return sorted(names)


__all__ = sorted(_LAZY)  # names resolved lazily by __getattr__
