"""BERG's ``selection`` dicts, checked in one place: the keys, a required ROI, binary masks.

Every encoding model that takes a ``selection`` (registered cards, linearising EEG/fMRI models,
BERG's folder models, the fwRF and the Brain-Score gateway) rejects it with the same messages:
``Invalid selection key: 'region'. Valid keys are: ['roi']``, ``Parameter 'selection' is
required...``, ``Invalid ROI: 'V7'...`` (the shared wording); all are
:class:`~brainbridge.encoding.errors.InvalidSelectionError` (an ``EncodingError`` and a ``ValueError``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from brainbridge.encoding.errors import InvalidSelectionError
from brainbridge.errors import valid_values_message

__all__ = ["binary_mask_indices", "check_selection_keys", "required_roi"]


def check_selection_keys(selection: Any, valid_keys: Sequence[str]) -> dict[str, Any]:
    """``selection`` as a plain dict, after checking it is a mapping whose keys are all valid.

    Raises
    ------
    InvalidSelectionError
        Not a dict, or a key outside ``valid_keys`` (the message lists them).
    """
    if not isinstance(selection, Mapping):
        example = f"{{{valid_keys[0]!r}: ...}}" if valid_keys else "{}"
        raise InvalidSelectionError(
            f"selection must be a dict like {example}, got {type(selection).__name__}"
        )
    for key in selection:
        if key not in valid_keys:
            raise InvalidSelectionError(f"Invalid selection key: {key!r}. Valid keys are: {list(valid_keys)}")
    return dict(selection)


def required_roi(selection: Any, rois: Sequence[str], *, model: str = "this model") -> str:
    """The ROI of a selection that must be ``{'roi': name}`` (BERG's fwRF and Brain-Score gateway).

    Raises
    ------
    InvalidSelectionError
        No selection, another key, no ``'roi'``, a non-string or an ROI outside ``rois``.
    """
    if selection is None:
        raise InvalidSelectionError(
            f"Parameter 'selection' is required but was not provided: ROI selection is required for "
            f"{model}, e.g. selection={{'roi': {rois[0]!r}}}. Available ROIs: {list(rois)}"
        )
    selection = check_selection_keys(selection, ["roi"])
    if "roi" not in selection:
        raise InvalidSelectionError(
            f"Parameter 'selection' needs the key 'roi' for {model}. Available ROIs: {list(rois)}"
        )
    roi = selection["roi"]
    if not isinstance(roi, str):
        raise InvalidSelectionError(f"ROI parameter must be a string, got {type(roi).__name__}")
    if roi not in rois:
        raise InvalidSelectionError(valid_values_message("ROI", roi, list(rois)))
    return roi


def binary_mask_indices(
    mask: Any, length: int, key: str = "timepoints", unit: str = "time point"
) -> np.ndarray:
    """The indices a BERG binary-mask selection keeps (``timepoints``, ``lh_vertices``...).

    Parameters
    ----------
    mask
        One 0/1 (or False/True) value per output along the selected axis.
    length
        How many values the mask must have.
    key, unit
        The selection key and what one value stands for (for the message).

    Raises
    ------
    InvalidSelectionError
        Not ``length`` values, a value other than 0/1, or nothing selected.
    """
    values = np.asarray(mask)
    if (
        values.shape != (length,)
        or values.dtype.kind not in "biuf"
        or not np.isin(values, (0, 1)).all()
        or not values.any()
    ):
        raise InvalidSelectionError(
            f"{key!r} must be a binary mask of {length} values (one per {unit}, 0/1 or "
            f"False/True) with at least one selected, got {values.dtype} of shape {values.shape}"
        )
    return np.flatnonzero(values.astype(bool))
