"""`tcw task create FILE|-` and `tcw task status TASKID`, against any Taskcluster root URL."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any, TypeVar

import click
import yaml

from tcw.cli.main import pass_state
from tcw.client_failures import ClientFailure, read_failure
from tcw.errors import QueueUnavailable, TcwError, UsageError

DEFAULT_DEADLINE = timedelta(days=1)
DEFAULT_LIFETIME = timedelta(days=365)
T = TypeVar("T")


@click.group("task")
def task() -> None:
    """Create tasks and show their status."""


@task.command("create")
@click.argument("source", type=click.File("r", encoding="utf-8"))
@click.option("--task-id", default=None, help="Use this taskId (default: the file's taskId, or a new one).")
@click.option(
    "--task-queue",
    metavar="P/W",
    default=None,
    help="Queue the task for provisionerId/workerType (overrides the file's).",
)
def create(source: IO[str], task_id: str | None, task_queue: str | None) -> None:
    """Create the task in SOURCE (YAML or JSON file, or - for stdin) and print its taskId.

    Missing created, deadline (+1 day), expires, payload and metadata are filled in.
    """
    import taskcluster

    config = pass_state(click.get_current_context()).load()
    definition = _read_definition(source)
    task_id = task_id or definition.pop("taskId", None) or taskcluster.slugId()
    definition.pop("taskId", None)
    if task_queue is not None:
        definition = {k: v for k, v in definition.items() if k not in ("provisionerId", "workerType")}
        definition["taskQueueId"] = task_queue
    queue = taskcluster.Queue(config.client_options())
    _call(lambda: queue.createTask(task_id, fill_defaults(definition)), f"create task {task_id}")
    click.echo(task_id)


@task.command("status")
@click.argument("task_id", metavar="TASKID")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    help="A readable summary, or the queue's status structure as JSON.",
)
def status(task_id: str, output_format: str) -> None:
    """Show the state and runs of task TASKID."""
    import taskcluster

    config = pass_state(click.get_current_context()).load()
    queue = taskcluster.Queue(config.client_options())
    result = _call(lambda: queue.status(task_id), f"get the status of task {task_id}")["status"]
    if output_format == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        _print_status(result)


def _read_definition(source: IO[str]) -> dict[str, Any]:
    name = getattr(source, "name", "-")
    try:
        document = yaml.safe_load(source)
    except yaml.YAMLError as error:
        raise UsageError(f"{name}: not valid YAML or JSON: {' '.join(str(error).split())}") from error
    if not isinstance(document, dict):
        raise UsageError(f"{name}: a task definition must be a mapping")
    return {key: _jsonable(value) for key, value in document.items()}


def _jsonable(value: Any) -> Any:
    """YAML turns unquoted timestamps into datetimes; the queue wants ISO strings."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def fill_defaults(definition: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The definition with created/deadline/expires, payload and metadata filled where missing."""
    now = now or datetime.now(UTC)
    filled = dict(definition)
    filled.setdefault("created", now.isoformat())
    deadline = filled.setdefault("deadline", (now + DEFAULT_DEADLINE).isoformat())
    if "expires" not in filled and isinstance(deadline, str):
        with suppress(ValueError):  # a bad deadline is for the queue to report
            deadline_at = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
            filled["expires"] = (deadline_at + DEFAULT_LIFETIME).isoformat()
    filled.setdefault("payload", {})
    metadata = filled.setdefault("metadata", {})
    if isinstance(metadata, dict):
        metadata.setdefault("name", "task created by tcw")
        metadata.setdefault("description", "Created with `tcw task create`.")
        metadata.setdefault("owner", f"tcw@{socket.gethostname()}")
        metadata.setdefault("source", "https://github.com/taskcluster/taskcluster")
    return filled


def _call(function: Callable[[], T], what: str) -> T:
    with queue_errors(what):
        return function()


@contextmanager
def queue_errors(what: str) -> Iterator[None]:
    """The official client's exceptions as tcw errors: bad input is a usage error, the rest unavailable."""
    import taskcluster.exceptions as tc_errors

    try:
        yield
    except tc_errors.TaskclusterAuthFailure as error:
        failure = read_failure(error)
        raise QueueUnavailable(f"cannot {what}: authentication failed: {failure.first_line}") from error
    except tc_errors.TaskclusterRestFailure as error:
        raise _rest_error(what, read_failure(error)) from error
    except tc_errors.TaskclusterConnectionError as error:
        failure = read_failure(error)
        raise QueueUnavailable(
            f"cannot {what}: the queue cannot be reached ({failure.first_line})"
        ) from error
    except tc_errors.TaskclusterFailure as error:
        raise QueueUnavailable(f"cannot {what}: {read_failure(error).first_line}") from error


def _rest_error(what: str, failure: ClientFailure) -> TcwError:
    """Every reason the service gave: a 400 lists each broken rule on its own line."""
    message = f"cannot {what}: {failure.status} {failure.message}"
    if failure.status in (400, 404, 409):
        return UsageError(message)
    return QueueUnavailable(message)


def _print_status(result: dict[str, Any]) -> None:
    from rich.table import Table

    from tcw.cli.output import console as output_console
    from tcw.cli.output import print_table

    console = output_console()
    console.print(f"[bold]{result['taskId']}[/bold]  {result['state']}")
    console.print(f"task queue {result['taskQueueId']}  group {result['taskGroupId']}")
    console.print(f"deadline {result['deadline']}  retries left {result['retriesLeft']}")
    if not result["runs"]:
        console.print("no runs yet")
        return
    table = Table("run", "state", "reason created", "reason resolved", "worker", "started", "resolved")
    for run in result["runs"]:
        worker = f"{run['workerGroup']}/{run['workerId']}" if "workerGroup" in run else ""
        table.add_row(
            str(run["runId"]),
            run["state"],
            run["reasonCreated"],
            run.get("reasonResolved", ""),
            worker,
            run.get("started", ""),
            run.get("resolved", ""),
        )
    print_table(table)
