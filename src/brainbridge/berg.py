"""``from brainbridge.berg import BERG``: BERG's calls over brainbridge's models and a BERG folder.

A facade (application layer) over :mod:`brainbridge.encoding.berg`, so BERG users change one import.
"""

from __future__ import annotations

from brainbridge.encoding.berg import BERG, BERGLinearModel

__all__ = ["BERG", "BERGLinearModel"]
