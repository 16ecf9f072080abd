"""``cebra.distributions.discrete`` -> :mod:`brainbridge.data.distributions.discrete`."""

from brainbridge.data.distributions.discrete import *  # noqa: F403
