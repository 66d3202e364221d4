"""`tcw validate-payload`: check payloads against the payload-schema registry before a worker sees them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from tcw.cli.main import pass_state
from tcw.errors import UsageError

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from tcw.config import Config
    from tcw.registry import Registry, RegistryEntry
    from tcw.registry.checker import QueueEntry
    from tcw.registry.documents import Document


def complete_registry_keys(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Completion from the registry itself, so new schemas show up without touching the CLI."""
    from tcw.config import load_config
    from tcw.registry import load_registry

    try:
        config = load_config(pass_state(ctx).config_file)
        keys = [entry.key for entry in load_registry(config.registry, root_url=config.root_url).entries()]
    except Exception:  # completion must never break the shell
        return []
    from click.shell_completion import CompletionItem

    return [CompletionItem(key) for key in keys if key.startswith(incomplete)]


def _as_the_worker_would(config: Config) -> QueueEntry:
    """A queue's schema as `tcw run` would choose it: its registry entry, else its executor's declared one."""

    def entry_for(registry: Registry, task_queue_id: str) -> RegistryEntry:
        from tcw.engine.payload import queue_schema
        from tcw.executors.loader import resolve_executor

        entry = queue_schema(config, task_queue_id, resolve_executor, registry).entry
        if entry is None:
            raise UsageError(
                f"no payload schema for task queue {task_queue_id}: its worker runs payloads unchecked "
                "(worker.accept_any_payload)"
            )
        return entry

    return entry_for


def _epilog() -> str:
    from tcw.registry.sources import builtin_names

    return (
        f"Built-in schemas (for --schema, or an index file): {', '.join(builtin_names())}. "
        "`tcw schemas list` shows every registry key and where it comes from."
    )


@click.command("validate-payload", epilog=_epilog())
@click.argument("files", nargs=-1, metavar="[FILE ...|-]")
@click.option(
    "--task-queue",
    metavar="P/W",
    shell_complete=complete_registry_keys,
    help="Task queue (provisionerId/workerType) whose schema checks bare payloads; overrides a task's own.",
)
@click.option("--task-id", "task_ids", multiple=True, metavar="ID", help="Check a live task; repeatable.")
@click.option(
    "--registry",
    "registry_dirs",
    multiple=True,
    metavar="DIR",
    help="Registry directory to use instead of the configured ones; repeatable.",
)
@click.option(
    "--schema",
    metavar="FILE|URL|KEY",
    shell_complete=complete_registry_keys,
    help="Check every document against this schema instead of looking one up.",
)
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def validate_payload(
    files: tuple[str, ...],
    task_queue: str | None,
    task_ids: tuple[str, ...],
    registry_dirs: tuple[str, ...],
    schema: str | None,
    output_format: str,
) -> None:
    """Check task payloads against the payload-schema registry, reporting every error.

    Each FILE (JSON or YAML; a YAML file may hold several documents; - reads standard input) holds a
    whole task definition, whose taskQueueId (or provisionerId/workerType) chooses the schema, or a bare
    payload, checked against --task-queue's schema. --format json prints a stable, documented shape
    (see tcw.registry.reporters).

    \b
    Exit codes:
      0  every document is valid
      1  some document is invalid
      2  usage error, unreadable input, or no schema for a document
    """
    from tcw.registry.checker import SchemaChooser, ValidationRequest, validate_documents
    from tcw.registry.reporters import render_json, render_text

    if not files and not task_ids:
        raise UsageError("nothing to check: name FILEs (- for standard input) or --task-id IDs")
    ctx = click.get_current_context()
    config = pass_state(ctx).load(**{"registry.directories": registry_dirs or None})
    request = ValidationRequest(files, task_ids, task_queue, schema)
    chooser = SchemaChooser(
        request, config.registry, root_url=config.root_url, queue_entry=_as_the_worker_would(config)
    )

    def documents() -> Iterator[Document]:
        from tcw.registry.documents import fetch_tasks, read_inputs

        yield from read_inputs(files, sys.stdin)
        if task_ids:
            yield from fetch_tasks(task_ids, config.client_options())

    report = validate_documents(documents(), chooser)
    if output_format == "json":
        click.echo(render_json(report), nl=False)
    else:
        click.echo(render_text(report, color=True), nl=False)  # click drops the colour when piped
    ctx.exit(int(report.exit_code))
