"""Running brainbridge's work on Dask: one machine's cores or any existing cluster.

Nothing here is a scheduler or a worker protocol of its own: :func:`get_client` returns a
:class:`dask.distributed.Client` (an existing one, one connected to a scheduler address, or one
on a new :class:`~dask.distributed.LocalCluster`), :func:`map_tasks` fans a pure function out
over items with the big inputs scattered once, and :func:`write_zarr_regions` lets every task
write its own slice of a zarr store, resumably.

BLAS oversubscription is the first thing that goes wrong on a cluster: a worker process whose
numpy/scikit-learn/torch each start one thread per core, times several workers per machine,
runs many times slower (measured: a ridge loop 17x slower with two BLAS threads competing on
two cores). Workers started here get ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/
``OPENBLAS_NUM_THREADS``... set before they start, and every worker (also those of a cluster
you bring) gets its thread pools limited with :mod:`threadpoolctl` by a worker plugin.

``dask`` and ``distributed`` (the ``[dask]`` extra) are imported inside the functions, so this
module imports without them; :func:`write_zarr_regions` runs without them too when no client is
asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainbridge.deprecation import renamed_parameters
from brainbridge.errors import ParallelError, TaskFailedError, ValidationError
from brainbridge.threads import BLAS_ENV_VARS, blas_thread_env, limit_blas_threads

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "BLAS_ENV_VARS",
    "ParallelError",
    "TaskFailedError",
    "ArraySpec",
    "blas_thread_env",
    "completed_regions",
    "dask_map",
    "distributed_map",
    "get_client",
    "limit_blas_threads",
    "map_tasks",
    "region_bounds",
    "write_zarr_regions",
]

_PLUGIN_NAME = "brainbridge-blas-threads"
_MARKER_DIR = "_brainbridge_regions"


def _require_distributed():
    try:
        import distributed
    except ImportError as e:  # pragma: no cover - the [dask] extra is installed in tests
        raise ParallelError(
            "distributed work needs dask and distributed: pip install 'brainbridge[dask]'"
        ) from e
    return distributed


# --------------------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------------------


def _blas_plugin(n_threads: int):
    """A worker plugin that limits the BLAS pools of every worker, including later ones."""
    distributed: Any = _require_distributed()  # a module imported at run time

    class BlasThreads(distributed.WorkerPlugin):
        name = _PLUGIN_NAME

        def __init__(self, n: int):
            self.n = n

        def setup(self, worker):  # noqa: ARG002 - a signature shared by its interface
            limit_blas_threads(self.n)

    return BlasThreads(n_threads)


# --------------------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------------------


def get_client(
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    *,
    blas_threads: int | None = None,
    memory_limit: str | float | None = "auto",
    **cluster_kwargs: Any,
) -> Client:
    """A Dask client: the one given, one connected to ``scheduler``, or a new local cluster.

    Parameters
    ----------
    client
        An existing :class:`distributed.Client`; returned as it is (its workers get their BLAS
        pools limited, see ``blas_threads``).
    scheduler
        A scheduler address (``tcp://host:8786``) of a running cluster: local, SLURM through
        dask-jobqueue, Kubernetes...
    workers
        Start a :class:`distributed.LocalCluster` with this many worker *processes*.
    threads_per_worker
        Threads (concurrent tasks) per worker of a new local cluster.
    blas_threads
        BLAS/OpenMP threads per task. Default 1, the safe choice that avoids
        oversubscription; raise it when each worker has spare cores (cores per worker divided
        by ``threads_per_worker``).
    memory_limit
        Per-worker memory limit of a new local cluster (Dask's default ``"auto"`` splits the
        machine's memory).
    **cluster_kwargs
        Passed to :class:`distributed.LocalCluster`.

    Returns
    -------
    distributed.Client
        The caller owns a client created here: close it (``client.close()``; the local cluster
        closes with it) or use it as a context manager.

    Raises
    ------
    ParallelError
        Several sources given, none given, or the scheduler cannot be reached.
    """
    given = [
        name for name, value in (("client", client), ("scheduler", scheduler), ("workers", workers)) if value
    ]
    if len(given) > 1:
        raise ParallelError(f"give one of client=, scheduler= or workers=, not {' and '.join(given)}")
    if not given:
        raise ParallelError("give a Dask client=, a scheduler= address (tcp://...) or a number of workers=")
    distributed = _require_distributed()
    n_blas = 1 if blas_threads is None else int(blas_threads)
    env = blas_thread_env(n_blas)
    if client is not None:
        result = client
    elif scheduler is not None:
        try:
            result = distributed.Client(scheduler, timeout=cluster_kwargs.pop("timeout", "30s"))
        except (OSError, TimeoutError) as e:
            raise ParallelError(f"cannot connect to the Dask scheduler at {scheduler}: {e}") from e
    else:
        assert workers is not None  # the only source left (checked above)
        if int(workers) < 1 or int(threads_per_worker) < 1:
            raise ParallelError(
                f"workers and threads_per_worker must be >= 1, got {workers}, {threads_per_worker}"
            )
        cluster_kwargs.setdefault("dashboard_address", None)
        cluster_kwargs.setdefault("silence_logs", 40)  # logging.ERROR
        # set before the worker processes start: libraries read them once, at load time
        cluster_kwargs["env"] = {**env, **cluster_kwargs.get("env", {})}
        # Client(**cluster options) starts a LocalCluster that it owns and closes with itself
        result = distributed.Client(
            n_workers=int(workers),
            threads_per_worker=int(threads_per_worker),
            processes=cluster_kwargs.pop("processes", True),
            memory_limit=memory_limit,
            set_as_default=False,
            **cluster_kwargs,
        )
    result.register_plugin(_blas_plugin(n_blas), name=_PLUGIN_NAME)
    return result


# --------------------------------------------------------------------------------------
# mapping tasks
# --------------------------------------------------------------------------------------


def _progress(total: int, show: bool | None, desc: str):
    from brainbridge.progress import progress_bar

    return progress_bar(total=total, desc=desc, unit="task", progress=show)


@renamed_parameters(show_progress="progress")
def map_tasks(
    fn: Callable[..., Any],
    items: Iterable[Any],
    client: Client,
    *,
    broadcast: Mapping[str, Any] | None = None,
    retries: int = 2,
    progress: bool | None = None,
    desc: str = "tasks",
    key_prefix: str | None = None,
    progress_bar: Any = None,
) -> list[Any]:
    """Run ``fn(item, **broadcast)`` for every item on the cluster; results in input order.

    The ``broadcast`` values (big arrays, assemblies) are scattered once
    (``client.scatter(..., broadcast=True)`` when there are at least as many tasks as
    workers; otherwise to two workers, from where Dask copies them once to each worker that
    runs a task) and passed to each task by reference, never re-sent with each task. Each task
    is submitted with Dask's ``retries``; a worker that dies mid-task has its task rescheduled
    by Dask on another worker. A tqdm bar counts tasks done (``distributed.as_completed``).

    Parameters
    ----------
    fn
        A pure function of ``(item, **broadcast)``; it runs in the worker processes, so it must
        be importable or picklable (cloudpickle).
    items
        The inputs, one task each.
    client
        A :class:`distributed.Client` (see :func:`get_client`).
    broadcast
        ``{keyword: value}`` shared by every task.
    retries
        Extra attempts Dask makes for a task that raised.
    progress
        ``True``/``False``, or ``None`` for "when stderr is a terminal".
    desc
        Label of the progress bar.
    key_prefix
        Prefix of the task keys shown on the dashboard (default: the function's name).
    progress_bar
        An open tqdm bar to advance instead of a new one (several concurrent maps, one bar).

    Returns
    -------
    list
        ``[fn(item, **broadcast) for item in items]``, computed on the cluster.

    Raises
    ------
    TaskFailedError
        A task still failed after its retries (the other tasks are cancelled); the original
        exception is chained.
    """
    distributed = _require_distributed()
    items = list(items)
    if not items:
        return []
    scattered: dict[str, Any] = {}
    if broadcast:
        # one scatter for all values: each lands on every worker once, tasks get references.
        # A list (not the dict) so every call gets fresh random keys: a dict's keys would
        # become the data keys and collide between calls.
        names = list(broadcast)
        n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {})) or 1
        # to every worker when the tasks will reach every worker; with fewer tasks than
        # workers (a 10-split score on a 64-worker cluster) to two workers, from where Dask
        # copies it to the workers that run a task (each copy once): a dead worker never
        # holds the only copy, and idle workers receive nothing
        everywhere = len(items) >= n_workers
        futures = client.scatter([broadcast[n] for n in names], broadcast=everywhere, hash=False)
        if not everywhere and n_workers > 1:
            client.replicate(futures, n=2)
        scattered = dict(zip(names, futures))
    prefix = key_prefix or getattr(fn, "__name__", "task").strip("<>")
    token = os.urandom(6).hex()
    futures = [
        client.submit(fn, item, **scattered, retries=retries, pure=False, key=f"{prefix}-{token}-{i}")
        for i, item in enumerate(items)
    ]
    position = {future.key: i for i, future in enumerate(futures)}
    try:
        with _progress(len(futures), progress if progress_bar is None else False, desc) as own_bar:
            bar = own_bar if progress_bar is None else progress_bar
            for future in distributed.as_completed(futures, loop=client.loop, raise_errors=False):
                if future.status == "error":
                    i = position[future.key]
                    error = future.exception()
                    raise TaskFailedError(
                        f"task {i} ({items[i]!r}) failed after {retries} retries: "
                        f"{type(error).__name__}: {error}",
                        item=items[i],
                    ) from error
                bar.update(1)
        return client.gather(futures)
    finally:
        client.cancel(futures)
        if scattered:
            client.cancel(list(scattered.values()))


#: arrays at least this big are scattered once instead of being sent with every task
_BROADCAST_BYTES = 64 * 1024


def _is_big(value: Any) -> bool:
    nbytes = getattr(value, "nbytes", None)
    return isinstance(nbytes, (int, np.integer)) and bool(nbytes >= _BROADCAST_BYTES)


class _Positional:
    """Call ``function`` with per-item arguments and broadcast ones put back in position."""

    def __init__(self, function: Callable, n_args: int, varying: list[int], constants: dict[int, Any]):
        self.function = function
        self.n_args = n_args
        self.varying = varying
        self.constants = constants

    def __call__(self, item: tuple, **shared: Any) -> Any:
        args: list[Any] = [None] * self.n_args
        for position, value in zip(self.varying, item):
            args[position] = value
        for position, value in self.constants.items():
            args[position] = value
        for name, value in shared.items():
            args[int(name[1:])] = value
        return self.function(*args)


@renamed_parameters(show_progress="progress")
def dask_map(
    client: Client,
    *,
    retries: int = 2,
    progress: bool | None = None,
    progress_bar: Any = None,
    desc: str = "tasks",
) -> Callable[..., list[Any]]:
    """A ``map(function, *iterables)`` that runs on ``client``, scattering shared data once.

    An argument that is the *same object* in every call and is big (an array of 64 KiB or
    more) is scattered to every worker once and passed by reference; other shared arguments
    travel inside the (small) task function. This is the ``map_fn`` that
    :func:`brainbridge.encoding.score` accepts.
    """

    def map_fn(function: Callable, *iterables: Iterable[Any]) -> list[Any]:
        columns = [list(column) for column in iterables]
        if not columns or not columns[0]:
            return []
        n = len(columns[0])
        if any(len(column) != n for column in columns):
            raise ValidationError("map_fn needs iterables of the same length")
        varying, constants, shared = [], {}, {}
        for position, column in enumerate(columns):
            first = column[0]
            if all(value is first for value in column[1:]):
                if _is_big(first):
                    shared[f"a{position}"] = first
                else:
                    constants[position] = first
            else:
                varying.append(position)
        items = [tuple(columns[p][i] for p in varying) for i in range(n)]
        task = _Positional(function, len(columns), varying, constants)
        return map_tasks(
            task,
            items,
            client,
            broadcast=shared,
            retries=retries,
            progress=progress,
            desc=desc,
            key_prefix=getattr(function, "__name__", "task"),
            progress_bar=progress_bar,
        )

    return map_fn


@renamed_parameters(show_progress="progress")
@contextlib.contextmanager
def distributed_map(
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    progress: bool | None = None,
    **kwargs: Any,
):
    """Context manager yielding a :func:`dask_map` on a client from :func:`get_client`.

    A client created here (from ``scheduler`` or ``workers``) is closed on exit; a given one
    is left open.
    """
    own = client is None
    active = get_client(client=client, scheduler=scheduler, workers=workers)
    try:
        yield dask_map(active, progress=progress, **kwargs)
    finally:
        if own:
            active.close()


# --------------------------------------------------------------------------------------
# zarr regions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArraySpec:
    """One array of a region store: shape beyond the first (item) axis, dtype, and for
    xarray readers the dimension names and attributes (e.g. a CF ``coordinates`` list)."""

    tail: tuple[int, ...]
    dtype: np.dtype
    fill_value: Any = None
    dims: tuple[str, ...] | None = None
    attrs: Mapping[str, Any] | None = None


def region_bounds(n_items: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n_items)`` in blocks of ``chunk_size``."""
    if chunk_size < 1:
        raise ValidationError(f"chunk_size must be >= 1, got {chunk_size}")
    return [(start, min(start + chunk_size, n_items)) for start in range(0, n_items, chunk_size)]


def _specs(arrays: Mapping[str, Any]) -> dict[str, ArraySpec]:
    specs = {}
    for name, spec in arrays.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith(_MARKER_DIR):
            raise ValidationError(f"invalid array name {name!r} (letters, digits, '_', '.', '-')")
        if isinstance(spec, ArraySpec):
            specs[name] = spec
        else:
            tail, dtype = spec
            specs[name] = ArraySpec(tuple(int(n) for n in tail), np.dtype(dtype))
    if not specs:
        raise ValidationError("give at least one array: arrays={'name': (tail_shape, dtype)}")
    return specs


def _fs_and_root(store: str | os.PathLike, storage_options: Mapping[str, Any] | None):
    import fsspec

    fs, root = fsspec.core.url_to_fs(os.fspath(store), **dict(storage_options or {}))
    return fs, root.rstrip("/")


def _open_group(store: str | os.PathLike, storage_options, mode: Literal["r", "r+", "a", "w", "w-"]):
    import zarr

    path = os.fspath(store)
    kwargs: dict[str, Any] = (
        {"storage_options": dict(storage_options)} if storage_options and "://" in path else {}
    )
    return zarr.open_group(path, mode=mode, **kwargs)


def _prepare_store(
    store, n_items: int, chunk_size: int, specs: dict[str, ArraySpec], attrs, storage_options, coords=None
) -> None:
    """Create the group and its arrays, or check that an existing store has the same layout."""
    import zarr

    try:
        group = _open_group(store, storage_options, mode="a")
    except Exception as e:
        raise ParallelError(f"cannot open or create the zarr store {os.fspath(store)}: {e}") from e
    for name, spec in specs.items():
        shape = (n_items, *spec.tail)
        chunks = (chunk_size, *spec.tail)
        if name in group:
            existing = group[name]
            if not isinstance(existing, zarr.Array):
                raise ParallelError(f"{os.fspath(store)}/{name} is a group, not an array")
            if existing.shape != shape or existing.chunks != chunks or existing.dtype != spec.dtype:
                raise ParallelError(
                    f"{os.fspath(store)}/{name} holds shape {existing.shape}, chunks {existing.chunks}, "
                    f"dtype {existing.dtype}; this run writes shape {shape}, chunks {chunks}, dtype "
                    f"{spec.dtype} (use another store, or delete it to start over)"
                )
            continue
        fill = spec.fill_value if spec.fill_value is not None else (np.nan if spec.dtype.kind in "fc" else 0)
        array = group.create_array(
            name, shape=shape, chunks=chunks, dtype=spec.dtype, fill_value=fill, dimension_names=spec.dims
        )
        if spec.attrs:
            array.attrs.update(dict(spec.attrs))
    for name, (dim, values) in (coords or {}).items():
        if name in group:
            continue
        values = np.asarray(values)
        if values.dtype.kind in "OUS":
            values = values.astype(str).astype(object)
            array = group.create_array(name, shape=values.shape, dtype=str, dimension_names=(dim,))
        else:
            array = group.create_array(name, shape=values.shape, dtype=values.dtype, dimension_names=(dim,))
        array[...] = values
    if attrs:
        group.attrs.update(dict(attrs))


def _marker(root: str, start: int, stop: int) -> str:
    return f"{root}/{_MARKER_DIR}/{start:012d}-{stop:012d}.json"


def completed_regions(store: str | os.PathLike, *, storage_options: Mapping[str, Any] | None = None) -> set:
    """The ``(start, stop)`` regions of a store whose data is completely written."""
    fs, root = _fs_and_root(store, storage_options)
    folder = f"{root}/{_MARKER_DIR}"
    if not fs.exists(folder):
        return set()
    done = set()
    for path in fs.ls(folder, detail=False):
        match = re.search(r"(\d{12})-(\d{12})\.json$", str(path))
        if match:
            done.add((int(match.group(1)), int(match.group(2))))
    return done


def _write_region(
    region: tuple[int, int],
    *,
    compute: Callable[..., Mapping[str, np.ndarray]],
    store: str,
    storage_options: Mapping[str, Any] | None,
    names: Sequence[str],
    extra: Mapping[str, Any],
) -> tuple[int, int]:
    """Compute one region and write it into its own chunks, then its completion marker."""
    start, stop = region
    values = compute(start, stop, **extra)
    missing = [n for n in names if n not in values]
    if missing:
        raise ValidationError(f"the compute function returned no {missing} for region {start}:{stop}")
    group = _open_group(store, storage_options, mode="r+")
    for name in names:
        array = group[name]
        block = np.asarray(values[name])
        expected = (stop - start, *array.shape[1:])
        if block.shape != expected:
            raise ValidationError(
                f"region {start}:{stop} of {name!r} has shape {block.shape}, expected {expected}"
            )
        array[start:stop] = block.astype(array.dtype, copy=False)
    # the marker is written after the data: a crash in between recomputes the region
    fs, root = _fs_and_root(store, storage_options)
    fs.makedirs(f"{root}/{_MARKER_DIR}", exist_ok=True)
    with fs.open(_marker(root, start, stop), "w") as f:
        json.dump({"start": start, "stop": stop, "arrays": list(names)}, f, sort_keys=True)
    return region


@renamed_parameters(show_progress="progress")
def write_zarr_regions(
    store: str | os.PathLike,
    compute: Callable[..., Mapping[str, np.ndarray]],
    n_items: int,
    arrays: Mapping[str, tuple[Sequence[int], Any] | ArraySpec],
    *,
    chunk_size: int,
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    broadcast: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    coords: Mapping[str, tuple[str, Any]] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    retries: int = 2,
    progress: bool | None = None,
) -> list[tuple[int, int]]:
    """Fill a zarr store region by region, each region written by the task that computed it.

    The store holds one array per entry of ``arrays``, of shape ``(n_items, *tail)``, chunked
    by ``chunk_size`` along the first axis, so every region ``[start, start + chunk_size)``
    owns whole chunks: tasks write concurrently without a lock and without sending data back
    through one writer. After its data, each task writes a completion marker
    (``_brainbridge_regions/<start>-<stop>.json``); a rerun skips completed regions, so an
    interrupted run resumes where it stopped.

    Parameters
    ----------
    store
        A folder path or an fsspec URL (``s3://bucket/out.zarr``) that every worker can reach.
    compute
        ``compute(start, stop, **broadcast) -> {name: array of shape (stop - start, *tail)}``;
        pure (the same region always gives the same values) and picklable.
    n_items
        Length of the first axis (e.g. the number of stimuli).
    arrays
        ``{name: (tail_shape, dtype)}`` (or :class:`ArraySpec`).
    chunk_size
        Items per region and per zarr chunk along the first axis.
    client, scheduler, workers
        Where to run (see :func:`get_client`); all ``None`` runs the regions one after the
        other in this process (no Dask needed).
    broadcast
        Big inputs shared by every region (scattered once), passed to ``compute`` by keyword.
    attrs
        Attributes stored on the zarr group.
    coords
        ``{name: (dim, values)}`` 1-D coordinate arrays written once when the store is
        created (so xarray reads the store as an assembly).
    storage_options
        fsspec options for a URL store (credentials, ``endpoint_url``...).
    retries
        Dask retries per region.
    progress
        Show a progress bar of regions done (``None``: when stderr is a terminal).

    Returns
    -------
    list of (int, int)
        The regions computed by this call (already completed ones are not).

    Raises
    ------
    ParallelError
        The store exists with another layout, or cannot be opened.
    TaskFailedError
        A region still failed after its retries; completed regions stay, a rerun resumes.
    """
    if n_items < 0:
        raise ValidationError(f"n_items must be >= 0, got {n_items}")
    specs = _specs(arrays)
    store = os.fspath(store)
    _prepare_store(store, n_items, chunk_size, specs, attrs, storage_options, coords)
    done = completed_regions(store, storage_options=storage_options)
    todo = [r for r in region_bounds(n_items, chunk_size) if r not in done]
    if not todo:
        return []
    kwargs: dict[str, Any] = {
        "compute": compute,
        "store": store,
        "storage_options": dict(storage_options) if storage_options else None,
        "names": list(specs),
    }
    if client is None and scheduler is None and workers is None:
        extra = dict(broadcast or {})
        with _progress(len(todo), progress, "regions") as bar:
            for region in todo:
                _write_region(region, extra=extra, **kwargs)
                bar.update(1)
        return todo
    own = client is None
    active = get_client(client=client, scheduler=scheduler, workers=workers)
    try:
        return map_tasks(
            _RegionTask(kwargs),
            todo,
            active,
            broadcast=broadcast,
            retries=retries,
            progress=progress,
            desc="regions",
            key_prefix="write-region",
        )
    finally:
        if own:
            active.close()


class _RegionTask:
    """Picklable ``region, **broadcast -> region`` callable (broadcast values stay scattered)."""

    def __init__(self, kwargs: dict[str, Any]):
        self.kwargs = kwargs

    def __call__(self, region: tuple[int, int], **extra: Any) -> tuple[int, int]:
        start, stop = region  # a list after a round trip through some serializers
        return _write_region((start, stop), extra=extra, **self.kwargs)
