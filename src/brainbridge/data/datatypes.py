"""The small value types shared by datasets and loaders: ``Offset``, ``Batch``, ``BatchIndex``.

Same names, fields and behaviour as ``cebra.data.datatypes``.
"""

from __future__ import annotations

import collections
from typing import Any

__all__ = ["Batch", "BatchIndex", "Offset"]


class Batch:
    """A batch of reference, positive and negative samples and an optional index.

    Attributes
    ----------
    reference, positive, negative
        Samples, usually tensors of shape ``(batch, neurons, len(offset))`` (lists of them
        for multi-session/xCEBRA batches).
    index, index_reversed
        For multi-session batches: the permutation that assigned each positive query to a
        session, and its inverse (see :class:`~brainbridge.data.MultisessionSampler`).
    """

    __slots__ = ["index", "index_reversed", "negative", "positive", "reference"]

    def __init__(self, reference, positive, negative, index=None, index_reversed=None):
        self.reference = reference
        self.positive = positive
        self.negative = negative
        self.index = index
        self.index_reversed = index_reversed

    def to(self, device, non_blocking: bool = False) -> Batch:
        """Move reference, positive and negative samples to ``device`` (in place); return self.

        ``non_blocking=True`` lets a copy from pinned memory overlap with computation.
        """

        def move(x: Any):
            if x is None:
                return None
            if isinstance(x, list | tuple):
                return type(x)(move(v) for v in x)
            return x.to(device, non_blocking=non_blocking)

        self.reference = move(self.reference)
        self.positive = move(self.positive)
        self.negative = move(self.negative)
        return self

    def __iter__(self):
        # unpacking ``ref, pos, neg = batch`` is handy in training loops
        return iter((self.reference, self.positive, self.negative))

    def __repr__(self) -> str:
        def shape(x):
            return tuple(x.shape) if hasattr(x, "shape") else type(x).__name__

        return (
            f"Batch(reference={shape(self.reference)}, positive={shape(self.positive)}, "
            f"negative={shape(self.negative)})"
        )


BatchIndex = collections.namedtuple(
    "BatchIndex",
    ["reference", "positive", "negative", "index", "index_reversed"],
    defaults=(None, None),
)
BatchIndex.__doc__ = """Indices of the reference, positive and negative samples of one batch."""


class Offset:
    """Number of samples left and right of an index that a model looks at.

    ``Offset(n)`` is ``Offset(n, n)``. ``right`` includes the current sample, so it must be at
    least 1; a receptive field of 10 samples is ``Offset(5, 5)``.

    Parameters
    ----------
    *offset : int
        One value (left = right) or two values ``(left, right)``.

    Raises
    ------
    ValueError
        More than two values, a negative bound, or ``right == 0``.
    """

    __slots__ = ["left", "right"]

    def __init__(self, *offset: int):
        if len(offset) == 1:
            (value,) = offset
            left = right = value
        elif len(offset) == 2:
            left, right = offset
        else:
            raise ValueError(
                "Invalid number of elements to bound the Offset, expected 1 or 2 elements, "
                f"got {len(offset)}."
            )
        for value in (left, right):
            if int(value) != value:
                raise ValueError(f"Invalid Offset bounds, expected integers, got {value!r}.")
            if value < 0:
                raise ValueError(f"Invalid Offset bounds, expected values >= 0, got {value}.")
        if right == 0:
            raise ValueError(
                "Invalid right bound: by convention the right bound includes the current index, "
                f"so it must be at least 1, got {right}."
            )
        self.left = int(left)
        self.right = int(right)

    @property
    def _right(self):
        return None if self.right == 0 else -self.right

    @property
    def left_slice(self) -> slice:
        """Slice from the array start to the left border."""
        return slice(0, self.left)

    @property
    def right_slice(self) -> slice:
        """Slice from the right border to the array end."""
        return slice(self._right, None)

    @property
    def valid_slice(self) -> slice:
        """Slice between the two borders: the samples whose whole window lies in the array."""
        return slice(self.left, self._right)

    def __len__(self) -> int:
        return self.left + self.right

    def mask_array(self, array, value):
        """Set the samples outside :attr:`valid_slice` to ``value`` (in place); return ``array``."""
        array[self.left_slice] = value
        array[self.right_slice] = value
        return array

    def __eq__(self, other) -> bool:
        if not isinstance(other, Offset):
            return NotImplemented
        return (self.left, self.right) == (other.left, other.right)

    def __hash__(self) -> int:
        return hash((self.left, self.right))

    def __repr__(self) -> str:
        return f"Offset(left = {self.left}, right = {self.right}, length = {len(self)})"
