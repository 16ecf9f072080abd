"""Progress of long work: one parameter (``progress``), one default rule, one helper.

Every long-running function in brainbridge takes ``progress: bool | None = None`` and wraps its
loop in :func:`progress_bar`:

* ``True``: a tqdm bar on stderr;
* ``False``: nothing;
* ``None`` (the default): a tqdm bar when stderr is a terminal; otherwise (a job log, a
  notebook's captured output, CI) a line at INFO level on the ``brainbridge.progress`` logger
  about every 10 % of the work (and one when it ends), so logs show progress without the
  carriage-return noise of a bar.

The object returned is a tqdm bar in every case (``update``, iteration, ``with``, ``close``,
``set_postfix``), so callers need no branches.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.std import tqdm

if importlib.util.find_spec("ipywidgets") is not None:
    # a widget bar in Jupyter, a text bar elsewhere; without ipywidgets, tqdm.auto would warn
    # ("IProgress not found") in every Jupyter kernel, so the text bar is kept there
    from tqdm.auto import tqdm

__all__ = ["LOGGER_NAME", "progress_bar", "resolve_progress"]

#: the logger that receives the progress lines off a terminal
LOGGER_NAME = "brainbridge.progress"
logger = logging.getLogger(LOGGER_NAME)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def resolve_progress(progress: bool | None) -> str:
    """``"bar"``, ``"log"`` or ``"off"``: what ``progress`` means here (see the module docstring)."""
    if progress is None:
        return "bar" if _stderr_is_terminal() else "log"
    return "bar" if progress else "off"


class _LoggedProgress(tqdm):
    """A tqdm bar that draws nothing and logs a line at each further tenth of its total."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._logged_tenth = 0
        kwargs["file"] = io.StringIO()  # tqdm's own drawing goes nowhere
        kwargs["mininterval"] = 0  # every update reaches display(), which decides
        kwargs["miniters"] = 1
        super().__init__(*args, **kwargs)

    # tqdm's display() returns True (its refresh ignores it); types-tqdm declares None
    def display(self, msg: str | None = None, pos: int | None = None) -> bool:  # type: ignore[override]  # noqa: ARG002 - a signature shared by its interface
        total = self.total
        if total:
            tenth = min(10, int(10 * self.n / total))
            if not hasattr(self, "start_t"):  # tqdm draws ``initial`` while it starts: not news
                self._logged_tenth = tenth
            elif tenth > self._logged_tenth:
                self._logged_tenth = tenth
                self._log(f"{100 * self.n / total:.0f}% ({self._amounts(self.n, total)})")
        return True

    def close(self) -> None:
        if not self.disable and hasattr(self, "start_t") and self._logged_tenth < 10:
            self._logged_tenth = 10
            self._log(f"done ({self._amounts(self.n, self.total)})")
        super().close()

    def _amounts(self, n: float, total: float | None) -> str:
        """``"3/25 img"``, ``"1.2MB/4.0MB"`` or, without a total, ``"5 it"``."""
        if self.unit_scale:
            done = self.format_sizeof(n, self.unit, self.unit_divisor)
            return f"{done}/{self.format_sizeof(total, self.unit, self.unit_divisor)}" if total else done
        return f"{n:g}/{total:g} {self.unit}" if total else f"{n:g} {self.unit}"

    def _log(self, text: str) -> None:
        # tqdm's own clock (a class attribute that types-tqdm leaves out)
        elapsed = self.format_interval(self._time() - self.start_t)  # type: ignore[attr-defined]
        logger.info("%s: %s in %s", self.desc or "progress", text, elapsed)


def progress_bar(
    iterable: Iterable | None = None,
    *,
    progress: bool | None = None,
    desc: str | None = None,
    total: float | None = None,
    unit: str = "it",
    **tqdm_options: Any,
) -> tqdm:
    """The progress bar of a loop, by the package's one rule (see the module docstring).

    Parameters
    ----------
    iterable
        Iterate over the returned bar to advance it; or pass ``total`` and call ``update``.
    progress
        ``True`` a bar, ``False`` nothing, ``None`` a bar on a terminal and INFO log lines
        otherwise.
    desc, total, unit
        As for :class:`tqdm.tqdm` (``desc`` also begins each log line).
    **tqdm_options
        Further tqdm options (``leave``, ``initial``, ``unit_scale``, ``unit_divisor``...).

    Returns
    -------
    tqdm.tqdm
    """
    mode = resolve_progress(progress)
    if mode == "log":
        return _LoggedProgress(iterable, desc=desc, total=total, unit=unit, **tqdm_options)
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=mode == "off", **tqdm_options)
