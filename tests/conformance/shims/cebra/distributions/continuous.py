"""``cebra.distributions.continuous`` -> :mod:`brainbridge.data.distributions.continuous`."""

from brainbridge.data.distributions.continuous import *  # noqa: F403
