"""NED fwRF checkpoints written as NED's training script writes them, and an independent forward pass.

Nothing here imports :mod:`brainbridge.encoding.fwrf`: the state-dict names and shapes are written
out from NED's ``torch_gnet.py`` / ``torch_mpf.py`` (trunk width 64, ``use_prefilter=1``, 227 px
input: feature maps of 256 channels at 27, 25 and 13 pixels), and :func:`reference_predict`
recomputes the model with ``torch.nn.functional`` ops in float64 straight from those tensors.
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

#: NED's trunk blocks, in the order NED's EncStage registers them
TRUNK = [("conv4a", 128, 128), ("conv5a", 128, 128), ("conv6a", 128, 128), ("conv4b", 128, 128)]
TRUNK += [("conv5b", 128, 128), ("conv6b", 128, 64)]
#: (channels, pixels) of the three feature maps at 227 px
MAPS = [(256, 27), (256, 25), (256, 13)]


def _conv(rng, prefix, c_out, c_in, k, state):
    fan_in = c_in * k * k
    state[f"{prefix}.weight"] = torch.from_numpy(
        (rng.normal(size=(c_out, c_in, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    )
    state[f"{prefix}.bias"] = torch.from_numpy((0.01 * rng.normal(size=c_out)).astype(np.float32))


def _bn(rng, prefix, c, state):
    state[f"{prefix}.weight"] = torch.from_numpy((1 + 0.1 * rng.normal(size=c)).astype(np.float32))
    state[f"{prefix}.bias"] = torch.from_numpy((0.05 * rng.normal(size=c)).astype(np.float32))
    state[f"{prefix}.running_mean"] = torch.from_numpy((0.1 * rng.normal(size=c)).astype(np.float32))
    state[f"{prefix}.running_var"] = torch.from_numpy(rng.uniform(0.5, 1.5, size=c).astype(np.float32))
    state[f"{prefix}.num_batches_tracked"] = torch.tensor(int(rng.integers(100, 1000)))


def encoder_state(seed: int) -> OrderedDict:
    """``best_params['enc']``: NED's Encoder state dict (``mu``, ``pre.*``, ``enc.*``), random weights."""
    rng = np.random.default_rng(seed)
    state: OrderedDict = OrderedDict()
    state["mu"] = torch.from_numpy(rng.uniform(0.4, 0.5, size=(1, 3, 1, 1)).astype(np.float32))
    _conv(rng, "pre.conv1.0", 64, 3, 11, state)
    _conv(rng, "pre.conv2.0", 192, 64, 5, state)
    _conv(rng, "enc.conv3", 128, 192, 3, state)
    _bn(rng, "enc.bn1", 192, state)
    for name, c_in, c_out in TRUNK:
        _conv(rng, f"enc.{name}.conv1", c_out, c_in, 3, state)
        _bn(rng, f"enc.{name}.bn1", c_in, state)
    return state


def readout_state(seed: int, n_voxels: int) -> OrderedDict:
    """``best_params["fwrfs"][subject]``: NED's Torch_LayerwiseFWRF state (``rf0..rf2``, ``w``, ``b``)."""
    rng = np.random.default_rng(seed)
    state: OrderedDict = OrderedDict()
    for k, (_, px) in enumerate(MAPS):
        state[f"rf{k}"] = torch.from_numpy(rng.normal(size=(n_voxels, px, px)).astype(np.float32))
    n_features = sum(c for c, _ in MAPS)
    state["w"] = torch.from_numpy((0.05 * rng.normal(size=(n_voxels, n_features))).astype(np.float32))
    state["b"] = torch.from_numpy((0.1 * rng.normal(size=n_voxels)).astype(np.float32))
    return state


def save_ned_checkpoint(path: Path, subject: int, roi: str, n_voxels: int, seed: int) -> dict:
    """Write ``path`` as NED's ``01_train_encoding.py`` does; returns its ``best_params``.

    ``final_params`` holds other weights, so a loader that used them would be caught.
    """
    args = argparse.Namespace(
        subjects="single",
        used_nsd_sub=subject,
        roi=roi,
        split_roi=0,
        split=1,
        trained=1,
        random_prefilter=1,
        train_prefilter=1,
        use_prefilter=1,
        train_phases=1,
        epochs_phase_1=75,
        epochs_phase_2=10,
        epochs_phase_3=10,
        lr=1e-3,
        weight_decay=0.0,
        batch_size=128,
        ned_dir="../neural_encoding_dataset",
    )
    best = {"enc": encoder_state(seed), "fwrfs": {subject: readout_state(seed + 1, n_voxels)}}
    final = {"enc": encoder_state(seed + 2), "fwrfs": {subject: readout_state(seed + 3, n_voxels)}}
    rng = np.random.default_rng(seed)
    torch.save(
        {
            "args.": args,
            "best_params": best,
            "final_params": final,
            "trn_hist": np.asarray([float(v) for v in rng.uniform(0.5, 1, size=5)]),
            "hold_hist": [np.float64(v) for v in rng.uniform(0.5, 1, size=5)],
            "hold_cc_hist": {subject: [rng.uniform(size=n_voxels) for _ in range(5)]},
            "best_epoch": 3,
            "best_joint_cc_score": np.median(rng.uniform(size=n_voxels)),
            "subject_val_cc": {subject: rng.uniform(size=n_voxels).astype(np.float32)},
            "stim_mean": best["enc"]["mu"].numpy(),
            "betas_info": {
                subject: {
                    "masterordering": rng.integers(0, 10000, size=(1, 30000)),
                    "test_img_idx": np.arange(515),
                    "ncsnr": rng.uniform(size=n_voxels).astype(np.float32),
                }
            },
        },
        path,
    )
    return best


def _log_act(x: torch.Tensor) -> torch.Tensor:
    return torch.log(1 + torch.abs(x)) * torch.tanh(x)


def reference_predict(images_227: np.ndarray, best_params: dict, subject: int) -> np.ndarray:
    """NED's forward pass in float64 from the state dicts alone: ``(N, voxels)``.

    ``images_227`` are uint8 ``(N, 3, 227, 227)`` (no resizing here).
    """
    e = {k: v.double() for k, v in best_params["enc"].items()}
    r = {k: v.double() for k, v in best_params["fwrfs"][subject].items()}

    def bn(x, p):
        return F.batch_norm(
            x,
            e[f"{p}.running_mean"],
            e[f"{p}.running_var"],
            e[f"{p}.weight"],
            e[f"{p}.bias"],
            False,
            0.0,
            1e-5,
        )

    def trunk(x, name):
        w, b = e[f"enc.{name}.conv1.weight"], e[f"enc.{name}.conv1.bias"]
        return F.relu(F.conv2d(bn(x, f"enc.{name}.bn1"), w, b, padding=1))

    x = torch.from_numpy(images_227.astype(np.float64) / 255.0) - e["mu"]
    c1 = F.max_pool2d(
        F.relu(F.conv2d(x, e["pre.conv1.0.weight"], e["pre.conv1.0.bias"], stride=4, padding=2)), 3, 2
    )
    y = F.relu(F.conv2d(c1, e["pre.conv2.0.weight"], e["pre.conv2.0.bias"], padding=2))
    c3 = F.relu(F.conv2d(bn(y, "enc.bn1"), e["enc.conv3.weight"], e["enc.conv3.bias"]))
    c4a = trunk(c3, "conv4a")
    c4b = trunk(c4a, "conv4b")
    c5a = trunk(F.max_pool2d(c4b, 3, 2, padding=1), "conv5a")
    c5b = trunk(c5a, "conv5b")
    c6a = trunk(c5b, "conv6a")
    c6b = trunk(c6a, "conv6b")
    fmaps = [
        torch.cat([c1, y], 1),
        torch.cat([c3, c4a[:, :64], c4b[:, :64]], 1),
        torch.cat([c5a[:, :64], c5b[:, :64], c6a[:, :64], c6b], 1),
    ]
    n_voxels = r["b"].shape[0]
    out = np.empty((len(images_227), n_voxels))
    for v in range(n_voxels):  # one voxel at a time: nothing shared with a batched implementation
        phi = []
        for k, fm in enumerate(fmaps):
            pool = torch.softmax(r[f"rf{k}"][v].reshape(-1), dim=0)  # (pixels,)
            phi.append((_log_act(fm.flatten(2)) * pool).sum(-1))  # (N, C_k)
        out[:, v] = (_log_act(torch.cat(phi, 1)) @ r["w"][v] + r["b"][v]).numpy()
    return out
