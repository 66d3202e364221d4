"""`tcw claim-once`: claim one task, show it, and run and report it (or give it back)."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

import click

from tcw.cli.output import format_option
from tcw.cli.run import identity_options, load_worker_config
from tcw.errors import ExitCode
from tcw.executors.api import State

if TYPE_CHECKING:  # the daemon pulls in aiohttp and taskcluster: only load them when the command runs
    from collections.abc import Callable, Iterator

    from tcw.config import Config
    from tcw.engine.claim import Claim
    from tcw.engine.daemon import ClaimOnceResult, WorkerSetup
    from tcw.engine.worker import RunRecord

PEEK_LIMIT = 5
LOG_TAIL_LINES = 10

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
@click.option(
    "--run/--no-run",
    "run_task",
    default=True,
    help=(
        "Run the task, or claim the next pending one and release it at once. Releasing reports it "
        "exception/worker-shutdown, which spends one of its retries; a task with no retries left is "
        "refused (releasing it would end it for good) unless --force."
    ),
)
@click.option("--force", is_flag=True, help="With --no-run: release a task even if no retries are left.")
@click.option(
    "--peek",
    is_flag=True,
    help=(
        "Show the next pending tasks (listPendingTasks) without claiming any: costs nothing, changes "
        "nothing. Needs the scope queue:pending-list:<taskQueueId>."
    ),
)
@click.option(
    "--show-log", is_flag=True, help="Print the whole task log when the task ends (default: its tail)."
)
@format_option("text: a panel when claimed; json: one document at the end.")
@click.pass_context
def claim_once(
    ctx: click.Context,
    /,
    wait: float,
    run_task: bool,
    force: bool,
    peek: bool,
    show_log: bool,
    output_format: str,
    **options: Any,
) -> None:
    """Claim at most one task, show it, then run it with the configured executor and report it.

    What each way costs the task:

    \b
      (default)  runs it: the task gets its result, as from any worker
      --peek     nothing: lists the next pending tasks, claims none
      --no-run   one retry: the task is claimed and reported as an exception
                 (worker-shutdown); the queue runs it again only while it has
                 retries left, so a task with none is refused unless --force

    When the task ends, the tail of its log is printed (all of it with --show-log). --keep-workdir keeps
    the run's work directory and task log and prints where they are (workDir and taskLog with --format
    json).

    \b
    Exit codes:
      0  the task completed (or was released with --no-run, or --peek found tasks)
      1  the task failed
      2  usage or configuration error (or --no-run refused a task with no retries left)
      3  the task resolved as exception (or its run was over before it ended)
      4  nothing to claim within --wait seconds (nothing pending, with --peek)
      5  the queue could not be reached or refused a call
    """
    from tcw.engine.daemon import ClaimOnceResult, prepare, run_claim_once
    from tcw.executors.loader import resolve_executor

    config = load_worker_config(ctx, options)
    if peek:
        ctx.exit(int(_peek(config, output_format)))
    setup = prepare(config, resolve_executor)
    if run_task:
        result = _claim_and_run(config, setup, wait, output_format)
    else:
        pending = _next_releasable(config, wait, force)
        show = _ignore if output_format == "json" else _show_panel
        result = (
            run_claim_once(config, setup, wait=wait, run=False, named=pending, on_claimed=show)
            if pending
            else ClaimOnceResult(None, None)
        )
    if output_format == "json":
        click.echo(json.dumps(_as_json(result), indent=2))
    elif result.record is not None:
        _print_record(config, result.record, show_log=show_log if run_task else None)
    elif result.claim is None:
        click.echo(f"nothing to claim within {wait:g} s", err=True)
    ctx.exit(int(_exit_code(result, run_task)))


def _claim_and_run(config: Config, setup: WorkerSetup, wait: float, output_format: str) -> ClaimOnceResult:
    """JSON output is one document at the end; people see the task (a panel) as soon as it is claimed,
    and a spinner before that."""
    from tcw.engine.daemon import run_claim_once

    with _waiting_spinner(output_format, wait) as stop_spinner:

        def claimed(claim: Claim) -> None:
            stop_spinner()
            if output_format != "json":
                _show_panel(claim)

        return run_claim_once(config, setup, wait=wait, run=True, on_claimed=claimed)


def _print_record(config: Config, record: RunRecord, *, show_log: bool | None) -> None:
    """How the run ended, what was kept, and (unless released: ``show_log`` None) its log."""
    outcome = str(record.resolution) if record.reported else "not reported (the run was over)"
    click.echo(f"{record.task_id} run {record.run_id}: {outcome} after {record.duration:.1f} s")
    if record.work_dir is not None:
        click.echo(f"work directory kept: {record.work_dir}")
    if record.log_file is not None:
        click.echo(f"task log kept: {record.log_file}")
    if show_log is not None:
        _show_task_log(config, record, whole=show_log)


def _peek(config: Config, output_format: str) -> ExitCode:
    """The lossless look: the next pending tasks, nothing claimed."""
    from tcw.taskcluster_client import sync_queue
    from tcw.tasks import pending_tasks

    queue_id = str(config.worker.task_queue_id)
    listed = pending_tasks(sync_queue(config.client_options()), queue_id, PEEK_LIMIT)
    if output_format == "json":
        click.echo(json.dumps({"taskQueueId": queue_id, "pending": listed}, indent=2))
    elif not listed:
        click.echo(f"nothing pending on {queue_id}", err=True)
    else:
        from rich.table import Table

        from tcw.cli.output import print_table

        table = Table("taskId", "run", "name", "retries left", "pending since")
        for entry in listed:
            name = str(entry["task"].get("metadata", {}).get("name", ""))
            retries = str(entry["status"]["retriesLeft"])
            table.add_row(entry["taskId"], str(entry["runId"]), name, retries, entry["inserted"])
        print_table(table)
    return ExitCode.OK if listed else ExitCode.NOTHING_CLAIMED


def _next_releasable(config: Config, wait: float, force: bool) -> tuple[str, int] | None:
    """The next pending run --no-run may release (polling up to ``wait`` s), or None when nothing is
    pending. Looked at before claiming: once claimed, a task with no retries left is lost either way."""
    import time

    from tcw.errors import UsageError
    from tcw.taskcluster_client import sync_queue
    from tcw.tasks import pending_tasks

    queue = sync_queue(config.client_options())
    queue_id = str(config.worker.task_queue_id)
    deadline = time.monotonic() + wait
    while not (listed := pending_tasks(queue, queue_id, 1)) and time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    if not listed:
        return None
    task_id, run_id, retries_left = (
        listed[0]["taskId"],
        listed[0]["runId"],
        listed[0]["status"]["retriesLeft"],
    )
    if retries_left == 0 and not force:
        raise UsageError(
            f"task {task_id} has no retries left: releasing it would resolve it exception/worker-shutdown "
            "for good. Look with --peek (lossless), run it, or pass --force to release it anyway"
        )
    return task_id, int(run_id)


def _show_task_log(config: Config, record: RunRecord, *, whole: bool) -> None:
    """The task log as uploaded (its tail, or all of it): what the task printed, without curl."""
    from tcw.errors import TcwError
    from tcw.executors.api import LOG_NAME
    from tcw.task_artifacts import read_artifact_text

    try:
        text = read_artifact_text(config.client_options(), record.task_id, record.run_id, LOG_NAME)
    except TcwError as error:
        click.echo(f"(task log not available: {error.message})", err=True)
        return
    lines = text.splitlines()
    shown = lines if whole else lines[-LOG_TAIL_LINES:]
    if len(shown) < len(lines):
        click.echo(f"--- last {len(shown)} of {len(lines)} lines of {LOG_NAME} (all with --show-log)")
    else:
        click.echo(f"--- {LOG_NAME}")
    for line in shown:
        click.echo(line)


@contextlib.contextmanager
def _waiting_spinner(output_format: str, wait: float) -> Iterator[Callable[[], None]]:
    """A spinner on a terminal while claimWork long-polls, so an empty queue does not look like a hang;
    the block stops it at the claim (the panel follows) by calling what it is given. Off a terminal,
    nothing."""
    import sys

    if output_format == "json" or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console

    status = Console(stderr=True).status(f"waiting up to {wait:g} s for a task (Ctrl-C to stop)")
    status.start()
    try:
        yield status.stop
    finally:
        status.stop()


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
