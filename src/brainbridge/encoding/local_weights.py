"""ViT-B/32 and AlexNet feature extractors from a local weights file, without torchvision.

NED's and BERG's EEG/fMRI models read ViT-B/32 block outputs, and BERG's AlexNet variants
AlexNet layers; both networks come from torchvision, which downloads ImageNet weights on first
use. brainbridge never downloads: the architectures are rebuilt here in plain torch with
torchvision's parameter names, so torchvision's own weight files load unchanged
(``load_state_dict(strict=True)``) from

* a path given by the user (``weights=``), or
* ``<BRAINBRIDGE_HOME>/weights/<file>``, or
* torch's hub cache ``$TORCH_HOME/hub/checkpoints/<file>`` (default ``~/.cache/torch``), where
  torchvision put the file for NED and BERG users.

Files are read with ``safetensors`` (``*.safetensors``) or ``torch.load(weights_only=True)``,
which cannot run code. Without a file, :class:`~brainbridge.encoding.errors.MissingWeightsError`
says in one line which file is needed and where NED/BERG users have it.

Layers: ViT-B/32 ``encoder.layers.encoder_layer_0`` ... ``_11`` (each ``(50, 768)`` at 224 px,
NED's 12 x 38,400 = 460,800 features), ``encoder.ln``; AlexNet ``features.0`` ... ``features.12``
(V1 ``features.2``, V2/V4 ``features.7``, IT ``features.12`` in Brain-Score) and
``classifier.1`` ... ``classifier.6``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from brainbridge import config
from brainbridge.encoding.errors import EncodingError, MissingWeightsError
from brainbridge.encoding.features import Preprocessing, TorchFeatureExtractor

__all__ = ["WEIGHT_FILES", "alexnet", "find_weights", "load_state_dict", "vit_b_32", "weights_hint"]

#: torchvision's ImageNet weight files and where torchvision downloads them from
WEIGHT_FILES = {
    "vit_b_32": ("vit_b_32-d86f8d99.pth", "https://download.pytorch.org/models/vit_b_32-d86f8d99.pth"),
    "alexnet": ("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
}


def _hub_checkpoints() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


def weights_hint(name: str) -> str:
    """The one-line message naming the weights file ``name`` needs and where NED/BERG users have it."""
    filename, url = WEIGHT_FILES[name]
    return (
        f"{name} needs torchvision's ImageNet weights file {filename} (NED/BERG users have it in "
        f"{_hub_checkpoints()}, where torchvision saved it from {url}); put it there or in "
        f"{config.home() / 'weights'}, or pass weights=PATH; brainbridge never downloads it"
    )


def find_weights(name: str) -> Path | None:
    """The local weights file of ``name`` (``.pth`` or ``.safetensors``), or ``None``."""
    stem = WEIGHT_FILES[name][0].rsplit(".", 1)[0]
    for folder in (config.home() / "weights", _hub_checkpoints()):
        for suffix in (".safetensors", ".pth"):
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def load_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Tensors of a weights file: safetensors, or ``torch.load(weights_only=True)`` (never unpickles code)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a refused global (nothing ran), a damaged file, a bad safetensors header
        from brainbridge.safe_pickle import torch_refused_global

        refused = torch_refused_global(e)
        reason = (
            f"it names {refused}, not only tensors (refused; nothing in it ran)"
            if refused
            else f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        )
        raise EncodingError(f"cannot read weights file {path}: {reason}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise EncodingError(
            f"weights file {path} holds a {type(state).__name__}, not a state dict of tensors"
        )
    return state


def _build_loaded(build, name: str, weights: str | os.PathLike | None):
    """``build()``'s module with ``weights`` (or the file found locally) loaded strictly."""
    import torch

    path = Path(weights) if weights is not None else find_weights(name)
    if path is None:
        raise MissingWeightsError(weights_hint(name))
    state = load_state_dict(path)
    # torchvision's older ViT files name the MLP layers linear_1/linear_2 (it renames them on load too)
    state = {
        k.replace("mlp.linear_1.", "mlp.0.").replace("mlp.linear_2.", "mlp.3."): v for k, v in state.items()
    }
    with torch.device("meta"):  # no random initialisation of ~100 M parameters that are replaced anyway
        module = build()
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "mismatch"
        raise EncodingError(f"{path} is not a {name} state dict in torchvision's layout: {first}") from None
    return module.float()


# --------------------------------------------------------------------------------------
# the architectures (torchvision's parameter names)
# --------------------------------------------------------------------------------------


def _vit_module(
    image_size: int = 224,
    patch: int = 32,
    layers: int = 12,
    hidden: int = 768,
    heads: int = 12,
    mlp: int = 3072,
    classes: int = 1000,
):
    import torch
    from torch import nn

    class EncoderBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(hidden, eps=1e-6)
            self.self_attention = nn.MultiheadAttention(hidden, heads, batch_first=True)
            self.dropout = nn.Dropout(0.0)
            self.ln_2 = nn.LayerNorm(hidden, eps=1e-6)
            self.mlp = nn.Sequential(
                nn.Linear(hidden, mlp), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp, hidden), nn.Dropout(0.0)
            )

        def forward(self, x):
            y = self.ln_1(x)
            y, _ = self.self_attention(y, y, y, need_weights=False)
            x = x + self.dropout(y)
            return x + self.mlp(self.ln_2(x))

    class Encoder(nn.Module):
        def __init__(self, seq_length: int):
            super().__init__()
            self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden).normal_(std=0.02))
            self.dropout = nn.Dropout(0.0)
            self.layers = nn.Sequential(
                OrderedDict((f"encoder_layer_{i}", EncoderBlock()) for i in range(layers))
            )
            self.ln = nn.LayerNorm(hidden, eps=1e-6)

        def forward(self, x):
            return self.ln(self.layers(self.dropout(x + self.pos_embedding)))

    class VisionTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = patch
            self.conv_proj = nn.Conv2d(3, hidden, kernel_size=patch, stride=patch)
            self.class_token = nn.Parameter(torch.zeros(1, 1, hidden))
            self.encoder = Encoder((image_size // patch) ** 2 + 1)
            self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden, classes)))

        def forward(self, x):
            n = x.shape[0]
            x = self.conv_proj(x).reshape(n, hidden, -1).permute(0, 2, 1)
            x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
            return self.heads(self.encoder(x)[:, 0])

    return VisionTransformer()


def _alexnet_module(classes: int = 1000):
    from torch import nn

    class AlexNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(64, 192, kernel_size=5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(192, 384, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(384, 256, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(256, 256, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
            )
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(0.5),
                nn.Linear(256 * 6 * 6, 4096),
                nn.ReLU(),
                nn.Dropout(0.5),
                nn.Linear(4096, 4096),
                nn.ReLU(),
                nn.Linear(4096, classes),
            )

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return AlexNet()


VIT_LAYERS = [f"encoder.layers.encoder_layer_{i}" for i in range(12)]


def vit_b_32(
    weights: str | os.PathLike | None = None,
    *,
    preprocessing: Preprocessing | None = None,
    device: str = "auto",
    batch_size: int = 32,
) -> TorchFeatureExtractor:
    """ViT-B/32 (torchvision's architecture and parameter names) with local ImageNet weights.

    Layers ``encoder.layers.encoder_layer_0`` ... ``_11`` (default: all twelve, NED's 460,800
    features) and ``encoder.ln``. Input: 224 x 224, ImageNet mean/std.

    Raises
    ------
    MissingWeightsError
        No ``weights`` given and no local copy of ``vit_b_32-d86f8d99.pth`` (one line).
    """
    module = _build_loaded(_vit_module, "vit_b_32", weights)
    return TorchFeatureExtractor(
        module,
        VIT_LAYERS + ["encoder.ln"],
        preprocessing=preprocessing or Preprocessing(size=224),
        identifier="vit_b_32",
        default_layers=VIT_LAYERS,
        device=device,
        batch_size=batch_size,
    )


def alexnet(
    weights: str | os.PathLike | None = None,
    *,
    spatial_pool: int | None = 4,
    preprocessing: Preprocessing | None = None,
    device: str = "auto",
    batch_size: int = 64,
) -> TorchFeatureExtractor:
    """AlexNet (torchvision's architecture and parameter names) with local ImageNet weights.

    Layers ``features.0`` ... ``features.12`` and ``classifier.1`` ... ``classifier.6``
    (default ``features.12``, Brain-Score's IT layer). Input: 224 x 224, ImageNet mean/std.

    Raises
    ------
    MissingWeightsError
        No ``weights`` given and no local copy of ``alexnet-owt-7be5be79.pth`` (one line).
    """
    module = _build_loaded(_alexnet_module, "alexnet", weights)
    layers = [f"features.{i}" for i in range(13)] + [f"classifier.{i}" for i in range(1, 7)]
    return TorchFeatureExtractor(
        module,
        layers,
        preprocessing=preprocessing or Preprocessing(size=224),
        identifier="alexnet",
        default_layers=["features.12"],
        spatial_pool=spatial_pool,
        device=device,
        batch_size=batch_size,
    )
