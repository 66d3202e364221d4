"""`tcw schemas list` and `tcw schemas show KEY`: what the payload-schema registry holds, and from where."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from tcw.cli.main import pass_state
from tcw.cli.validate_payload import complete_registry_keys

if TYPE_CHECKING:
    from tcw.registry import Registry

_REGISTRY_OPTION = click.option(
    "--registry",
    "registry_dirs",
    multiple=True,
    metavar="DIR",
    help="Registry directory to use instead of the configured ones; repeatable.",
)
_FORMAT_OPTION = click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True
)


@click.group("schemas")
def schemas() -> None:
    """List and show the payload schemas the registry holds."""


def _load(registry_dirs: tuple[str, ...], refresh: bool = False) -> Registry:
    from tcw.registry import load_registry

    config = pass_state(click.get_current_context()).load(**{"registry.directories": registry_dirs or None})
    return load_registry(config.registry, root_url=config.root_url, refresh=refresh)


@schemas.command("list")
@_REGISTRY_OPTION
@_FORMAT_OPTION
@click.option("--refresh", is_flag=True, help="Fetch schema URLs again instead of reading the cache.")
def list_schemas(registry_dirs: tuple[str, ...], output_format: str, refresh: bool) -> None:
    """Every registry key, the executor for its queue, its schema's title, and where it came from."""
    entries = _load(registry_dirs, refresh).entries()
    if output_format == "json":
        click.echo(json.dumps([entry.to_json() for entry in entries], indent=2))
        return
    rows = [("KEY", "EXECUTOR", "TITLE", "SOURCE")]
    rows += [(e.key, e.executor or "-", e.title or "-", e.source) for e in entries]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*padded, row[3]]))


@schemas.command("show")
@click.argument("key", shell_complete=complete_registry_keys)
@_REGISTRY_OPTION
@_FORMAT_OPTION
def show_schema(key: str, registry_dirs: tuple[str, ...], output_format: str) -> None:
    """The schema for KEY (a registry key, or a task queue id it matches) and where it came from."""
    entry = _load(registry_dirs).lookup(key)
    if output_format == "json":
        click.echo(json.dumps({**entry.to_json(), "schema": entry.schema}, indent=2))
        return
    click.echo(f"# key: {entry.key}")
    click.echo(f"# source: {entry.source}")
    click.echo(f"# schema id: {entry.schema_id}")
    if entry.executor:
        click.echo(f"# executor: {entry.executor}")
    click.echo(json.dumps(entry.schema, indent=2))
