"""Reading arrays block by block on every core: shared by the netCDF reader and the fast form."""

from __future__ import annotations

import os

__all__ = ["read_workers", "region_and_post"]


def read_workers() -> int:
    """Threads for reading blocks: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def region_and_post(key: tuple, shape: tuple[int, ...]) -> tuple[tuple[slice, ...], list]:
    """A basic indexing key (ints and slices) as the region to read (``slice`` with step 1 per
    dimension) and the indexing to apply to what was read (steps, dropped dimensions)."""
    region: list[slice] = []
    post: list[slice | int] = []
    for k, n in zip(key, shape):
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step < 0:  # read the covered range, then step through it backwards
                start, stop = stop + 1, start + 1
            post.append(slice(None, None, step))
            region.append(slice(start, max(start, stop)))
        else:
            i = int(k) + (n if int(k) < 0 else 0)
            region.append(slice(i, i + 1))
            post.append(0)
    return tuple(region), post
