"""Plain-text output shared by the command line and the example job: tables and byte sizes.

Kept free of pandas and xarray at import time so that a command that only prints stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

__all__ = ["format_bytes", "format_cell", "format_table"]


def format_table(rows: Any, headers: Sequence[str] | None = None) -> str:
    """Align rows into a plain-text table with a header and a rule.

    Numeric columns are right-aligned, the others left-aligned; floats show 6 significant
    digits; ``None`` and NaN are blank.

    Parameters
    ----------
    rows
        A pandas DataFrame, a list of dicts (keys become headers) or a list of sequences (with
        ``headers``).
    headers
        Column titles (default: the frame's columns or the first dict's keys).

    Returns
    -------
    str
        The table, without a trailing newline (``"(none)"`` when there are no rows).
    """
    if hasattr(rows, "itertuples") and hasattr(rows, "columns"):  # a DataFrame, without importing pandas
        headers = list(map(str, rows.columns)) if headers is None else list(headers)
        body = [list(r) for r in rows.itertuples(index=False, name=None)]
    else:
        rows = list(rows)
        if rows and isinstance(rows[0], dict):
            headers = list(rows[0]) if headers is None else list(headers)
            body = [[r.get(h, "") for h in headers] for r in rows]
        else:
            headers = list(headers or [])
            body = [list(r) for r in rows]
    if not body:
        return "(none)"
    cells = [[format_cell(v) for v in row] for row in body]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    numeric = [all(_is_number(row[i]) for row in body) for i in range(len(headers))]

    def line(values):
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)
        ).rstrip()

    return "\n".join(
        [line(list(map(str, headers))), line(["-" * w for w in widths]), *(line(row) for row in cells)]
    )


def _is_number(value: Any) -> bool:
    # numpy scalars register as numbers.Integral / numbers.Real
    return isinstance(value, (Integral, Real)) and not isinstance(value, bool)


def format_cell(value: Any) -> str:
    """One table cell: blank for ``None``/NaN, 6 significant digits for floats, ``str`` otherwise."""
    if value is None or (isinstance(value, Real) and not isinstance(value, Integral) and math.isnan(value)):
        return ""
    if isinstance(value, Real) and not isinstance(value, Integral):
        return f"{value:.6g}"
    return str(value)


def format_bytes(n: float) -> str:
    """A byte count in binary units: ``"512 B"``, ``"1.5 KiB"``, ... up to ``"TiB"``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
