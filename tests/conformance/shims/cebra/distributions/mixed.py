"""``cebra.distributions.mixed`` -> :mod:`brainbridge.data.distributions.mixed`."""

from brainbridge.data.distributions.mixed import *  # noqa: F403
