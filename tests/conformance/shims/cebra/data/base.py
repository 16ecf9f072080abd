"""``cebra.data.base`` -> :mod:`brainbridge.data.base`."""

from brainbridge.data.base import *  # noqa: F403
