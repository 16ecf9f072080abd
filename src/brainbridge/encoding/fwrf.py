"""NED's and BERG's fwRF fMRI encoding model (``fmri-nsd-fwrf``): gnet8x encoder + layer-wise fwRF.

The feature-weighted receptive field model (St-Yves & Naselaris 2018) on the gnet8x encoder
(St-Yves' ``nsd_gnet8x``), as NED/NEST (``nest/models/fwrf/torch_gnet.py``, ``torch_mpf.py``,
``nest/utils.py``) and BERG (``berg/models/fmri/nsd_fwrf.py``) run it. One checkpoint per NSD
subject and ROI, ``weights_sub-XX_roi-R.pt``; ``lateral`` and ``ventral`` were trained in two
halves of their voxels (``_split-1``, ``_split-2``, each with its own encoder), whose outputs are
concatenated in that order.

The modules carry NED's module and parameter names, so a checkpoint's ``best_params['enc']``
and ``best_params['fwrfs'][subject]`` load with ``load_state_dict(strict=True)``:

* :class:`Encoder` (``mu``, ``pre``, ``enc``): ``x - mu`` -> :class:`PreFilter` (AlexNet-like
  ``conv1`` 11x11/4 + ReLU + max-pool, ``conv2`` 5x5 + ReLU) -> :class:`EncStage` (``bn1``,
  ``conv3`` 3x3, six :class:`TrunkBlock` s ``conv4a`` ... ``conv6b`` = BN -> dropout -> 3x3 conv
  -> ReLU, a max-pool before ``conv5a``). Feature maps at 227 px: ``[conv1 | conv2]`` 256 x 27 x 27,
  ``[conv3 | conv4a | conv4b]`` 256 x 25 x 25, ``[conv5a | conv5b | conv6a | conv6b]`` 256 x 13 x 13
  (the first only with NED's ``use_prefilter=1``).
* :class:`LayerwiseFWRF` (``rf0`` ``rf1`` ``rf2``, ``w``, ``b``): per voxel ``v`` and map ``k``,
  a softmax-pooled receptive field ``p_k = softmax(rf_k[v])`` over the map's pixels;
  ``phi[v, c] = sum_s p_k[s] g(F_k[c, s])``, ``y[v] = sum_c g(phi[v, c]) w[v, c] + b[v]`` with
  ``g(x) = log(1 + |x|) tanh(x)``.

Preprocessing as NED's: uint8 images resized to 227 x 227 the way torchvision's ``Resize`` does
on a uint8 tensor (bilinear, antialiased, rounded and clamped back to uint8; an image already
227 x 227 is left as is), divided by 255; the encoder subtracts the training images' mean
(``mu``). Inference: eval mode (dropout off, batch norm on its running statistics), no autograd,
batches of 100 images as NED.

Differences from NED, on purpose:

* Checkpoints load with ``torch.load(weights_only=True)`` and an allow-list of numpy arrays,
  scalars and dtypes, ``collections.OrderedDict`` and ``argparse.Namespace`` (what NED's training
  script saves); any other global is refused (:class:`~brainbridge.encoding.errors.EncodingError`)
  and never imported or run. NED calls ``torch.load`` without ``weights_only`` (any pickle
  before torch 2.6, a refused ``Namespace`` since), BERG with ``weights_only=False``.
* The readout is sized from the checkpoint's tensors; NED runs 20 random images through the
  encoder to learn the feature-map shapes.
* The output is always ``(N, voxels)`` float32: NED's ``squeeze(...).t()`` returns ``(1, N)``
  for a ROI of one voxel (and ``(nv,)`` broadcast back to ``(1, nv)`` for one image).
* Voxels are read out in chunks, so memory stays bounded: NED builds the whole
  ``voxels x images x 768`` array at once (2.4 GB for 7,800 voxels and 100 images).
"""

from __future__ import annotations

import argparse
import collections
import os
import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainbridge.encoding.errors import EncodingError
from brainbridge.progress import progress_bar
from brainbridge.safe_pickle import allowed_globals, torch_refused_global

__all__ = [
    "RESIZE_PX",
    "SPLIT_ROIS",
    "Encoder",
    "EncStage",
    "FWRFModel",
    "LayerwiseFWRF",
    "PreFilter",
    "TrunkBlock",
    "build_part",
    "check_device",
    "checkpoint_names",
    "load_checkpoint",
    "load_fwrf",
    "resize_like_torchvision",
]

#: the side images are resized to before the encoder (NED's ``resize_px``)
RESIZE_PX = 227
#: ROIs NED trained in two halves of their voxels (``_split-1``, ``_split-2``)
SPLIT_ROIS = ("lateral", "ventral")
#: images per forward pass (NED's)
BATCH_SIZE = 100
# the readout's largest intermediate (voxels x images x features), in elements: 16 M floats = 64 MB
_READOUT_ELEMENTS = 1 << 24


def check_device(device: str) -> str:
    """``device`` if torch can run there; ``"cuda"`` without a usable GPU is a clear error."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise EncodingError(
            f"device {device!r} was asked for but torch {torch.__version__} sees no CUDA GPU; "
            "use device='cpu' (or 'auto')"
        )
    return str(device)


def _log_act(x: torch.Tensor) -> torch.Tensor:
    """NED's non-linearity before and after the pooling: ``log(1 + |x|) * tanh(x)`` (a new tensor)."""
    out = torch.abs(x).log1p_()
    return out.mul_(torch.tanh(x))


# --------------------------------------------------------------------------------------------
# the gnet8x encoder (NED's module and parameter names)
# --------------------------------------------------------------------------------------------


class TrunkBlock(nn.Module):
    """Batch norm -> 2-D dropout -> 3x3 convolution -> ReLU."""

    def __init__(self, feat_in: int, feat_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(feat_in, feat_out, kernel_size=3, stride=1, padding=1)
        self.drop1 = nn.Dropout2d(p=0.5)
        self.bn1 = nn.BatchNorm2d(feat_in, eps=1e-05, momentum=0.25)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv1(self.drop1(self.bn1(x))))


class PreFilter(nn.Module):
    """AlexNet's first two convolutions: ``conv1`` (+ ReLU, max-pool) and ``conv2`` (+ ReLU)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.conv2 = nn.Sequential(nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c1 = self.conv1(x)
        return c1, self.conv2(c1)


class EncStage(nn.Module):
    """``conv3`` and six trunk blocks; returns the two encoder feature maps and the last block."""

    def __init__(self, trunk_width: int = 64):
        super().__init__()
        tw = int(trunk_width)
        self.conv3 = nn.Conv2d(192, 128, kernel_size=3, stride=1, padding=0)
        self.drop1 = nn.Dropout2d(p=0.5)
        self.bn1 = nn.BatchNorm2d(192, eps=1e-05, momentum=0.25)
        self.pool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.tw = tw
        # registered in NED's order (the state dict lists them so)
        self.conv4a = TrunkBlock(128, 2 * tw)
        self.conv5a = TrunkBlock(2 * tw, 2 * tw)
        self.conv6a = TrunkBlock(2 * tw, 2 * tw)
        self.conv4b = TrunkBlock(2 * tw, 2 * tw)
        self.conv5b = TrunkBlock(2 * tw, 2 * tw)
        self.conv6b = TrunkBlock(2 * tw, tw)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        tw = self.tw
        c3 = F.relu(self.conv3(self.drop1(self.bn1(x))))
        c4a = self.conv4a(c3)
        c4b = self.conv4b(c4a)
        c5a = self.conv5a(self.pool1(c4b))
        c5b = self.conv5b(c5a)
        c6a = self.conv6a(c5b)
        c6b = self.conv6b(c6a)
        first = torch.cat([c3, c4a[:, :tw], c4b[:, :tw]], dim=1)
        second = torch.cat([c5a[:, :tw], c5b[:, :tw], c6a[:, :tw], c6b], dim=1)
        return first, second, c6b


class Encoder(nn.Module):
    """The shared gnet8x encoder: ``x - mu`` through :class:`PreFilter` and :class:`EncStage`.

    Parameters
    ----------
    mu
        The training images' mean (NED's ``stim_mean``, usually ``(1, 3, 1, 1)``), subtracted from
        the input; a parameter (``mu``) that the checkpoint's value replaces.
    trunk_width
        Channels of the trunk blocks (NED's 64).
    use_prefilter
        1: the pre-filter's maps are the first of three feature maps (NED's models); 0: only the
        encoder's two.
    """

    def __init__(self, mu: torch.Tensor | np.ndarray, trunk_width: int = 64, use_prefilter: int = 1):
        super().__init__()
        self.mu = nn.Parameter(torch.as_tensor(np.asarray(mu, dtype=np.float32)), requires_grad=False)
        self.pre = PreFilter()
        self.enc = EncStage(trunk_width)
        self.use_prefilter = int(use_prefilter)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """``(x, feature maps, last trunk block)``, as NED's ``Encoder``."""
        c1, y = self.pre(x - self.mu)
        first, second, h = self.enc(y)
        if self.use_prefilter:
            return x, [torch.cat([c1, y], dim=1), first, second], h
        return x, [first, second], h


# --------------------------------------------------------------------------------------------
# the layer-wise fwRF readout (NED's Torch_LayerwiseFWRF parameter names)
# --------------------------------------------------------------------------------------------


class LayerwiseFWRF(nn.Module):
    """One softmax-pooled receptive field per voxel and feature map, then a linear map per voxel.

    Parameters
    ----------
    rf_shapes
        ``(voxels, height, width)`` of ``rf0``, ``rf1``... (one per feature map, its pixels).
    n_features
        Channels of all feature maps together (``w`` is ``(voxels, n_features)``).
    """

    def __init__(self, rf_shapes: Sequence[Sequence[int]], n_features: int):
        super().__init__()
        if not rf_shapes:
            raise EncodingError("an fwRF readout needs at least one receptive field (rf0)")
        nv = int(rf_shapes[0][0])
        for k, shape in enumerate(rf_shapes):
            self.register_parameter(f"rf{k}", nn.Parameter(torch.zeros(tuple(int(s) for s in shape))))
        self.w = nn.Parameter(torch.zeros(nv, int(n_features)))
        self.b = nn.Parameter(torch.zeros(nv))
        self.n_maps = len(rf_shapes)

    @property
    def nv(self) -> int:
        """Number of voxels."""
        return int(self.b.shape[0])

    @property
    def rfs(self) -> list[torch.Tensor]:
        return [getattr(self, f"rf{k}") for k in range(self.n_maps)]

    def forward(self, fmaps: Sequence[torch.Tensor]) -> torch.Tensor:
        """Responses ``(N, voxels)`` to the encoder's feature maps (each ``(N, C_k, H_k, W_k)``)."""
        if len(fmaps) != self.n_maps:
            raise EncodingError(
                f"the fwRF readout has {self.n_maps} receptive fields but the encoder gave {len(fmaps)} "
                "feature maps (a checkpoint whose encoder and readout do not belong together)"
            )
        for k, (fm, rf) in enumerate(zip(fmaps, self.rfs)):
            if tuple(fm.shape[2:]) != tuple(rf.shape[1:]):
                raise EncodingError(
                    f"feature map {k} is {tuple(fm.shape[2:])} pixels but rf{k} covers {tuple(rf.shape[1:])} "
                    f"(NED's models take {RESIZE_PX} x {RESIZE_PX} images)"
                )
        # the pre-pooling non-linearity does not depend on the voxel: once per image
        feats = [_log_act(fm.flatten(2)) for fm in fmaps]  # (N, C_k, pixels_k)
        n_images = feats[0].shape[0]
        n_features = sum(f.shape[1] for f in feats)
        chunk = max(1, _READOUT_ELEMENTS // max(1, n_images * n_features))
        out = []
        for start in range(0, self.nv, chunk):
            voxels = slice(start, start + chunk)
            # one product per map, (v, pixels) x (N, C, pixels) -> (v, N, C), as NED's tensordot
            pooled = [
                torch.tensordot(torch.softmax(rf[voxels].flatten(1), dim=1), f, dims=([1], [2]))
                for f, rf in zip(feats, self.rfs)
            ]
            phi = _log_act(torch.cat(pooled, dim=2))  # (v, N, features)
            del pooled
            # (v, N, 1) -> (N, v); indexing, not squeeze(), keeps one image or one voxel 2-D
            y = torch.bmm(phi, self.w[voxels].unsqueeze(2))[..., 0].T
            out.append(y + self.b[voxels])
        return torch.cat(out, dim=1)


# --------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------


def _resize_batch(images: torch.Tensor, size: int) -> torch.Tensor:
    if tuple(images.shape[-2:]) == (size, size):
        return images  # torchvision's Resize returns an image of the target size as is
    # torchvision's tensor Resize: float interpolation with antialias, rounded back to uint8
    resized = F.interpolate(
        images.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def resize_like_torchvision(images: Any, size: int = RESIZE_PX) -> np.ndarray:
    """Resize uint8 images to ``size x size`` as torchvision's ``Resize((size, size))`` on a uint8 tensor.

    Parameters
    ----------
    images
        A uint8 array ``(N, 3, H, W)``, or a sequence of uint8 ``(3, H, W)`` arrays of any sizes.
    size
        The output side (NED's 227).

    Returns
    -------
    numpy.ndarray
        uint8 ``(N, 3, size, size)``; images already ``size x size`` are returned unchanged.
    """
    return _resized_tensor(images, size).numpy()


def _uint8(image: Any) -> torch.Tensor:
    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8:
        raise EncodingError(f"fwRF images must be uint8 with values in 0..255, got dtype {array.dtype}")
    return torch.from_numpy(array)


def _resized_tensor(images: Any, size: int) -> torch.Tensor:
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return _resize_batch(_uint8(images), size)
    resized = [_resize_batch(_uint8(image)[None], size) for image in images]
    return torch.cat(resized) if resized else torch.zeros((0, 3, size, size), dtype=torch.uint8)


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------


def checkpoint_names(subject: int, roi: str) -> list[str]:
    """NED's checkpoint file names of one subject and ROI (two halves for :data:`SPLIT_ROIS`)."""
    stem = f"weights_sub-{subject:02d}_roi-{roi}"
    if roi in SPLIT_ROIS:
        return [f"{stem}_split-{k}.pt" for k in (1, 2)]
    return [f"{stem}.pt"]


def _checkpoint_globals() -> list:
    """What a NED checkpoint may name besides tensors: numpy arrays/scalars/dtypes, OrderedDict, Namespace.

    ``argparse.Namespace`` is the training script's arguments (``'args.'``); building one sets
    attributes on a plain object and runs nothing.
    """
    numpy_globals = [
        (obj, name)
        for name, obj in allowed_globals().items()
        if name.startswith(("numpy", "_codecs", "builtins.complex"))
    ]
    return [*numpy_globals, collections.OrderedDict, argparse.Namespace]


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read one NED fwRF checkpoint with ``torch.load(weights_only=True)`` and the allow-list.

    Raises
    ------
    EncodingError
        The file names a global outside the allow-list (refused, nothing imported or run), is
        not a readable torch file, or does not hold NED's ``best_params`` with ``enc`` and
        ``fwrfs``.
    """
    with torch.serialization.safe_globals(_checkpoint_globals()):
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            refused = torch_refused_global(exc)
            if refused:
                raise EncodingError(
                    f"refused to load fwRF checkpoint {path}: it names {refused}, which is not "
                    "allowed (only tensors, numpy arrays, scalars and dtypes, OrderedDict and "
                    "argparse.Namespace are loaded; nothing in the file was run)"
                ) from None
            # torch's message advises weights_only=False; keep only its reason
            reason = re.search(
                r"WeightsUnpickler error:\s*(.*?)\s*(?:Check the documentation|$)", str(exc), re.S
            )
            detail = " ".join(reason.group(1).split()) if reason else type(exc).__name__
            raise EncodingError(
                f"cannot read fwRF checkpoint {path}: not a torch checkpoint of tensors and numpy arrays "
                f"({detail})"
            ) from None
        except Exception as exc:  # not a torch file, truncated archive...
            raise EncodingError(f"cannot read fwRF checkpoint {path}: {type(exc).__name__}: {exc}") from None
    params = checkpoint.get("best_params") if isinstance(checkpoint, Mapping) else None
    if (
        not isinstance(params, Mapping)
        or not isinstance(params.get("enc"), Mapping)
        or not isinstance(params.get("fwrfs"), Mapping)
    ):
        raise EncodingError(
            f"{path} is not a NED fwRF checkpoint: it has no best_params with 'enc' and 'fwrfs' state dicts"
        )
    return dict(checkpoint)


def build_part(
    checkpoint: Mapping[str, Any], subject: int, where: str = "the checkpoint"
) -> tuple[Encoder, LayerwiseFWRF]:
    """The encoder and the subject's readout of one checkpoint, in eval mode, weights loaded strictly.

    Both are sized from the state dicts' tensors: the trunk width from ``enc.conv6b.conv1.weight``,
    the pre-filter's use from the number of receptive fields, the readout from ``rf*``, ``w``, ``b``.
    """
    params = checkpoint["best_params"]
    enc_state, fwrfs = params["enc"], params["fwrfs"]
    if subject not in fwrfs:
        raise EncodingError(f"{where} holds no fwRF readout for subject {subject} (it holds {sorted(fwrfs)})")
    readout_state = fwrfs[subject]
    rf_keys = sorted((k for k in readout_state if re.fullmatch(r"rf\d+", str(k))), key=lambda k: int(k[2:]))
    try:
        if rf_keys != [f"rf{k}" for k in range(len(rf_keys))] or len(rf_keys) not in (2, 3):
            raise KeyError(f"receptive fields {rf_keys} (NED's readouts have rf0..rf2, or rf0..rf1)")
        trunk_width = int(enc_state["enc.conv6b.conv1.weight"].shape[0])
        use_prefilter = int(len(rf_keys) == 3)
        # channels of the feature maps: [conv1 | conv2], [conv3 | conv4a | conv4b], 4 trunk blocks
        n_features = 256 * use_prefilter + (128 + 2 * trunk_width) + 4 * trunk_width
        if int(readout_state["w"].shape[1]) != n_features:
            raise KeyError(
                f"w weighs {int(readout_state['w'].shape[1])} features, the encoder gives {n_features}"
            )
        encoder = Encoder(
            mu=np.zeros(tuple(enc_state["mu"].shape), dtype=np.float32),
            trunk_width=trunk_width,
            use_prefilter=use_prefilter,
        )
        readout = LayerwiseFWRF([tuple(readout_state[k].shape) for k in rf_keys], n_features)
        encoder.load_state_dict(enc_state, strict=True)
        readout.load_state_dict(readout_state, strict=True)
    except (KeyError, RuntimeError, IndexError, AttributeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EncodingError(
            f"{where} does not match NED's fwRF model (gnet8x encoder + layer-wise readout): {message}"
        ) from None
    return encoder.float().eval(), readout.float().eval()


def load_fwrf(paths: Sequence[str | os.PathLike], subject: int, device: str = "cpu") -> FWRFModel:
    """The fwRF model of one subject and ROI from its checkpoint(s), on ``device``."""
    parts = []
    for path in paths:
        checkpoint = load_checkpoint(path)
        parts.append(build_part(checkpoint, subject, where=str(path)))
        del checkpoint  # final_params and histories: not kept
    return FWRFModel(parts, device=device)


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------


class FWRFModel:
    """A subject's fwRF model for one ROI: ``(encoder, readout)`` parts whose voxels are concatenated.

    Parameters
    ----------
    parts
        One ``(Encoder, LayerwiseFWRF)`` pair per checkpoint (two for :data:`SPLIT_ROIS`, in split order).
    device
        ``"cpu"`` or ``"cuda"`` (the modules are moved there).
    """

    resize_px = RESIZE_PX

    def __init__(self, parts: Iterable[tuple[Encoder, LayerwiseFWRF]], device: str = "cpu"):
        self.parts = [(encoder, readout) for encoder, readout in parts]
        if not self.parts:
            raise EncodingError("an fwRF model needs at least one (encoder, readout) pair")
        self.device = "cpu"
        self.to(device)

    @property
    def n_voxels(self) -> int:
        """Voxels of all parts together."""
        return sum(readout.nv for _, readout in self.parts)

    def to(self, device: str) -> FWRFModel:
        """Move every part to ``device`` (in place) and return the model."""
        device = check_device(device)
        for encoder, readout in self.parts:
            encoder.to(device).eval()
            readout.to(device).eval()
        self.device = str(device)
        return self

    def predict(
        self,
        images: Any,
        *,
        batch_size: int = BATCH_SIZE,
        device: str | None = None,
        progress: bool | None = None,
    ) -> np.ndarray:
        """In silico responses ``(N, voxels)`` float32.

        Parameters
        ----------
        images
            uint8 images: an array-like ``(N, 3, H, W)`` (sliced one batch at a time), or a
            sequence whose slices give lists of uint8 ``(3, H, W)`` arrays of any sizes. Each is
            resized to 227 x 227 (:func:`resize_like_torchvision`).
        batch_size
            Images per forward pass (NED's 100).
        device
            Where to run (``"cpu"``/``"cuda"``); default the model's device.
        progress
            Progress of the batches (see :mod:`brainbridge.progress`).
        """
        if batch_size < 1:
            raise EncodingError(f"batch_size must be a positive integer, got {batch_size}")
        if device is not None and device != self.device:
            self.to(device)
        n = len(images)
        out = np.empty((n, self.n_voxels), dtype=np.float32)
        with (
            torch.inference_mode(),
            progress_bar(total=n, progress=progress, desc="Encoding fMRI responses", unit="img") as bar,
        ):
            for start in range(0, n, batch_size):
                chunk = images[start : start + batch_size]
                x = _resized_tensor(chunk, self.resize_px).to(self.device).float() / 255.0
                responses = []
                for encoder, readout in self.parts:
                    _, fmaps, _ = encoder(x)
                    responses.append(readout(fmaps))
                out[start : start + len(x)] = torch.cat(responses, dim=1).cpu().numpy()
                bar.update(len(x))
        return out
