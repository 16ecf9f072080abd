"""Catalogs: CSV lookup tables that say where each stimulus set and assembly lives.

A catalog has BrainIO's seven columns (:data:`LOOKUP_COLUMNS`). Catalogs are found in four
places, in this order:

1. catalogs registered at run time with :func:`register`;
2. Python entry points in the group ``brainbridge_catalogs``;
3. Python entry points in BrainIO's group ``brainio_lookups`` (so existing BrainIO catalog
   packages work unchanged);
4. ``*.csv`` files in the user catalog folders (:func:`brainbridge.config.user_catalog_dirs`).

An entry point names a zero-argument callable returning a :class:`Catalog` whose identifier
is the entry point's name. Catalogs load lazily, on the first lookup.

Lookups (:func:`get_assembly`, :func:`get_stimulus_set`) fetch the files through
:func:`brainbridge.fetch.fetch_file` (checksums verified) and load them.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path

import pandas as pd
from filelock import FileLock

from brainbridge import config
from brainbridge.assemblies import DataAssembly, assembly_class
from brainbridge.atomic import atomic_path
from brainbridge.errors import (
    AssemblyError,
    AssemblyLookupError,
    CatalogError,
    LookupFailedError,
    StimulusSetLookupError,
)
from brainbridge.fetch import fetch_file, load_verified
from brainbridge.paths import path_within, safe_component
from brainbridge.stimuli import StimulusSet, extract_zip

__all__ = [
    "ENTRY_POINT_GROUPS",
    "LOOKUP_COLUMNS",
    "Catalog",
    "combined_catalog",
    "get_assembly",
    "get_catalog",
    "get_stimulus_set",
    "list_assemblies",
    "list_catalogs",
    "list_stimulus_sets",
    "lookup_assembly",
    "lookup_stimulus_set",
    "register",
    "reload_catalogs",
    "unregister",
]

_logger = logging.getLogger(__name__)

LOOKUP_COLUMNS = [
    "identifier",
    "lookup_type",
    "class",
    "location_type",
    "location",
    "sha1",
    "stimulus_set_identifier",
]
ENTRY_POINT_GROUPS = ("brainbridge_catalogs", "brainio_lookups")
LOOKUP_TYPES = ("assembly", "stimulus_set")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


class Catalog(pd.DataFrame):
    """A lookup table of stimulus sets and assemblies (a DataFrame with BrainIO's 7 columns).

    Attributes
    ----------
    identifier : str
        The catalog's name (an entry point name, or the CSV's stem for user catalogs).
    source_path : pathlib.Path or None
        The lookup CSV; relative ``local`` locations are relative to its folder.
    """

    _metadata = ["identifier", "source_path"]

    def __init__(self, *args, identifier: str | None = None, source_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        if identifier is not None or "identifier" not in self.__dict__:
            object.__setattr__(self, "identifier", identifier)
        if source_path is not None or "source_path" not in self.__dict__:
            object.__setattr__(self, "source_path", Path(source_path) if source_path else None)

    @property
    def _constructor(self):
        return Catalog

    # ----------------------------------------------------------------------------------

    @classmethod
    def from_files(cls, identifier: str, csv_path: str | os.PathLike) -> Catalog:
        """Read a catalog's lookup CSV (every column kept as text)."""
        path = Path(csv_path)
        if not path.exists():
            raise CatalogError(f"catalog {identifier!r}: lookup file not found: {path}")
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise CatalogError(f"catalog {identifier!r}: cannot parse {path}: {e}") from e
        missing = [c for c in LOOKUP_COLUMNS if c not in frame.columns]
        if missing:
            raise CatalogError(f"catalog {identifier!r} ({path}) lacks columns {missing}")
        catalog = cls(frame, identifier=identifier, source_path=path)
        catalog.attrs["source_path"] = str(path)  # BrainIO keeps it here
        return catalog

    @classmethod
    def create(cls, identifier: str, csv_path: str | os.PathLike) -> Catalog:
        """A new catalog with no rows whose CSV (written now) is ``csv_path``."""
        catalog = cls(pd.DataFrame(columns=LOOKUP_COLUMNS, dtype=str), identifier=identifier, source_path=csv_path)
        catalog._write()
        return catalog

    @property
    def base_dir(self) -> Path | None:
        """The folder relative ``local`` locations are resolved against."""
        return self.source_path.parent if self.source_path is not None else None

    def validate(self, *, known_stimulus_sets: Iterable[str] | None = None) -> Catalog:
        """Check columns, lookup types, classes, checksums, uniqueness and references.

        Parameters
        ----------
        known_stimulus_sets
            Stimulus set identifiers defined elsewhere (other catalogs) that assembly rows
            may reference. Stimulus sets of this catalog always count.

        Raises
        ------
        CatalogError
            Listing every problem found.
        """
        problems = []
        missing = [c for c in LOOKUP_COLUMNS if c not in self.columns]
        if missing:
            raise CatalogError(f"catalog {self.identifier!r} lacks columns {missing}")
        for i, row in self.iterrows():
            where = f"row {i} ({row['identifier']!r})"
            if not row["identifier"]:
                problems.append(f"{where}: empty identifier")
            if row["lookup_type"] not in LOOKUP_TYPES:
                problems.append(f"{where}: lookup_type {row['lookup_type']!r} is not one of {list(LOOKUP_TYPES)}")
            elif row["lookup_type"] == "assembly":
                try:
                    assembly_class(row["class"])
                except AssemblyError:
                    problems.append(f"{where}: unknown assembly class {row['class']!r}")
            elif row["class"] not in ("StimulusSet", ""):
                problems.append(f"{where}: a stimulus_set row has class {row['class']!r} (expected StimulusSet or empty)")
            if row["sha1"] and not _SHA1.match(row["sha1"].lower()):
                problems.append(f"{where}: sha1 {row['sha1']!r} is not 40 hexadecimal digits")
            if not row["location"]:
                problems.append(f"{where}: empty location")
        keys = self.apply(_row_key, axis=1) if len(self) else pd.Series(dtype=object)
        for key, count in keys.value_counts().items():
            if count > 1:
                problems.append(f"identifier {key[0]!r} ({key[1]}) appears {count} times")
        stimulus_sets = set(self.loc[self["lookup_type"] == "stimulus_set", "identifier"])
        stimulus_sets |= set(known_stimulus_sets or ())
        assemblies = self[self["lookup_type"] == "assembly"]
        for identifier, ref in zip(assemblies["identifier"], assemblies["stimulus_set_identifier"]):
            if ref and ref not in stimulus_sets:
                problems.append(f"assembly {identifier!r} references unknown stimulus set {ref!r}")
        if problems:
            raise CatalogError(f"catalog {self.identifier!r} is invalid:\n  " + "\n  ".join(problems))
        return self

    def append_rows(self, rows: Iterable[dict]) -> Catalog:
        """Add rows and rewrite the CSV atomically (under a lock).

        A row identical to an existing one is skipped (re-packaging the same file is
        idempotent); a different row for an existing identifier raises.

        Raises
        ------
        CatalogError
            A duplicate identifier with different content, or a catalog without a CSV.
        """
        if self.source_path is None:
            raise CatalogError(f"catalog {self.identifier!r} has no lookup file to append to")
        new = pd.DataFrame([{c: _text(r.get(c, "")) for c in LOOKUP_COLUMNS} for r in rows], columns=LOOKUP_COLUMNS)
        self.source_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.source_path) + ".lock"):
            current = Catalog.from_files(self.identifier, self.source_path) if self.source_path.exists() else self
            existing = {_row_key(r): r for _, r in current.iterrows()}
            keep = []
            for _, row in new.iterrows():
                key = _row_key(row)
                if key in existing:
                    if all(existing[key][c] == row[c] for c in LOOKUP_COLUMNS):
                        continue
                    raise CatalogError(
                        f"catalog {self.identifier!r} already has {key[1]} {key[0]!r} with different content; "
                        "choose a new identifier (a version suffix) instead of overwriting"
                    )
                keep.append(row)
            combined = pd.concat([current[LOOKUP_COLUMNS], pd.DataFrame(keep, columns=LOOKUP_COLUMNS)], ignore_index=True)
            updated = Catalog(combined, identifier=self.identifier, source_path=self.source_path)
            updated.validate(known_stimulus_sets=_all_stimulus_set_ids(exclude=self.identifier))
            updated._write()
        # keep this object in step with the file
        self._update_inplace(updated)
        _loaded.pop(self.identifier, None)
        return self

    def _write(self) -> None:
        with atomic_path(self.source_path) as tmp:
            pd.DataFrame(self)[LOOKUP_COLUMNS].to_csv(tmp, index=False)


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _row_key(row) -> tuple[str, str]:
    """``(identifier, kind)``: a stimulus set has a ``csv`` and a ``zip`` row."""
    if row["lookup_type"] == "stimulus_set":
        suffix = Path(str(row["location"]).split("?")[0]).suffix.lower()
        return (row["identifier"], f"stimulus_set{suffix}")
    return (row["identifier"], str(row["lookup_type"]))


# --------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------

_registered: dict[str, Catalog] = {}
_loaded: dict[str, Catalog] = {}


def register(catalog: Catalog) -> Catalog:
    """Make a catalog available to lookups for the rest of this process.

    A catalog registered under the name of an installed one takes precedence over it.
    """
    if not isinstance(catalog, Catalog):
        raise TypeError(f"register() takes a Catalog, got {type(catalog).__name__}")
    if not catalog.identifier:
        raise CatalogError("a registered catalog needs an identifier")
    _registered[catalog.identifier] = catalog
    _loaded.pop(catalog.identifier, None)
    return catalog


def unregister(identifier: str) -> None:
    """Forget a catalog registered with :func:`register` (no error if absent)."""
    _registered.pop(identifier, None)
    _loaded.pop(identifier, None)


def reload_catalogs() -> None:
    """Forget every loaded catalog so the next lookup reads them again (entry points, files)."""
    _loaded.clear()


def _sources() -> dict[str, Callable[[], Catalog]]:
    """Catalog name -> loader, in precedence order (first wins)."""
    sources: dict[str, Callable[[], Catalog]] = {}
    for name, catalog in _registered.items():
        sources[name] = lambda c=catalog: c
    for group in ENTRY_POINT_GROUPS:
        for ep in entry_points(group=group):
            sources.setdefault(ep.name, lambda ep=ep: _load_entry_point(ep))
    for folder in config.user_catalog_dirs():
        if folder.is_dir():
            for csv in sorted(folder.glob("*.csv")):
                if _is_lookup_table(csv):
                    sources.setdefault(csv.stem, lambda csv=csv: Catalog.from_files(csv.stem, csv))
    return sources


def _is_lookup_table(path: Path) -> bool:
    """Whether a CSV's header has the catalog columns (packaged stimulus CSVs may sit beside it)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            header = {c.strip().strip('"') for c in f.readline().split(",")}
    except OSError:
        return False
    return set(LOOKUP_COLUMNS) <= header


def _load_entry_point(ep) -> Catalog:
    catalog = ep.load()()
    if not isinstance(catalog, pd.DataFrame):
        raise CatalogError(f"entry point {ep.name!r} ({ep.value}) returned {type(catalog).__name__}, not a Catalog")
    if not isinstance(catalog, Catalog):  # a brainio.catalogs.Catalog, say
        path = getattr(catalog, "source_path", None) or catalog.attrs.get("source_path")
        catalog = Catalog(pd.DataFrame(catalog).fillna(""), identifier=getattr(catalog, "identifier", ep.name), source_path=path)
    if catalog.identifier != ep.name:
        raise CatalogError(f"entry point {ep.name!r} returned a catalog named {catalog.identifier!r}")
    return catalog


def list_catalogs() -> list[str]:
    """Names of every available catalog (nothing is loaded)."""
    return sorted(_sources())


def get_catalog(identifier: str) -> Catalog:
    """The catalog called ``identifier`` (loaded on first use).

    Raises
    ------
    LookupFailedError
        No such catalog (close names are suggested).
    """
    if identifier in _loaded:
        return _loaded[identifier]
    sources = _sources()
    if identifier not in sources:
        raise LookupFailedError(f"no catalog named {identifier!r}{_suggest(identifier, sources)}")
    catalog = sources[identifier]()
    _loaded[identifier] = catalog
    return catalog


def _all_catalogs(exclude: str | None = None) -> list[Catalog]:
    catalogs = []
    for name in _sources():
        if name == exclude:
            continue
        try:
            catalogs.append(get_catalog(name))
        except Exception as e:  # a broken third-party catalog must not break every lookup
            warnings.warn(f"skipping catalog {name!r}: {e}", stacklevel=3)
    return catalogs


def _all_stimulus_set_ids(exclude: str | None = None) -> set[str]:
    ids: set[str] = set()
    for catalog in _all_catalogs(exclude=exclude):
        ids |= set(catalog.loc[catalog["lookup_type"] == "stimulus_set", "identifier"])
    return ids


def combined_catalog() -> pd.DataFrame:
    """Every catalog's rows in one table, with a ``source_catalog`` column."""
    frames = []
    for catalog in _all_catalogs():
        frame = pd.DataFrame(catalog)[LOOKUP_COLUMNS].copy()
        frame["source_catalog"] = catalog.identifier
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*LOOKUP_COLUMNS, "source_catalog"])
    return pd.concat(frames, ignore_index=True)


def list_assemblies() -> list[str]:
    """Identifiers of every catalogued assembly."""
    combined = combined_catalog()
    return sorted(set(combined.loc[combined["lookup_type"] == "assembly", "identifier"]))


def list_stimulus_sets() -> list[str]:
    """Identifiers of every catalogued stimulus set."""
    combined = combined_catalog()
    return sorted(set(combined.loc[combined["lookup_type"] == "stimulus_set", "identifier"]))


def _suggest(identifier: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(identifier, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def _lookup(identifier: str, lookup_type: str) -> pd.DataFrame:
    combined = combined_catalog()
    of_type = combined[combined["lookup_type"] == lookup_type]
    rows = of_type[of_type["identifier"] == identifier]
    if rows.empty:
        error = AssemblyLookupError if lookup_type == "assembly" else StimulusSetLookupError
        kind = "assembly" if lookup_type == "assembly" else "stimulus set"
        raise error(f"no catalog lists a {kind} {identifier!r}{_suggest(identifier, of_type['identifier'].unique())}")
    content = rows[LOOKUP_COLUMNS].drop_duplicates()
    if len(content) != len(content.apply(_row_key, axis=1).unique()):
        raise LookupFailedError(
            f"{lookup_type} {identifier!r} is defined differently in catalogs "
            f"{sorted(rows['source_catalog'].unique())}; remove or rename one"
        )
    return rows.drop_duplicates(subset=LOOKUP_COLUMNS)


def lookup_assembly(identifier: str) -> pd.Series:
    """The catalog row of an assembly (with ``source_catalog``)."""
    return _lookup(identifier, "assembly").iloc[0]


def lookup_stimulus_set(identifier: str) -> tuple[pd.Series, pd.Series]:
    """The ``(csv_row, zip_row)`` of a stimulus set."""
    rows = _lookup(identifier, "stimulus_set")
    kinds = rows.apply(_row_key, axis=1).map(lambda k: k[1])
    csv_rows, zip_rows = rows[kinds == "stimulus_set.csv"], rows[kinds == "stimulus_set.zip"]
    if csv_rows.empty or zip_rows.empty:
        raise CatalogError(f"stimulus set {identifier!r} needs one .csv and one .zip row in its catalog")
    return csv_rows.iloc[0], zip_rows.iloc[0]


def _fetch_row(row: pd.Series, **fetch_options) -> Path:
    catalog = get_catalog(row["source_catalog"])
    return fetch_file(
        row["location_type"], row["location"], row["sha1"] or None, base_dir=catalog.base_dir, **fetch_options
    )


def get_stimulus_set(identifier: str, **fetch_options) -> StimulusSet:
    """Look up, fetch (verified) and load a stimulus set.

    The ZIP is extracted once, safely, into a folder named after its checksum.

    Raises
    ------
    StimulusSetLookupError
        No catalog lists ``identifier`` (close names are suggested).
    """
    csv_row, zip_row = lookup_stimulus_set(identifier)
    csv_path = _fetch_row(csv_row, **fetch_options)
    zip_path = _fetch_row(zip_row, **fetch_options)
    key = zip_row["sha1"] or zip_path.parent.name
    # the key comes from the catalog row: one plain folder name inside the stimuli cache
    target = path_within(config.cache_dir() / "stimuli", safe_component(key, "stimulus archive sha1"))
    if not target.is_dir():
        with FileLock(str(target) + ".lock"):
            if not target.is_dir():
                extract_zip(zip_path, target)
    return StimulusSet.from_files(csv_path, target, identifier=identifier)


def get_assembly(identifier: str, *, chunks=None, **fetch_options) -> DataAssembly:
    """Look up, fetch (verified) and load an assembly, merging its stimulus set.

    Parameters
    ----------
    identifier
        The assembly's catalog identifier.
    chunks
        Open dask-backed with these chunks (see :meth:`DataAssembly.from_files`).
    **fetch_options
        Passed to :func:`brainbridge.fetch.fetch_file` (``offline=``, ``progress=``...).

    Raises
    ------
    AssemblyLookupError
        No catalog lists ``identifier`` (close names are suggested).
    """
    row = lookup_assembly(identifier)
    cls = assembly_class(row["class"])
    stimulus_set_identifier = row["stimulus_set_identifier"] or None

    def read(path: Path) -> DataAssembly:
        stimulus_set = get_stimulus_set(stimulus_set_identifier, **fetch_options) if stimulus_set_identifier else None
        assembly = cls.from_files(
            path, stimulus_set_identifier=stimulus_set_identifier, stimulus_set=stimulus_set, chunks=chunks
        )
        assembly.attrs["identifier"] = identifier  # from_files attached the netCDF groups (extras)
        return assembly

    # a cached file's SHA-1 is checked while it is opened and the stimulus set loads: changed
    # bytes are never served (a damaged copy is moved aside and fetched again)
    catalog = get_catalog(row["source_catalog"])
    return load_verified(
        row["location_type"], row["location"], row["sha1"] or None, read, base_dir=catalog.base_dir, **fetch_options
    )
