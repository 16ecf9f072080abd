"""``cebra.integrations.deeplabcut`` -> :func:`brainbridge.data.load_deeplabcut`."""

from brainbridge.data import load_deeplabcut

__all__ = ["load_deeplabcut"]
