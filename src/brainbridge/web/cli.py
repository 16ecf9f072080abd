"""``brainbridge serve``: the read-only web app."""

from __future__ import annotations

import click

# the web extra, imported here so that a missing one is reported as "install brainbridge[web]"
# by the command line (brainbridge.cli.LazyGroup), not as a traceback
import jinja2  # noqa: F401
import starlette  # noqa: F401
import uvicorn  # noqa: F401

from brainbridge.web import DEFAULT_HOST, DEFAULT_PORT


def _projects(values: tuple[str, ...]) -> dict[str, str]:
    import os

    projects: dict[str, str] = {}
    for value in values:
        name, sep, location = value.partition("=")
        if not sep or not name.strip() or not location.strip():
            raise click.BadParameter(f"use NAME=FOLDER, got {value!r}", param_hint="--ecephys")
        projects[name.strip()] = location.strip()
    source = os.environ.get("BRAINBRIDGE_ECEPHYS_SOURCE")
    if source and "default" not in projects:
        projects["default"] = source
    return projects


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to bind (the default serves this machine only).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--open", "open_browser", is_flag=True, help="Open the app in the web browser.")
@click.option(
    "--ecephys",
    "ecephys",
    multiple=True,
    metavar="NAME=FOLDER",
    help="An ecephys project to show at /ecephys/NAME (a folder of NWB files or a project store; "
    "repeatable; BRAINBRIDGE_ECEPHYS_SOURCE adds one called 'default').",
)
def serve(host: str, port: int, open_browser: bool, ecephys: tuple[str, ...]) -> None:
    """Serve a read-only web app: catalogs, assemblies, stimulus sets, models, scores, ecephys.

    \b
    Examples:
      brainbridge serve --open
      brainbridge serve --port 9000 --ecephys nwb=path/to/nwb/folder
    """
    from brainbridge.paths import safe_component
    from brainbridge.web import serve as run

    projects = _projects(ecephys)
    for name in projects:
        safe_component(name, "project name")  # names become URL parts
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: serving on {host}: other machines can read every catalogued file's summary", err=True
        )
    click.echo(f"brainbridge serve: http://{host}:{port}/ (read-only; Ctrl-C stops it)")
    run(host, port, open_browser=open_browser, ecephys=projects)
