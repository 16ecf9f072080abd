"""One random source per loader: a seeded :class:`numpy.random.Generator`, or numpy's global RNG.

CEBRA draws from numpy's global RNG, torch's global RNG and private ``torch.Generator`` objects
seeded from OS entropy, so a run cannot be reproduced. Here every distribution draws from one
:class:`Random` owned by its loader. ``seed="global"`` selects numpy's global RNG with the same
calls, in the same order, as CEBRA's discrete distributions (``np.random.seed`` then reproduces
CEBRA's discrete draws bit for bit).
"""

from __future__ import annotations

from typing import Any, Union, cast

import numpy as np

#: ``seed=GLOBAL_RNG`` draws from numpy's global random state (CEBRA's legacy behaviour).
GLOBAL_RNG = "global"

SeedLike = Union[int, np.integer, np.random.Generator, np.random.SeedSequence, "Random", Any, None]


class Random:
    """A random source for index sampling.

    Parameters
    ----------
    seed : int, numpy.random.Generator, numpy.random.SeedSequence, torch.Generator, Random, "global" or None
        ``None``: fresh OS entropy. An int or a ``SeedSequence``: a new seeded generator. A numpy
        ``Generator``: used as is (shared). A ``torch.Generator``: a numpy generator seeded from one
        draw of it. ``"global"``: numpy's global RNG (``np.random.seed`` makes it reproducible).
    """

    __slots__ = ("generator", "legacy")
    generator: np.random.Generator | None  # None exactly in the legacy (global RNG) mode
    legacy: bool

    def __init__(self, seed: SeedLike = None):
        if isinstance(seed, Random):
            self.generator, self.legacy = seed.generator, seed.legacy
            return
        self.legacy = isinstance(seed, str) and seed == GLOBAL_RNG
        if self.legacy:
            self.generator = None
        elif isinstance(seed, str):
            raise ValueError(f"seed must be an int, a generator, None or {GLOBAL_RNG!r}, got {seed!r}")
        elif isinstance(seed, np.random.Generator):
            self.generator = seed
        elif type(seed).__name__ == "Generator" and type(seed).__module__.startswith("torch"):
            import torch

            value = int(torch.randint(0, 2**62, (1,), generator=cast("torch.Generator", seed)).item())
            self.generator = np.random.default_rng(value)
        else:
            self.generator = np.random.default_rng(seed)

    def integers(self, low: int, high: int, size) -> np.ndarray:
        """Uniform integers in ``[low, high)`` (int64)."""
        if high <= low:
            raise ValueError(f"empty sampling range [{low}, {high})")
        if self.generator is None:  # legacy mode
            return np.random.randint(low, high, size).astype(np.int64, copy=False)  # noqa: NPY002 (legacy mode)
        return self.generator.integers(low, high, size, dtype=np.int64)

    def uniform(self, low: float, high: float, size) -> np.ndarray:
        """Uniform floats in ``[low, high)``."""
        if self.generator is None:  # legacy mode
            return np.random.uniform(low, high, size)  # noqa: NPY002
        return self.generator.uniform(low, high, size)

    def normal(self, loc, scale, size=None) -> np.ndarray:
        """Normal draws with mean ``loc`` and standard deviation ``scale``."""
        if self.generator is None:  # legacy mode
            return np.random.normal(loc, scale, size)  # noqa: NPY002
        return self.generator.normal(loc, scale, size)

    def permutation(self, n: int) -> np.ndarray:
        """A random permutation of ``range(n)`` (int64)."""
        if self.generator is None:  # legacy mode
            return np.random.permutation(n).astype(np.int64, copy=False)  # noqa: NPY002
        return self.generator.permutation(n).astype(np.int64, copy=False)

    def spawn(self) -> Random:
        """An independent child source (the global RNG spawns itself)."""
        if self.generator is None:  # legacy mode
            return self
        child = Random.__new__(Random)
        child.legacy = False
        child.generator = self.generator.spawn(1)[0]
        return child

    def __repr__(self) -> str:
        return "Random(global numpy RNG)" if self.legacy else f"Random({self.generator!r})"
