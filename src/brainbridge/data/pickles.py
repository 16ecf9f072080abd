"""Find pickles in untrusted files *before* any library unpickles them.

PyTables (and so ``pandas.read_hdf`` / ``pandas.HDFStore``) unpickles data silently:

* every scalar byte-string attribute that ends with ``.`` is passed to ``pickle.loads`` as soon
  as the node's attribute set is created (opening a group or leaf is enough);
* a ``VLArray`` whose ``PSEUDOATOM`` attribute is ``object`` (``FLAVOR`` ``Object`` in PyTables
  1.x files) holds one pickle per row; pandas stores every object column of a ``fixed``-format
  frame this way.

:func:`scan_hdf5` reads the file with h5py, which never unpickles, and disassembles each of these
values with :mod:`pickletools` (which parses, never executes). A pickle that only builds
strings, numbers, lists, tuples and dicts is data (pandas' ``table`` format writes its
metadata that way) and is allowed, and so is PyTables' own pickle of its ``Filters`` settings
(:data:`SAFE_GLOBALS`: a class whose construction only sets attributes). A pickle that would
import anything else (``GLOBAL``, ``STACK_GLOBAL``, ``INST``), or use extension codes or
persistent ids, is reported with the node and what it would import. External links are
reported too: they would make PyTables open a file nobody scanned.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

__all__ = ["SAFE_GLOBALS", "PickledNode", "pickle_calls", "runs_code", "scan_hdf5"]

#: globals a pickle may import and still be read without allow_pickle: PyTables writes its
#: ``Filters`` (compression settings, a plain class with only ``__init__``) this way, e.g. in
#: index attributes of table-format frames added to a file h5py created. Names as pickles
#: spell them, Python 2 spellings included (``pickle.loads`` maps them).
SAFE_GLOBALS = frozenset(
    {
        "copy_reg._reconstructor",
        "copyreg._reconstructor",
        "__builtin__.object",
        "builtins.object",
        "tables.filters.Filters",
    }
)
# building opcodes, harmless when every callable they can reach is one of SAFE_GLOBALS
_BUILDING = frozenset({"REDUCE", "BUILD", "NEWOBJ", "NEWOBJ_EX", "OBJ"})

# opcodes that import, call or hand control to something other than the built-in containers
_CODE_OPCODES = frozenset(
    {
        "GLOBAL",
        "STACK_GLOBAL",
        "INST",
        "OBJ",
        "NEWOBJ",
        "NEWOBJ_EX",
        "REDUCE",
        "BUILD",
        "EXT1",
        "EXT2",
        "EXT4",
        "PERSID",
        "BINPERSID",
    }
)
_STRING_OPCODES = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
)


@dataclass(frozen=True)
class PickledNode:
    """A value in a file that would run code when unpickled.

    Attributes
    ----------
    node : str
        The HDF5 path of the group or dataset (``/frame/block1_values``).
    attribute : str or None
        The attribute holding the pickle; ``None`` when the dataset's contents are pickles.
    calls : tuple of str
        What unpickling would import or do (``posix.system``, ``REDUCE``...), or the target of
        an external link.
    """

    node: str
    attribute: str | None
    calls: tuple[str, ...]

    def describe(self) -> str:
        where = f"attribute {self.attribute!r} of {self.node}" if self.attribute else self.node
        return f"{where} ({', '.join(self.calls)})"


def pickle_calls(data: bytes) -> tuple[str, ...]:
    """What unpickling ``data`` would import or call, without unpickling it.

    Parameters
    ----------
    data : bytes
        Candidate pickle bytes (anything: invalid pickles are parsed up to their first error,
        which is also as far as ``pickle.loads`` would execute them).

    Returns
    -------
    tuple of str
        ``module.name`` for each global it would import and the name of each other
        code-running opcode; empty when unpickling only builds plain data.
    """
    calls: list[str] = []
    pushed: list[str | None] = []  # what each op pushed (strings only): STACK_GLOBAL's module and name
    memo: dict[int, str | None] = {}
    try:
        for opcode, arg, _ in pickletools.genops(data):
            name = opcode.name
            if name in _STRING_OPCODES:
                pushed.append(arg.decode("latin-1") if isinstance(arg, bytes) else str(arg))
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                pushed.append(memo.get(int(cast(int, arg))))  # these opcodes carry an int
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(cast(int, arg))] = pushed[-1] if pushed else None
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in ("PROTO", "FRAME"):
                pass
            elif name in ("GLOBAL", "INST"):
                calls.append(str(arg).replace(" ", "."))
                pushed.append(None)
            elif name == "STACK_GLOBAL":
                parts = pushed[-2:]
                calls.append(".".join(map(str, parts)) if len(parts) == 2 and None not in parts else name)
                pushed.append(None)
            else:
                if name in _CODE_OPCODES:
                    calls.append(name)
                pushed.append(None)
    except Exception:  # a malformed tail: pickle.loads stops there too
        pass
    return tuple(dict.fromkeys(calls))


def runs_code(calls: tuple[str, ...]) -> bool:
    """Whether a pickle with these :func:`pickle_calls` imports or calls more than :data:`SAFE_GLOBALS`."""
    return any(call not in SAFE_GLOBALS and call not in _BUILDING for call in calls)


def _attribute_bytes(value) -> bytes | None:
    """The bytes PyTables would try to unpickle for this attribute value, if any."""
    if isinstance(value, np.ndarray):
        if value.shape != ():
            return None  # PyTables unpickles scalar strings only
        value = value[()]
    if isinstance(value, str):  # h5py decodes variable-length strings; check them too
        value = value.encode("utf-8", "surrogateescape")
    if not isinstance(value, bytes):
        return None
    value = value.rstrip(b"\x00")
    return value if value.endswith(b".") else None


def _is_object_pseudo_atom(attrs) -> bool:
    def text(name):
        value = attrs.get(name)
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value[()]
        return value.decode("latin-1") if isinstance(value, bytes) else value

    return text("PSEUDOATOM") == "object" or text("FLAVOR") == "Object"


def scan_hdf5(path: str | Path) -> list[PickledNode]:
    """Every attribute, dataset and link of an HDF5 file that PyTables could not read safely.

    Parameters
    ----------
    path : str or Path
        An HDF5 file (pandas ``HDFStore``, PyTables, DeepLabCut output...).

    Returns
    -------
    list of PickledNode
        Empty when pandas/PyTables can read the file without running any code from it.
    """
    import h5py

    found: list[PickledNode] = []

    def check_attributes(name: str, obj) -> None:
        for attr in obj.attrs:
            try:
                value = obj.attrs[attr]
            except (OSError, TypeError, ValueError):  # types h5py cannot read; PyTables skips them too
                continue
            data = _attribute_bytes(value)
            calls = pickle_calls(data) if data else ()
            if runs_code(calls):
                found.append(PickledNode(name, attr, calls))

    def check_rows(name: str, dataset) -> None:
        if not _is_object_pseudo_atom(dataset.attrs):
            return
        # PyTables unpickles each row of an object pseudo-atom (variable-length bytes, usually)
        values = dataset[()]
        rows = (
            values.reshape(-1)
            if h5py.check_vlen_dtype(dataset.dtype) is not None
            else values.reshape(len(values) if values.ndim else 1, -1)
        )
        calls: list[str] = []
        for row in rows:
            calls.extend(pickle_calls(np.asarray(row).tobytes()))
        if runs_code(tuple(calls)):
            found.append(PickledNode(name, None, tuple(dict.fromkeys(calls))))

    def visit(name: str, link) -> None:
        full = "/" + name
        if isinstance(link, h5py.ExternalLink):
            found.append(PickledNode(full, None, (f"external link to {link.filename}:{link.path}",)))
            return
        if isinstance(link, h5py.SoftLink):
            return  # its target is visited under its own name
        obj = f.get(name)
        if obj is None:
            return
        check_attributes(full, obj)
        if isinstance(obj, h5py.Dataset):
            check_rows(full, obj)

    with h5py.File(path, "r") as f:
        check_attributes("/", f)
        f.visititems_links(visit)
    return found
