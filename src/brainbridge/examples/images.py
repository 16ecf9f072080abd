"""Procedural stimuli of the example catalog: gratings, filtered-noise textures and shapes.

Every image is 64 x 64 RGB (uint8) on a mid-grey (0.5) background, generated from a
seeded :func:`numpy.random.default_rng` with parameters rounded *before* rendering, so the
metadata table describes each image exactly. See :mod:`brainbridge.examples` for the design.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from brainbridge.errors import InvalidParameterError, valid_values_message

__all__ = [
    "IMAGE_SIZE",
    "METADATA_COLUMNS",
    "SHAPES",
    "TEXTURE_FAMILIES",
    "StimulusBatch",
    "generate",
    "render_grating",
    "render_shape",
    "render_texture",
]

IMAGE_SIZE = 64
#: grating orientations (degrees): one ``object_name`` per orientation bin
GRATING_ORIENTATIONS = tuple(float(o) for o in np.arange(8) * 22.5)
GRATING_FREQUENCIES = (0.06, 0.12, 0.24)  # cycles per pixel
GRATING_CONTRASTS = (0.3, 0.6, 1.0)
TEXTURE_FAMILIES = (
    "pink",
    "blobs",
    "fine",
    "bandpass",
    "stripes_000",
    "stripes_045",
    "stripes_090",
    "stripes_135",
)
SHAPES = ("circle", "square", "triangle", "cross", "star", "hexagon", "ring", "crescent")

#: columns of the stimulus metadata table, in order (parameters a category lacks are empty)
METADATA_COLUMNS = (
    "stimulus_id",
    "filename",
    "category_name",
    "object_name",
    "orientation",
    "spatial_frequency",
    "phase",
    "contrast",
    "center_x",
    "center_y",
    "size",
    "rotation",
    "color",
)

_SUPERSAMPLE = 4  # shapes are drawn at 4x and box-filtered: anti-aliased, deterministic edges
_BACKGROUND = 0.5


@dataclass(frozen=True)
class StimulusBatch:
    """Generated images and the table that describes them.

    Attributes
    ----------
    images : numpy.ndarray
        ``(N, 64, 64, 3)`` uint8, row ``i`` is described by ``metadata.iloc[i]``.
    metadata : pandas.DataFrame
        One row per image with :data:`METADATA_COLUMNS`.
    """

    images: np.ndarray
    metadata: pd.DataFrame

    def __len__(self) -> int:
        return len(self.images)


# --------------------------------------------------------------------------------------
# renderers (one image each, from exact parameters)
# --------------------------------------------------------------------------------------


def _pixel_grid(size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``(y, x)`` coordinates of pixel centres (x to the right, y downwards)."""
    centres = np.arange(size, dtype=np.float64) + 0.5
    return centres[:, None], centres[None, :]


def _to_uint8(gray_or_rgb: np.ndarray) -> np.ndarray:
    arr = np.clip(gray_or_rgb, 0.0, 1.0)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return np.round(arr * 255).astype(np.uint8)


def render_grating(
    orientation: float,
    spatial_frequency: float,
    phase: float,
    contrast: float,
    center_x: float,
    center_y: float,
    size: float,
) -> np.ndarray:
    """A sinusoidal grating in a soft circular aperture, grey (achromatic).

    Luminance is ``0.5 + 0.5 * contrast * cos(2π f (x cos θ + y sin θ) + φ) * w(x, y)`` with θ
    the ``orientation`` in degrees (direction of the wave vector, image coordinates: x right,
    y down), ``f`` cycles/pixel and an aperture ``w`` of radius ``size`` centred on ``(x, y)``
    with a 1.5-pixel tanh edge.
    """
    yy, xx = _pixel_grid()
    theta = np.deg2rad(orientation)
    carrier = np.cos(2 * np.pi * spatial_frequency * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    distance = np.hypot(xx - center_x, yy - center_y)
    window = 0.5 * (1 - np.tanh((distance - size) / 1.5))
    return _to_uint8(_BACKGROUND + 0.5 * contrast * carrier * window)


def _texture_filter(family: str, size: int = IMAGE_SIZE) -> np.ndarray:
    """Amplitude filter (Fourier domain) that shapes white noise into a texture family."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    radius = np.hypot(fx, fy)
    if family == "pink":
        return 1.0 / np.maximum(radius, 1.0 / size)
    if family == "blobs":
        return np.exp(-(radius**2) / (2 * 0.03**2))
    if family == "fine":
        return 1.0 - np.exp(-(radius**2) / (2 * 0.2**2))
    if family == "bandpass":
        return np.exp(-((radius - 0.12) ** 2) / (2 * 0.03**2))
    if family.startswith("stripes_"):
        theta = np.deg2rad(float(family.split("_")[1]))
        angle = np.arctan2(fy, fx)
        radial = np.exp(-((radius - 0.1) ** 2) / (2 * 0.04**2))
        # von Mises on the axis (period π): energy concentrated around the wave-vector angle θ
        return radial * np.exp(4.0 * (np.cos(2 * (angle - theta)) - 1))
    raise InvalidParameterError(valid_values_message("texture family", family, TEXTURE_FAMILIES))


def render_texture(
    family: str, noise: np.ndarray, contrast: float, tint: tuple[float, float, float]
) -> np.ndarray:
    """Filtered white noise: ``family``'s amplitude filter applied to ``noise`` (64 x 64).

    The result is standardised, scaled to RMS ``contrast`` around 0.5, and multiplied per
    channel by ``tint`` (RGB gains near 1).
    """
    shaped = np.fft.ifft2(np.fft.fft2(noise) * _texture_filter(family)).real
    shaped = (shaped - shaped.mean()) / (shaped.std() + 1e-12)
    gray = _BACKGROUND + contrast * shaped
    return _to_uint8(gray[..., None] * np.asarray(tint, dtype=np.float64)[None, None, :])


def _polygon(n_vertices: int, radii: tuple[float, ...], start_angle: float) -> np.ndarray:
    """Unit-size polygon: ``n_vertices`` points, radii cycling through ``radii``."""
    angles = np.deg2rad(start_angle) + np.arange(n_vertices) * 2 * np.pi / n_vertices
    r = np.resize(np.asarray(radii, dtype=np.float64), n_vertices)
    return np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)


_CROSS = np.array(
    [(1, 0.33), (0.33, 0.33), (0.33, 1), (-0.33, 1), (-0.33, 0.33), (-1, 0.33),
     (-1, -0.33), (-0.33, -0.33), (-0.33, -1), (0.33, -1), (0.33, -0.33), (1, -0.33)],
    dtype=np.float64,
)  # fmt: skip
_OUTLINES = {
    "square": _polygon(4, (1.0,), 45.0),
    "triangle": _polygon(3, (1.0,), -90.0),
    "hexagon": _polygon(6, (1.0,), 0.0),
    "star": _polygon(10, (1.0, 0.45), -90.0),
    "cross": _CROSS,
}


def render_shape(
    shape: str, center_x: float, center_y: float, size: float, rotation: float, color: tuple[int, int, int]
) -> np.ndarray:
    """A filled shape of circumradius ``size`` pixels centred on ``(center_x, center_y)`` on mid-grey.

    ``rotation`` is in degrees (clockwise on screen, since y points down); ``color`` is RGB
    0-255. Drawn at 4x resolution and box-filtered to 64 x 64.
    """
    s = _SUPERSAMPLE
    background = (128, 128, 128)
    canvas = Image.new("RGB", (IMAGE_SIZE * s, IMAGE_SIZE * s), background)
    draw = ImageDraw.Draw(canvas)
    cx, cy, r = center_x * s, center_y * s, size * s
    theta = np.deg2rad(rotation)

    def disc(centre_x: float, centre_y: float, radius: float, fill) -> None:
        draw.ellipse([centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius], fill=fill)

    if shape == "circle":
        disc(cx, cy, r, color)
    elif shape == "ring":
        disc(cx, cy, r, color)
        disc(cx, cy, 0.55 * r, background)
    elif shape == "crescent":
        disc(cx, cy, r, color)
        disc(cx + 0.45 * r * np.cos(theta), cy + 0.45 * r * np.sin(theta), 0.85 * r, background)
    elif shape in _OUTLINES:
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        points = _OUTLINES[shape] @ rot.T * r + np.array([cx, cy])
        draw.polygon([(float(px), float(py)) for px, py in points], fill=color)
    else:
        raise InvalidParameterError(valid_values_message("shape", shape, SHAPES))
    small = canvas.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8).copy()


# --------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def _shape_color(rng: np.random.Generator) -> tuple[int, int, int]:
    hue, value = rng.uniform(0, 1), rng.choice([0.15, 0.3, 0.85, 1.0])  # dark or bright: never grey-on-grey
    r, g, b = colorsys.hsv_to_rgb(hue, 0.8, value)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _gratings(rng: np.random.Generator, count_per_orientation: int) -> list[tuple[dict, np.ndarray]]:
    out = []
    combos = [(f, c) for f in GRATING_FREQUENCIES for c in GRATING_CONTRASTS]
    for orientation in GRATING_ORIENTATIONS:
        for k in range(count_per_orientation):
            frequency, contrast = combos[k % len(combos)]
            params = {
                "orientation": orientation,
                "spatial_frequency": frequency,
                "phase": round(float(rng.uniform(0, 2 * np.pi)), 4),
                "contrast": contrast,
                "center_x": round(float(rng.uniform(20, 44)), 2),
                "center_y": round(float(rng.uniform(20, 44)), 2),
                "size": round(float(rng.uniform(14, 28)), 2),
            }
            row = {"category_name": "grating", "object_name": f"grating_{int(orientation):03d}", **params}
            out.append((row, render_grating(**params)))
    return out


def _textures(rng: np.random.Generator, count_per_family: int) -> list[tuple[dict, np.ndarray]]:
    out = []
    for family in TEXTURE_FAMILIES:
        for _ in range(count_per_family):
            noise = rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE))
            contrast = round(float(rng.uniform(0.12, 0.2)), 4)
            red, green, blue = (round(float(t), 3) for t in rng.uniform(0.85, 1.15, size=3))
            tint = (red, green, blue)
            row = {
                "category_name": "texture",
                "object_name": f"texture_{family}",
                "contrast": contrast,
                "color": _hex(np.round(np.asarray(tint) * 128).clip(0, 255)),
            }
            out.append((row, render_texture(family, noise, contrast, tint)))
    return out


def _shapes(rng: np.random.Generator, count_per_shape: int) -> list[tuple[dict, np.ndarray]]:
    out = []
    for shape in SHAPES:
        for _ in range(count_per_shape):
            color = _shape_color(rng)
            params = {
                "center_x": round(float(rng.uniform(20, 44)), 2),
                "center_y": round(float(rng.uniform(20, 44)), 2),
                "size": round(float(rng.uniform(9, 16)), 2),
                "rotation": round(float(rng.uniform(0, 360)), 2),
            }
            row = {"category_name": "shape", "object_name": f"shape_{shape}", **params, "color": _hex(color)}
            out.append((row, render_shape(shape, color=color, **params)))
    return out


def generate(
    seed: int,
    *,
    gratings_per_orientation: int = 18,
    textures_per_family: int = 12,
    shapes_per_shape: int = 20,
    id_width: int = 4,
    id_prefix: str = "",
    shuffle: bool = True,
) -> StimulusBatch:
    """Generate a batch of stimuli (deterministic for a given seed and counts).

    Parameters
    ----------
    seed
        Seed of the :func:`numpy.random.default_rng` streams (one per category, spawned
        from ``SeedSequence(seed)``, so changing one count does not change other categories).
    gratings_per_orientation, textures_per_family, shapes_per_shape
        Images per ``object_name`` (defaults give 144 + 96 + 160 = 400 stimuli).
    id_width, id_prefix
        ``stimulus_id`` is ``id_prefix`` + the 1-based position, zero-padded to ``id_width``.
    shuffle
        Present the categories interleaved (a seeded permutation) rather than grouped.

    Returns
    -------
    StimulusBatch
        Images and their metadata; ``filename`` is ``<stimulus_id>.png``.
    """
    grating_rng, texture_rng, shape_rng, order_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    items = (
        _gratings(grating_rng, gratings_per_orientation)
        + _textures(texture_rng, textures_per_family)
        + _shapes(shape_rng, shapes_per_shape)
    )
    order = order_rng.permutation(len(items)) if shuffle else np.arange(len(items))
    rows, images = [], []
    for position, index in enumerate(order, start=1):
        row, image = items[index]
        stimulus_id = f"{id_prefix}{position:0{id_width}d}"
        rows.append({"stimulus_id": stimulus_id, "filename": f"{stimulus_id}.png", **row})
        images.append(image)
    metadata = pd.DataFrame(rows).reindex(columns=list(METADATA_COLUMNS))
    for column in ("stimulus_id", "filename", "category_name", "object_name", "color"):
        metadata[column] = metadata[column].astype(object).where(metadata[column].notna(), None)
    stack = np.stack(images) if images else np.empty((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    stack.flags.writeable = False
    return StimulusBatch(images=stack, metadata=metadata)
