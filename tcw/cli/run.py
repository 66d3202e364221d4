"""`tcw run`: the worker daemon. Parses its flags into config keys and hands over to the engine."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tcw.cli.main import pass_state
from tcw.config import Config
from tcw.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])

_IDENTITY_OPTIONS = (
    click.option("--task-queue", metavar="P/W", help="Task queue to serve (provisionerId/workerType)."),
    click.option("--provisioner-id", help="Provisioner id (instead of --task-queue)."),
    click.option("--worker-type", help="Worker type (instead of --task-queue)."),
    click.option("--worker-group", help="Worker group [default: tcw]."),
    click.option("--worker-id", help="Worker id [default: the host name, sanitised]."),
    click.option(
        "--executor",
        metavar="NAME|MODULE:FUNCTION",
        help=(
            "Executor for tasks: shell, an entry point in tcw.executors, or module:function. Precedence: "
            "the config's per-queue worker.executors, then the executor of the queue's registry entry, "
            "then this (worker.executor) [default: shell]."
        ),
    ),
    click.option("--work-root", type=click.Path(file_okay=False), help="Where per-run work directories go."),
    click.option("--keep-workdir", is_flag=True, default=None, help="Keep each run's work directory."),
    click.option(
        "--accept-any-payload",
        is_flag=True,
        default=None,
        help=(
            "Run payloads unchecked when the task queue has no payload schema in the registry "
            "(otherwise the worker refuses to start)."
        ),
    ),
)


def identity_options(command: F) -> F:
    """The options `tcw run` and `tcw claim-once` share, declared once."""
    for option in reversed(_IDENTITY_OPTIONS):
        command = option(command)
    return command


def load_worker_config(ctx: click.Context, options: dict[str, Any], **extra: Any) -> Config:
    """The config with the shared identity options (and ``extra`` dotted keys) applied."""
    provisioner_id, worker_type = options["provisioner_id"], options["worker_type"]
    if options["task_queue"]:
        if provisioner_id or worker_type:
            raise UsageError("give either --task-queue or --provisioner-id/--worker-type, not both")
        provisioner_id, _, worker_type = options["task_queue"].partition("/")
        if not provisioner_id or not worker_type:
            raise UsageError(
                f"--task-queue: expected provisionerId/workerType, got {options['task_queue']!r}"
            )
    return pass_state(ctx).load(
        **{
            "worker.provisioner_id": provisioner_id,
            "worker.worker_type": worker_type,
            "worker.worker_group": options["worker_group"],
            "worker.worker_id": options["worker_id"],
            "worker.executor": options["executor"],
            "worker.work_root": options["work_root"],
            "worker.keep_workdir": options["keep_workdir"],
            "worker.accept_any_payload": options["accept_any_payload"],
            **extra,
        }
    )


@click.command("run")
@identity_options
@click.option("--capacity", type=click.IntRange(1), help="Tasks run at the same time [default: 1].")
@click.option(
    "--shutdown-grace",
    type=click.FloatRange(0),
    metavar="S",
    help="Seconds running tasks get to finish after the first SIGTERM/SIGINT [default: 30].",
)
@click.option("--max-tasks", type=click.IntRange(1), help="Exit after claiming this many tasks.")
@click.option("--idle-timeout", type=click.FloatRange(0), metavar="S", help="Exit after S seconds idle.")
@click.pass_context
def run(
    ctx: click.Context,
    /,
    capacity: int | None,
    shutdown_grace: float | None,
    max_tasks: int | None,
    idle_timeout: float | None,
    **options: Any,
) -> None:
    """Run the worker daemon: claim tasks from a task queue, run them, report them.

    The first SIGTERM or SIGINT stops claiming and lets running tasks finish for up to
    --shutdown-grace seconds; then (or at a second signal) they are killed and reported
    exception/worker-shutdown so the queue retries them. The daemon then exits 0, as it does
    after --max-tasks tasks or --idle-timeout seconds without work.
    """
    from tcw.engine.daemon import prepare, run_daemon
    from tcw.executors.loader import resolve_executor

    config = load_worker_config(
        ctx,
        options,
        **{
            "worker.capacity": capacity,
            "worker.shutdown_grace": shutdown_grace,
            "worker.max_tasks": max_tasks,
            "worker.idle_timeout": idle_timeout,
        },
    )
    run_daemon(config, prepare(config, functools.partial(resolve_executor, config=config)))
