"""The state every distribution shares (``cebra.distributions.base`` counterpart)."""

from __future__ import annotations

import numpy as np
import torch

from brainbridge.data._rng import Random, SeedLike
from brainbridge.data.datatypes import Offset
from brainbridge.data.distributions.index import valid_range

__all__ = ["Distribution"]


class Distribution:
    """Common state: the number of samples, the valid range, the random source and the device.

    Parameters
    ----------
    num_samples : int
    offset : Offset, optional
        Only indices whose whole window lies in the data are drawn.
    seed : int, generator, "global" or None
        The random source (:class:`~brainbridge.data._rng.Random`).
    device : str or torch.device, default "cpu"
        Where returned index tensors live (CEBRA's ``device`` argument); sampling runs on the
        CPU.
    """

    def __init__(self, num_samples: int, offset: Offset | None, seed: SeedLike, device="cpu"):
        self.num_samples = int(num_samples)
        self.offset = offset if offset is not None else Offset(0, 1)
        self.lo, self.hi = valid_range(self.num_samples, self.offset)
        self.rng = Random(seed)
        self.device = str(device)

    def _tensor(self, indices) -> torch.Tensor:
        """Indices as an int64 tensor on :attr:`device` (shares memory with numpy on the CPU)."""
        tensor = torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64))
        return tensor if self.device == "cpu" else tensor.to(self.device)

    def to(self, device) -> Distribution:
        """Return index tensors on ``device`` from now on; return self."""
        self.device = str(device)
        return self

    def _prior(self, num_samples: int) -> np.ndarray:
        return self.rng.integers(self.lo, self.hi, num_samples)
