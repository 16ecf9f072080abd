"""Stimulus input for feature extractors and encoding models, streamed in batches.

Encoding models take images the way BERG does, in any of these forms:

* a folder (its image files, sorted by name; ids are the file stems),
* a list of image paths (ids are the file stems, which must be unique),
* a :class:`brainbridge.stimuli.StimulusSet` (its ``stimulus_id`` values and files, in row order),
* a uint8 array ``(N, 3, H, W)`` (ids ``img_00000``, ``img_00001``...). Anything that slices
  like an array works too (a ``numpy.memmap``, an ``h5py`` or ``zarr`` dataset), and only one
  batch of it is read at a time.

:func:`image_source` turns any of them into an :class:`ImageSource`; its
:meth:`ImageSource.batches` yields ``(stimulus_ids, uint8 array (B, 3, size, size))`` one batch
at a time, so 100,000 images never sit in memory together. Every image goes through the same
resize code (PIL) whatever form it came in, so a model fitted on files predicts identically on
the same pixels given as an array.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from brainbridge.encoding.errors import StimulusError
from brainbridge.errors import valid_values_message
from brainbridge.stimuli import StimulusSet

__all__ = [
    "IMAGE_EXTENSIONS",
    "RESIZE_POLICIES",
    "ImageSource",
    "image_source",
    "load_image",
    "resize_image",
]

#: file extensions picked up when a folder is given (case-insensitive)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

#: how an image is brought to ``size x size``:
#: ``stretch`` resizes both sides to ``size`` (Brain-Score's ``Resize((224, 224))``, no crop);
#: ``center_crop`` resizes the shorter side to ``size`` and crops the centre square;
#: ``pad`` resizes the longer side to ``size`` and pads the rest with mid-grey.
RESIZE_POLICIES = ("stretch", "center_crop", "pad")

_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def resize_image(
    image: Image.Image, size: int, policy: str = "stretch", interpolation: str = "bilinear"
) -> np.ndarray:
    """Bring an image to RGB ``size x size`` and return it as uint8 ``(3, size, size)``.

    Parameters
    ----------
    image
        Any PIL image (converted to RGB first; grayscale is replicated on the three channels).
    size
        Side of the output square, in pixels.
    policy
        One of :data:`RESIZE_POLICIES`.
    interpolation
        ``nearest``, ``bilinear`` (default), ``bicubic`` or ``lanczos`` (PIL's filters, which
        antialias when shrinking).
    """
    if policy not in RESIZE_POLICIES:
        raise StimulusError(valid_values_message("resize policy", policy, list(RESIZE_POLICIES)))
    if interpolation not in _INTERPOLATION:
        raise StimulusError(valid_values_message("interpolation", interpolation, list(_INTERPOLATION)))
    resample = _INTERPOLATION[interpolation]
    image = image.convert("RGB")
    width, height = image.size
    if (width, height) != (size, size):
        if policy == "stretch":
            image = image.resize((size, size), resample)
        elif policy == "center_crop":
            scale = size / min(width, height)
            new = (max(size, round(width * scale)), max(size, round(height * scale)))
            image = image.resize(new, resample)
            left, top = (new[0] - size) // 2, (new[1] - size) // 2
            image = image.crop((left, top, left + size, top + size))
        else:  # pad
            scale = size / max(width, height)
            new = (max(1, round(width * scale)), max(1, round(height * scale)))
            canvas = Image.new("RGB", (size, size), (128, 128, 128))
            canvas.paste(image.resize(new, resample), ((size - new[0]) // 2, (size - new[1]) // 2))
            image = canvas
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file fully (the file handle is closed on return).

    Raises
    ------
    StimulusError
        The file does not exist or is not an image PIL can read.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except FileNotFoundError:
        raise StimulusError(f"stimulus file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise StimulusError(f"cannot read {path} as an image: {e}") from e


@dataclass
class ImageSource:
    """A sequence of images with their stimulus ids, read in batches.

    Build one with :func:`image_source`. Exactly one of ``paths`` and ``array`` is set.

    Attributes
    ----------
    stimulus_ids
        One id per image, in order (unique).
    paths
        The image files, for file-based sources.
    array
        The ``(N, 3, H, W)`` uint8 array-like, for array sources (sliced one batch at a time).
    kind
        ``"folder"``, ``"paths"``, ``"stimulus_set"`` or ``"array"``.
    """

    stimulus_ids: list[str]
    paths: list[Path] | None = None
    array: Any = None
    kind: str = "paths"

    def __len__(self) -> int:
        return len(self.stimulus_ids)

    def subset(self, start: int) -> ImageSource:
        """The images from position ``start`` on (for resuming), without reading any pixel."""
        if self.paths is not None:
            return ImageSource(self.stimulus_ids[start:], paths=self.paths[start:], kind=self.kind)
        return ImageSource(self.stimulus_ids[start:], array=_Offset(self.array, start), kind=self.kind)

    def batches(
        self, batch_size: int, size: int, policy: str = "stretch", interpolation: str = "bilinear"
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield ``(ids, uint8 (B, 3, size, size))`` batches, resized with :func:`resize_image`."""
        if batch_size < 1:
            raise StimulusError(f"batch_size must be a positive integer, got {batch_size}")
        for start in range(0, len(self), batch_size):
            stop = min(start + batch_size, len(self))
            out = np.empty((stop - start, 3, size, size), dtype=np.uint8)
            if self.paths is not None:
                for i, path in enumerate(self.paths[start:stop]):
                    out[i] = resize_image(load_image(path), size, policy, interpolation)
            else:
                chunk = np.asarray(self.array[start:stop])
                for i, image in enumerate(chunk):
                    hwc = np.ascontiguousarray(image.transpose(1, 2, 0))
                    if hwc.shape[:2] == (size, size):
                        out[i] = image  # no resampling: identical to PIL's same-size copy
                    else:
                        out[i] = resize_image(Image.fromarray(hwc, "RGB"), size, policy, interpolation)
            yield self.stimulus_ids[start:stop], out


class _Offset:
    """An array-like view of ``array[start:]`` that slices lazily (h5py/zarr friendly)."""

    def __init__(self, array: Any, start: int):
        self.array, self.start = array, int(start)
        self.shape = (array.shape[0] - self.start, *array.shape[1:])
        self.dtype = array.dtype

    def __getitem__(self, key: slice) -> np.ndarray:
        return self.array[self.start + key.start : self.start + key.stop]


def _check_unique(ids: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    repeated: set[str] = set()
    for i in ids:
        if i in seen:
            repeated.add(i)
        seen.add(i)
    duplicates = sorted(repeated)
    if duplicates:
        raise StimulusError(
            f"{what} give duplicate stimulus ids {duplicates[:5]} (ids are file stems; rename the files "
            "or pass a StimulusSet with explicit stimulus_id values)"
        )


def _array_source(array: Any) -> ImageSource:
    shape = tuple(getattr(array, "shape", ()))
    dtype = np.dtype(getattr(array, "dtype", np.float64))
    if len(shape) != 4 or shape[1] != 3:
        raise StimulusError(
            f"an image array must have shape (N, 3, H, W) (RGB, channels first), got shape {shape}"
        )
    if dtype != np.uint8:
        raise StimulusError(f"an image array must be uint8 with values in [0, 255], got dtype {dtype}")
    if shape[0] == 0:
        raise StimulusError("the image array holds no image (N = 0)")
    width = max(5, len(str(shape[0] - 1)))
    ids = [f"img_{i:0{width}d}" for i in range(shape[0])]
    return ImageSource(ids, array=array, kind="array")


def image_source(stimuli: Any) -> ImageSource:
    """An :class:`ImageSource` for any accepted stimulus form (see the module docstring).

    Parameters
    ----------
    stimuli
        A folder, an image file, a list of image paths, a :class:`~brainbridge.stimuli.StimulusSet`
        (or an :class:`ImageSource`, returned as is), or a uint8 array-like ``(N, 3, H, W)``.

    Raises
    ------
    StimulusError
        An empty or missing folder, missing files, duplicate ids, a stimulus set without
        files, or an array of the wrong shape or dtype.
    """
    if isinstance(stimuli, ImageSource):
        return stimuli
    if isinstance(stimuli, StimulusSet):
        if "stimulus_id" not in stimuli.columns:
            raise StimulusError("the stimulus set has no 'stimulus_id' column")
        ids = [str(s) for s in stimuli["stimulus_id"]]
        _check_unique(ids, "the stimulus set's rows")
        missing = [s for s in ids if s not in stimuli.stimulus_paths]
        if missing:
            raise StimulusError(
                f"stimulus set {stimuli.identifier!r} has no file for {len(missing)} stimulus ids, "
                f"e.g. {missing[:5]}"
            )
        paths = [Path(stimuli.stimulus_paths[s]) for s in ids]
        absent = [str(p) for p in paths if not p.exists()]
        if absent:
            raise StimulusError(f"{len(absent)} stimulus files do not exist, e.g. {absent[:3]}")
        return ImageSource(ids, paths=paths, kind="stimulus_set")
    if isinstance(stimuli, (str, os.PathLike)):
        root = Path(stimuli)
        if root.is_dir():
            paths = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not paths:
                raise StimulusError(
                    f"folder {root} holds no image file (looked for {', '.join(IMAGE_EXTENSIONS)})"
                )
            ids = [p.stem for p in paths]
            _check_unique(ids, f"the files of {root}")
            return ImageSource(ids, paths=paths, kind="folder")
        if root.is_file():
            return ImageSource([root.stem], paths=[root], kind="paths")
        raise StimulusError(f"stimulus path does not exist: {root}")
    if hasattr(stimuli, "shape") and hasattr(stimuli, "dtype") and hasattr(stimuli, "__getitem__"):
        return _array_source(stimuli)
    if isinstance(stimuli, (list, tuple)):
        if not stimuli:
            raise StimulusError("the list of stimuli is empty")
        if not all(isinstance(p, (str, os.PathLike)) for p in stimuli):
            kinds = sorted({type(p).__name__ for p in stimuli})
            raise StimulusError(f"a list of stimuli must hold image paths (str or PathLike), got {kinds}")
        paths = [Path(p) for p in stimuli]
        absent = [str(p) for p in paths if not p.is_file()]
        if absent:
            raise StimulusError(f"{len(absent)} stimulus files do not exist, e.g. {absent[:3]}")
        ids = [p.stem for p in paths]
        _check_unique(ids, "the listed files")
        return ImageSource(ids, paths=paths, kind="paths")
    raise StimulusError(
        "stimuli must be a folder, an image path, a list of image paths, a StimulusSet or a uint8 "
        f"array of shape (N, 3, H, W); got {type(stimuli).__name__}"
    )
