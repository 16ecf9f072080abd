"""``cebra.data.datasets`` -> :mod:`brainbridge.data.datasets`."""

from brainbridge.data.datasets import *  # noqa: F403
