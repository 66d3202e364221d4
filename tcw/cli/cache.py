"""`tcw cache list` and `tcw cache purge [NAME]`: what the mounts keep on this worker, for operators."""

from __future__ import annotations

import time
from typing import Any

import click

from tcw.cli.main import pass_state

_ROOT_OPTION = click.option(
    "--work-root",
    type=click.Path(file_okay=False),
    help="The worker's work root (mounts.root defaults under it).",
)


def _root(ctx: click.Context, work_root: str | None) -> Any:
    config = pass_state(ctx).load(**{"worker.work_root": work_root})
    return config.mounts.root_path(config.worker)


@click.group("cache")
def cache() -> None:
    """Writable caches and stored mount content kept by this worker's shell executor."""


@cache.command("list")
@_ROOT_OPTION
@click.pass_context
def list_caches(ctx: click.Context, work_root: str | None) -> None:
    """List cache instances (name, state, size, last use) and the content store's entries.

    A cache whose state is not clean and that no task holds was left by a killed worker: it is
    never handed to a task, and the next collection removes it."""
    from tcw.executors.mounts.disk import inventory

    root = _root(ctx, work_root)
    found = inventory(root)
    click.echo(f"mounts under {root}")
    for instance in sorted(found.caches, key=lambda entry: (entry.name, -entry.last_used)):
        state = "in use" if instance.in_use else instance.state
        click.echo(
            f"cache {instance.name}\t{state}\t{_size(instance.size())}\tlast used {_when(instance.last_used)}"
        )
    for entry in sorted(found.store, key=lambda entry: entry.last_used):
        click.echo(f"{entry.kind} {entry.path.name}\t{_size(entry.size)}\tlast used {_when(entry.last_used)}")
    if not found.caches and not found.store:
        click.echo("nothing kept")


@cache.command("purge")
@click.argument("name", required=False)
@_ROOT_OPTION
@click.pass_context
def purge_caches(ctx: click.Context, name: str | None, work_root: str | None) -> None:
    """Purge the caches named NAME, or every idle cache and the content store without NAME.

    What a running task holds is left alone and reported busy; purge it again when the task is done."""
    from tcw.executors.mounts.disk import purge

    result = purge(_root(ctx, work_root), name)
    for removed in result.removed:
        click.echo(f"purged {removed}")
    for busy in result.busy:
        click.echo(f"busy, left: {busy}", err=True)
    if not result.removed and not result.busy:
        click.echo("nothing to purge")


def _size(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)) if stamp else "never"
