"""``brainbridge cache``: inspect, verify and clean the download cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from brainbridge.deprecation import cli_deprecated, deprecated_alias_command
from brainbridge.fetch import cache_info, cached_path, clean_cache, tree_entries, verify_cache
from brainbridge.fetch.cache import DownloadCache
from brainbridge.formatting import format_bytes


@click.group()
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Cache root (default: $BRAINBRIDGE_HOME/cache).",
)
@click.pass_context
def cache(ctx: click.Context, cache_dir: Path | None) -> None:
    """Inspect, verify and clean the download cache."""
    ctx.obj = {"cache_dir": cache_dir}


@cache.command("path")
@click.argument("sha1", required=False)
@click.pass_context
def path_command(ctx: click.Context, sha1: str | None) -> None:
    """Print the cache folder, or the cached file with checksum SHA1 (exit 1 if not cached)."""
    cache_dir = ctx.obj["cache_dir"]
    if sha1 is None:
        click.echo(cache_info(cache_dir).root)
        return
    found = cached_path(sha1, cache_dir)
    if found is None:
        raise click.ClickException(f"no cached file has sha1 {sha1}")
    click.echo(str(found))


@cache.command("describe")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def info_command(ctx: click.Context, as_json: bool) -> None:
    """Where the cache is and how much it holds."""
    info = cache_info(ctx.obj["cache_dir"])
    if as_json:
        click.echo(json.dumps(info.as_dict(), indent=2))
        return
    click.echo(f"cache:    {info.root}")
    click.echo(f"manifest: {info.manifest} ({info.recorded} recorded)")
    click.echo(f"files:    {info.files} ({format_bytes(info.bytes)})")
    click.echo(f"folders:  {info.folders} ({format_bytes(info.folder_bytes)})")
    click.echo(f"partial:  {info.partial_files} ({format_bytes(info.partial_bytes)})")
    if info.quarantined:
        click.echo(f"quarantined: {info.quarantined} damaged copies (removed by `brainbridge cache clean`)")


@cache.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """List every cache entry: downloaded files and registered folders (e.g. extracted stimuli)."""
    cache_obj = DownloadCache(ctx.obj["cache_dir"])
    rows: list[dict[str, Any]] = []
    for entry in cache_obj.manifest.all() if cache_obj.manifest.path.exists() else []:
        rows.append(
            {
                "kind": "file",
                "path": entry.relpath,
                "bytes": entry.size,
                "source": entry.source,
                "last_used": entry.last_used,
            }
        )
    for tree in tree_entries(cache_obj.root):
        rows.append(
            {
                "kind": tree.kind,
                "path": tree.relpath + "/",
                "bytes": tree.size,
                "source": tree.source,
                "last_used": tree.last_used,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['kind']:8} {format_bytes(row['bytes']):>10}  {row['path']}  ({row['source']})")
    click.echo(f"{len(rows)} entries, {format_bytes(sum(r['bytes'] for r in rows))}")


@cache.command("verify")
@click.option(
    "--delete",
    is_flag=True,
    help="Delete corrupt entries (default: move them aside); either way they are fetched again when needed.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--quiet", "-q", is_flag=True, hidden=True, help="Deprecated: use --no-progress.")
@click.pass_context
def verify_command(
    ctx: click.Context, delete: bool, as_json: bool, progress: bool | None, quiet: bool
) -> None:
    """Re-hash every cache entry; exit 1 if any is corrupt or missing.

    A corrupt file or folder is taken out of service: moved into the cache's .quarantine
    folder (or deleted with --delete), so the next use fetches or extracts a good copy.
    """
    if quiet:
        cli_deprecated("brainbridge cache verify --quiet", "--no-progress")
        progress = False
    problems = verify_cache(ctx.obj["cache_dir"], delete=delete, progress=progress)
    bad = [p for p in problems if p.kind in ("corrupt", "missing")]
    if as_json:
        click.echo(json.dumps([vars(p) for p in problems], indent=2))
    else:
        for problem in problems:
            click.echo(str(problem))
        if not problems:
            click.echo("all cached files are intact")
    if bad:
        ctx.exit(1)


@cache.command("clean")
@click.option(
    "--all", "everything", is_flag=True, help="Remove every cached file, not only partial downloads."
)
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=None,
    metavar="DAYS",
    help="Also remove files not used for DAYS days.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.pass_context
def clean_command(ctx: click.Context, everything: bool, older_than: float | None, dry_run: bool) -> None:
    """Remove interrupted downloads (and, with --all/--older-than, cached files).

    Entries that another process is downloading right now are left alone.
    """
    report = clean_cache(
        ctx.obj["cache_dir"], everything=everything, older_than_days=older_than, dry_run=dry_run
    )
    verb = "would remove" if dry_run else "removed"
    for path in report.removed:
        click.echo(f"{verb} {path}")
    for path in report.busy:
        click.echo(f"busy (skipped) {path}")
    click.echo(f"{verb} {len(report.removed)} files, {format_bytes(report.freed_bytes)}")


cache.add_command(
    deprecated_alias_command(info_command, "brainbridge cache info", "brainbridge cache describe")
)
