"""The encoding package's errors: one hierarchy under :class:`brainbridge.errors.BrainbridgeError`.

Every error also derives from the built-in a user would catch first (``KeyError`` for an
unknown model, ``ValueError`` for a bad argument), and every message lists the valid values,
unlike the three unrelated families of the reference tool (see
``shared/reference/encoding-models.md`` section 7).

::

    EncodingError (BrainbridgeError)
    ├── ModelNotFoundError (KeyError)         unknown model id
    ├── InvalidParameterError (ValueError)    bad argument to an encoding-model call
    │   ├── InvalidSelectionError             unknown selection key or value (roi, region...)
    │   ├── InvalidSubjectError               unknown subject
    │   └── UnknownLayerError                 a layer the extractor does not have
    ├── StimulusError (ValueError)            stimuli that cannot be read or have the wrong shape
    ├── ModelCardError (ValueError)           a model card that does not satisfy the schema
    ├── ScoringError (ValueError)             assemblies that cannot be scored
    ├── FitCacheError (OSError)               a cached fit that is unreadable or inconsistent
    ├── ScoresStoreError (OSError)            a scores store that cannot be written or read
    └── InsilicoIncompleteError (OSError)     an in silico response file not finished yet

Messages about a rejected value use :func:`brainbridge.errors.valid_values_message`.
"""

from __future__ import annotations

from brainbridge import errors as _core
from brainbridge.errors import BrainbridgeError, BrainbridgeKeyError, valid_values_message

__all__ = [
    "EncodingError",
    "FitCacheError",
    "InvalidParameterError",
    "InvalidSelectionError",
    "InvalidSubjectError",
    "MissingWeightsError",
    "NEDTypeError",
    "ModelCardError",
    "InsilicoIncompleteError",
    "ModelNotFoundError",
    "ScoresStoreError",
    "ScoringError",
    "StimulusError",
    "UnknownLayerError",
    "valid_values_message",
]


class EncodingError(BrainbridgeError):
    """Base class of the errors raised by :mod:`brainbridge.encoding`."""


class ModelNotFoundError(EncodingError, BrainbridgeKeyError):
    """No encoding model is registered under this id."""


class InvalidParameterError(EncodingError, _core.InvalidParameterError):
    """An argument of an encoding-model call has a value that is not allowed."""


class InvalidSelectionError(InvalidParameterError):
    """A selection dict with an unknown key or a value outside the key's valid values."""


class InvalidSubjectError(InvalidParameterError):
    """A subject the model was not trained on."""


class UnknownLayerError(InvalidParameterError):
    """A layer name the feature extractor does not have."""


class StimulusError(EncodingError, ValueError):
    """Stimuli that cannot be read: a wrong array shape or dtype, a missing or unreadable file."""


class ModelCardError(EncodingError, ValueError):
    """A model card that does not satisfy the schema."""


class ScoringError(EncodingError, ValueError):
    """Assemblies that cannot be scored: missing coordinates, no shared stimuli, bad splits."""


class FitCacheError(EncodingError, OSError):
    """A cached fit that cannot be read or does not match its key."""


class ScoresStoreError(EncodingError, OSError):
    """A scores store that cannot be written (read-only) or read (a newer schema)."""


class NEDTypeError(EncodingError, TypeError):
    """An argument of a NED call with the wrong type (NED raises ``TypeError``)."""


class MissingWeightsError(EncodingError, FileNotFoundError):
    """A feature extractor's weights file that is not on this machine (never downloaded)."""


class InsilicoIncompleteError(EncodingError, OSError):
    """An in silico response file whose generation has not finished (resume it)."""
