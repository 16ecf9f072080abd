"""Benchmark: the fwRF readout (``fmri-nsd-fwrf``), brainbridge against NED's formulation, same run.

NED's ``Torch_LayerwiseFWRF.forward`` (``nest/models/fwrf/torch_mpf.py``) pools every voxel's
receptive fields over the three feature maps at once: ``tensordot`` per map, ``cat`` into a
``voxels x images x 768`` array, the non-linearity, then ``bmm`` with ``w``. NED itself cannot be
installed here (it imports torchvision), so its forward is written out below line for line; it is
run on the same feature maps and weights as :class:`brainbridge.encoding.fwrf.LayerwiseFWRF`,
which reads the voxels out in chunks of at most 16 M intermediate values.

Printed per voxel count (a batch of 100 images, NED's batch size; NSD subject 1 has 1,350 V1
voxels and 7,799 ``lateral`` voxels, trained in two halves): seconds and the peak resident
memory added by the readout, each measured in its own process, with the ratios (NED / ours), and
the largest difference between the two outputs. Then the whole model's throughput (encoder +
readout, images/s, 227 px) on this machine.

Run: ``python benchmarks/fwrf.py`` (``--quick`` for smaller sizes).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

MAPS = [(256, 27), (256, 25), (256, 13)]


def _ned_forward(fmaps, rfs, w, b):
    """NED's Torch_LayerwiseFWRF.forward with pre_nl = post_nl = log(1+|x|)*tanh(x)."""
    import torch

    def act(x):
        return torch.log(1 + torch.abs(x)) * torch.tanh(x)

    phi = []
    for fm, rf in zip(fmaps, rfs):
        g = torch.softmax(torch.flatten(rf, start_dim=1), dim=1)
        f = act(torch.flatten(fm, start_dim=2))
        phi += [torch.tensordot(g, f, dims=[[1], [2]])]
    big_phi = act(torch.cat(phi, dim=2))
    return torch.squeeze(torch.bmm(big_phi, torch.unsqueeze(w, 2))).t() + torch.unsqueeze(b, 0)


def child(which: str, n_voxels: int, n_images: int) -> None:
    """One measurement in this process: prints a JSON line."""
    import torch

    from brainbridge.encoding.fwrf import LayerwiseFWRF

    gen = torch.Generator().manual_seed(0)
    fmaps = [torch.randn(n_images, c, px, px, generator=gen) for c, px in MAPS]
    rfs = [torch.randn(n_voxels, px, px, generator=gen) for _, px in MAPS]
    w = 0.05 * torch.randn(n_voxels, sum(c for c, _ in MAPS), generator=gen)
    b = 0.1 * torch.randn(n_voxels, generator=gen)
    readout = LayerwiseFWRF([tuple(r.shape) for r in rfs], w.shape[1])
    readout.load_state_dict({**{f"rf{k}": r for k, r in enumerate(rfs)}, "w": w, "b": b})
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.inference_mode():
        start = time.perf_counter()
        out = _ned_forward(fmaps, rfs, w, b) if which == "ned" else readout(fmaps)
        seconds = time.perf_counter() - start
    extra_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    checksum = out[:4, :4].double().numpy().tolist()
    print(json.dumps({"seconds": seconds, "extra_mb": extra_mb, "shape": list(out.shape), "head": checksum}))


def _measure(which: str, n_voxels: int, n_images: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", which, str(n_voxels), str(n_images)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def throughput(n_images: int) -> None:
    import torch

    from brainbridge.encoding.fwrf import Encoder, FWRFModel, LayerwiseFWRF

    torch.manual_seed(0)
    encoder = Encoder(mu=np.full((1, 3, 1, 1), 0.45, dtype=np.float32))
    readout = LayerwiseFWRF([(1350, px, px) for _, px in MAPS], 768)
    model = FWRFModel([(encoder, readout)])
    images = np.random.default_rng(0).integers(0, 256, size=(n_images, 3, 227, 227), dtype=np.uint8)
    model.predict(images[:2], progress=False)  # warm-up
    start = time.perf_counter()
    model.predict(images, progress=False)
    seconds = time.perf_counter() - start
    print(
        f"whole model (encoder + 1,350-voxel readout), {n_images} images at 227 px, "
        f"{torch.get_num_threads()} threads: {n_images / seconds:.1f} images/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return 0
    n_images = 100
    voxel_counts = [500] if args.quick else [1350, 3900]
    print(f"fwRF readout, a batch of {n_images} images (feature maps 256x27², 256x25², 256x13²)")
    for n_voxels in voxel_counts:
        ned = _measure("ned", n_voxels, n_images)
        ours = _measure("ours", n_voxels, n_images)
        diff = np.abs(np.asarray(ned["head"]) - np.asarray(ours["head"])).max()
        print(
            f"  {n_voxels:5d} voxels: NED {ned['seconds']:.2f} s, +{ned['extra_mb']:.0f} MB | "
            f"brainbridge {ours['seconds']:.2f} s, +{ours['extra_mb']:.0f} MB | "
            f"ratio time {ned['seconds'] / ours['seconds']:.2f}x, memory "
            f"{ned['extra_mb'] / max(ours['extra_mb'], 1):.1f}x | max |diff| {diff:.1e}"
        )
    throughput(20 if args.quick else 100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
