"""`tcw run`: the worker daemon. Parses its flags into config keys and hands over to the engine."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tcw.cli.main import CliState, pass_state
from tcw.config import Config
from tcw.errors import UsageError

if TYPE_CHECKING:
    from tcw.executors.api import Executor

log = logging.getLogger(__name__)

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
            "Executor for tasks: shell, an entry point in tcw.executors, module:function, or "
            "path/to/file.py:function. Precedence: "
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
            "Run payloads unchecked when the task queue has no payload schema, neither in the registry "
            "nor declared by its executor (otherwise the worker refuses to start)."
        ),
    ),
)


def identity_options(command: F) -> F:
    """The options `tcw run` and `tcw claim-once` share, declared once."""
    for option in reversed(_IDENTITY_OPTIONS):
        command = option(command)
    return command


def load_worker_config(
    ctx: click.Context, options: dict[str, Any], state: CliState | None = None, **extra: Any
) -> Config:
    """The config with the shared identity options (and ``extra`` dotted keys) applied; ``state``
    replaces the invocation's shared options (worker-runner's file instead of a config file)."""
    provisioner_id, worker_type = options["provisioner_id"], options["worker_type"]
    if options["task_queue"]:
        if provisioner_id or worker_type:
            raise UsageError("give either --task-queue or --provisioner-id/--worker-type, not both")
        provisioner_id, _, worker_type = options["task_queue"].partition("/")
        if not provisioner_id or not worker_type:
            raise UsageError(
                f"--task-queue: expected provisionerId/workerType, got {options['task_queue']!r}"
            )
    return (state or pass_state(ctx)).load(
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
@click.option(
    "--with-worker-runner",
    is_flag=True,
    help=(
        "Run as worker-runner's worker (it starts <path> run --config FILE --with-worker-runner): FILE is "
        "the config it wrote, in generic-worker's keys, with tcw's settings under its tcw key; the protocol "
        "runs over stdin and stdout, and nothing else is written to stdout."
    ),
)
@click.option(
    "--worker-pool",
    metavar="P/W",
    help=(
        "Register with worker-manager as a static worker of this pool (the secret from "
        "TCW_WORKER_STATIC_SECRET) and serve its task queue (worker.worker_pool)."
    ),
)
@click.option(
    "--live-log-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve running tasks' logs here (0: any free port) and publish public/logs/live.log [default: off].",
)
@click.option(
    "--live-log-url",
    metavar="URL",
    help="Base URL published for live logs, e.g. a TLS front [default: http://<host>:<live log port>].",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve Prometheus /metrics and /healthz here [default: on the live log port, if any].",
)
@click.pass_context
def run(
    ctx: click.Context,
    /,
    capacity: int | None,
    shutdown_grace: float | None,
    max_tasks: int | None,
    idle_timeout: float | None,
    with_worker_runner: bool,
    worker_pool: str | None,
    live_log_port: int | None,
    live_log_url: str | None,
    metrics_port: int | None,
    **options: Any,
) -> None:
    """Run the worker daemon: claim tasks from a task queue, run them, report them.

    At start it checks that the deployment answers, for up to worker.startup_timeout seconds (30),
    and exits 5 with one line when it does not; once running, it rides out outages. A long task logs
    a progress line every worker.progress_interval seconds (60).

    The first SIGTERM or SIGINT stops claiming and lets running tasks finish for up to
    --shutdown-grace seconds; then (or at a second signal) they are killed and reported
    exception/worker-shutdown so the queue retries them. The daemon then exits 0, as it does
    after --max-tasks tasks or --idle-timeout seconds without work. SIGUSR1 drains: no new
    claims, running tasks finish however long they take, then exit 0.

    `tcw status` shows what the worker on a work root is doing.
    """
    flags: dict[str, Any] = {
        "worker.capacity": capacity,
        "worker.shutdown_grace": shutdown_grace,
        "worker.max_tasks": max_tasks,
        "worker.idle_timeout": idle_timeout,
        "worker.worker_pool": worker_pool,
        "worker.live_log_port": live_log_port,
        "worker.live_log_url": live_log_url,
        "worker.metrics_port": metrics_port,
    }
    if with_worker_runner:
        from tcw.engine.under_runner import run_under_runner

        if worker_pool:
            raise UsageError("--worker-pool: under worker-runner, the runner registers the worker")
        run_under_runner(lambda: load_runner_config(ctx, options, **flags), load_executor)
        return
    import logging

    from tcw.engine.daemon import prepare, run_daemon, summarise
    from tcw.executors.loader import resolve_executor

    config = pool_queue(load_worker_config(ctx, options, **flags))
    if config.worker.worker_pool:
        from tcw.engine.pool import run_in_pool

        run_in_pool(config, resolve_executor)
        return
    records = run_daemon(config, prepare(config, resolve_executor))
    if not logging.getLogger("tcw.engine.daemon").isEnabledFor(logging.INFO):  # -q hid its last log line
        click.echo(f"worker stopped: {summarise(records)}", err=True)


def load_executor(spec: str, config: Config) -> Executor:
    """``resolve_executor``, imported when first needed: worker-runner waits for the handshake, which
    comes before any of the engine and executors is imported."""
    from tcw.executors.loader import resolve_executor

    return resolve_executor(spec, config)


def load_runner_config(ctx: click.Context, options: dict[str, Any], **flags: Any) -> Config:
    """The config from worker-runner's file (``--config``), with the command line's flags on top."""
    from tcw.runner_config import runner_settings

    shared = pass_state(ctx)
    if shared.config_file is None:
        raise UsageError("--with-worker-runner: give --config FILE, the config file worker-runner wrote")
    settings, ignored = runner_settings(shared.config_file)
    state = CliState(None, shared.root_flags, shared.verbose, shared.quiet)
    given: dict[str, Any] = {**settings, **{key: value for key, value in flags.items() if value is not None}}
    config = load_worker_config(ctx, options, state, **given)
    for key in ignored:
        log.debug("ignoring worker-runner's config key %s: tcw has no use for it", key)
    return config


def pool_queue(config: Config) -> Config:
    """A worker of a pool serves the pool's task queue (the same id)."""
    pool = config.worker.worker_pool
    if not pool:
        return config
    queue = config.worker.task_queue_id
    if queue is None:
        provisioner_id, worker_type = pool.split("/")
        worker = dataclasses.replace(config.worker, provisioner_id=provisioner_id, worker_type=worker_type)
        return dataclasses.replace(config, worker=worker)
    if queue != pool:
        raise UsageError(f"worker pool {pool} serves the task queue of the same id, not {queue}")
    return config
