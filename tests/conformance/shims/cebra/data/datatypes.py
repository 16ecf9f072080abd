"""``cebra.data.datatypes`` -> :mod:`brainbridge.data.datatypes`."""

from brainbridge.data.datatypes import *  # noqa: F403
