"""What NED's and BERG's training scripts save, written from scikit-learn objects, and a feature stand-in.

NED and BERG save a fitted estimator as the dict of some of its attributes (``np.save`` of a
pickled dict); :func:`attrs` does the same. :func:`block_features` stands in for ViT-B/32
features where no weights can be downloaded: block means of the image, projected by ``weights``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def attrs(estimator, names: Iterable[str]) -> dict:
    """``{name: estimator.name}``: how NED's and BERG's scripts store a fitted estimator."""
    return {n: getattr(estimator, n) for n in names}


def block_features(images: np.ndarray, blocks: int, weights: np.ndarray) -> np.ndarray:
    """``blocks x blocks`` block means of uint8 images ``(N, 3, H, H)`` in [0, 1], times ``weights``."""
    n, c, h, _ = images.shape
    small = images.astype(np.float64).reshape(n, c, blocks, h // blocks, blocks, h // blocks).mean((3, 5))
    return (small / 255.0).reshape(n, -1) @ weights
