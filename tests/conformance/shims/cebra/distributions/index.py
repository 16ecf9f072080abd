"""``cebra.distributions.index`` -> :mod:`brainbridge.data.distributions.index`."""

from brainbridge.data.distributions.index import *  # noqa: F403
