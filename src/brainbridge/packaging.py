"""Packaging assemblies and stimulus sets into a catalog (write, hash, store, catalog).

The writers live with their formats (:mod:`brainbridge.formats.netcdf`,
:mod:`brainbridge.formats.zarr`, :mod:`brainbridge.formats.stimulus_csv_zip`) and stay
importable from here (``write_netcdf``, ``write_zarr``, ``write_stimulus_set``, ``to_dataset``).

The on-disk layout is BrainIO's (``brainio.packaging``), so files written here load in BrainIO
1.1 and files written by BrainIO load here:

* an assembly is a netCDF-4 (HDF5) file with one data variable, ``data``; every MultiIndex
  level becomes a plain 1-D coordinate variable on its dimension (a plain index named after
  its dimension is stored as ``<dim>_``); attributes are stored both globally and on ``data``;
  attributes holding a DataFrame, a DataArray or ``None`` are dropped; strings are
  variable-length (``NC_STRING``); extra arrays go into netCDF groups;
* a stimulus set is a CSV (one row per stimulus, ``stimulus_id`` and ``filename`` columns) plus
  a flat ZIP of the stimulus files.

Differences from BrainIO, all deliberate:

* **deterministic files**: the same content gives the same bytes and the same SHA-1 in every
  process (coordinates in sorted order, attributes in sorted order, no set-order leaks, no
  timestamps, fixed ZIP dates), so a checksum identifies content;
* **fast compression**: zlib level 1 with the shuffle filter by default
  (:data:`DEFAULT_COMPRESSION_LEVEL`) instead of level 9: about 6x less CPU for a file about
  1 % larger (see ``benchmarks/assembly_io.py``);
* **atomic writes**: every file is written to a temporary file in the target folder and
  renamed into place, so a crash never leaves a file that looks complete;
* the caller's objects are never modified (BrainIO deep-copied the assembly and mutated the
  stimulus set's frame).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import xarray as xr

from brainbridge.assemblies import DataAssembly, assembly_class
from brainbridge.atomic import atomic_path
from brainbridge.errors import (
    AssemblyError,
    CatalogError,
    PackagingConflictError,
    ValidationError,
)
from brainbridge.fetch import sha1_hash

# the formats live in brainbridge.formats; their writers stay importable from here
from brainbridge.formats.layout import DEFAULT_CHUNK_BYTES, to_dataset
from brainbridge.formats.netcdf import DEFAULT_COMPRESSION_LEVEL, write_netcdf
from brainbridge.formats.netcdf import write_netcdf_file as _to_netcdf
from brainbridge.formats.stimulus_csv_zip import ZIP_DATE_TIME, write_stimulus_set
from brainbridge.formats.zarr import is_url as _is_url
from brainbridge.formats.zarr import write_zarr
from brainbridge.hashing import text_digest
from brainbridge.paths import path_within, safe_component
from brainbridge.stimuli import read_stimulus_csv

_ArrayT = TypeVar("_ArrayT", bound=xr.DataArray)

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_COMPRESSION_LEVEL",
    "PackagingTransaction",
    "ZIP_DATE_TIME",
    "assembly_filename",
    "default_store",
    "package_data_assembly",
    "package_stimulus_set",
    "prepare_user_catalog",
    "stimulus_set_filenames",
    "to_dataset",
    "write_netcdf",
    "write_stimulus_set",
    "write_zarr",
]

# --------------------------------------------------------------------------------------
# packaging into a catalog
# --------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$")


def _check_identifier(identifier: str, what: str) -> str:
    if not isinstance(identifier, str) or not _IDENTIFIER.match(identifier):
        raise ValidationError(
            f"{what} identifier {identifier!r} is not valid: use letters, digits and . _ + - "
            "(starting with a letter or digit), e.g. 'lab.Author2024.public'"
        )
    return identifier


def stimulus_set_filenames(stimulus_set_identifier: str) -> tuple[str, str]:
    """BrainIO's file names of a stimulus set: ``stimulus_<id, '.' -> '_'>.csv`` and ``.zip``."""
    stem = "stimulus_" + _check_identifier(stimulus_set_identifier, "stimulus set").replace(".", "_")
    return f"{stem}.csv", f"{stem}.zip"


def assembly_filename(assembly_identifier: str) -> str:
    """BrainIO's file name of an assembly: ``assy_<id, '.' -> '_'>.nc``."""
    return "assy_" + _check_identifier(assembly_identifier, "assembly").replace(".", "_") + ".nc"


# S3's bucket naming rules (3-63 characters: lowercase letters, digits, dots, hyphens)
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _resolve_store(bucket_name: str | None, store: str | os.PathLike | None) -> str | os.PathLike | None:
    """BrainIO's ``bucket_name`` is an S3 bucket: ``s3://<bucket_name>``; never a local folder.

    Raises
    ------
    CatalogError
        Both given, or ``bucket_name`` is not a valid S3 bucket name (a path or URL goes to
        ``store=``).
    """
    if bucket_name is None:
        return store
    if store is not None:
        raise CatalogError(
            f"pass either bucket_name={bucket_name!r} (an S3 bucket) or store={store!r}, not both"
        )
    if not isinstance(bucket_name, str) or not _BUCKET_NAME.match(bucket_name) or ".." in bucket_name:
        raise CatalogError(
            f"bucket_name must be an S3 bucket name (3-63 lowercase letters, digits, '.', '-'), got "
            f"{bucket_name!r}; pass a local folder or a URL as store= instead"
        )
    return f"s3://{bucket_name}"


class _Store:
    """Where packaged files go, and the catalog ``location_type``/``location`` that finds them."""

    def __init__(self, catalog, store: str | os.PathLike | None):
        self.catalog_dir = catalog.base_dir
        self.remote: str | None = None
        if store is None:
            if self.catalog_dir is None:
                raise CatalogError(
                    f"catalog {catalog.identifier!r} has no lookup file; pass store= (a folder or URL)"
                )
            self.folder: Path | None = Path(self.catalog_dir)
        elif isinstance(store, str) and _is_url(store):
            self.folder = None
            self.remote = store.rstrip("/")
        else:
            self.folder = Path(store).expanduser().resolve()

    def location(self, name: str) -> tuple[str, str]:
        if self.remote is not None:
            scheme = urlparse(self.remote).scheme.lower()
            return ("S3" if scheme == "s3" else scheme), f"{self.remote}/{name}"
        assert self.folder is not None  # a store is a folder or a remote
        path = self.folder / name
        if self.catalog_dir is not None:
            try:
                return "local", path.resolve().relative_to(Path(self.catalog_dir).resolve()).as_posix()
            except ValueError:
                pass
        return "local", str(path.resolve())

    def lock(self, name: str):
        """The inter-process lock of file ``name`` in this store (held while it is checked,
        written and catalogued, so two packagers of one identifier never interleave)."""
        from filelock import FileLock

        if self.folder is not None:
            folder = self.folder / _LOCK_FOLDER
        else:
            from brainbridge import config

            assert self.remote is not None  # a store is a folder or a remote
            folder = config.home() / "locks" / "package" / text_digest(self.remote, length=32)
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(folder / f"{name}.lock"))

    def existing_sha1(self, name: str) -> str | None:
        if self.folder is not None and (self.folder / name).is_file():
            return sha1_hash(self.folder / name)
        return None

    def put(self, local: Path, name: str) -> tuple[str, str, Path | None]:
        """Copy/upload ``local`` as ``name``; returns ``(location_type, location, created)``."""
        location_type, location = self.location(name)
        if self.remote is not None:
            try:
                from brainbridge.fetch import upload_file
            except ImportError as e:  # the remote stores arrive with their own module
                raise CatalogError(
                    f"uploading to {self.remote} needs brainbridge.fetch.upload_file: {e}"
                ) from e
            returned = upload_file(local, location_type, location, overwrite=False)
            return location_type, (returned if isinstance(returned, str) and returned else location), None
        assert self.folder is not None  # a store is a folder or a remote
        destination = self.folder / name
        if destination.exists():
            return location_type, location, None  # same content, checked under the lock by the caller
        with atomic_path(destination) as tmp:
            shutil.copyfile(local, tmp)
        return location_type, location, destination


#: hidden folder of a local store holding the per-file packaging locks
_LOCK_FOLDER = ".brainbridge-locks"


def _existing_rows(catalog, identifier: str, lookup_type: str) -> pd.DataFrame:
    if len(catalog) == 0:
        return catalog
    return catalog[(catalog["identifier"] == identifier) & (catalog["lookup_type"] == lookup_type)]


def _listed_sha1s(rows: pd.DataFrame) -> dict[str, str]:
    return {
        Path(str(loc).split("?")[0]).suffix.lower(): str(sha)
        for loc, sha in zip(rows["location"], rows["sha1"])
    }


def _check_not_catalogued(catalog, identifier: str, lookup_type: str, sha1s: dict[str, str]) -> bool:
    """``True`` if the catalog already lists exactly these files (re-packaging is a no-op).

    Raises PackagingConflictError when the identifier is listed with other content.
    """
    rows = _existing_rows(catalog, identifier, lookup_type)
    if rows.empty:
        return False
    if _listed_sha1s(rows) == sha1s:
        return True
    raise PackagingConflictError(
        f"catalog {catalog.identifier!r} already lists {lookup_type.replace('_', ' ')} {identifier!r} "
        "with other content; choose a new identifier (e.g. a version suffix) instead of overwriting"
    )


def _catalogued_elsewhere(
    catalog_identifier: str, identifier: str, lookup_type: str, sha1s: dict[str, str]
) -> tuple[str, pd.DataFrame] | None:
    """``(catalog, rows)`` of another catalog listing the same files under ``identifier``, or ``None``.

    A second definition in another catalog would make every lookup of the identifier
    ambiguous (and so break assemblies that already use it): the same files are reused from
    the other catalog, other content is a conflict.

    Raises
    ------
    PackagingConflictError
        Another catalog lists ``identifier`` with other files.
    """
    from brainbridge.catalogs import combined_catalog

    combined = combined_catalog()
    rows = combined[
        (combined["identifier"] == identifier)
        & (combined["lookup_type"] == lookup_type)
        & (combined["source_catalog"] != catalog_identifier)
    ]
    for other, group in rows.groupby("source_catalog", sort=True):
        if _listed_sha1s(group) != sha1s:
            raise PackagingConflictError(
                f"catalog {other!r} already lists {lookup_type.replace('_', ' ')} {identifier!r} "
                f"with other content; packaging it into {catalog_identifier!r} too would make it ambiguous: "
                "choose a new identifier"
            )
        return str(other), group
    return None


def _check_store_free(store: _Store, names_sha1: dict[str, str]) -> None:
    for name, sha1 in names_sha1.items():
        existing = store.existing_sha1(name)
        if existing is not None and existing != sha1:
            assert store.folder is not None  # only a folder store has existing files
            raise PackagingConflictError(
                f"{store.folder / name} already exists with other content (sha1 {existing}); "
                "choose a new identifier instead of overwriting"
            )


@dataclass
class _Staged:
    """One stimulus set or assembly written and hashed in the staging folder, not yet stored."""

    identifier: str
    lookup_type: str
    files: list[tuple[Path, str, str]]  # (local file, name in the store, sha1)
    rows_for: Callable[[list[tuple[str, str]]], list[dict]]
    result_for: Callable[[list[dict], str], dict]

    @property
    def sha1s(self) -> dict[str, str]:
        return {Path(name).suffix.lower(): sha1 for _, name, sha1 in self.files}


class PackagingTransaction:
    """Package several stimulus sets and assemblies into one catalog, all or nothing.

    Items are validated, written and hashed in a private staging folder as they are added
    (:meth:`add_stimulus_set`, :meth:`add_assembly`); nothing is stored or catalogued before
    :meth:`commit`. The commit holds a lock on every file name it stores (in sorted order),
    re-reads the catalog, checks that neither the catalog, another catalog, nor the store
    holds an identifier with other content, copies the files and appends every row in one
    atomic rewrite of the catalog. On any failure the files it copied are removed and the
    catalog is unchanged (a catalog that did not exist yet is not created).

    Parameters
    ----------
    catalog
        A catalog name (:func:`brainbridge.catalogs.get_catalog`) or a
        :class:`~brainbridge.catalogs.Catalog` (whose CSV need not exist yet: it is written
        by the commit).
    store
        As in :func:`package_stimulus_set`.

    Examples
    --------
    >>> with PackagingTransaction("my-catalog") as tx:          # doctest: +SKIP
    ...     tx.add_stimulus_set(stimuli, "lab.set")
    ...     tx.add_assembly(assembly, "lab.set.counts", "lab.set")
    ...     results = tx.commit()
    """

    def __init__(self, catalog, store: str | os.PathLike | None = None):
        from brainbridge.catalogs import get_catalog

        self.catalog = get_catalog(catalog) if isinstance(catalog, str) else catalog
        self.store = _Store(self.catalog, store)
        self._staging = tempfile.TemporaryDirectory(prefix="brainbridge-package-")
        self._items: list[_Staged] = []
        self._stimulus_ids: dict[str, pd.Index] = {}
        self._committed = False

    def __enter__(self) -> PackagingTransaction:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Remove the staging folder (nothing staged and not committed is kept)."""
        self._staging.cleanup()

    def _folder(self) -> Path:
        folder = Path(self._staging.name) / str(len(self._items))
        folder.mkdir()
        return folder

    def _check_new(self, identifier: str, lookup_type: str) -> None:
        if any(i.identifier == identifier and i.lookup_type == lookup_type for i in self._items):
            raise CatalogError(
                f"{lookup_type.replace('_', ' ')} {identifier!r} is added twice to one packaging run"
            )

    def add_stimulus_set(
        self, proto_stimulus_set: pd.DataFrame, identifier: str, *, progress: bool | None = None
    ) -> None:
        """Validate, write and hash a stimulus set (see :func:`package_stimulus_set`)."""
        csv_name, zip_name = stimulus_set_filenames(identifier)
        self._check_new(identifier, "stimulus_set")
        folder = self._folder()
        csv_local, zip_local = folder / csv_name, folder / zip_name
        csv_sha1, zip_sha1 = write_stimulus_set(proto_stimulus_set, csv_local, zip_local, progress=progress)
        self._stimulus_ids[identifier] = pd.Index(read_stimulus_csv(csv_local)["stimulus_id"].astype(str))

        def rows_for(placed):
            (csv_type, csv_location), (zip_type, zip_location) = placed
            common = {"identifier": identifier, "lookup_type": "stimulus_set", "stimulus_set_identifier": ""}
            return [
                {
                    **common,
                    "class": "StimulusSet",
                    "location_type": csv_type,
                    "location": csv_location,
                    "sha1": csv_sha1,
                },
                {
                    **common,
                    "class": "",
                    "location_type": zip_type,
                    "location": zip_location,
                    "sha1": zip_sha1,
                },
            ]

        def result_for(rows, catalog_name):
            return {
                "identifier": identifier,
                "lookup_type": "stimulus_set",
                "csv_sha1": csv_sha1,
                "zip_sha1": zip_sha1,
                "location_type": rows[0]["location_type"],
                "csv_location": rows[0]["location"],
                "zip_location": rows[1]["location"],
                "catalog": catalog_name,
            }

        self._items.append(
            _Staged(
                identifier,
                "stimulus_set",
                [(csv_local, csv_name, csv_sha1), (zip_local, zip_name, zip_sha1)],
                rows_for,
                result_for,
            )
        )

    def add_assembly(
        self,
        proto_data_assembly: xr.DataArray,
        identifier: str,
        stimulus_set_identifier: str | None,
        assembly_class_name: str = "NeuronRecordingAssembly",
        extras: Mapping[str, xr.DataArray] | None = None,
        *,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
    ) -> None:
        """Validate, write and hash an assembly (see :func:`package_data_assembly`).

        Its stimulus ids are checked against a stimulus set added to this transaction, or
        else against the catalogued one.
        """
        name = assembly_filename(identifier)
        self._check_new(identifier, "assembly")
        if stimulus_set_identifier:
            _check_identifier(stimulus_set_identifier, "stimulus set")
        assembly = _prepare_assembly(
            proto_data_assembly, assembly_class_name, identifier, stimulus_set_identifier
        )
        if stimulus_set_identifier and "presentation" in assembly.dims:
            if "stimulus_id" not in assembly.coords:
                raise AssemblyError(
                    "the assembly has a 'presentation' dimension but no 'stimulus_id' coordinate"
                )
            known = self._stimulus_ids.get(stimulus_set_identifier)
            if known is None:
                known = _catalogued_stimulus_ids(stimulus_set_identifier)
            if known is None:
                raise CatalogError(
                    f"stimulus set {stimulus_set_identifier!r} is not in any catalog: package it first "
                    "(package_stimulus_set), or pass stimulus_set_identifier=None"
                )
            ids = pd.unique(np.asarray(assembly["stimulus_id"].values).astype(str))
            unknown = ids[~pd.Index(ids).isin(known)]
            if len(unknown):
                raise AssemblyError(
                    f"{len(unknown)} stimulus ids of the assembly are not in stimulus set "
                    f"{stimulus_set_identifier!r}, e.g. {list(unknown[:5])}"
                )
        local = self._folder() / name
        _to_netcdf(
            assembly,
            local,
            mode="w",
            group=None,
            compress=True,
            compression_level=compression_level,
            engine="h5netcdf",
        )
        for group, extra in sorted((extras or {}).items()):
            if not isinstance(extra, xr.DataArray):
                raise AssemblyError(
                    f"extra {group!r} must be an xarray.DataArray, got {type(extra).__name__}"
                )
            _to_netcdf(
                extra,
                local,
                mode="a",
                group=str(group),
                compress=True,
                compression_level=compression_level,
                engine="h5netcdf",
            )
        sha1 = sha1_hash(local)
        class_name = type(assembly).__name__

        def rows_for(placed):
            ((location_type, location),) = placed
            return [
                {
                    "identifier": identifier,
                    "lookup_type": "assembly",
                    "class": class_name,
                    "location_type": location_type,
                    "location": location,
                    "sha1": sha1,
                    "stimulus_set_identifier": stimulus_set_identifier or "",
                }
            ]

        def result_for(rows, catalog_name):
            return {
                "identifier": identifier,
                "lookup_type": "assembly",
                "sha1": sha1,
                "location_type": rows[0]["location_type"],
                "location": rows[0]["location"],
                "cls": class_name,
                "stimulus_set_identifier": stimulus_set_identifier,
                "catalog": catalog_name,
            }

        self._items.append(_Staged(identifier, "assembly", [(local, name, sha1)], rows_for, result_for))

    def _fresh_catalog(self):
        """The catalog as its file says now (another process may have appended since it was loaded)."""
        from brainbridge.catalogs import Catalog

        path = self.catalog.source_path
        if path is not None and Path(path).exists():
            return Catalog.from_files(self.catalog.identifier, path)
        return self.catalog

    def commit(self) -> list[dict]:
        """Store every staged file and catalog every row, or nothing (see the class docs).

        Returns
        -------
        list of dict
            One result per item, in the order added (as :func:`package_stimulus_set` and
            :func:`package_data_assembly` return them). An item whose files another catalog
            already lists is not added again: its result names that catalog.

        Raises
        ------
        PackagingConflictError
            This catalog, another catalog, or the store already holds an identifier (or file
            name) with other content; for example another process packaged it first.
        """
        if self._committed:
            raise CatalogError("this packaging transaction was already committed")
        names = sorted({name for item in self._items for _, name, _ in item.files})
        with ExitStack() as locks:
            for name in names:  # sorted: two transactions never wait on each other in a cycle
                locks.enter_context(self.store.lock(name))
            catalog = self._fresh_catalog()
            todo: list[_Staged] = []
            results: dict[int, dict] = {}
            for n, item in enumerate(self._items):
                listed_here = _check_not_catalogued(catalog, item.identifier, item.lookup_type, item.sha1s)
                elsewhere = (
                    None
                    if listed_here
                    else _catalogued_elsewhere(
                        catalog.identifier, item.identifier, item.lookup_type, item.sha1s
                    )
                )
                if elsewhere is not None:
                    other, rows = elsewhere
                    rows = rows.sort_values("location", key=lambda s: s.str.lower().str.endswith(".zip"))
                    results[n] = item.result_for(rows.to_dict("records"), other) | {
                        "already_catalogued": True
                    }
                    continue
                _check_store_free(self.store, {name: sha1 for _, name, sha1 in item.files})
                todo.append(item)
            created: list[Path] = []
            try:
                all_rows: list[dict] = []
                for item in todo:
                    placed = []
                    for local, name, _sha1 in item.files:
                        location_type, location, new = self.store.put(local, name)
                        if new is not None:
                            created.append(new)
                        placed.append((location_type, location))
                    placed_rows = item.rows_for(placed)
                    all_rows.extend(placed_rows)
                    results[self._items.index(item)] = item.result_for(placed_rows, catalog.identifier)
                if all_rows:
                    # the caller's object (a registered catalog stays in step); it re-reads the file
                    self.catalog.append_rows(all_rows)
            except BaseException:
                for path in created:
                    path.unlink(missing_ok=True)
                raise
        self._committed = True
        return [results[n] for n in range(len(self._items))]


def prepare_user_catalog(name: str, create: bool) -> tuple[Any, bool]:
    """The catalog ``name``, or (with ``create``) a new, not yet written one in the first user
    catalog folder; and whether it is new.

    A new catalog's CSV is written only when something is packaged into it
    (:meth:`PackagingTransaction.commit`), so a failed run leaves no empty catalog behind.

    Raises
    ------
    UnsafePathError
        ``name`` is not one plain file name (``../x``, ``a/b``...).
    LookupFailedError
        No catalog ``name`` and ``create`` is false.
    """
    from brainbridge import config
    from brainbridge.catalogs import LOOKUP_COLUMNS, Catalog, get_catalog
    from brainbridge.errors import LookupFailedError

    safe_component(name, "catalog name")
    try:
        return get_catalog(name), False
    except LookupFailedError:
        if not create:
            raise
    folder = config.user_catalog_dirs()[0]
    csv = path_within(folder, f"{name}.csv", what="catalog file")
    if csv.exists():
        return Catalog.from_files(name, csv), False
    return Catalog(pd.DataFrame(columns=LOOKUP_COLUMNS, dtype=str), identifier=name, source_path=csv), True


def default_store(catalog) -> str | None:
    """Where packaged files of ``catalog`` go by default (``None``: the catalog's own folder).

    A catalog in a user catalog folder keeps its files in a subfolder named after it (every
    ``*.csv`` directly in that folder is read as a catalog). Either way the catalog lists
    them by paths relative to its CSV.
    """
    from brainbridge import config

    if catalog.source_path is None:
        return None
    user_dirs = {d.expanduser().resolve() for d in config.user_catalog_dirs()}
    if Path(catalog.source_path).parent.resolve() in user_dirs:
        folder = Path(catalog.source_path).parent
        return str(path_within(folder, safe_component(catalog.identifier, "catalog name"), what="store"))
    return None


def package_stimulus_set(
    catalog_name: Any,
    proto_stimulus_set: pd.DataFrame,
    stimulus_set_identifier: str,
    bucket_name: str | None = None,
    *,
    store: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Validate, write, hash and store a stimulus set, then add its two rows to a catalog.

    Parameters
    ----------
    catalog_name
        The catalog to add to: its name (:func:`brainbridge.catalogs.get_catalog`) or a
        :class:`~brainbridge.catalogs.Catalog`; its lookup CSV is rewritten atomically.
    proto_stimulus_set
        A :class:`~brainbridge.stimuli.StimulusSet` with ``stimulus_id`` and
        ``.stimulus_paths`` (see :func:`write_stimulus_set`). It is not modified.
    stimulus_set_identifier
        The new identifier, e.g. ``"lab.Author2024"``.
    bucket_name
        BrainIO's argument (also by position): the S3 bucket to upload to, same as
        ``store="s3://<bucket_name>"``. Never read as a local folder.
    store
        ``None``: the catalog's own folder (locations relative to its CSV); a local folder
        path; or a URL (``s3://bucket/prefix``, ``https://...``) uploaded with
        :func:`brainbridge.fetch.upload_file`.
    progress
        A progress bar while zipping (``None``: on a terminal, see :mod:`brainbridge.progress`).

    Returns
    -------
    dict
        ``identifier``, ``csv_sha1``, ``zip_sha1``, ``location_type``, ``csv_location``,
        ``zip_location``, ``catalog``.

    Raises
    ------
    StimulusSetError
        The stimulus set is invalid (see :func:`write_stimulus_set`).
    PackagingConflictError
        The identifier is already catalogued (here or in another catalog), or stored, with
        other content, for example by another process packaging it at the same time. Packaging
        the same files again is a no-op. On any failure nothing is added to the catalog and
        no new file is left in the store.
    CatalogError
        ``bucket_name`` is not an S3 bucket name, or both ``bucket_name`` and ``store`` are given.
    """
    store = _resolve_store(bucket_name, store)
    with PackagingTransaction(catalog_name, store) as transaction:
        transaction.add_stimulus_set(proto_stimulus_set, stimulus_set_identifier, progress=progress)
        (result,) = transaction.commit()
    result.pop("lookup_type", None)
    return result


def _catalogued_stimulus_ids(stimulus_set_identifier: str) -> pd.Index | None:
    """The ids of a catalogued stimulus set (only its CSV is fetched), or ``None`` if unknown.

    Raises
    ------
    CatalogError
        The stimulus set is catalogued but cannot be looked up (e.g. defined differently in
        two catalogs): the reason is given, not "package it first".
    """
    from brainbridge.catalogs import get_catalog, lookup_stimulus_set
    from brainbridge.errors import LookupFailedError, StimulusSetLookupError
    from brainbridge.fetch import fetch_file

    try:
        csv_row, _zip_row = lookup_stimulus_set(stimulus_set_identifier)
    except StimulusSetLookupError:
        return None
    except LookupFailedError as e:
        raise CatalogError(
            f"cannot check the assembly's stimulus ids against {stimulus_set_identifier!r}: {e}"
        ) from e
    base_dir = get_catalog(csv_row["source_catalog"]).base_dir if "source_catalog" in csv_row else None
    path = fetch_file(
        csv_row["location_type"], csv_row["location"], csv_row["sha1"] or None, base_dir=base_dir
    )
    return pd.Index(read_stimulus_csv(path)["stimulus_id"].astype(str))


def _prepare_assembly(
    proto: xr.DataArray,
    assembly_class_name: str,
    assembly_identifier: str,
    stimulus_set_identifier: str | None,
) -> DataAssembly:
    cls = assembly_class(assembly_class_name)
    if not isinstance(proto, xr.DataArray):
        raise AssemblyError(f"expected an assembly (xarray.DataArray), got {type(proto).__name__}")
    assembly = proto if isinstance(proto, cls) else cls(proto)
    assembly.validate()
    attrs = {k: v for k, v in assembly.attrs.items() if k != "stimulus_set"}
    attrs["identifier"] = assembly_identifier
    if stimulus_set_identifier:
        attrs["stimulus_set_identifier"] = stimulus_set_identifier
    else:
        attrs.pop("stimulus_set_identifier", None)
    return _with_attrs(assembly, attrs)


def _with_attrs(assembly: _ArrayT, attrs: dict) -> _ArrayT:
    shallow = assembly.copy(deep=False)
    shallow.attrs = attrs
    return shallow


def package_data_assembly(
    catalog_name: Any,
    proto_data_assembly: xr.DataArray,
    assembly_identifier: str,
    stimulus_set_identifier: str | None,
    assembly_class_name: str = "NeuronRecordingAssembly",
    bucket_name: str | None = None,
    extras: Mapping[str, xr.DataArray] | None = None,
    *,
    store: str | os.PathLike | None = None,
    compression_level: int = DEFAULT_COMPRESSION_LEVEL,
) -> dict[str, Any]:
    """Validate, write, hash and store an assembly, then add its row to a catalog.

    Parameters
    ----------
    catalog_name
        The catalog to add to (a name or a :class:`~brainbridge.catalogs.Catalog`).
    proto_data_assembly
        The assembly (any DataArray; wrapped in ``assembly_class_name`` and validated). It is
        not modified; the file gets attrs ``identifier`` and ``stimulus_set_identifier``.
    assembly_identifier
        The new identifier; the file is ``assy_<id '.'->'_'>.nc``.
    stimulus_set_identifier
        The stimulus set merged on load; a catalog must already list it (package it first) and
        every ``stimulus_id`` of the assembly must be in it. ``None`` for assemblies without
        stimuli (e.g. properties).
    assembly_class_name
        A class of :mod:`brainbridge.assemblies` (``NeuronRecordingAssembly``,
        ``BehavioralAssembly``, ``PropertyAssembly``...).
    bucket_name
        BrainIO's argument (also by position): the S3 bucket, as in :func:`package_stimulus_set`.
    store
        As in :func:`package_stimulus_set` (keyword only).
    extras
        ``{group_name: DataArray}`` written into netCDF groups of the same file (BrainIO's
        extras: per-event metadata and other arrays with their own dims).
    compression_level
        zlib level of ``data`` (see :func:`write_netcdf`).

    Returns
    -------
    dict
        ``identifier``, ``sha1``, ``location_type``, ``location``, ``cls``,
        ``stimulus_set_identifier``, ``catalog``.

    Raises
    ------
    AssemblyError
        The assembly fails its class's ``validate()``, or has stimulus ids its stimulus set
        lacks.
    CatalogError
        The stimulus set is not catalogued.
    PackagingConflictError
        The identifier is already catalogued (or stored) with other content, for example by
        another process packaging it at the same time. Nothing is added and no new file is
        left behind on failure.
    """
    store = _resolve_store(bucket_name, store)
    with PackagingTransaction(catalog_name, store) as transaction:
        transaction.add_assembly(
            proto_data_assembly,
            assembly_identifier,
            stimulus_set_identifier,
            assembly_class_name,
            extras,
            compression_level=compression_level,
        )
        (result,) = transaction.commit()
    result.pop("lookup_type", None)
    return result
