"""Paths built from data: every id or name that becomes a path component is checked here.

Ids and names in catalogs, project tables, NWB files, model cards and command lines are
untrusted: an id such as ``../../x`` or ``/etc/passwd`` would otherwise make a cache path
point outside its cache. Two helpers, used wherever a path is built from data:

* :func:`safe_component` checks that a value is one plain path component (no separator, no
  ``.``/``..``, no NUL or control characters, no drive letter, not too long);
* :func:`path_within` joins components onto a root and proves, after resolving ``..`` and
  symbolic links, that the result is still inside the root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from brainbridge.errors import UnsafePathError

__all__ = ["check_relative", "path_within", "safe_component"]

#: longest component most file systems accept (bytes of UTF-8)
_MAX_COMPONENT_BYTES = 255
_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f:]")


def safe_component(value: object, what: str = "name") -> str:
    """``str(value)`` if it is a single, harmless path component, else raise.

    Parameters
    ----------
    value
        An id or name from data (int ids are fine: ``str(value)`` is checked).
    what
        What the value is, for the message (``"session id"``, ``"catalog name"``...).

    Raises
    ------
    UnsafePathError
        Empty, ``.`` or ``..``, containing ``/``, ``\\``, ``:``, NUL or another control
        character, starting or ending with whitespace, or longer than 255 bytes.
    """
    text = str(value)
    problem = None
    if not text:
        problem = "is empty"
    elif text in (".", ".."):
        problem = "is a relative folder reference"
    elif _FORBIDDEN.search(text):
        problem = "contains a path separator, ':' or a control character"
    elif text != text.strip():
        problem = "starts or ends with whitespace"
    elif len(text.encode("utf-8", "surrogatepass")) > _MAX_COMPONENT_BYTES:
        problem = f"is longer than {_MAX_COMPONENT_BYTES} bytes"
    if problem is not None:
        raise UnsafePathError(
            f"{what} {text[:100]!r} {problem}; it is used as a file name, so it must be one plain "
            "name (letters, digits, spaces and . _ - + = @ , ... but no / \\ : or '..')"
        )
    return text


def check_relative(relative: str, what: str = "path") -> str:
    """A relative POSIX path from data (an index or catalog entry), checked to stay below its root.

    Raises
    ------
    UnsafePathError
        Absolute, with a drive letter, or with a ``..`` (or empty) component.
    """
    text = str(relative)
    posix = PurePosixPath(text.replace("\\", "/"))
    if (
        not text
        or posix.is_absolute()
        or text.startswith(("/", "\\"))
        or re.match(r"^[A-Za-z]:", text)
        or any(part in ("..",) for part in posix.parts)
        or "\x00" in text
    ):
        raise UnsafePathError(f"{what} {text[:200]!r} must be a relative path without '..' inside its folder")
    return posix.as_posix()


def path_within(root: str | os.PathLike, *parts: str | os.PathLike, what: str = "path") -> Path:
    """``root / parts...``, proven to resolve inside ``root`` (``..`` and symbolic links followed).

    Parameters
    ----------
    root
        The folder the result must stay in (need not exist yet).
    parts
        Components or relative paths to join (check single components from data with
        :func:`safe_component` first: this function allows sub-folders).
    what
        What the path is, for the message.

    Returns
    -------
    pathlib.Path
        The joined path (not resolved: symbolic links inside the root are kept as given).

    Raises
    ------
    UnsafePathError
        The joined path resolves outside ``root`` (or equals it when ``parts`` are given).
    """
    root = Path(root)
    joined = root.joinpath(*parts)
    real_root = root.resolve()
    real = joined.resolve()
    if real == real_root and parts or real_root not in real.parents and real != real_root:
        raise UnsafePathError(f"{what} {str(joined)[:300]!r} resolves to {real}, outside {real_root}")
    return joined
