"""`tcw claim-once`: claim one task, show it, and run and report it (or give it back)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from tcw.cli.run import identity_options, load_worker_config
from tcw.errors import ExitCode
from tcw.executors.api import State

if TYPE_CHECKING:  # the daemon pulls in aiohttp and taskcluster: only load them when the command runs
    from tcw.engine.claim import Claim
    from tcw.engine.daemon import ClaimOnceResult

_EXIT_CODES = {
    State.COMPLETED: ExitCode.OK,
    State.FAILED: ExitCode.FAILED,
    State.EXCEPTION: ExitCode.EXCEPTION,
}


@click.command("claim-once")
@identity_options
@click.option(
    "--wait",
    type=click.FloatRange(0, min_open=True),
    default=20.0,
    show_default=True,
    metavar="S",
    help="Seconds to wait for a task (one or more claimWork long-polls).",
)
@click.option("--run/--no-run", "run_task", default=True, help="Run the task, or release it at once.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    help="text: a panel when claimed; json: one document at the end.",
)
@click.pass_context
def claim_once(
    ctx: click.Context, /, wait: float, run_task: bool, output_format: str, **options: Any
) -> None:
    """Claim at most one task, show it, then run it with the configured executor and report it.

    --no-run shows the task and releases it at once by reporting exception/worker-shutdown, so the
    queue retries it and nothing is lost. --keep-workdir keeps the run's work directory and task log
    and prints where they are (workDir and taskLog with --format json).

    \b
    Exit codes:
      0  the task completed (or was released with --no-run)
      1  the task failed
      2  usage or configuration error
      3  the task resolved as exception (or its run was over before it ended)
      4  nothing to claim within --wait seconds
      5  the queue could not be reached or refused a call
    """
    from tcw.engine.daemon import prepare, run_claim_once
    from tcw.executors.loader import resolve_executor

    config = load_worker_config(ctx, options)
    # JSON output is one document at the end; people see the task as soon as it is claimed.
    show = _ignore if output_format == "json" else _show_panel
    setup = prepare(config, resolve_executor)
    result = run_claim_once(config, setup, wait=wait, run=run_task, on_claimed=show)
    if output_format == "json":
        click.echo(json.dumps(_as_json(result), indent=2))
    elif result.record is not None:
        record = result.record
        outcome = str(record.resolution) if record.reported else "not reported (the run was over)"
        click.echo(f"{record.task_id} run {record.run_id}: {outcome} after {record.duration:.1f} s")
        if record.work_dir is not None:
            click.echo(f"work directory kept: {record.work_dir}")
        if record.log_file is not None:
            click.echo(f"task log kept: {record.log_file}")
    elif result.claim is None:
        click.echo(f"nothing to claim within {wait:g} s", err=True)
    ctx.exit(int(_exit_code(result, run_task)))


def _exit_code(result: ClaimOnceResult, ran: bool) -> ExitCode:
    if result.claim is None:
        return ExitCode.NOTHING_CLAIMED
    if not ran:
        return ExitCode.OK
    record = result.record
    if record is None or not record.reported:
        return ExitCode.EXCEPTION
    return _EXIT_CODES[record.resolution.state]


def _show_panel(claim: Claim) -> None:
    from rich.panel import Panel
    from rich.syntax import Syntax
    from rich.table import Table

    from tcw.cli.output import console as output_console

    table = Table.grid(padding=(0, 2))
    table.add_row("taskId", claim.task_id)
    table.add_row("name", claim.name)
    table.add_row("runId", str(claim.run_id))
    table.add_row("takenUntil", claim.taken_until.isoformat())
    payload = Syntax(json.dumps(claim.task.get("payload", {}), indent=2), "json", word_wrap=True)
    table.add_row("payload", payload)
    output_console().print(Panel(table, title="claimed", expand=False))


def _ignore(claim: Claim) -> None:
    return None


def _as_json(result: ClaimOnceResult) -> dict[str, Any]:
    claim, record = result.claim, result.record
    if claim is None:
        return {"claimed": False}
    document: dict[str, Any] = {
        "claimed": True,
        "taskId": claim.task_id,
        "runId": claim.run_id,
        "name": claim.name,
        "takenUntil": claim.taken_until.isoformat(),
        "payload": claim.task.get("payload", {}),
    }
    if record is not None:
        document.update(
            {
                "state": str(record.resolution.state),
                "reason": str(record.resolution.reason) if record.resolution.reason else None,
                "reported": record.reported,
                "duration": round(record.duration, 3),
                "workDir": str(record.work_dir) if record.work_dir is not None else None,
                "taskLog": str(record.log_file) if record.log_file is not None else None,
            }
        )
    return document
