"""`tcw task create|status|log|artifacts|download`, against any Taskcluster root URL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import IO, Any

import click

from tcw.cli.main import pass_state
from tcw.cli.output import format_option
from tcw.errors import UsageError


@click.group("task")
def task() -> None:
    """Create tasks; show their status, logs and artifacts."""


@task.command("create")
@click.argument("source", type=click.File("r", encoding="utf-8"))
@click.option("--task-id", default=None, help="Use this taskId (default: the file's taskId, or a new one).")
@click.option(
    "--task-queue",
    metavar="P/W",
    default=None,
    help="Queue the task for provisionerId/workerType (overrides the file's).",
)
@click.option(
    "--task-group", "task_group_id", metavar="ID", default=None, help="Put the tasks in this task group."
)
def create(source: IO[str], task_id: str | None, task_queue: str | None, task_group_id: str | None) -> None:
    """Create the tasks in SOURCE (YAML or JSON file, or - for stdin) and print each taskId.

    A YAML file may hold several documents (---): each is a task, created in order. Missing created,
    deadline (+1 day), expires, payload and metadata are filled in. Every document is checked before the
    first is created.
    """
    from tcw.taskcluster_client import sync_queue
    from tcw.tasks import check_definition, create_task

    config = pass_state(click.get_current_context()).load()
    definitions = _read_definitions(source)
    if task_id is not None and len(definitions) > 1:
        raise UsageError(f"--task-id names one task, but {source.name} holds {len(definitions)}")
    for where, definition in definitions:
        if task_queue is not None:
            for key in ("provisionerId", "workerType"):
                definition.pop(key, None)
            definition["taskQueueId"] = task_queue
        if task_group_id is not None:
            definition["taskGroupId"] = task_group_id
        check_definition(definition, where)
    queue = sync_queue(config.client_options())
    for _, definition in definitions:
        click.echo(create_task(queue, definition, task_id))


@task.command("status")
@click.argument("task_id", metavar="TASKID")
@format_option("A readable summary, or the queue's status structure as JSON.")
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


RUN_OPTION = click.option(
    "--run", "run_id", type=click.IntRange(0), default=None, help="Run id [default: the latest run]."
)


@task.command("log")
@click.argument("task_id", metavar="TASKID")
@RUN_OPTION
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help=(
        "Follow a running task's log until the run resolves; then exit 0, 1 or 3 as it completed, "
        "failed or ended in exception."
    ),
)
def log(task_id: str, run_id: int | None, follow: bool) -> None:
    """Print the log of task TASKID (public/logs/live_backing.log of its latest run, or --run N)."""
    import sys

    from tcw.errors import ExitCode
    from tcw.executors.api import LOG_NAME
    from tcw.task_artifacts import download, follow_log

    options = pass_state(click.get_current_context()).load().client_options()
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    if not follow:
        write(download(options, task_id, run_id, LOG_NAME, None))
        return
    followed = follow_log(options, task_id, run_id, write)
    codes = {"completed": ExitCode.OK, "failed": ExitCode.FAILED}
    click.get_current_context().exit(int(codes.get(followed.state, ExitCode.EXCEPTION)))


@task.command("artifacts")
@click.argument("task_id", metavar="TASKID")
@RUN_OPTION
@format_option("A table, or the queue's artifact list as JSON.")
def artifacts(task_id: str, run_id: int | None, output_format: str) -> None:
    """List the artifacts of task TASKID's latest run (or --run N): name, type, size, content type, expiry."""
    from tcw.task_artifacts import list_artifacts

    config = pass_state(click.get_current_context()).load()
    listed_run, listed = list_artifacts(config.client_options(), task_id, run_id)
    if output_format == "json":
        click.echo(json.dumps({"taskId": task_id, "runId": listed_run, "artifacts": listed}, indent=2))
        return
    from rich.table import Table

    from tcw.cli.output import print_table

    table = Table("name", "type", "size", "content type", "expires", title=f"{task_id} run {listed_run}")
    for artifact in listed:
        size = artifact.get("contentLength")
        table.add_row(
            artifact["name"],
            artifact["storageType"],
            "" if size is None else str(size),
            artifact.get("contentType", ""),
            artifact.get("expires", ""),
        )
    print_table(table)


@task.command("download")
@click.argument("task_id", metavar="TASKID")
@click.argument("name")
@RUN_OPTION
@click.option(
    "-o",
    "--output",
    metavar="FILE|-",
    default=None,
    help="Where to write it [default: the artifact's base name in the current directory]; - for stdout.",
)
def download_command(task_id: str, name: str, run_id: int | None, output: str | None) -> None:
    """Download artifact NAME of task TASKID (object, s3 and reference artifacts; links followed).

    An error artifact prints its reason and message and exits 1.
    """
    import sys
    from pathlib import Path

    from tcw.task_artifacts import download

    options = pass_state(click.get_current_context()).load().client_options()
    if output == "-":
        sys.stdout.buffer.write(download(options, task_id, run_id, name, None))
        sys.stdout.buffer.flush()
        return
    target = Path(output or name.rsplit("/", 1)[-1])
    partial = target.with_name(f".{target.name}.part")
    try:
        with partial.open("wb") as file:
            download(options, task_id, run_id, name, file)
        partial.replace(target)  # a failed download never leaves a truncated file under the real name
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"{name} -> {target}", err=True)


def _read_definitions(source: IO[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every document of SOURCE, read as validate-payload reads them, each with where it came from."""
    from tcw.registry.documents import STDIN_NAME, parse_documents

    name = getattr(source, "name", "-")
    documents = parse_documents(source.read(), STDIN_NAME if name in ("-", "<stdin>") else name)
    several = len(documents) > 1
    read: list[tuple[str, dict[str, Any]]] = []
    for document in documents:
        where = f"{name} (document {document.position})" if several else name
        if document.error is not None:
            raise UsageError(f"{where}: {' '.join(document.error.split())}")
        if not isinstance(document.content, dict):
            raise UsageError(f"{where}: a task definition must be a mapping")
        read.append((where, {key: _jsonable(value) for key, value in document.content.items()}))
    return read


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
