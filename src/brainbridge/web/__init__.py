"""``brainbridge serve``: a read-only local web app over the catalogs, the scores store, the model
registry and ecephys projects (application layer; needs the ``web`` extra).

>>> from brainbridge.web import create_app      # doctest: +SKIP
>>> app = create_app(ecephys={"nwb": "path/to/nwb/folder"})  # doctest: +SKIP

Pages: ``/`` (catalogs, searchable), ``/assemblies/<id>``, ``/stimulus-sets/<id>``,
``/models``, ``/models/<id>``, ``/scores`` (leaderboard), ``/ecephys/<project>``. See
:mod:`brainbridge.web.app` for the routes and :func:`serve` to run it.
"""

from __future__ import annotations

import threading
import webbrowser
from typing import Any

__all__ = ["create_app", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def create_app(**options: Any):
    """The Starlette app (see :func:`brainbridge.web.app.create_app`)."""
    from brainbridge.web.app import create_app as _create

    return _create(**options)


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    open_browser: bool = False,
    log_level: str = "warning",
    **options: Any,
) -> None:
    """Run the app with uvicorn until interrupted (binds ``127.0.0.1`` unless told otherwise).

    ``options`` go to :func:`create_app` (``ecephys=``, ``scores_store=``).
    """
    import matplotlib
    import uvicorn

    from brainbridge.web.app import LOOPBACK_HOSTS

    matplotlib.use("Agg")  # plots are rendered to SVG on request threads, never to a window
    if "allowed_hosts" not in options:
        # the loopback names, and the address it was asked to bind (a LAN address, 0.0.0.0: any name)
        options["allowed_hosts"] = ["*"] if host in ("0.0.0.0", "::") else sorted({*LOOPBACK_HOSTS, host})
    app = create_app(**options)
    if open_browser:
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level=log_level)
