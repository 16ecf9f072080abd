"""``brainio.catalogs`` -> :mod:`brainbridge.catalogs`."""

from brainbridge.catalogs import Catalog

__all__ = ["Catalog"]
