"""``cebra.distributions.multisession`` -> :mod:`brainbridge.data.distributions.multisession`."""

from brainbridge.data.distributions.multisession import *  # noqa: F403
