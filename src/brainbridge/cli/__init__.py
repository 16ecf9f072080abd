"""The ``brainbridge`` command line.

Subcommands live in their own modules and are imported only when used, so ``brainbridge
--help`` stays fast and a job whose extra is not installed does not break the others.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import click

from brainbridge.errors import BrainbridgeError

#: command name -> (module, attribute, one-line help, extra that provides it)
COMMANDS: dict[str, tuple[str, str, str, str | None]] = {
    "catalogs": ("brainbridge.cli.core", "catalogs", "List the installed catalogs.", None),
    "list": ("brainbridge.cli.core", "list_command", "List catalogued assemblies and stimulus sets.", None),
    "describe": ("brainbridge.cli.core", "describe", "Describe an assembly, stimulus set or catalog.", None),
    "fetch": ("brainbridge.cli.core", "fetch", "Fetch catalogued files into the cache.", None),
    "validate": (
        "brainbridge.cli.core",
        "validate",
        "Validate a netCDF/zarr assembly, stimulus set or catalog.",
        None,
    ),
    "package": (
        "brainbridge.cli.core",
        "package",
        "Package stimulus sets and assemblies into a catalog.",
        None,
    ),
    "example": (
        "brainbridge.cli.core",
        "example",
        "The bundled example: build it and run the main job.",
        None,
    ),
    "cache": ("brainbridge.cli.cache", "cache", "Inspect, verify and clean the download cache.", None),
    "ecephys": ("brainbridge.ecephys.cli", "ecephys", "Electrophysiology projects over NWB.", "ecephys"),
    "score": (
        "brainbridge.encoding.cli",
        "score",
        "Score features or a model against neural data.",
        "encoding",
    ),
    "encoding": ("brainbridge.encoding.cli", "encoding", "Encoding models: list, train, encode.", "encoding"),
    "data": ("brainbridge.data.cli", "data", "Training data for machine learning.", "ml"),
    "serve": (
        "brainbridge.web.cli",
        "serve",
        "Serve a read-only web app of the catalogs, scores and models.",
        "web",
    ),
}


#: deprecated command name -> the command's name now (kept for one release, hidden from --help)
ALIASES: dict[str, str] = {"show": "describe"}


def _available(module: str) -> bool:
    """Whether a subcommand's module is part of this installation.

    Looked up as a file, without importing: importing ``brainbridge.encoding`` just to list
    the commands would make ``brainbridge --help`` take seconds.
    """
    parts = module.split(".")
    if parts[0] != "brainbridge":
        return importlib.util.find_spec(module) is not None
    root = Path(__file__).resolve().parents[1]
    path = root.joinpath(*parts[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx):  # noqa: ARG002 - a signature shared by its interface
        return sorted(name for name, (module, *_rest) in COMMANDS.items() if _available(module))

    def get_command(self, ctx, name):
        if name in ALIASES:
            from brainbridge.deprecation import deprecated_alias_command

            command = self.get_command(ctx, ALIASES[name])
            return (
                None
                if command is None
                else deprecated_alias_command(command, f"brainbridge {name}", f"brainbridge {ALIASES[name]}")
            )
        if name not in COMMANDS:
            return None
        module, attribute, _help, extra = COMMANDS[name]
        if not _available(module):
            return None
        try:
            return getattr(importlib.import_module(module), attribute)
        except ImportError as e:
            hint = f" (install it with: pip install 'brainbridge[{extra}]')" if extra else ""
            if (e.name or "").split(".")[0] == "torch":  # no extra provides torch
                hint = " (install it separately: pip install torch==2.13.0)"
            raise click.ClickException(
                f"'{name}' needs a package that is not installed: {e.name}{hint}"
            ) from e

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrainbridgeError as e:
            # one line, non-zero exit: the reason, not a traceback
            raise click.ClickException(str(e)) from e


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="brainbridge")
def main():
    """brainbridge: data exchange, fetching, NWB electrophysiology, encoding models and ML data."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
