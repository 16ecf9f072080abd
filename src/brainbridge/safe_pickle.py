"""A restricted unpickler for the pickled dicts that NED and BERG save with ``np.save``.

NED's and BERG's metadata and parameter files (``metadata_sub-01.npy``, ``pca_param.npy``,
``weights_subject-01.npy``...) are 0-d object arrays: a ``.npy`` header followed by a pickle
stream. ``np.load(allow_pickle=True)`` would run any global such a file names. The
:class:`RestrictedUnpickler` here resolves only the few globals needed to rebuild dicts, lists,
tuples, strings, numbers, numpy arrays, numpy scalars and dtypes; every other global is refused
with :class:`UnsafePickleError` *before* it is imported or called, so the loader cannot run code
and needs no opt-in.
"""

from __future__ import annotations

import codecs
import collections
import io
import os
import pickle
import re
from typing import Any, BinaryIO

import numpy as np

from brainbridge.errors import UnsafePickleError, ValidationError

__all__ = [
    "RestrictedUnpickler",
    "UnsafePickleError",
    "allowed_globals",
    "load_npy",
    "loads",
    "torch_refused_global",
]


def _numpy_attr(*names: str) -> Any:
    """The first of ``numpy._core.X`` / ``numpy.core.X`` spellings that this numpy has."""
    import importlib

    for name in names:
        module, _, attr = name.rpartition(".")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has none of {names}")


def _allowed() -> dict[tuple[str, str], Any]:
    reconstruct = _numpy_attr("numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct")
    scalar = _numpy_attr("numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar")
    frombuffer = _numpy_attr("numpy._core.numeric._frombuffer", "numpy.core.numeric._frombuffer")
    table: dict[tuple[str, str], Any] = {}
    # numpy 1.x writes numpy.core.*, numpy 2.x numpy._core.*; both spellings map to the same objects.
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    table[("numpy", "ndarray")] = np.ndarray
    table[("numpy", "dtype")] = np.dtype
    # dtype classes that numpy >= 1.25 pickles by name (numpy.dtypes.Float32DType...)
    for name in dir(getattr(np, "dtypes", object())):
        if name.endswith("DType"):
            table[("numpy.dtypes", name)] = getattr(np.dtypes, name)
    for module in ("builtins", "__builtin__"):
        for name, obj in (
            ("set", set),
            ("frozenset", frozenset),
            ("complex", complex),
            ("bytearray", bytearray),
            ("slice", slice),
            ("range", range),
        ):
            table[(module, name)] = obj
    table[("collections", "OrderedDict")] = collections.OrderedDict
    # protocol 2 pickles bytes as _codecs.encode(str, 'latin1'): a pure function
    table[("_codecs", "encode")] = codecs.encode
    return table


_ALLOWED: dict[tuple[str, str], Any] | None = None


def allowed_globals() -> dict[str, Any]:
    """``{"module.name": object}`` for every allow-listed global.

    For ``torch.serialization.safe_globals``.
    """
    return {f"{module}.{name}": obj for (module, name), obj in _allowed().items()}


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only the allow-listed globals.

    ``find_class`` is the only way a pickle reaches code; it looks the name up in a fixed table
    and never imports the named module, so a refused global has no side effect at all.
    """

    def find_class(self, module: str, name: str) -> Any:
        global _ALLOWED
        if _ALLOWED is None:
            _ALLOWED = _allowed()
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to unpickle global {module}.{name}: only dicts, lists, tuples, strings, numbers, "
                "numpy arrays, scalars and dtypes may be loaded (the file may be malicious or not a "
                "NED/BERG parameter file)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refused a persistent id in a pickle: {pid!r}")


def loads(data: bytes) -> Any:
    """Unpickle ``data`` with the :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def _read_npy(handle: BinaryIO, path: str) -> Any:
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    except ValueError as exc:
        raise ValidationError(f"{path} is not a .npy file: {exc}") from None
    if not dtype.hasobject:
        # a plain numeric array: no pickle involved
        handle.seek(0)
        return np.load(handle, allow_pickle=False)
    try:
        array = RestrictedUnpickler(handle).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated or corrupt pickle stream
        raise ValidationError(f"{path} holds an unreadable pickle: {type(exc).__name__}: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise ValidationError(f"{path} does not hold a numpy array (got {type(array).__name__})")
    return array


def load_npy(path: str | os.PathLike, *, item: bool = True) -> Any:
    """Read a ``.npy`` file, unpickling object arrays with the :class:`RestrictedUnpickler`.

    Parameters
    ----------
    path
        The ``.npy`` file (e.g. NED's ``metadata_sub-01.npy``, written by ``np.save(path, dict)``).
    item
        Return ``array.item()`` for a 0-d object array (the dict NED saved) instead of the array.

    Raises
    ------
    UnsafePickleError
        The file names a global outside the allow-list; nothing it names was imported or run.
    ValidationError
        The file is not a readable ``.npy`` file.
    """
    with open(path, "rb") as handle:
        array = _read_npy(handle, str(path))
    if item and array.dtype.hasobject and array.ndim == 0:
        return array.item()
    return array


def torch_refused_global(error: BaseException) -> str | None:
    """The global ``torch.load(weights_only=True)`` refused to import (``'posix.system'``), if any.

    torch words it as ``Unsupported global: GLOBAL x.y`` or, for a blocked module, ``unsupported
    GLOBAL x.y whose module x is blocked``; ``None`` means the file was refused for another reason
    (damaged, not a torch file).
    """
    found = re.search(r"[Uu]nsupported (?:global: )?GLOBAL ([\w.]+)", str(error))
    return found.group(1) if found else None
