"""BLAS/OpenMP thread limits, in one place: for new processes, for this process, or for a block.

numpy, scipy, scikit-learn and torch each run a native thread pool. Oversubscribed pools (one
per Dask worker process, or small problems on a busy machine) spin-wait and get many times
slower, so brainbridge caps them here: :func:`blas_thread_env` for processes it starts,
:func:`limit_blas_threads` for the current process (Dask workers call it through a plugin) and
:func:`blas_thread_limit` around one computation. All go through :mod:`threadpoolctl` (it
comes with scikit-learn; without it only the environment variables are set).
"""

from __future__ import annotations

import contextlib
import os
import sys

from brainbridge.errors import InvalidParameterError

__all__ = ["BLAS_ENV_VARS", "blas_thread_env", "blas_thread_limit", "limit_blas_threads"]

#: environment variables read by the BLAS/OpenMP libraries when a process starts
BLAS_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

_CONTROLLER: list = []  # one ThreadpoolController per process: creating one inspects every library


def _threads(n_threads: int) -> int:
    if int(n_threads) < 1:
        raise InvalidParameterError(f"BLAS threads must be >= 1, got {n_threads}")
    return int(n_threads)


def blas_thread_env(n_threads: int = 1) -> dict[str, str]:
    """Environment variables that cap BLAS/OpenMP threads of a process started with them."""
    return dict.fromkeys(BLAS_ENV_VARS, str(_threads(n_threads)))


def limit_blas_threads(n_threads: int = 1) -> dict[str, int]:
    """Cap the BLAS/OpenMP thread pools of *this* process (numpy, scipy, scikit-learn, torch).

    Sets the environment variables for libraries loaded later, limits the pools already
    loaded with :mod:`threadpoolctl` (process-wide, not a context), and
    ``torch.set_num_threads`` when torch is imported.

    Returns
    -------
    dict
        ``{library: threads}`` after the change, for the pools threadpoolctl found.
    """
    n = _threads(n_threads)
    os.environ.update(blas_thread_env(n))
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(limits=n)
        info = {pool.get("internal_api", "?"): int(pool.get("num_threads", n)) for pool in threadpool_info()}
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        info = {}
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
        info["torch"] = n
    return info


def blas_thread_limit(
    n_threads: int = 1, *, user_api: str | None = "blas"
) -> contextlib.AbstractContextManager:
    """A context that caps the BLAS (or, with ``user_api=None``, every) thread pool of this process.

    The limit is lifted when the block ends; without threadpoolctl it does nothing.
    """
    n = _threads(n_threads)
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            return contextlib.nullcontext()
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=n, user_api=user_api)
