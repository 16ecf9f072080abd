"""Overlap data loading with training: a background-thread prefetcher and a torch IterableDataset.

``PrefetchLoader(loader)`` produces the next batches in a background thread while the caller
trains on the current one (index sampling and the numpy gather release the GIL for most of
their time). ``LoaderIterableDataset(loader)`` exposes a loader to ``torch.utils.data.DataLoader``
(``batch_size=None``), with a distinct random stream per worker.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from brainbridge.data._rng import Random
from brainbridge.data.datatypes import Batch

__all__ = ["LoaderIterableDataset", "PrefetchLoader"]

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def _pin(x: Any):
    if isinstance(x, list | tuple):
        return type(x)(_pin(v) for v in x)
    if isinstance(x, Batch):
        x.reference, x.positive, x.negative = _pin(x.reference), _pin(x.positive), _pin(x.negative)
        return x
    if isinstance(x, torch.Tensor) and x.device.type == "cpu" and not x.is_pinned():
        return x.pin_memory()
    return x


class PrefetchLoader:
    """Iterate a loader with its next ``prefetch`` batches prepared in a background thread.

    Parameters
    ----------
    loader : Loader
        Any brainbridge/CEBRA-style loader (an iterable of batches with ``len``).
    prefetch : int, default 2
        Batches prepared ahead.
    pin_memory : bool, default False
        Gather batches into page-locked memory (needs CUDA); datasets with a ``pin_memory``
        attribute (``TensorDataset``) gather straight into it, others are pinned after loading.
    device : str or torch.device, optional
        Move each batch there (``non_blocking`` when pinned) in the background thread.

    Examples
    --------
    >>> for batch in PrefetchLoader(loader, prefetch=4):   # doctest: +SKIP
    ...     loss = criterion(model(batch.reference), ...)
    """

    def __init__(self, loader, prefetch: int = 2, pin_memory: bool = False, device=None):
        if prefetch < 1:
            raise ValueError(f"prefetch must be >= 1, got {prefetch}")
        self.loader = loader
        self.prefetch = int(prefetch)
        self.pin_memory = bool(pin_memory) and torch.cuda.is_available()
        self.device = device

    def __len__(self) -> int:
        return len(self.loader)

    def _prepare(self, batch):
        if self.pin_memory:
            batch = _pin(batch)
        if self.device is not None:
            if isinstance(batch, list):
                batch = [b.to(self.device, non_blocking=self.pin_memory) for b in batch]
            elif hasattr(batch, "to"):
                batch = batch.to(self.device, non_blocking=self.pin_memory)
        return batch

    def __iter__(self) -> Iterator[Any]:
        slots: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        dataset = getattr(self.loader, "dataset", None)
        previous_pin = getattr(dataset, "pin_memory", None)
        if self.pin_memory and dataset is not None and previous_pin is not None:
            dataset.pin_memory = True

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    slots.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce():
            try:
                for batch in self.loader:
                    if not put(self._prepare(batch)):
                        return
                put(_DONE)
            except BaseException as e:  # forwarded to the consumer
                put(_Failure(e))

        worker = threading.Thread(target=produce, name="brainbridge-prefetch", daemon=True)
        worker.start()
        try:
            while True:
                item = slots.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            stop.set()
            worker.join(timeout=5)
            if self.pin_memory and dataset is not None and previous_pin is not None:
                dataset.pin_memory = previous_pin


class LoaderIterableDataset(torch.utils.data.IterableDataset):
    """A loader as a torch ``IterableDataset``: use with ``DataLoader(ds, batch_size=None)``.

    With ``num_workers > 0`` the ``num_steps`` batches are split between the workers and each
    worker samples from its own random stream derived from the loader's seed (so the same seed
    and worker count give the same batches).

    Parameters
    ----------
    loader : Loader
    """

    def __init__(self, loader):
        super().__init__()
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        info = torch.utils.data.get_worker_info()
        loader = self.loader
        steps = len(loader)
        if info is not None:
            steps = len(range(info.id, len(loader), info.num_workers))
            seed = getattr(loader, "seed", None)
            if isinstance(seed, int | np.integer):
                child = np.random.SeedSequence([int(seed), info.id])
            else:
                child = np.random.SeedSequence(None)
            loader.rng = Random(child)
            loader._distributions = {}  # rebuilt with the worker's stream
        for _ in range(steps):
            yield loader.dataset.load_batch(loader.get_indices(loader.batch_size))
