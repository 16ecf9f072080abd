"""The web app's errors (one module, like each consumer's ``errors.py``).

::

    BrainbridgeError
    └── WebError
        ├── NotFound (LookupError)            what a URL names does not exist: a 404 page
        └── BadRequestError (ValueError)      a query parameter the page cannot use: a 400 page
"""

from __future__ import annotations

from brainbridge.errors import BrainbridgeError

__all__ = ["BadRequestError", "NotFound", "NotFoundError", "WebError"]


class WebError(BrainbridgeError):
    """An error of ``brainbridge serve``'s pages."""


class NotFoundError(WebError, LookupError):
    """What a URL names does not exist (the app answers 404 with this message)."""


NotFound = NotFoundError


class BadRequestError(WebError, ValueError):
    """A query parameter that a page cannot use (the app answers 400 with this message)."""
