"""Rich displays for Jupyter: small, self-contained HTML summaries of assemblies and stimulus sets.

Every ``_repr_html_`` in brainbridge builds its HTML here (consumers, such as the encoding
``Score`` and model cards, reuse :func:`html_table` and :func:`html_block`). The summaries are
cheap and safe:

* an assembly's summary reads only its shape, dtype and coordinates, never its values (a lazily
  opened file stays unread);
* a stimulus set shows a few thumbnails, inline as base64 PNG (no file links, no network), each
  from a file no larger than :data:`MAX_THUMBNAIL_SOURCE_BYTES`;
* every text that comes from data (ids, names, attributes) is HTML-escaped.

Kept free of pandas, xarray and Pillow at import time: they are imported when a display is built.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Sequence
from typing import Any

from brainbridge.formatting import format_bytes, format_cell

__all__ = [
    "MAX_THUMBNAIL_SOURCE_BYTES",
    "assembly_html",
    "html_block",
    "html_table",
    "stimulus_set_html",
    "thumbnail_data_uri",
]

#: files larger than this are not opened for a thumbnail (a display must stay quick)
MAX_THUMBNAIL_SOURCE_BYTES = 20 * 1024 * 1024
#: coordinates with more values than this show no distinct-value count (counting costs time)
_MAX_COUNTED_VALUES = 200_000
_STYLE = (
    "<style>.bb-repr table{border-collapse:collapse;margin:2px 0 6px 0;font-size:12px}"
    ".bb-repr th,.bb-repr td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}"
    ".bb-repr th{background:#f4f4f4}.bb-repr .bb-title{font-weight:bold;font-size:13px}"
    ".bb-repr .bb-note{color:#666;font-size:11px}"
    ".bb-repr figure{display:inline-block;margin:2px;text-align:center;font-size:10px}</style>"
)


def escape(value: Any) -> str:
    """``str(value)``, HTML-escaped (quotes included)."""
    return html.escape(str(value), quote=True)


def html_table(rows: Iterable[Sequence[Any]], headers: Sequence[str] | None = None) -> str:
    """An HTML table of ``rows``; every cell is formatted like the text tables and escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers) if headers else ""
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(format_cell(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


def html_block(title: str, *parts: str, note: str | None = None) -> str:
    """The common frame of a brainbridge display: a bold (escaped) title, then HTML ``parts``."""
    footer = f"<div class='bb-note'>{escape(note)}</div>" if note else ""
    header = f"<div class='bb-title'>{escape(title)}</div>"
    return f"<div class='bb-repr'>{_STYLE}{header}{''.join(parts)}{footer}</div>"


# --------------------------------------------------------------------------------------
# assemblies
# --------------------------------------------------------------------------------------


def _is_loaded(array: Any) -> bool:
    """Whether the values are in memory (a lazily opened file or a dask array is not)."""
    if getattr(array, "chunks", None) is not None:
        return False
    return bool(getattr(array.variable, "_in_memory", True))


def _preview(values: Any, n: int = 4) -> str:
    """The first ``n`` distinct values (first-seen order), NaN as ``nan``."""
    import pandas as pd

    flat = values.ravel()
    try:
        distinct = pd.unique(pd.Series(flat[:_MAX_COUNTED_VALUES]))
    except TypeError:  # unhashable cells (lists)
        distinct = flat
    shown = ["nan" if isinstance(v, float) and v != v else format_cell(v) for v in list(distinct[:n])]
    return ", ".join(shown) + (", ..." if len(distinct) > n else "")


def _distinct(values: Any) -> int | str:
    import pandas as pd

    if values.size > _MAX_COUNTED_VALUES:
        return ""
    try:
        return int(pd.Series(values.ravel()).nunique(dropna=False))
    except TypeError:  # unhashable cells (lists): not countable
        return ""


def assembly_html(array: Any) -> str:
    """A dims-and-coordinates summary of a DataArray or assembly (never reads its values).

    Shows the class, the name, each dimension with its size, every non-index coordinate with
    its dimension, dtype, number of distinct values and first values, the stored attributes
    (by name), the size in memory once loaded, and whether the values are loaded yet.
    """
    dims = [(str(dim), int(size)) for dim, size in array.sizes.items()]
    shape = " × ".join(f"{dim}: {size}" for dim, size in dims) or "a scalar"
    rows = []
    for name, coord in array.coords.items():
        if name in array.dims and coord.dtype == object and coord.ndim == 1 and _is_multiindex(array, name):
            continue  # the MultiIndex itself: its levels are listed one by one
        values = coord.values
        rows.append(
            (
                str(name),
                ", ".join(map(str, coord.dims)) or "(scalar)",
                str(coord.dtype),
                _distinct(values) if coord.ndim else 1,
                _preview(values.ravel()) if coord.ndim else format_cell(values.item()),
            )
        )
    coords = html_table(rows, ["coordinate", "dim", "dtype", "distinct", "values"]) if rows else ""
    attrs = []
    for key, value in array.attrs.items():
        identifier = getattr(value, "identifier", None) if not isinstance(value, (str, int, float)) else None
        shown = f"{type(value).__name__} {identifier}" if identifier else format_cell(value)
        attrs.append((str(key), shown[:120] + ("..." if len(shown) > 120 else "")))
    attr_table = html_table(attrs, ["attribute", "value"]) if attrs else ""
    state = "values in memory" if _is_loaded(array) else "values not loaded yet (read on first use)"
    name = f" {array.name!r}" if array.name is not None else ""
    return html_block(
        f"{type(array).__name__}{name} ({shape})",
        coords,
        attr_table,
        note=f"{array.dtype}, {format_bytes(array.nbytes)}; {state}",
    )


def _is_multiindex(array: Any, name: Any) -> bool:
    import pandas as pd

    index = array.indexes.get(name)
    return isinstance(index, pd.MultiIndex)


# --------------------------------------------------------------------------------------
# stimulus sets
# --------------------------------------------------------------------------------------


def thumbnail_data_uri(path: str | os.PathLike, size: int = 64) -> str | None:
    """A ``data:image/png;base64,...`` thumbnail of an image file, or ``None`` when it cannot be made.

    Files that are missing, larger than :data:`MAX_THUMBNAIL_SOURCE_BYTES`, or not images
    (sounds, videos) give ``None``; the caller shows a placeholder.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        if os.path.getsize(path) > MAX_THUMBNAIL_SOURCE_BYTES:
            return None
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(buffer, format="PNG")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def stimulus_set_html(stimulus_set: Any, n_thumbnails: int = 8, n_rows: int = 5, size: int = 64) -> str:
    """A few thumbnails (the first ``n_thumbnails`` stimuli) and the first ``n_rows`` metadata rows."""
    import pandas as pd

    n = len(stimulus_set)
    ids = list(stimulus_set["stimulus_id"][:n_thumbnails]) if "stimulus_id" in stimulus_set.columns else []
    figures = []
    for sid in ids:
        try:
            path = stimulus_set.get_stimulus(sid)
        except KeyError:
            continue
        uri = thumbnail_data_uri(path, size)
        picture = (
            f"<img src='{uri}' alt='{escape(sid)}' width='{size}'/>"
            if uri
            else f"<div style='width:{size}px;height:{size}px;background:#eee'>{escape(path.suffix)}</div>"
        )
        figures.append(f"<figure>{picture}<figcaption>{escape(sid)}</figcaption></figure>")
    head = pd.DataFrame(stimulus_set.head(n_rows)).to_html(index=False, max_cols=12, escape=True, border=0)
    title = f"StimulusSet {stimulus_set.identifier or ''}".rstrip()
    title += f" ({n} stimuli, {len(stimulus_set.columns)} columns)"
    return html_block(title, f"<div>{''.join(figures)}</div>" if figures else "", head)
