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
    └── FitCacheError (OSError)               a cached fit that is unreadable or inconsistent
"""

from __future__ import annotations

from brainbridge.errors import BrainbridgeError

__all__ = [
    "EncodingError",
    "FitCacheError",
    "InvalidParameterError",
    "InvalidSelectionError",
    "InvalidSubjectError",
    "ModelCardError",
    "ModelNotFoundError",
    "StimulusError",
    "UnknownLayerError",
]


class EncodingError(BrainbridgeError):
    """Base class of the errors raised by :mod:`brainbridge.encoding`."""


class ModelNotFoundError(EncodingError, KeyError):
    """No encoding model is registered under this id."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class InvalidParameterError(EncodingError, ValueError):
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


class FitCacheError(EncodingError, OSError):
    """A cached fit that cannot be read or does not match its key."""


def valid_values_message(what: str, value, valid) -> str:
    """``Invalid roi: 'V7'. Valid values are: ['IT', 'V1']`` (the shared wording)."""
    return f"Invalid {what}: {value!r}. Valid values are: {list(valid)}"
