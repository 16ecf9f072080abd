"""``cebra.data.multi_session`` -> :mod:`brainbridge.data.multi_session`."""

from brainbridge.data.multi_session import *  # noqa: F403
