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

import codecs
import difflib
import functools
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import cast

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
from brainbridge.fetch import fetch_file, load_verified, sha1_hash
from brainbridge.fetch.cache import normalize_sha1
from brainbridge.stimuli import StimulusSet, extract_stimuli, wide_encoding

__all__ = [
    "ENTRY_POINT_GROUPS",
    "LOOKUP_COLUMNS",
    "Catalog",
    "catalog_origin",
    "combined_catalog",
    "get_assembly",
    "get_catalog",
    "get_stimulus_set",
    "is_lookup_table",
    "list_assemblies",
    "list_catalogs",
    "list_stimulus_sets",
    "lookup_assembly",
    "lookup_stimulus_set",
    "register",
    "reload_catalogs",
    "remove_catalog",
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
    # declared for the type checker (set per instance in __init__; pandas carries them along)
    identifier: str
    source_path: Path | None

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
        _check_utf8(path, identifier)
        try:
            # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first column's name
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
            raise CatalogError(f"catalog {identifier!r}: cannot parse {path}: {e}") from e
        except OSError as e:
            raise CatalogError(f"catalog {identifier!r}: cannot read {path}: {e.strerror or e}") from e
        missing = [c for c in LOOKUP_COLUMNS if c not in frame.columns]
        if missing:
            raise CatalogError(f"catalog {identifier!r} ({path}) lacks columns {missing}")
        catalog = cls(frame, identifier=identifier, source_path=path)
        catalog.attrs["source_path"] = str(path)  # BrainIO keeps it here
        return catalog

    @classmethod
    def create(cls, identifier: str, csv_path: str | os.PathLike) -> Catalog:
        """A new catalog with no rows whose CSV (written now) is ``csv_path``."""
        catalog = cls(
            pd.DataFrame(columns=LOOKUP_COLUMNS, dtype=str), identifier=identifier, source_path=csv_path
        )
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
                problems.append(
                    f"{where}: lookup_type {row['lookup_type']!r} is not one of {list(LOOKUP_TYPES)}"
                )
            elif row["lookup_type"] == "assembly":
                try:
                    assembly_class(row["class"])
                except AssemblyError:
                    problems.append(f"{where}: unknown assembly class {row['class']!r}")
            elif row["class"] not in ("StimulusSet", ""):
                problems.append(
                    f"{where}: a stimulus_set row has class {row['class']!r} (expected StimulusSet or empty)"
                )
            if row["sha1"] and not _SHA1.match(row["sha1"].lower()):
                problems.append(f"{where}: sha1 {row['sha1']!r} is not 40 hexadecimal digits")
            if not row["location"]:
                problems.append(f"{where}: empty location")
        keys = self.apply(_row_key, axis=1) if len(self) else pd.Series(dtype=object)
        for key, count in keys.value_counts().items():
            if count > 1:
                key_identifier, key_kind = cast(tuple[str, str], key)  # what _row_key returns
                problems.append(f"identifier {key_identifier!r} ({key_kind}) appears {count} times")
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
        new = pd.DataFrame(
            [{c: _text(r.get(c, "")) for c in LOOKUP_COLUMNS} for r in rows], columns=LOOKUP_COLUMNS
        )
        self.source_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.source_path) + ".lock"):
            current = (
                Catalog.from_files(self.identifier, self.source_path) if self.source_path.exists() else self
            )
            existing = {_row_key(r): r for _, r in current.iterrows()}
            keep = []
            for _, row in new.iterrows():
                key = _row_key(row)
                if key in existing:
                    if all(existing[key][c] == row[c] for c in LOOKUP_COLUMNS):
                        continue
                    raise CatalogError(
                        f"catalog {self.identifier!r} already has {key[1]} {key[0]!r} "
                        "with different content; "
                        "choose a new identifier (a version suffix) instead of overwriting"
                    )
                keep.append(row)
            combined = pd.concat(
                [current[LOOKUP_COLUMNS], pd.DataFrame(keep, columns=LOOKUP_COLUMNS)], ignore_index=True
            )
            updated = Catalog(combined, identifier=self.identifier, source_path=self.source_path)
            updated.validate(known_stimulus_sets=_all_stimulus_set_ids(exclude=self.identifier))
            updated._write()
        # keep this object in step with the file
        # pandas' own in-place replacement (private: pandas-stubs leaves it out)
        self._update_inplace(updated)  # type: ignore[operator]
        _loaded.pop(self.identifier, None)
        return self

    def remove_rows(self, identifiers: Iterable[str], *, lookup_type: str | None = None) -> Catalog:
        """Remove every row of ``identifiers`` and rewrite the CSV atomically (under the append lock).

        Parameters
        ----------
        identifiers
            The identifiers to remove (a stimulus set's CSV and ZIP rows go together).
        lookup_type
            Only rows of this type (``assembly`` or ``stimulus_set``); default both.

        Raises
        ------
        LookupFailedError
            An identifier the catalog does not list.
        CatalogError
            A catalog without a CSV, or removing a stimulus set that one of its assemblies
            still uses (and that no other catalog defines).
        """
        if self.source_path is None:
            raise CatalogError(f"catalog {self.identifier!r} has no lookup file to remove rows from")
        wanted = list(dict.fromkeys(identifiers))
        with FileLock(str(self.source_path) + ".lock"):
            current = Catalog.from_files(self.identifier, self.source_path)
            mask = current["identifier"].isin(wanted)
            if lookup_type is not None:
                mask &= current["lookup_type"] == lookup_type
            absent = [i for i in wanted if i not in set(current.loc[mask, "identifier"])]
            if absent:
                kind = f" {lookup_type}" if lookup_type else ""
                raise LookupFailedError(
                    f"catalog {self.identifier!r} ({self.source_path}) lists no{kind} "
                    f"{', '.join(map(repr, absent))}"
                    f"{_suggest(absent[0], current['identifier'].unique())}"
                )
            kept = current[~mask]
            removed_sets = set(current.loc[mask & (current["lookup_type"] == "stimulus_set"), "identifier"])
            still_used = kept.loc[
                (kept["lookup_type"] == "assembly") & kept["stimulus_set_identifier"].isin(removed_sets),
                ["identifier", "stimulus_set_identifier"],
            ]
            if len(still_used):
                elsewhere = _all_stimulus_set_ids(exclude=self.identifier)
                still_used = still_used[~still_used["stimulus_set_identifier"].isin(elsewhere)]
            if len(still_used):
                pairs = ", ".join(f"{a!r} uses {s!r}" for a, s in still_used.itertuples(index=False))
                raise CatalogError(
                    f"cannot remove from catalog {self.identifier!r}: assembly {pairs}; "
                    "remove the assembly too"
                )
            updated = Catalog(
                kept.reset_index(drop=True), identifier=self.identifier, source_path=self.source_path
            )
            updated._write()
        # pandas' own in-place replacement (private: pandas-stubs leaves it out)
        self._update_inplace(updated)  # type: ignore[operator]
        _loaded.pop(self.identifier, None)
        return self

    def _write(self) -> None:
        assert self.source_path is not None  # every caller checks that the catalog has a file
        with atomic_path(self.source_path) as tmp:
            pd.DataFrame(self)[LOOKUP_COLUMNS].to_csv(tmp, index=False)


def _check_utf8(path: Path, identifier: str) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise CatalogError(f"catalog {identifier!r}: cannot read {path}: {e.strerror or e}") from e
    wide = wide_encoding(head)
    if wide:
        raise CatalogError(
            f"catalog {identifier!r}: {path} is encoded as {wide}; catalogs must be UTF-8 CSV files "
            "(re-save it as 'CSV UTF-8')"
        )


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


class _Source:
    """How to load one catalog, and where it comes from (for messages and removal)."""

    def __init__(self, load: Callable[[], Catalog], origin: str, kind: str, path: Path | None = None):
        self.load = load
        self.origin = origin
        self.kind = kind  # "registered", "entry point" or "file"
        self.path = path

    def __call__(self) -> Catalog:
        return self.load()


def _same(catalog: Catalog) -> Catalog:
    return catalog


def _sources() -> dict[str, _Source]:
    """Catalog name -> loader, in precedence order (first wins)."""
    sources: dict[str, _Source] = {}
    for name, catalog in _registered.items():
        origin = "registered at run time"
        sources[name] = _Source(functools.partial(_same, catalog), origin, "registered", catalog.source_path)
    for group in ENTRY_POINT_GROUPS:
        for ep in entry_points(group=group):
            origin = f"entry point {ep.name} = {ep.value} ({group})"
            sources.setdefault(
                ep.name, _Source(functools.partial(_load_entry_point, ep), origin, "entry point")
            )
    for folder in config.user_catalog_dirs():
        if folder.is_dir():
            for csv in sorted(folder.glob("*.csv")):
                if is_lookup_table(csv):
                    load = lambda csv=csv: Catalog.from_files(csv.stem, csv)  # noqa: E731
                    sources.setdefault(csv.stem, _Source(load, str(csv), "file", csv))
    return sources


def catalog_origin(identifier: str) -> str | None:
    """Where the catalog ``identifier`` comes from: an entry point, a file, or run-time registration."""
    source = _sources().get(identifier)
    return source.origin if source is not None else None


def is_lookup_table(path: Path) -> bool:
    """Whether a CSV's header has the catalog columns (packaged stimulus CSVs may sit beside it).

    A UTF-16 or UTF-32 file whose header has them counts too, so that loading it refuses it
    with a message instead of skipping it silently.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    wide = wide_encoding(head)
    codec = {"UTF-16": "utf-16", "UTF-32": "utf-32"}.get(wide or "", "utf-8-sig")
    if wide == "UTF-16" and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
    first = head.decode(codec, errors="replace").splitlines()[:1]
    header = {c.strip().strip('"').lstrip("\ufeff") for c in (first[0] if first else "").split(",")}
    return set(LOOKUP_COLUMNS) <= header


def _load_entry_point(ep) -> Catalog:
    try:
        catalog = ep.load()()
    except Exception as e:  # third-party code: any failure becomes one clear error naming the entry point
        raise CatalogError(
            f"catalog entry point {ep.name!r} ({ep.value}, group {ep.group}) failed: {type(e).__name__}: {e}"
        ) from e
    if not isinstance(catalog, pd.DataFrame):
        raise CatalogError(
            f"entry point {ep.name!r} ({ep.value}) returned {type(catalog).__name__}, not a Catalog"
        )
    if not isinstance(catalog, Catalog):  # a brainio.catalogs.Catalog, say
        path = getattr(catalog, "source_path", None) or catalog.attrs.get("source_path")
        catalog = Catalog(
            pd.DataFrame(catalog).fillna(""),
            identifier=getattr(catalog, "identifier", ep.name),
            source_path=path,
        )
    if catalog.identifier != ep.name:
        raise CatalogError(f"entry point {ep.name!r} returned a catalog named {catalog.identifier!r}")
    return catalog


def remove_catalog(identifier: str) -> Path | None:
    """Remove a user catalog: delete its lookup CSV (atomically, under its append lock).

    The data files it lists are left in place. A catalog registered at run time is only
    unregistered (its file is not deleted); one from an installed package cannot be removed.

    Returns
    -------
    pathlib.Path or None
        The deleted lookup file.

    Raises
    ------
    LookupFailedError
        No such catalog.
    CatalogError
        A catalog from a Python package's entry point.
    """
    sources = _sources()
    source = sources.get(identifier)
    if source is None:
        raise LookupFailedError(f"no catalog named {identifier!r}{_suggest(identifier, sources)}")
    if source.kind == "entry point":
        raise CatalogError(
            f"catalog {identifier!r} comes from an installed package ({source.origin}); "
            "uninstall the package instead"
        )
    if source.kind == "registered":
        unregister(identifier)
        return None
    assert source.path is not None  # a user catalog: a file
    with FileLock(str(source.path) + ".lock"):
        source.path.unlink(missing_ok=True)
    _loaded.pop(identifier, None)
    return source.path


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
        raise error(
            f"no catalog lists a {kind} {identifier!r}{_suggest(identifier, of_type['identifier'].unique())}"
        )
    chosen: dict[tuple[str, str], pd.Series] = {}
    for _, row in rows.iterrows():
        key = _row_key(row)
        first = chosen.setdefault(key, row)
        if first is not row and not _same_definition(first, row):
            raise LookupFailedError(_conflict_message(lookup_type, identifier, first, row))
    return pd.DataFrame(list(chosen.values()))


def _same_definition(a: pd.Series, b: pd.Series) -> bool:
    """Whether two rows define the same thing: byte-identical, or the same checksummed bytes elsewhere."""
    if all(a[c] == b[c] for c in LOOKUP_COLUMNS):
        return True
    same_bytes = bool(a["sha1"]) and a["sha1"].strip().lower() == b["sha1"].strip().lower()
    return same_bytes and all(a[c] == b[c] for c in ("lookup_type", "class", "stimulus_set_identifier"))


def _catalog_file(name: str) -> str:
    source = _sources().get(name)
    if source is None:
        return "?"
    return str(source.path) if source.path is not None else source.origin


def _conflict_message(lookup_type: str, identifier: str, a: pd.Series, b: pd.Series) -> str:
    kind = "stimulus set" if lookup_type == "stimulus_set" else lookup_type
    fields = "; ".join(f"{c} {a[c]!r} vs {b[c]!r}" for c in LOOKUP_COLUMNS if a[c] != b[c])
    return (
        f"{kind} {identifier!r} is defined differently in catalog {a['source_catalog']!r} "
        f"({_catalog_file(a['source_catalog'])}) and catalog {b['source_catalog']!r} "
        f"({_catalog_file(b['source_catalog'])}): {fields}; remove one (brainbridge catalogs remove "
        f"{b['source_catalog']} {identifier}) or rename it"
    )


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

    The ZIP is extracted once, safely and within the extraction limits, into a cache folder
    named after its checksum; that folder is a cache entry, checked on each load and
    extracted again when damaged (see :func:`brainbridge.stimuli.extract_stimuli`).

    Raises
    ------
    StimulusSetLookupError
        No catalog lists ``identifier`` (close names are suggested).
    """
    csv_row, zip_row = lookup_stimulus_set(identifier)
    csv_path = _fetch_row(csv_row, **fetch_options)
    zip_path = _fetch_row(zip_row, **fetch_options)
    key = normalize_sha1(zip_row["sha1"]) or sha1_hash(zip_path)
    target = extract_stimuli(zip_path, key)
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
        stimulus_set = (
            get_stimulus_set(stimulus_set_identifier, **fetch_options) if stimulus_set_identifier else None
        )
        assembly = cls.from_files(
            path, stimulus_set_identifier=stimulus_set_identifier, stimulus_set=stimulus_set, chunks=chunks
        )
        assembly.attrs["identifier"] = identifier  # from_files attached the netCDF groups (extras)
        return assembly

    # a cached file's SHA-1 is checked while it is opened and the stimulus set loads: changed
    # bytes are never served (a damaged copy is moved aside and fetched again)
    catalog = get_catalog(row["source_catalog"])
    return load_verified(
        row["location_type"],
        row["location"],
        row["sha1"] or None,
        read,
        base_dir=catalog.base_dir,
        **fetch_options,
    )
