"""The Starlette application of ``brainbridge serve``: read-only pages over the catalogs, the
scores store, the model registry and the configured ecephys projects.

Routes (every identifier is looked up, never used as a path):

``/``                                          catalogs and entries (search, kind, region, modality, size)
``/assemblies/{identifier}``                   dims, coordinates, sizes, checksum, location, plots
``/assemblies/{identifier}/plots/{name}.svg``  one summary plot
``/stimulus-sets/{identifier}``                thumbnail grid and metadata table
``/stimulus-sets/{identifier}/stimuli/{id}``   one stimulus (image, metadata)
``/stimulus-sets/{identifier}/thumbnails/{id}.png``, ``.../images/{id}``
``/models``, ``/models/{model_id}``             model cards
``/scores``, ``/scores/{id}``, ``/scores/{id}/neuroids.svg``   the leaderboard and per-neuroid plots
``/ecephys``, ``/ecephys/{project}``, ``/ecephys/{project}/sessions/{session}/units/{unit}[.svg]``
``/static/...``                                the app's own CSS and JS (no CDN)
"""

from __future__ import annotations

import math
import mimetypes
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from brainbridge._version import __version__
from brainbridge.errors import BrainbridgeError
from brainbridge.formatting import format_bytes
from brainbridge.web import data, plots
from brainbridge.web.errors import BadRequestError, NotFound

HERE = Path(__file__).resolve().parent
#: the leaderboard's sortable columns
SCORE_SORT_COLUMNS = (
    "model",
    "layer",
    "assembly",
    "region",
    "metric",
    "ceiled",
    "ceiled_error",
    "raw",
    "raw_error",
    "ceiling",
    "created",
)
#: the host names a request may name by default (the app binds 127.0.0.1)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
#: stimuli per page of a stimulus set's grid
GRID_PAGE = 120


def _number(value: Any, digits: int = 3) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(number) else f"{number:.{digits}f}"


def _records(frame) -> list[dict[str, Any]]:
    """A table's rows as dicts, missing values (NaN) as ``None``."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _size(value: Any) -> str:
    return "–" if value is None else format_bytes(value)


def _lifespan(projects: data.EcephysProjects):
    import contextlib

    @contextlib.asynccontextmanager
    async def lifespan(app):  # noqa: ARG001 - Starlette's lifespan signature
        yield
        projects.close()  # the NWB files opened for the ecephys pages

    return lifespan


def create_app(
    *,
    ecephys: dict[str, str] | None = None,
    scores_store: str | Path | None = None,
    allowed_hosts: list[str] | None = None,
    debug: bool = False,
):
    """The web app (a Starlette application; run it with uvicorn, or :func:`brainbridge.web.serve`).

    Parameters
    ----------
    ecephys
        ``{project name: location}`` of the ecephys projects to show (a folder of NWB files or a
        project store; see :meth:`brainbridge.ecephys.EcephysProjectCache.from_source`).
    scores_store
        The scores store to read (default: the one under ``BRAINBRIDGE_HOME``).
    allowed_hosts
        Host names the app answers (default: this machine's loopback names). Requests naming
        another host get a 400: a web page elsewhere cannot read the app through DNS rebinding.
    """
    import jinja2
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from brainbridge.encoding.scores_store import ScoresStore

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["number"] = _number
    environment.filters["size"] = _size
    environment.globals["version"] = __version__
    catalogs = data.Catalogs()
    stimulus_sets = data.StimulusSets()
    projects = data.EcephysProjects(ecephys)
    store = ScoresStore(scores_store, read_only=True)
    summaries: OrderedDict[tuple, data.AssemblySummary] = (
        OrderedDict()
    )  # the last few (<= 16 MB of values each)
    plot_cache: dict[tuple, bytes] = {}
    plot_lock = threading.Lock()  # matplotlib's font cache and ecephys plots are not thread safe

    def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = environment.get_template(template).render(request=request, path=request.url.path, **context)
        return HTMLResponse(html, status_code=status)

    def svg(content: bytes) -> Response:
        return Response(content, media_type="image/svg+xml", headers={"Cache-Control": "max-age=300"})

    def summary_of(identifier: str) -> data.AssemblySummary:
        entry = catalogs.get(identifier, "assembly")
        stat_key = (identifier, str(entry.path), entry.size, entry.sha1)
        if stat_key not in summaries:
            summaries[stat_key] = data.summarize_assembly(entry)
            while len(summaries) > 8:
                summaries.popitem(last=False)
        return summaries[stat_key]

    # -- pages --------------------------------------------------------------------------

    async def index(request: Request):
        query = request.query_params

        def bound(name: str) -> float | None:
            text = (query.get(name) or "").strip()
            if not text:
                return None
            try:
                return float(text)
            except ValueError:
                raise BadRequestError(f"{name} must be a number of megabytes, got {text[:40]!r}") from None

        entries = catalogs.entries()
        form = {k: query.get(k, "") for k in ("q", "kind", "region", "modality", "min_mb", "max_mb")}
        shown = data.filter_entries(
            entries,
            q=form["q"],
            kind=form["kind"],
            region=form["region"],
            modality=form["modality"],
            min_mb=bound("min_mb"),
            max_mb=bound("max_mb"),
        )
        by_catalog: dict[str, list] = {}
        for entry in entries:
            by_catalog.setdefault(entry.catalog, []).append(entry)
        return page(
            request,
            "index.html",
            entries=shown,
            total=len(entries),
            form=form,
            catalogs=by_catalog,
            kinds=sorted({e.kind for e in entries}),
            modalities=sorted({e.modality for e in entries}),
            regions=sorted({r for e in entries for r in e.regions}),
        )

    async def assembly(request: Request):
        identifier = request.path_params["identifier"]
        summary = summary_of(identifier)
        per_neuroid = data.reliability(summary)
        regions = []
        if per_neuroid is not None:
            for region, columns in plots._by_region(summary):
                r = per_neuroid[columns]
                regions.append(
                    {
                        "region": region,
                        "neuroids": len(columns),
                        "median": float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan"),
                    }
                )
        return page(
            request,
            "assembly.html",
            s=summary,
            e=summary.entry,
            plots=plots.plots_for(summary),
            regions=regions,
        )

    async def assembly_plot(request: Request):
        identifier, name = request.path_params["identifier"], request.path_params["name"]
        summary = summary_of(identifier)
        if name not in plots.plots_for(summary):
            raise NotFound(f"no plot called {name!r}; plots: {', '.join(plots.plots_for(summary))}")
        key = ("assembly", identifier, name, summary.entry.sha1)
        with plot_lock:
            if key not in plot_cache:
                plot_cache[key] = plots.assembly_plot(summary, name)
        return svg(plot_cache[key])

    async def stimulus_set(request: Request):
        identifier = request.path_params["identifier"]
        entry = catalogs.get(identifier, "stimulus set")
        stimuli = stimulus_sets.get(identifier)
        try:
            start = max(0, int(request.query_params.get("start", "0")))
        except ValueError:
            raise BadRequestError("start must be a whole number") from None
        columns = [c for c in stimuli.columns if c != "stimulus_path_within_store"]
        shown = stimuli.iloc[start : start + GRID_PAGE]
        rows = [{c: row[c] for c in columns} for _, row in shown.iterrows()]
        return page(
            request,
            "stimulus_set.html",
            e=entry,
            n=len(stimuli),
            columns=columns,
            rows=rows,
            start=start,
            page_size=GRID_PAGE,
        )

    async def stimulus(request: Request):
        identifier, stimulus_id = request.path_params["identifier"], request.path_params["stimulus_id"]
        stimuli = stimulus_sets.get(identifier)
        stimulus_sets.stimulus_path(identifier, stimulus_id)  # 404 for an unknown id
        ids = stimuli["stimulus_id"].astype(str)
        row = stimuli[ids == stimulus_id]
        metadata = {} if row.empty else {str(k): v for k, v in row.iloc[0].items()}
        position = int(np.flatnonzero(ids.to_numpy() == stimulus_id)[0]) if not row.empty else 0
        neighbours = {
            "previous": ids.iloc[position - 1] if position > 0 else None,
            "next": ids.iloc[position + 1] if position + 1 < len(ids) else None,
        }
        return page(
            request,
            "stimulus.html",
            identifier=identifier,
            stimulus_id=stimulus_id,
            metadata=metadata,
            neighbours=neighbours,
        )

    async def thumbnail(request: Request):
        identifier, stimulus_id = request.path_params["identifier"], request.path_params["stimulus_id"]
        path = stimulus_sets.thumbnail(identifier, stimulus_id)
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    async def image(request: Request):
        identifier, stimulus_id = request.path_params["identifier"], request.path_params["stimulus_id"]
        path = stimulus_sets.stimulus_path(identifier, stimulus_id)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if not media_type.startswith("image/"):
            raise NotFound(f"stimulus {stimulus_id!r} is not an image ({media_type})")
        return FileResponse(path, media_type=media_type)

    async def models(request: Request):
        from brainbridge.encoding.registry import list_cards

        cards = list_cards()
        return page(request, "models.html", cards=cards)

    async def model(request: Request):
        from brainbridge.encoding.errors import ModelNotFoundError
        from brainbridge.encoding.models import describe

        model_id = request.path_params["model_id"]
        try:
            card = describe(model_id)
        except ModelNotFoundError as e:
            raise NotFound(str(e)) from None
        table = store.table()
        scores = _records(table[table["model"] == model_id]) if not table.empty else []
        return page(request, "model.html", card=card, scores=scores)

    async def scores(request: Request):
        table = store.table()
        sort = request.query_params.get("sort", "ceiled")
        order = request.query_params.get("order", "desc")
        if sort not in SCORE_SORT_COLUMNS:
            raise BadRequestError(f"cannot sort by {sort[:40]!r}; columns: {', '.join(SCORE_SORT_COLUMNS)}")
        if order not in ("asc", "desc"):
            raise BadRequestError("order must be asc or desc")
        if not table.empty:
            if sort in ("ceiled",):  # unceiled scores rank by their raw value after the ceiled ones
                table = table.assign(_key=table["ceiled"]).sort_values(
                    ["_key", "raw"], ascending=order == "asc", na_position="last", kind="stable"
                )
            else:
                table = table.sort_values(sort, ascending=order == "asc", na_position="last", kind="stable")
        benchmarks = []
        if not table.empty:
            benchmarks = sorted({(r.assembly, r.region, r.metric) for r in table.itertuples()})
        matrix: dict[str, dict[tuple, Any]] = {}
        for row in _records(table):
            matrix.setdefault(row["model"], {})[(row["assembly"], row["region"], row["metric"])] = row

        def link(column: str) -> str:
            flip = "asc" if (sort == column and order == "desc") else "desc"
            return "?" + urlencode({"sort": column, "order": flip})

        from brainbridge.encoding.registry import list_cards

        card_ids = {card.model_id for card in list_cards()}
        return page(
            request,
            "scores.html",
            rows=_records(table),
            card_ids=card_ids,
            sort=sort,
            order=order,
            link=link,
            benchmarks=benchmarks,
            matrix=matrix,
            store=store,
        )

    async def score_detail(request: Request):
        row = _score_row(request)
        neuroids = row["neuroids"]
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        return page(request, "score.html", row=row, neuroids=_records(neuroids))

    def _score_row(request: Request) -> dict[str, Any]:
        try:
            score_id = int(request.path_params["score_id"])
        except ValueError:
            raise NotFound(
                f"no score {request.path_params['score_id'][:40]!r}: score ids are numbers"
            ) from None
        row = store.get(score_id)
        if row is None:
            raise NotFound(f"no score with id {score_id} in the scores store")
        return row

    async def score_plot(request: Request):
        row = _score_row(request)
        title = f"{row['model']}\non {row['assembly']}, {row['region']} ({row['metric']})"
        with plot_lock:
            content = plots.neuroid_plot(row["neuroids"], title)
        return svg(content)

    async def ecephys_index(request: Request):
        return page(request, "ecephys_index.html", projects=projects.locations)

    async def ecephys_project(request: Request):
        name = request.path_params["project"]
        cache = projects.cache(name)
        filters, form = data.unit_filters(dict(request.query_params))
        with projects.lock:
            sessions = cache.get_session_table()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                units = cache.get_units(**filters)
        session_rows = [{"id": str(i), **dict(row.items())} for i, row in sessions.iterrows()]
        session_columns = [
            c
            for c in (
                "session_type",
                "specimen_id",
                "species",
                "sex",
                "age_in_days",
                "unit_count",
                "channel_count",
                "probe_count",
                "ecephys_structure_acronyms",
            )
            if c in sessions.columns
        ]
        unit_columns = [
            c
            for c in (
                "ecephys_session_id",
                "ecephys_structure_acronym",
                "spike_count",
                "firing_rate",
                "quality",
                "amplitude_cutoff",
                "presence_ratio",
                "isi_violations",
            )
            if c in units.columns
        ]
        unit_rows = []
        for unit_id, row in units.iterrows():
            unit_rows.append(
                {
                    "id": str(unit_id),
                    "session": str(row.get("ecephys_session_id", "")),
                    "local": str(row.get("nwb_unit_id", unit_id)),
                    **{c: row[c] for c in unit_columns},
                }
            )
        query = urlencode(form)
        return page(
            request,
            "ecephys.html",
            name=name,
            sessions=session_rows,
            session_columns=session_columns,
            units=unit_rows,
            unit_columns=unit_columns,
            form=form,
            filters=data.UNIT_FILTERS,
            query=query,
        )

    def _unit(request: Request):
        name = request.path_params["project"]
        session_id = request.path_params["session_id"]
        filters, form = data.unit_filters(dict(request.query_params))
        session = projects.session(name, session_id, filters)
        unit_text = request.path_params["unit_id"]
        with projects.lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matches = [u for u in session.units.index if str(u) == unit_text]
        if not matches:
            raise NotFound(
                f"session {session_id!r} of project {name!r} has no unit {unit_text!r} "
                "(with these quality filters)"
            )
        return name, session_id, session, matches[0], form

    def _window(request: Request) -> tuple[tuple[float, float], float]:
        try:
            before = float(request.query_params.get("before", "-0.5"))
            after = float(request.query_params.get("after", "1.5"))
            bin_size = float(request.query_params.get("bin", "0.05"))
        except ValueError:
            raise BadRequestError("before, after and bin must be numbers of seconds") from None
        if not (before < after and 0 < bin_size <= after - before) or (after - before) / bin_size > 10_000:
            raise BadRequestError("need before < after and 0 < bin <= after - before (at most 10000 bins)")
        return (before, after), bin_size

    async def unit(request: Request):
        name, session_id, session, unit_id, form = _unit(request)
        window, bin_size = _window(request)
        with projects.lock, warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # filters a file's units table cannot apply: said on the project page
            info = {str(k): v for k, v in session.units.loc[unit_id].items()}
            n_presentations = len(session.stimulus_presentations)
        query = urlencode({**form, "before": window[0], "after": window[1], "bin": bin_size})
        return page(
            request,
            "unit.html",
            name=name,
            session_id=session_id,
            unit_id=str(unit_id),
            info=info,
            n_presentations=n_presentations,
            form=form,
            query=query,
            window=window,
            bin_size=bin_size,
        )

    async def unit_plot(request: Request):
        name, session_id, session, unit_id, _form = _unit(request)
        window, bin_size = _window(request)
        with projects.lock, plot_lock:
            try:
                content = plots.unit_plot(session, unit_id, window, bin_size)
            except BrainbridgeError as e:
                from matplotlib.figure import Figure

                figure = Figure(figsize=(6.4, 1.2))
                figure.text(0.5, 0.5, f"no raster: {e}", ha="center", va="center", color="#555")
                content = plots.to_svg(figure)
        return svg(content)

    # -- errors -------------------------------------------------------------------------

    async def not_found(request: Request, exc: Exception):
        message = getattr(exc, "detail", None) if isinstance(exc, HTTPException) else str(exc)
        if isinstance(exc, HTTPException) and exc.status_code != 404:
            return page(
                request,
                "error.html",
                status=exc.status_code,
                status_code=exc.status_code,
                title="Request refused",
                message=str(message),
            )
        if isinstance(exc, HTTPException):
            message = f"nothing is served at {request.url.path}"
        return page(request, "error.html", status=404, status_code=404, title="Not found", message=message)

    async def bad_request(request: Request, exc: Exception):
        return page(request, "error.html", status=400, status_code=400, title="Bad request", message=str(exc))

    async def failed(request: Request, exc: Exception):
        return page(
            request,
            "error.html",
            status=500,
            status_code=500,
            title="This page could not be made",
            message=str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__,
        )

    routes = [
        Route("/", index),
        Route("/assemblies/{identifier}", assembly),
        Route("/assemblies/{identifier}/plots/{name}.svg", assembly_plot),
        Route("/stimulus-sets/{identifier}", stimulus_set),
        Route("/stimulus-sets/{identifier}/stimuli/{stimulus_id}", stimulus),
        Route("/stimulus-sets/{identifier}/thumbnails/{stimulus_id}.png", thumbnail),
        Route("/stimulus-sets/{identifier}/images/{stimulus_id}", image),
        Route("/models", models),
        Route("/models/{model_id}", model),
        Route("/scores", scores),
        Route("/scores/{score_id}", score_detail),
        Route("/scores/{score_id}/neuroids.svg", score_plot),
        Route("/ecephys", ecephys_index),
        Route("/ecephys/{project}", ecephys_project),
        Route("/ecephys/{project}/sessions/{session_id}/units/{unit_id}", unit),
        Route("/ecephys/{project}/sessions/{session_id}/units/{unit_id}/plot.svg", unit_plot),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    hosts = list(allowed_hosts) if allowed_hosts is not None else list(LOOPBACK_HOSTS)
    app = Starlette(
        debug=debug,
        routes=routes,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
        exception_handlers={
            404: not_found,
            HTTPException: not_found,
            NotFound: not_found,
            BadRequestError: bad_request,
            BrainbridgeError: failed,
        },
        lifespan=_lifespan(projects),
    )
    app.state.projects = projects
    app.state.store = store
    return app


__all__ = ["create_app"]
