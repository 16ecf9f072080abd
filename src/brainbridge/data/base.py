"""The abstract dataset and loader base classes (``cebra.data.base`` counterpart)."""

from brainbridge.data.datasets import Dataset
from brainbridge.data.loaders import Loader

__all__ = ["Dataset", "Loader"]
