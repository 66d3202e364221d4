"""`tcw task create FILE|-` and `tcw task status TASKID`, against any Taskcluster root URL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import IO, Any

import click
import yaml

from tcw.cli.main import pass_state
from tcw.errors import UsageError


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
    from tcw.taskcluster_client import sync_queue
    from tcw.tasks import create_task

    config = pass_state(click.get_current_context()).load()
    definition = _read_definition(source)
    if task_queue is not None:
        definition = {k: v for k, v in definition.items() if k not in ("provisionerId", "workerType")}
        definition["taskQueueId"] = task_queue
    click.echo(create_task(sync_queue(config.client_options()), definition, task_id))


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
    from tcw.taskcluster_client import sync_queue
    from tcw.tasks import task_status

    config = pass_state(click.get_current_context()).load()
    result = task_status(sync_queue(config.client_options()), task_id)
    if output_format == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        _print_status(result)


def _read_definition(source: IO[str]) -> dict[str, Any]:
    name = getattr(source, "name", "-")
    try:
        document = yaml.safe_load(source)
        if not isinstance(document, dict):
            raise UsageError(f"{name}: a task definition must be a mapping")
        return {key: _jsonable(value) for key, value in document.items()}
    except yaml.YAMLError as error:
        raise UsageError(f"{name}: not valid YAML or JSON: {' '.join(str(error).split())}") from error
    except RecursionError as error:  # as validate-payload says it, not a crash
        raise UsageError(f"{name}: nested too deeply to read") from error


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
