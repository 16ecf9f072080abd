"""NSD's ncsnr noise ceiling and NED's noise-normalised explained variance (stats module)."""

from __future__ import annotations

import numpy as np
import pytest

from brainbridge.errors import ValidationError
from brainbridge.stats import ncsnr_noise_ceiling, noise_normalised_explained_variance


def test_ncsnr_ceiling_matches_the_nsd_formula():
    ncsnr = np.array([0.0, 0.5, 1.0, 2.0])
    # by hand: 0; .25/(.25+1/3) = 3/7; 1/(1+1/3) = 3/4; 4/(4+1/3) = 12/13
    np.testing.assert_allclose(ncsnr_noise_ceiling(ncsnr, 3), [0, 3 / 7, 0.75, 12 / 13])
    # more repetitions averaged -> higher ceiling (TVSD averages 30)
    assert ncsnr_noise_ceiling(0.5, 30) == pytest.approx(0.25 / (0.25 + 1 / 30))
    assert isinstance(ncsnr_noise_ceiling(1.0, 3), float)
    with pytest.raises(ValidationError, match="positive"):
        ncsnr_noise_ceiling(ncsnr, 0)


def test_explained_variance_follows_ned_conventions():
    r = np.array([-0.3, 0.3, 0.6, 0.2])
    nc = np.array([0.5, 0.5, 0.2, 0.0])
    ev = noise_normalised_explained_variance(r, nc)
    # negative r -> 0; .09/.5 = 18 %; .36/.2 > 1 -> clipped at 100; NC 0 -> 1e-14 -> clipped at 100
    np.testing.assert_allclose(ev, [0.0, 18.0, 100.0, 100.0])
