"""BERG's selection dicts: one set of checks and messages for every model that takes one."""

from __future__ import annotations

import numpy as np
import pytest

from brainbridge.encoding.errors import EncodingError, InvalidSelectionError
from brainbridge.encoding.selection import binary_mask_indices, check_selection_keys, required_roi


def test_keys_are_checked_and_listed():
    assert check_selection_keys({"roi": "V1"}, ["roi", "lh_vertices"]) == {"roi": "V1"}
    with pytest.raises(
        InvalidSelectionError, match=r"Invalid selection key: 'region'. Valid keys are: \['roi'\]"
    ):
        check_selection_keys({"region": "V1"}, ["roi"])
    with pytest.raises(InvalidSelectionError, match="must be a dict like {'roi': ...}, got str"):
        check_selection_keys("V1", ["roi"])
    with pytest.raises(InvalidSelectionError, match=r"Valid keys are: \[\]"):
        check_selection_keys({"roi": "V1"}, [])


def test_a_required_roi():
    rois = ["V1", "V4", "IT"]
    assert required_roi({"roi": "IT"}, rois) == "IT"
    cases = [
        (None, r"Parameter 'selection' is required .* e.g. selection={'roi': 'V1'}. Available ROIs: \['V1'"),
        ({}, "needs the key 'roi'"),
        ({"roi": 4}, "ROI parameter must be a string, got int"),
        ({"roi": "V7"}, r"Invalid ROI: 'V7'. Valid values are: \['V1', 'V4', 'IT'\]"),
        ({"roi": "V1", "time": 1}, "Invalid selection key: 'time'"),
    ]
    for selection, pattern in cases:
        with pytest.raises(InvalidSelectionError, match=pattern) as info:
            required_roi(selection, rois)
        assert isinstance(info.value, EncodingError) and isinstance(info.value, ValueError)


def test_binary_masks():
    np.testing.assert_array_equal(binary_mask_indices([0, 1, 1, 0], 4), [1, 2])
    np.testing.assert_array_equal(binary_mask_indices(np.array([True, False, True]), 3), [0, 2])
    for bad in ([1, 0], [0, 0, 0], [0, 2, 1], ["1", "0", "1"], [[1, 0, 1]]):
        with pytest.raises(InvalidSelectionError, match="must be a binary mask of 3 values"):
            binary_mask_indices(bad, 3, key="lh_vertices", unit="vertex")
