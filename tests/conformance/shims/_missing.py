"""Stand-ins for peer names that brainbridge deliberately does not provide.

A shim must import cleanly so that the rest of a peer's test module runs; calling one of these
raises, and the expectations file says why the tests that call it are not applicable.
"""

from __future__ import annotations


class NotInBrainbridgeError(NotImplementedError):
    """The peer's name has no brainbridge counterpart (see tests/conformance/expectations.py)."""


def missing(qualname: str, reason: str):
    """A callable named like the peer's that raises :class:`NotInBrainbridgeError`."""

    def stand_in(*args, **kwargs):
        raise NotInBrainbridgeError(f"{qualname} has no brainbridge counterpart: {reason}")

    stand_in.__name__ = qualname.rsplit(".", 1)[-1]
    stand_in.__qualname__ = qualname
    return stand_in
