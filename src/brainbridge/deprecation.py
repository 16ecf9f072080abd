"""Renamed parameters, commands and options keep working for one release, with a warning.

brainbridge uses one word per idea (``progress``, ``workers``, ``describe``, ``--json``,
``--region``, ``gabor_v1``); the words it used before are accepted until the next release and
say so with a :class:`DeprecationWarning` (and, on the command line, a line on stderr).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["cli_deprecated", "deprecated", "deprecated_alias_command", "renamed_parameters"]

F = TypeVar("F", bound=Callable[..., Any])


def deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (removed in the next release)."""
    warnings.warn(
        f"{old} is deprecated; use {new} (the old name goes in the next release)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_parameters(**renames: str) -> Callable[[F], F]:
    """Accept old keyword names (``old="new"``) with a :class:`DeprecationWarning`.

    Examples
    --------
    >>> @renamed_parameters(show_progress="progress")
    ... def run(*, progress=None):
    ...     return progress
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{function.__qualname__}() got both {old!r} and its new name {new!r}"
                        )
                    deprecated(f"{function.__qualname__}({old}=...)", f"{new}=...")
                    kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def cli_deprecated(old: str, new: str) -> None:
    """On the command line: a one-line note on stderr, plus the :class:`DeprecationWarning`."""
    import click

    click.echo(f"note: {old} is deprecated; use {new} (the old name goes in the next release)", err=True)
    deprecated(old, new, stacklevel=3)


def deprecated_alias_command(command: Any, old: str, new: str) -> Any:
    """A hidden copy of click ``command`` under the name ``old`` that notes it is deprecated."""
    import click

    def callback(*args: Any, **kwargs: Any) -> Any:
        cli_deprecated(old, new)
        return click.get_current_context().invoke(command.callback, *args, **kwargs)

    alias = click.Command(
        old.split()[-1],
        callback=callback,
        params=command.params,
        help=f"Deprecated: use {new}.",
        hidden=True,
        context_settings=command.context_settings,
    )
    return alias
