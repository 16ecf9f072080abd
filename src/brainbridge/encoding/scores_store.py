"""The scores store: every score that ``brainbridge score``, ``score_many`` and the example job compute.

One SQLite file, ``<BRAINBRIDGE_HOME>/scores/scores.sqlite`` (see :func:`store_path`), read by
the leaderboard of ``brainbridge serve`` and by :meth:`ScoresStore.table`. Each score is one row
of ``scores`` (model, layer, assembly identifier and checksum, metric, region, raw score and its
error, ceiling, ceiled score and its error, number of splits, where it came from, when) and its
per-neuroid values (held-out r and internal consistency, mean over splits) are rows of
``neuroid_values``.

Writes are one SQLite transaction each (``BEGIN IMMEDIATE``: all of a score's rows or none),
and concurrent writers (several processes scoring at once) wait for each other through
SQLite's own locking, up to ``timeout`` seconds. Readers never see a half-written score.
The store holds numbers and names only (no pickles), so a store from elsewhere is safe to read.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbridge import config
from brainbridge._version import __version__
from brainbridge.encoding.errors import InvalidParameterError, ScoresStoreError

__all__ = [
    "SCORE_COLUMNS",
    "ScoresStore",
    "assembly_checksum",
    "open_store",
    "record_score",
    "score_rows",
    "store_path",
]

#: bumped when the tables change shape (a store with a newer version is refused)
SCHEMA_VERSION = 1
#: the columns of :meth:`ScoresStore.table`, in order
SCORE_COLUMNS = [
    "id",
    "model",
    "layer",
    "assembly",
    "assembly_checksum",
    "metric",
    "region",
    "raw",
    "raw_error",
    "ceiling",
    "ceiled",
    "ceiled_error",
    "n_splits",
    "n_neuroids",
    "source",
    "created",
    "brainbridge_version",
]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    layer TEXT,
    assembly TEXT NOT NULL,
    assembly_checksum TEXT,
    metric TEXT NOT NULL,
    region TEXT NOT NULL,
    raw REAL,
    raw_error REAL,
    ceiling REAL,
    ceiled REAL,
    ceiled_error REAL,
    n_splits INTEGER,
    n_neuroids INTEGER,
    source TEXT NOT NULL,
    created TEXT NOT NULL,
    brainbridge_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scores_benchmark ON scores (assembly, region, metric);
CREATE TABLE IF NOT EXISTS neuroid_values (
    score_id INTEGER NOT NULL REFERENCES scores (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    neuroid_id TEXT NOT NULL,
    r REAL,
    ceiling REAL,
    PRIMARY KEY (score_id, position)
);
"""


def store_path() -> Path:
    """``<BRAINBRIDGE_HOME>/scores/scores.sqlite`` (read from the environment on every call)."""
    return config.home() / "scores" / "scores.sqlite"


def _number(value: Any) -> float | None:
    """A finite float, or ``None`` (SQLite NULL) for missing and NaN values."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class ScoresStore:
    """The SQLite scores store at ``path`` (default :func:`store_path`).

    Parameters
    ----------
    path
        The database file; created (with its folder) on the first write. Default:
        :func:`store_path`, looked up at each use (so it follows ``BRAINBRIDGE_HOME``).
    timeout
        Seconds a writer waits for another writer's transaction to finish.
    read_only
        Open the file read-only (the web app): writing raises, and a missing file reads as an
        empty store.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = 60.0, read_only: bool = False):
        self._path = Path(path) if path is not None else None
        self.timeout = float(timeout)
        self.read_only = bool(read_only)

    @property
    def path(self) -> Path:
        """The database file (the default one follows ``BRAINBRIDGE_HOME`` at each use)."""
        return self._path if self._path is not None else store_path()

    def __repr__(self) -> str:
        return f"ScoresStore({str(self.path)!r}{', read_only=True' if self.read_only else ''})"

    # -- connections ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            connection = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        connection.execute("PRAGMA foreign_keys = ON")
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything in it is committed together or not at all."""
        if self.read_only:
            raise ScoresStoreError(f"the scores store {self.path} was opened read-only")
        connection = self._connect()
        try:
            # IMMEDIATE takes the write lock now: two writers queue instead of deadlocking on upgrade
            connection.execute("BEGIN IMMEDIATE")
            try:
                # statement by statement: executescript would commit the open transaction
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    connection.execute(statement)
                self._check_version(connection, write=True)
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    def _check_version(self, connection: sqlite3.Connection, *, write: bool = False) -> None:
        row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            if write:
                connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        if int(row[0]) > SCHEMA_VERSION:
            raise ScoresStoreError(
                f"the scores store {self.path} has schema version {row[0]}, newer than this brainbridge "
                f"({__version__}) reads ({SCHEMA_VERSION}); "
                "upgrade brainbridge or use another BRAINBRIDGE_HOME"
            )

    def _read(self, query: str, parameters: tuple = ()) -> pd.DataFrame:
        if not self.path.is_file():
            return pd.DataFrame()
        connection = self._connect()
        try:
            tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "scores" not in tables:
                return pd.DataFrame()
            if "meta" in tables:
                self._check_version(connection)
            return pd.read_sql_query(query, connection, params=parameters)
        finally:
            connection.close()

    # -- writing ----------------------------------------------------------------------

    def record(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Write score rows (see :func:`score_rows`) in one transaction; return their ids.

        Each row needs ``model``, ``assembly``, ``metric`` and ``region``; the numbers may be
        ``None``; ``neuroids`` (optional) is ``{"neuroid_id": [...], "r": [...], "ceiling": [...]}``.
        """
        for row in rows:
            missing = [k for k in ("model", "assembly", "metric", "region") if not row.get(k)]
            if missing:
                raise InvalidParameterError(
                    f"a score row needs {', '.join(missing)}: got {dict(row)!r}"[:300]
                )
        ids = []
        created = _now()
        with self._transaction() as connection:
            for row in rows:
                neuroids = row.get("neuroids") or {}
                ids_column = [str(v) for v in neuroids.get("neuroid_id", [])]
                cursor = connection.execute(
                    "INSERT INTO scores (model, layer, assembly, assembly_checksum, metric, region, "
                    "raw, raw_error, ceiling, ceiled, ceiled_error, n_splits, n_neuroids, source, created, "
                    "brainbridge_version) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        str(row["model"]),
                        None if row.get("layer") is None else str(row["layer"]),
                        str(row["assembly"]),
                        row.get("assembly_checksum"),
                        str(row["metric"]),
                        str(row["region"]),
                        _number(row.get("raw")),
                        _number(row.get("raw_error")),
                        _number(row.get("ceiling")),
                        _number(row.get("ceiled")),
                        _number(row.get("ceiled_error")),
                        None if row.get("n_splits") is None else int(row["n_splits"]),
                        len(ids_column) or row.get("n_neuroids"),
                        str(row.get("source") or "python"),
                        str(row.get("created") or created),
                        __version__,
                    ),
                )
                assert cursor.lastrowid is not None  # set by the INSERT
                score_id = int(cursor.lastrowid)
                if ids_column:
                    r = list(neuroids.get("r", [None] * len(ids_column)))
                    c = list(neuroids.get("ceiling", [None] * len(ids_column)))
                    connection.executemany(
                        "INSERT INTO neuroid_values VALUES (?, ?, ?, ?, ?)",
                        [
                            (score_id, i, nid, _number(r[i]), _number(c[i]))
                            for i, nid in enumerate(ids_column)
                        ],
                    )
                ids.append(score_id)
        return ids

    # -- reading ----------------------------------------------------------------------

    def table(self, *, latest: bool = True) -> pd.DataFrame:
        """Every score (columns :data:`SCORE_COLUMNS`), newest first.

        ``latest``: keep only the newest score of each (model, layer, assembly, checksum,
        metric, region), the one a leaderboard shows.
        """
        frame = self._read("SELECT * FROM scores ORDER BY id DESC")
        if frame.empty:
            return pd.DataFrame(columns=SCORE_COLUMNS)
        frame = frame[SCORE_COLUMNS]
        if latest:
            key = ["model", "layer", "assembly", "assembly_checksum", "metric", "region"]
            frame = frame.loc[~frame[key].fillna("\x00").duplicated(keep="first")]
        return frame.reset_index(drop=True)

    def get(self, score_id: int) -> dict[str, Any] | None:
        """One score's row as a dict, with ``neuroids`` (a DataFrame: neuroid_id, r, ceiling).

        ``None`` if there is no such score.
        """
        frame = self._read("SELECT * FROM scores WHERE id = ?", (int(score_id),))
        if frame.empty:
            return None
        row = {str(k): v for k, v in frame.iloc[0][SCORE_COLUMNS].to_dict().items()}
        row["neuroids"] = self._read(
            "SELECT neuroid_id, r, ceiling FROM neuroid_values WHERE score_id = ? ORDER BY position",
            (int(score_id),),
        )
        return row

    def __len__(self) -> int:
        frame = self._read("SELECT COUNT(*) AS n FROM scores")
        return 0 if frame.empty else int(frame["n"].iloc[0])


def open_store(store: ScoresStore | str | Path | None = None) -> ScoresStore:
    """``store`` as a :class:`ScoresStore` (``None``: the default one under ``BRAINBRIDGE_HOME``)."""
    return store if isinstance(store, ScoresStore) else ScoresStore(store)


def assembly_checksum(assembly: Any) -> str | None:
    """``"sha1:<hex>"`` of the catalogued file behind ``assembly`` (its ``identifier`` attribute),
    else ``"sha256:<hex>"`` of its values and ids (an assembly made in memory); ``None`` if neither."""
    identifier = getattr(assembly, "attrs", {}).get("identifier")
    if identifier:
        from brainbridge.catalogs import lookup_assembly
        from brainbridge.errors import BrainbridgeError

        try:
            sha1 = str(lookup_assembly(str(identifier))["sha1"] or "")
        except BrainbridgeError:  # not (or no longer) catalogued: fall back to the content
            sha1 = ""
        if sha1:
            return f"sha1:{sha1.lower()}"
    try:
        from brainbridge.hashing import arrays_digest

        arrays = [("values", np.asarray(assembly.values))]
        for name in ("stimulus_id", "neuroid_id", "repetition"):
            if name in assembly.coords:
                arrays.append((name, np.asarray(assembly[name].values)))
        return "sha256:" + arrays_digest(arrays)
    except (AttributeError, TypeError, ValueError):
        return None


def score_rows(
    result: Any,
    *,
    model: str,
    assembly: str,
    metric: str | None = None,
    region: str | None = None,
    layer: str | None = None,
    checksum: str | None = None,
    source: str = "python",
) -> list[dict[str, Any]]:
    """The store rows of one :class:`~brainbridge.encoding.scoring.Score`.

    One row per region of a per-region score.
    """
    regions = result.regions if getattr(result, "ndim", 0) else {}
    if regions:
        rows = []
        for name, one in regions.items():
            rows += score_rows(
                one,
                model=model,
                assembly=assembly,
                metric=metric,
                region=name,
                layer=layer,
                checksum=checksum,
                source=source,
            )
        return rows
    ceiling = result.ceiling
    raw = result.unceiled
    neuroids: dict[str, list] = {}
    per_neuroid = result.per_neuroid()
    if per_neuroid is not None and "neuroid_id" in per_neuroid.coords:
        ids = np.asarray(per_neuroid["neuroid_id"].values).astype(str)
        neuroids = {"neuroid_id": ids.tolist(), "r": np.asarray(per_neuroid.values, dtype=float).tolist()}
        ceiling_per_neuroid = ceiling.per_neuroid() if ceiling is not None else None
        if ceiling_per_neuroid is not None and "neuroid_id" in ceiling_per_neuroid.coords:
            c_ids = pd.Index(np.asarray(ceiling_per_neuroid["neuroid_id"].values).astype(str))
            where = c_ids.get_indexer(ids)
            values = np.asarray(ceiling_per_neuroid.values, dtype=float)
            neuroids["ceiling"] = [float(values[i]) if i >= 0 else None for i in where]
    return [
        {
            "model": model,
            "layer": layer,
            "assembly": assembly,
            "assembly_checksum": checksum,
            "metric": metric or result.attrs.get("metric") or raw.attrs.get("metric") or "unknown",
            "region": region or "all",
            "raw": float(raw.values),
            "raw_error": raw.raw_error,
            "ceiling": None if ceiling is None else float(ceiling.values),
            "ceiled": None if ceiling is None else float(result.values),
            "ceiled_error": None if ceiling is None else result.ceiled_error,
            "n_splits": raw.attrs.get("n_splits"),
            "source": source,
            "neuroids": neuroids,
        }
    ]


def record_score(
    result: Any,
    *,
    model: str,
    assembly: str,
    store: ScoresStore | str | Path | None = None,
    **row_options: Any,
) -> list[int]:
    """Record one score (every region of a per-region score) in ``store``; return the row ids.

    ``row_options``: ``metric``, ``region``, ``layer``, ``checksum``, ``source`` (see :func:`score_rows`).
    """
    return open_store(store).record(score_rows(result, model=model, assembly=assembly, **row_options))
