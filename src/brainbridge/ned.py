"""``from brainbridge.ned import NED``: NED's calls on a Neural Encoding Dataset folder.

A facade (application layer) over :mod:`brainbridge.encoding.ned`, so NED users change one import.
"""

from __future__ import annotations

from brainbridge.encoding.ned import NED, MissingWeightsError, NEDTypeError

__all__ = ["NED", "MissingWeightsError", "NEDTypeError"]
