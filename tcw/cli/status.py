"""`tcw status`: what the worker on this host's work root is doing, read from its status file."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from tcw.cli.main import pass_state
from tcw.cli.output import print_table


@click.command("status")
@click.option(
    "--work-root",
    type=click.Path(file_okay=False),
    help="The work root of the worker [default: the config's].",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    help="A readable summary, or a JSON list of the status files (each with alive: true|false).",
)
def status(work_root: str | None, output_format: str) -> None:
    """Show what the workers (`tcw run`, `tcw claim-once`) on a work root are doing: running tasks with
    their elapsed time and log size, capacity, counts since start, the last error and their endpoints.

    Exits 1 when no worker runs there (no status file, or only ones whose process is gone).
    """
    from tcw.engine.status import read_statuses
    from tcw.engine.worker import work_root_of
    from tcw.errors import TcwError

    config = pass_state(click.get_current_context()).load(**{"worker.work_root": work_root})
    root = work_root_of(config.worker)
    found = read_statuses(root)
    if output_format == "json":
        click.echo(json.dumps([{**status.data, "alive": status.alive} for status in found], indent=2))
    for index, status in enumerate(found if output_format == "text" else ()):
        if index:
            click.echo()
        _print_summary(status.data)
        if not status.alive:
            click.echo(f"(pid {status.data.get('pid')} is gone: this status is stale)")
    if not any(status.alive for status in found):
        raise TcwError(f"no worker is running on the work root {root} (only stale status files)")


def _print_summary(data: Mapping[str, Any]) -> None:
    now = time.time()
    running = data.get("running") or []
    click.echo(
        f"worker {data.get('workerGroup')}/{data.get('workerId')} serving {data.get('taskQueueId')}, "
        f"pid {data.get('pid')}, {data.get('state')} for {_age(now - float(data.get('started', now)))}"
    )
    resolved = ", ".join(f"{count} {what}" for what, count in sorted((data.get("resolved") or {}).items()))
    click.echo(
        f"capacity {sum(not entry.get('finishing') for entry in running)}/{data.get('capacity')} in use; "
        f"claimed {data.get('claimed', 0)}" + (f"; resolved: {resolved}" if resolved else "")
    )
    error = data.get("lastError")
    if error:
        click.echo(f"last error {_clock(error.get('at'))}: {error.get('message')}")
    for name, url in (data.get("endpoints") or {}).items():
        click.echo(f"{name}: {url}")
    if not running:
        click.echo("no task running")
        return
    table = Table("TASK ID", "RUN", "NAME", "ELAPSED", "LOG")
    for entry in running:
        table.add_row(
            str(entry.get("taskId")),
            str(entry.get("runId")),
            str(entry.get("name") or ""),
            _age(now - float(entry.get("started", now))) + (" (reporting)" if entry.get("finishing") else ""),
            _size(_log_bytes(entry)),
        )
    print_table(table)


def _log_bytes(entry: Mapping[str, Any]) -> int | None:
    """The log's size now when this user can see the file, else as the worker last wrote it."""
    try:
        return Path(str(entry["logPath"])).stat().st_size
    except (KeyError, OSError):
        size = entry.get("logBytes")
        return size if isinstance(size, int) else None


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _clock(at: object) -> str:
    return datetime.fromtimestamp(float(at)).strftime("%H:%M:%S") if isinstance(at, int | float) else "?"
