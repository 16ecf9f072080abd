"""The core subcommands: catalogs, list, describe, fetch, validate, package and example.

Each command prints a plain-text table (or one line per result) and exits non-zero with a
one-line reason on error: :class:`brainbridge.errors.BrainbridgeError` is converted by the
root group, other expected failures raise :class:`click.ClickException` here.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from brainbridge.deprecation import cli_deprecated
from brainbridge.errors import (
    AssemblyError,
    BrainbridgeError,
    CatalogError,
    LookupFailedError,
    StimulusSetError,
)
from brainbridge.formats import ASSEMBLY_SUFFIXES as _ASSEMBLY_SUFFIXES
from brainbridge.formatting import format_bytes, format_cell, format_table

__all__ = [
    "catalogs",
    "describe_assembly",
    "example",
    "fetch",
    "format_table",
    "list_command",
    "package",
    "describe",
    "validate",
]

_CONTEXT = {"help_option_names": ["-h", "--help"]}


# --------------------------------------------------------------------------------------
# output helpers
# --------------------------------------------------------------------------------------


def _preview(values: np.ndarray, n: int = 3) -> str:
    items = [
        format_cell(v.item() if isinstance(v, np.generic) else v) for v in np.asarray(values).ravel()[:n]
    ]
    more = "…" if np.asarray(values).size > n else ""
    return ", ".join(items) + more


# --------------------------------------------------------------------------------------
# catalogs / list
# --------------------------------------------------------------------------------------


@click.group("catalogs", context_settings=_CONTEXT, invoke_without_command=True)
@click.pass_context
def catalogs(ctx: click.Context) -> None:
    """List the installed catalogs, with how many assemblies and stimulus sets each lists.

    A catalog that fails to load (a third-party package's entry point that raises, a damaged
    file) is skipped with a warning naming it.
    """
    if ctx.invoked_subcommand is not None:
        return
    from brainbridge.catalogs import catalog_origin, get_catalog, list_catalogs

    rows = []
    for name in list_catalogs():
        try:
            catalog = get_catalog(name)
        except BrainbridgeError as e:
            # a broken catalog (a third party's entry point, a damaged file) must not hide the others
            click.echo(f"warning: skipping catalog {name!r} ({catalog_origin(name)}): {e}", err=True)
            continue
        kinds = catalog["lookup_type"] if len(catalog) else pd.Series(dtype=str)
        rows.append(
            {
                "catalog": name,
                "assemblies": int(catalog.loc[kinds == "assembly", "identifier"].nunique()),
                "stimulus_sets": int(catalog.loc[kinds == "stimulus_set", "identifier"].nunique()),
                "lookup": str(catalog.source_path) if catalog.source_path is not None else "(in memory)",
            }
        )
    click.echo(format_table(rows, ["catalog", "assemblies", "stimulus_sets", "lookup"]))


@catalogs.command("remove", context_settings=_CONTEXT)
@click.argument("catalog_name")
@click.argument("identifiers", nargs=-1)
@click.option(
    "--kind",
    type=click.Choice(["assembly", "stimulus_set"]),
    default=None,
    help="Only rows of this kind (default: every row of each identifier).",
)
@click.option(
    "--all", "whole", is_flag=True, help="Remove the whole catalog (its lookup CSV; data files stay)."
)
def catalogs_remove(catalog_name: str, identifiers: tuple[str, ...], kind: str | None, whole: bool) -> None:
    """Remove rows (IDENTIFIERS) from a user catalog, or the whole catalog with --all.

    The lookup CSV is rewritten atomically under the same lock as packaging's appends. The
    data files are left where they are.
    """
    from brainbridge.catalogs import get_catalog, remove_catalog

    if whole == bool(identifiers):
        raise click.UsageError(
            "give the identifiers to remove, or --all to remove the whole catalog (not both)"
        )
    if whole:
        path = remove_catalog(catalog_name)
        click.echo(f"removed catalog {catalog_name}" + (f" ({path})" if path else " (unregistered)"))
        return
    catalog = get_catalog(catalog_name)
    catalog.remove_rows(identifiers, lookup_type=kind)
    click.echo(f"removed {', '.join(identifiers)} from catalog {catalog_name} ({catalog.source_path})")


@click.command("list", context_settings=_CONTEXT)
@click.option(
    "--kind",
    type=click.Choice(["assembly", "stimulus_set"]),
    default=None,
    help="Only assemblies or only stimulus sets (default: both).",
)
@click.option("--catalog", "catalog_name", default=None, help="Only this catalog's entries.")
def list_command(kind: str | None, catalog_name: str | None) -> None:
    """List catalogued assemblies and stimulus sets."""
    from brainbridge.catalogs import combined_catalog, get_catalog

    if catalog_name is not None:
        frame = pd.DataFrame(get_catalog(catalog_name)).copy()
        frame["source_catalog"] = catalog_name
    else:
        frame = combined_catalog()
    if kind is not None:
        frame = frame[frame["lookup_type"] == kind]
    rows = []
    for (identifier, lookup_type), group in frame.groupby(["identifier", "lookup_type"], sort=True):
        classes = [c for c in group["class"] if c]
        rows.append(
            {
                "identifier": identifier,
                "kind": lookup_type,
                "class": classes[0] if classes else "",
                "stimulus_set": next((s for s in group["stimulus_set_identifier"] if s), ""),
                "catalog": ", ".join(sorted(set(group["source_catalog"]))),
            }
        )
    click.echo(format_table(rows, ["identifier", "kind", "class", "stimulus_set", "catalog"]))


# --------------------------------------------------------------------------------------
# show
# --------------------------------------------------------------------------------------


def describe_assembly(array, *, path: str | os.PathLike | None = None, kind: str | None = None) -> str:
    """A text description of an assembly: class, dims and sizes, coordinates, attributes.

    ``array`` may be a plain lazy DataArray (from :func:`brainbridge.assemblies.open_assembly_array`)
    or an assembly; coordinate values are read, data values are not. ``kind`` names the
    class (default: the object's own class; a file does not record it).
    """
    from brainbridge.assemblies import walk_coords

    lines = []
    sizes = " x ".join(f"{d} {n}" for d, n in array.sizes.items())
    lines.append(
        f"{kind or type(array).__name__}: {sizes} "
        f"({array.dtype}, {format_bytes(array.size * array.dtype.itemsize)})"
    )
    if path is not None:
        lines.append(f"file: {path}")
        file = Path(path)
        if file.is_file():
            from brainbridge.fetch import sha1_hash

            lines.append(f"sha1: {sha1_hash(file)}  size: {format_bytes(file.stat().st_size)}")
    attrs = {k: v for k, v in array.attrs.items() if isinstance(v, (str, int, float, np.number))}
    lines.append(f"identifier: {attrs.get('identifier', '')}")
    lines.append(f"stimulus set: {attrs.get('stimulus_set_identifier', '') or '(none)'}")
    rows: list[dict[str, Any]] = []
    for name, dims, values in walk_coords(array):
        values = np.asarray(values)
        unique: int | str
        try:
            unique = len(pd.unique(values.ravel()))
        except TypeError:
            unique = ""
        rows.append(
            {
                "coordinate": str(name),
                "dims": ",".join(map(str, dims)),
                "dtype": str(values.dtype),
                "unique": unique,
                "values": _preview(values),
            }
        )
    rows.sort(key=lambda r: (r["dims"], r["coordinate"]))
    lines.append("")
    lines.append(format_table(rows, ["coordinate", "dims", "dtype", "unique", "values"]))
    others = {k: v for k, v in attrs.items() if k not in ("identifier", "stimulus_set_identifier")}
    if others:
        lines.append("")
        lines.append(
            format_table(
                [
                    {"attribute": k, "value": _preview(np.asarray([v]), 1)[:80]}
                    for k, v in sorted(others.items())
                ]
            )
        )
    return "\n".join(lines)


def _describe_stimulus_set(
    frame: pd.DataFrame, *, title: str, files: Iterable[tuple[str, Path, str]] = ()
) -> str:
    lines = [f"{title}: {len(frame)} stimuli, {len(frame.columns)} columns"]
    for kind, path, sha1 in files:
        lines.append(f"{kind}: {path}  sha1: {sha1}")
    rows = []
    for column in frame.columns:
        values = frame[column]
        rows.append(
            {
                "column": str(column),
                "dtype": str(values.dtype),
                "unique": int(values.nunique()),
                "missing": int(values.isna().sum()),
                "values": _preview(values.dropna().to_numpy()),
            }
        )
    lines.append("")
    lines.append(format_table(rows, ["column", "dtype", "unique", "missing", "values"]))
    return "\n".join(lines)


def _is_catalog_csv(path: Path) -> bool:
    from brainbridge.catalogs import is_lookup_table

    return is_lookup_table(path)


def _show_path(path: Path) -> str:
    from brainbridge.catalogs import Catalog
    from brainbridge.fetch import sha1_hash
    from brainbridge.formats import open_assembly_array
    from brainbridge.formats.zarr import is_zarr_store
    from brainbridge.stimuli import read_stimulus_csv

    if path.suffix.lower() in _ASSEMBLY_SUFFIXES or is_zarr_store(path):
        return describe_assembly(open_assembly_array(path), path=path, kind="assembly")
    if path.suffix.lower() == ".csv":
        if _is_catalog_csv(path):
            catalog = Catalog.from_files(path.stem, path)
            return f"catalog {path.stem} ({path}): {len(catalog)} rows\n\n" + format_table(
                pd.DataFrame(catalog)
            )
        frame = read_stimulus_csv(path)
        return _describe_stimulus_set(
            frame, title=f"stimulus set {path.name}", files=[("csv", path, sha1_hash(path))]
        )
    if path.suffix.lower() == ".zip":
        from brainbridge.stimuli import archive_members

        names = archive_members(path)
        return (
            f"stimulus archive {path}: {len(names)} files, e.g. {', '.join(names[:5])}\n"
            f"sha1: {sha1_hash(path)}"
        )
    raise click.ClickException(
        f"cannot show {path}: expected a netCDF ({', '.join(_ASSEMBLY_SUFFIXES)}) or zarr assembly, "
        "a CSV or a ZIP"
    )


@click.command("describe", context_settings=_CONTEXT)
@click.argument("identifier")
@click.option("--offline", is_flag=True, default=None, help="Use only cached files (no network).")
def describe(identifier: str, offline: bool | None) -> None:
    """Describe an assembly or stimulus set: dims, coordinates, sizes, checksum, stimulus set.

    IDENTIFIER is a catalogued identifier (e.g. brainbridge.example.neural) or the path of a
    netCDF/zarr assembly, a stimulus set or catalog CSV, or a stimulus ZIP.
    """
    from brainbridge.assemblies import open_assembly_array
    from brainbridge.catalogs import (
        get_catalog,
        get_stimulus_set,
        list_assemblies,
        list_stimulus_sets,
        lookup_assembly,
        lookup_stimulus_set,
    )
    from brainbridge.fetch import fetch_file

    path = Path(identifier).expanduser()
    if path.exists():
        click.echo(_show_path(path))
        return
    options: dict[str, Any] = {"offline": offline} if offline else {}
    if identifier in list_assemblies():
        row = lookup_assembly(identifier)
        file = fetch_file(
            row["location_type"],
            row["location"],
            row["sha1"] or None,
            base_dir=get_catalog(row["source_catalog"]).base_dir,
            **options,
        )
        click.echo(f"assembly {identifier} (catalog {row['source_catalog']}, class {row['class']})")
        click.echo(f"location: {row['location_type']} {row['location']}")
        click.echo(describe_assembly(open_assembly_array(file), path=file, kind=row["class"]))
        return
    if identifier in list_stimulus_sets():
        csv_row, zip_row = lookup_stimulus_set(identifier)
        stimulus_set = get_stimulus_set(identifier, **options)
        click.echo(
            _describe_stimulus_set(
                pd.DataFrame(stimulus_set),
                title=f"stimulus set {identifier} (catalog {csv_row['source_catalog']})",
                files=[
                    ("csv", csv_row["location"], csv_row["sha1"]),
                    ("zip", zip_row["location"], zip_row["sha1"]),
                ],
            )
        )
        return
    raise LookupFailedError(
        f"{identifier!r} is neither a file nor a catalogued assembly or stimulus set"
        + _suggest(identifier, [*list_assemblies(), *list_stimulus_sets()])
    )


def _suggest(identifier: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(identifier, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


# --------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------


@click.command("fetch", context_settings=_CONTEXT)
@click.argument("identifiers", nargs=-1, required=True)
@click.option("--offline", is_flag=True, default=None, help="Use only cached files; fail if one is missing.")
@click.option("--no-stimuli", is_flag=True, help="For assemblies, do not fetch their stimulus set.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=4, show_default=True, help="Parallel downloads."
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=None, hidden=True, help="Deprecated: use --workers."
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    metavar="SECONDS",
    help="Time allowed for each file, retries and waiting for other processes included (0: no limit).",
)
def fetch(
    identifiers: tuple[str, ...],
    offline: bool | None,
    no_stimuli: bool,
    workers: int,
    jobs: int | None,
    progress: bool | None,
    timeout: float,
) -> None:
    """Fetch catalogued assemblies and stimulus sets into the cache (checksums verified).

    An assembly's stimulus set is fetched with it unless --no-stimuli is given. Files are
    fetched in parallel, with one progress bar (total and ETA) on a terminal. An unreachable
    host fails at once; transient failures are retried within --timeout.
    """
    from brainbridge.catalogs import (
        get_catalog,
        list_assemblies,
        list_stimulus_sets,
        lookup_assembly,
        lookup_stimulus_set,
    )
    from brainbridge.fetch import fetch_files

    assemblies, stimulus_sets = set(list_assemblies()), set(list_stimulus_sets())
    options = {"offline": offline} if offline else {}
    rows: list[pd.Series] = []
    seen: set[tuple[str, str]] = set()

    def add(row: pd.Series) -> None:
        key = (row["identifier"], row["location"])
        if key not in seen:
            seen.add(key)
            rows.append(row)

    for identifier in identifiers:
        if identifier in assemblies:
            row = lookup_assembly(identifier)
            add(row)
            if row["stimulus_set_identifier"] and not no_stimuli:
                for r in lookup_stimulus_set(row["stimulus_set_identifier"]):
                    add(r)
        elif identifier in stimulus_sets:
            for r in lookup_stimulus_set(identifier):
                add(r)
        else:
            raise LookupFailedError(
                f"no catalog lists an assembly or stimulus set {identifier!r}"
                + _suggest(identifier, [*assemblies, *stimulus_sets])
            )
    requests = [
        {
            "location_type": row["location_type"],
            "location": row["location"],
            "sha1": row["sha1"] or None,
            "base_dir": get_catalog(row["source_catalog"]).base_dir,
        }
        for row in rows
    ]
    if jobs is not None:
        cli_deprecated("brainbridge fetch --jobs", "--workers")
        workers = jobs
    limit = timeout or None
    paths = fetch_files(
        requests, workers=workers, progress=progress, timeout=limit, lock_timeout=limit, **options
    )
    table = []
    for row, path in zip(rows, paths):
        table.append(
            {
                "identifier": row["identifier"],
                "file": Path(str(row["location"])).name,
                "size": format_bytes(path.stat().st_size),
                "sha1": (row["sha1"] or "")[:12],
                "path": str(path),
            }
        )
    click.echo(format_table(table, ["identifier", "file", "size", "sha1", "path"]))


# --------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------


def validate_assembly_file(path: Path) -> list[str]:
    """Check a netCDF/zarr assembly; return notes (warnings). Raises AssemblyError on problems.

    Checks: a zarr store's files against the checksums recorded when it was written (every
    chunk present, every byte unchanged), the file opens and every value can be read
    (truncation shows here), each
    dimension has coordinates, ``presentation`` has ``stimulus_id``, ``neuroid`` has unique
    ``neuroid_id``, time bins have start < end, ``(stimulus_id, repetition)`` pairs are
    unique, and the dimensions fit an assembly class.
    """
    from brainbridge.assemblies import DataAssembly, open_assembly_array, walk_coords
    from brainbridge.formats.zarr import is_zarr_store

    checked = None
    if is_zarr_store(path):
        from brainbridge.zarr_checksums import verify_zarr_checksums

        checked = verify_zarr_checksums(str(path), full=True)  # every file hashed before anything is read
    array = open_assembly_array(path)
    notes = []
    if is_zarr_store(path):
        notes.append(
            f"zarr checksums: {checked} files match"
            if checked is not None
            else "zarr store without recorded checksums (not written by brainbridge): integrity not checked"
        )
    try:
        values = np.asarray(array.values)
    except Exception as e:  # a truncated HDF5 chunk raises from deep inside h5py
        raise AssemblyError(f"{path}: cannot read the data values: {e}") from e
    try:
        # what loading does (coordinate names that collide fail here), then the format's rules
        DataAssembly(array).validate()
    except AssemblyError as e:
        raise AssemblyError(f"{path} is not a valid assembly: {e}") from e
    n_coords = sum(1 for _ in walk_coords(array))
    dims = set(array.dims)
    if dims not in ({"presentation", "neuroid"}, {"presentation", "neuroid", "time_bin"}, {"event"}):
        notes.append(f"dimensions {tuple(array.dims)} are not a neuroid assembly's (fine for other classes)")
    if values.dtype.kind == "f" and values.size:
        fraction = float(np.isnan(values).mean())
        if fraction:
            notes.append(f"{fraction:.1%} of the values are NaN")
    if not array.attrs.get("stimulus_set_identifier") and "presentation" in array.dims:
        notes.append("no stimulus_set_identifier attribute")
    sizes = " x ".join(f"{d} {n}" for d, n in array.sizes.items())
    notes.insert(
        0,
        f"assembly {sizes}, {n_coords} coordinates, "
        f"stimulus set {array.attrs.get('stimulus_set_identifier', '(none)')}",
    )
    return notes


def _stimulus_files_location(csv_path: Path, stimuli: Path | None) -> Path | None:
    if stimuli is not None:
        return stimuli
    for candidate in (csv_path.with_suffix(".zip"), csv_path.with_suffix("")):
        if candidate.exists():
            return candidate
    return None


def validate_stimulus_set_files(csv_path: Path, stimuli: Path | None) -> list[str]:
    """Check a stimulus set CSV and (when found) its files: a folder or a ZIP.

    Without ``stimuli``, a ZIP or a folder next to the CSV with the same stem is used.
    """
    from brainbridge.stimuli import (
        StimulusSet,
        archive_members,
        check_filename,
        contained_path,
        read_stimulus_csv,
    )

    frame = read_stimulus_csv(csv_path)
    stimulus_set = StimulusSet(frame)
    stimulus_set.validate(check_files=False)
    if "filename" not in frame.columns:
        raise StimulusSetError(f"{csv_path}: a stimulus set CSV needs a 'filename' column")
    notes = [f"stimulus set: {len(frame)} stimuli, columns {list(frame.columns)}"]
    location = _stimulus_files_location(csv_path, stimuli)
    if location is None:
        notes.append("no stimulus files checked (pass --stimuli DIR_OR_ZIP)")
        return notes
    names = [check_filename(n, sid, csv_path) for sid, n in zip(frame["stimulus_id"], frame["filename"])]
    if location.suffix.lower() == ".zip":
        members = set(archive_members(location, verify=True))
        # BrainIO's flat ZIPs and ZIPs with one folder inside are both fine
        prefixes = {""} | {m.split("/", 1)[0] + "/" for m in members if "/" in m}
        missing = [n for n in names if not any(p + n in members for p in prefixes)]
    else:
        missing = [n for n in names if not contained_path(location, n).is_file()]
    if missing:
        raise StimulusSetError(
            f"{len(missing)} stimulus files listed in {csv_path.name} are not in {location}, "
            f"e.g. {missing[:3]}"
        )
    notes.append(f"all {len(names)} files present in {location}")
    return notes


def validate_catalog_file(path: Path, *, verify: bool) -> list[str]:
    """Check a catalog lookup CSV; local files must exist (and match their SHA-1 with ``verify``)."""
    from brainbridge.catalogs import Catalog, list_stimulus_sets
    from brainbridge.fetch import resolve_location, sha1_hash

    catalog = Catalog.from_files(path.stem, path)
    try:
        catalog.validate()
    except CatalogError:
        # stimulus sets referenced from other installed catalogs are fine
        catalog.validate(known_stimulus_sets=list_stimulus_sets())
    notes = [f"catalog {path.stem}: {len(catalog)} rows"]
    problems = []
    local = catalog[catalog["location_type"].str.lower().isin(["local", "file", ""])]
    for _, row in local.iterrows():
        file = Path(resolve_location(row["location_type"], row["location"], catalog.base_dir))
        if not file.is_file():
            problems.append(f"{row['identifier']}: file not found: {file}")
        elif verify and row["sha1"] and sha1_hash(file) != row["sha1"].lower():
            problems.append(f"{row['identifier']}: {file.name} does not match its sha1")
    if problems:
        raise CatalogError(f"catalog {path} is invalid:\n  " + "\n  ".join(problems))
    if len(local):
        notes.append(f"{len(local)} local files present" + (" and verified" if verify else ""))
    return notes


@click.command("validate", context_settings=_CONTEXT)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--stimuli",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="For a stimulus set CSV: the folder or ZIP of its files (default: a sibling with the same stem).",
)
@click.option("--verify", is_flag=True, help="For a catalog: also check the SHA-1 of its local files.")
def validate(path: Path, stimuli: Path | None, verify: bool) -> None:
    """Validate a netCDF/zarr assembly, a stimulus set (CSV [+ folder/ZIP]) or a catalog CSV.

    The kind is detected from the extension (.nc/.h5 or a zarr store, .csv, .zip); a CSV
    with BrainIO's seven lookup columns is a catalog, any other CSV a stimulus set.
    """
    from brainbridge.formats.zarr import is_zarr_store
    from brainbridge.stimuli import archive_members

    suffix = path.suffix.lower()
    if suffix in _ASSEMBLY_SUFFIXES or is_zarr_store(path):
        notes = validate_assembly_file(path)
    elif suffix == ".csv":
        notes = (
            validate_catalog_file(path, verify=verify)
            if _is_catalog_csv(path)
            else validate_stimulus_set_files(path, stimuli)
        )
    elif suffix == ".zip":
        members = archive_members(path, verify=True)
        notes = [
            f"stimulus archive: {len(members)} entries, all safe, unique and intact, "
            "within the extraction limits"
        ]
    else:
        raise click.ClickException(
            f"cannot tell what {path} is: expected .nc/.h5 or a zarr store (assembly), "
            ".csv (stimulus set or catalog) or .zip"
        )
    click.echo(f"OK {path}")
    for note in notes:
        click.echo(f"  {note}")


# --------------------------------------------------------------------------------------
# package
# --------------------------------------------------------------------------------------


@click.group("package", context_settings=_CONTEXT)
def package() -> None:
    """Package stimulus sets and assemblies into a catalog (write, hash, store, catalog)."""


def _catalog_for_packaging(name: str, create: bool, store: str | None) -> tuple[Any, str | None, bool]:
    """The catalog to package into, the store to use, and whether the catalog is new.

    A new catalog (``--create``) is written only when the packaging succeeds. A catalog in a
    user catalog folder keeps its files in a subfolder named after it, since every ``*.csv``
    directly in that folder is read as a catalog (a stimulus set's CSV there would be
    mistaken for one).
    """
    from brainbridge.packaging import default_store, prepare_user_catalog

    catalog, created = prepare_user_catalog(name, create)
    return catalog, store if store is not None else default_store(catalog), created


_catalog_option = click.option("--catalog", "catalog_name", required=True, help="The catalog to add to.")
_create_option = click.option(
    "--create",
    is_flag=True,
    help="Create the catalog if it does not exist (in the first BRAINBRIDGE_CATALOGS folder, "
    "else $BRAINBRIDGE_HOME/catalogs, else the user config folder).",
)
_store_option = click.option(
    "--store",
    default=None,
    help="Folder or URL (s3://bucket/prefix) for the files (default: the catalog's folder; "
    "<folder>/<catalog> for catalogs in a user catalog folder).",
)


@package.command("stimulus-set", context_settings=_CONTEXT)
@_catalog_option
@click.option("--identifier", required=True, help="The new stimulus set identifier, e.g. lab.Author2024.")
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Metadata CSV with stimulus_id and filename columns.",
)
@click.option(
    "--dir",
    "dir_path",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder holding the files named in 'filename'.",
)
@_store_option
@_create_option
def package_stimulus_set_command(
    catalog_name: str, identifier: str, csv_path: Path, dir_path: Path, store: str | None, create: bool
) -> None:
    """Package a stimulus set (CSV + folder of files) into a catalog as CSV + ZIP."""
    from brainbridge.packaging import package_stimulus_set
    from brainbridge.stimuli import StimulusSet

    stimulus_set = StimulusSet.from_files(csv_path, dir_path, identifier=identifier)
    catalog, store, created = _catalog_for_packaging(catalog_name, create, store)
    result = package_stimulus_set(catalog, stimulus_set, identifier, store=store)
    if created:
        click.echo(f"created catalog {catalog.identifier} at {catalog.source_path}")
    click.echo(
        f"packaged stimulus set {identifier} ({len(stimulus_set)} stimuli) into catalog {result['catalog']}"
    )
    click.echo(
        format_table(
            [
                {"file": "csv", "location": result["csv_location"], "sha1": result["csv_sha1"]},
                {"file": "zip", "location": result["zip_location"], "sha1": result["zip_sha1"]},
            ]
        )
    )


@package.command("assembly", context_settings=_CONTEXT)
@_catalog_option
@click.option("--identifier", required=True, help="The new assembly identifier, e.g. lab.Author2024.public.")
@click.option(
    "--file",
    "file_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The assembly: a netCDF file or zarr store.",
)
@click.option(
    "--stimulus-set",
    "stimulus_set_identifier",
    default=None,
    help="The stimulus set merged on load (its ids are checked when catalogued).",
)
@click.option(
    "--class",
    "class_name",
    default="NeuronRecordingAssembly",
    show_default=True,
    help="Assembly class (NeuronRecordingAssembly, BehavioralAssembly, PropertyAssembly...).",
)
@_store_option
@_create_option
def package_assembly_command(
    catalog_name: str,
    identifier: str,
    file_path: Path,
    stimulus_set_identifier: str | None,
    class_name: str,
    store: str | None,
    create: bool,
) -> None:
    """Package an assembly file into a catalog (re-written in the deterministic format)."""
    from brainbridge.assemblies import assembly_class
    from brainbridge.packaging import package_data_assembly

    cls = assembly_class(class_name)
    assembly = cls.from_files(file_path)
    assembly.load()
    catalog, store, created = _catalog_for_packaging(catalog_name, create, store)
    result = package_data_assembly(
        catalog,
        assembly,
        identifier,
        stimulus_set_identifier,
        assembly_class_name=class_name,
        store=store,
    )
    if created:
        click.echo(f"created catalog {catalog.identifier} at {catalog.source_path}")
    click.echo(f"packaged {result['cls']} {identifier} into catalog {result['catalog']}")
    click.echo(
        format_table(
            [
                {
                    "location": result["location"],
                    "sha1": result["sha1"],
                    "stimulus_set": result["stimulus_set_identifier"] or "",
                }
            ]
        )
    )


# --------------------------------------------------------------------------------------
# example
# --------------------------------------------------------------------------------------


@click.group("example", context_settings=_CONTEXT)
def example() -> None:
    """The bundled example catalog (brainbridge-examples) and the main job."""


@example.command("run", context_settings=_CONTEXT)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("example-output"),
    show_default=True,
    help="Folder for the tables, plots and in silico responses.",
)
@click.option(
    "--families",
    default=None,
    metavar="NAMES",
    help="Feature families to score, comma-separated: gabor_v1, random_cnn, efficientnet_lite0 "
    "(default: all; env BRAINBRIDGE_EXAMPLE_FAMILIES).",
)
def example_run(out_dir: Path, families: str | None) -> None:
    """Run the main job: list catalogs, fetch and load the example recording, average
    repetitions, print a per-region summary and save a plot of the responses; then score each
    feature family against the noise ceiling, pick the best per region, encode new images into
    in silico responses and save the plots."""
    from brainbridge.examples.main_job import run_main_job

    options = {"encoding_families": families} if families else None
    result = run_main_job(out_dir, echo=click.echo, options=options)
    click.echo(f"done: outputs in {result['out_dir']}")


@example.command("build", context_settings=_CONTEXT)
@click.option("--force", is_flag=True, help="Rebuild even if a complete copy exists.")
@click.option(
    "--modalities",
    is_flag=True,
    help="Also build the simulated NSD-like fMRI and THINGS-EEG2-like EEG sets (37 MB), "
    "so the example catalog lists them.",
)
def example_build(force: bool, modalities: bool) -> None:
    """Generate the example files (done automatically on first use) and print where they are."""
    from brainbridge.examples import ensure_examples

    folder = ensure_examples(force=force)
    click.echo(str(folder))
    if modalities:
        from brainbridge.examples.modalities import ensure_modalities

        click.echo(str(ensure_modalities()))
