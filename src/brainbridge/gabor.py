"""A Gabor filter bank: the classic V1 energy model (Kay et al. 2008), in numpy.

It lives in the core because two parts of the library need the same definition: the bundled
example data (whose V1-like neuroids are generated from it) and the encoding package's V1
feature extractor (:class:`brainbridge.encoding.features.GaborV1`, which wraps it).

The filters are built in the Fourier domain: each (orientation, spatial frequency) channel is a
Gaussian bump centred on ``sf * (cos θ, sin θ)`` cycles/pixel, whose inverse transform is a
complex Gabor. Its real and imaginary parts are a quadrature pair (even and odd phase), so

* the *energy* output is ``|z|`` (phase invariant, complex-cell-like), and
* the *linear* output of phase ``φ`` is ``Re(z e^{-iφ})`` (simple-cell-like),

each averaged over the cells of a ``grid x grid`` partition of the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from brainbridge.errors import InvalidParameterError, valid_values_message

__all__ = ["GaborBank", "to_grayscale"]


def to_grayscale(images: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` float32 in [0, 1] from ``(N, H, W)``, ``(N, 3, H, W)`` or ``(N, H, W, 3)`` images.

    uint8 input is scaled by 1/255; colour is averaged with ITU-R 601 luma weights.
    """
    arr = np.asarray(images)
    scale = 1 / 255 if arr.dtype == np.uint8 else 1.0
    arr = arr.astype(np.float32) * np.float32(scale)
    if arr.ndim == 3:
        return arr
    if arr.ndim != 4:
        raise InvalidParameterError(f"expected images of shape (N, H, W) or (N, 3, H, W), got {arr.shape}")
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if arr.shape[1] == 3:
        return np.tensordot(weights, arr, axes=([0], [1]))
    if arr.shape[-1] == 3:
        return arr @ weights
    if arr.shape[1] == 1:
        return arr[:, 0]
    raise InvalidParameterError(f"cannot find the colour axis of images with shape {arr.shape}")


@dataclass(frozen=True)
class GaborBank:
    """A bank of quadrature Gabor filters pooled on a spatial grid.

    Parameters
    ----------
    orientations
        Number of orientations, evenly spaced in [0, π).
    spatial_frequencies
        Centre frequencies in cycles per pixel (at ``image_size``); below Nyquist (0.5).
    phases
        Phases (radians) of the *linear* outputs.
    grid
        The image is split into ``grid x grid`` cells; each output is averaged per cell.
    bandwidth
        Radial standard deviation of each filter in the Fourier domain, as a fraction of its
        centre frequency (0.5 is close to a one-octave bandwidth).
    image_size
        Images must be ``image_size x image_size`` (resize before calling).
    output
        ``"energy"``, ``"linear"`` or ``"both"``.
    """

    orientations: int = 8
    spatial_frequencies: tuple[float, ...] = (0.04, 0.08, 0.16, 0.32)
    phases: tuple[float, ...] = (0.0, np.pi / 2, np.pi, 3 * np.pi / 2)
    grid: int = 4
    bandwidth: float = 0.5
    image_size: int = 64
    output: str = "energy"
    _filters: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.output not in ("energy", "linear", "both"):
            raise InvalidParameterError(
                valid_values_message("output", self.output, ["energy", "linear", "both"])
            )
        if self.image_size % self.grid:
            raise InvalidParameterError(f"image_size {self.image_size} is not a multiple of grid {self.grid}")
        if any(not 0 < f < 0.5 for f in self.spatial_frequencies):
            raise InvalidParameterError("spatial frequencies must lie in (0, 0.5) cycles/pixel")
        object.__setattr__(self, "_filters", self._build_filters())

    # ----------------------------------------------------------------------------------

    @property
    def channels(self) -> list[tuple[float, float]]:
        """``(orientation in radians, spatial frequency)`` of each filter, in output order."""
        thetas = np.arange(self.orientations) * np.pi / self.orientations
        return [(float(t), float(f)) for t in thetas for f in self.spatial_frequencies]

    @property
    def n_features(self) -> int:
        per_cell = (
            len(self.channels)
            * {"energy": 1, "linear": len(self.phases), "both": 1 + len(self.phases)}[self.output]
        )
        return per_cell * self.grid**2

    def feature_names(self) -> list[str]:
        """One name per output column, e.g. ``energy_o0.785_f0.08_r1_c2``."""
        names = []
        kinds: list[tuple[str, float | None]] = []
        if self.output in ("energy", "both"):
            kinds.append(("energy", None))
        if self.output in ("linear", "both"):
            kinds.extend(("linear", p) for p in self.phases)
        for kind, phase in kinds:
            for theta, freq in self.channels:
                for r in range(self.grid):
                    for c in range(self.grid):
                        tag = f"{kind}_o{theta:.3f}_f{freq:g}" + (
                            f"_p{phase:.3f}" if phase is not None else ""
                        )
                        names.append(f"{tag}_r{r}_c{c}")
        return names

    def _build_filters(self) -> np.ndarray:
        n = self.image_size
        fy = np.fft.fftfreq(n)[:, None]
        fx = np.fft.fftfreq(n)[None, :]
        filters = np.empty((len(self.channels), n, n), dtype=np.complex64)
        for i, (theta, freq) in enumerate(self.channels):
            cx, cy = freq * np.cos(theta), freq * np.sin(theta)
            sigma = self.bandwidth * freq
            # one-sided Gaussian bump: the inverse transform is a complex (analytic) Gabor
            filters[i] = np.exp(-((fx - cx) ** 2 + (fy - cy) ** 2) / (2 * sigma**2))
        return filters

    def complex_responses(self, images: np.ndarray) -> np.ndarray:
        """Complex filter outputs ``(N, n_channels, H, W)`` for grayscale ``(N, H, W)`` images."""
        gray = to_grayscale(images)
        if gray.shape[1:] != (self.image_size, self.image_size):
            raise InvalidParameterError(
                f"images are {gray.shape[1]}x{gray.shape[2]}, "
                f"the bank expects {self.image_size}x{self.image_size}"
            )
        gray = gray - gray.mean(axis=(1, 2), keepdims=True)  # the DC term carries no orientation
        spectrum = np.fft.fft2(gray)[:, None]
        return np.fft.ifft2(spectrum * self._filters[None]).astype(np.complex64)

    def _pool(self, maps: np.ndarray) -> np.ndarray:
        n, k = maps.shape[:2]
        cell = self.image_size // self.grid
        pooled = maps.reshape(n, k, self.grid, cell, self.grid, cell).mean(axis=(3, 5))
        return pooled.reshape(n, -1)

    def transform(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Features ``(N, n_features)`` float32 for images of ``image_size x image_size``.

        Images may be grayscale ``(N, H, W)`` or colour ``(N, 3, H, W)``; uint8 or float in [0, 1].
        Work is done ``batch_size`` images at a time to bound memory.
        """
        arr = np.asarray(images)
        out = np.empty((len(arr), self.n_features), dtype=np.float32)
        for start in range(0, len(arr), batch_size):
            z = self.complex_responses(arr[start : start + batch_size])
            parts = []
            if self.output in ("energy", "both"):
                parts.append(self._pool(np.abs(z)))
            if self.output in ("linear", "both"):
                for phase in self.phases:
                    parts.append(self._pool((z * np.complex64(np.exp(-1j * phase))).real))
            out[start : start + len(z)] = np.concatenate(parts, axis=1)
        return out
