"""Errors raised by :mod:`brainbridge.data`.

Each one derives from :class:`brainbridge.errors.BrainbridgeError` and from the built-in
exception CEBRA raises in the same situation, so ``except ValueError`` / ``except
AttributeError`` code written for CEBRA keeps working.
"""

from __future__ import annotations

from brainbridge.errors import BrainbridgeError, BrainbridgeKeyError, ValidationError


class DatasetError(ValidationError):
    """A dataset whose arrays are missing, of the wrong dtype or of inconsistent length."""


class MissingIndexError(DatasetError, NotImplementedError):
    """A dataset asked for an index it does not have (a ``NotImplementedError``, as CEBRA raises)."""


class DatasetTypeError(BrainbridgeError, TypeError):
    """An array of the wrong dtype (integer neural data, float discrete labels)."""


class SamplingError(ValidationError):
    """A loader or distribution that cannot sample with the given configuration."""


class UnsupportedFormatError(BrainbridgeError, OSError):
    """A file whose suffix :func:`brainbridge.data.load_data` does not read."""


class MultiAnimalFileError(UnsupportedFormatError, NotImplementedError):
    """A multi-animal DeepLabCut file: also a ``NotImplementedError``, as CEBRA raises."""


class DataFileError(BrainbridgeError):
    """A data file that cannot be read (missing, damaged or empty): catch this one.

    Raised as one of its subclasses, each also the built-in exception CEBRA raises:
    :class:`UnreadableFileError` (an ``OSError``) or :class:`EmptyFileError` (an
    ``AttributeError``). Python cannot make one class both: their layouts conflict.
    """


class UnreadableFileError(DataFileError, OSError):
    """A file that is missing, or that is not a valid file of the format its suffix claims."""


class EmptyFileError(DataFileError, AttributeError):
    """A file that holds no data at all (an empty CSV or workbook); an ``AttributeError`` as in CEBRA."""


class DataKeyError(BrainbridgeKeyError, AttributeError):
    """A key, sheet or column that is not in the file, or that does not hold an array.

    Also an :class:`AttributeError`, the exception CEBRA's ``load_data`` raises here.
    """


class TorchMissingError(BrainbridgeError, ModuleNotFoundError):
    """PyTorch is needed (datasets, loaders, ``.pt`` files) but not installed."""

    HINT = "install PyTorch separately: pip install torch==2.13.0 (the [ml] extra does not include it)"


class UnsafeFormatError(BrainbridgeError, ValueError):
    """A file that could only be read by unpickling it, which was not allowed."""


__all__ = [
    "DataFileError",
    "DataKeyError",
    "DatasetError",
    "DatasetTypeError",
    "EmptyFileError",
    "MissingIndexError",
    "MultiAnimalFileError",
    "SamplingError",
    "TorchMissingError",
    "UnreadableFileError",
    "UnsafeFormatError",
    "UnsupportedFormatError",
]
