"""``cebra.data.single_session`` -> :mod:`brainbridge.data.single_session`."""

from brainbridge.data.single_session import *  # noqa: F403
