"""The payload check run before a task: the registry entry of the worker's queue, else the schema its
executor declares.

A payload that fails it is never run; the rendered problems go into the task log and the run is reported
``exception/malformed-payload``. A queue with no registry entry is checked against the schema its executor
declares (``payload_schema`` in the executor contract: the shell executor declares ``shell``), so
`tcw run --task-queue P/W` runs shell payloads with no configuration. A worker whose queue has neither
refuses to start unless told to accept any payload: running whatever arrives unchecked is a choice to
make, not a default to fall into. `tcw validate-payload --task-queue` asks the same function
(``queue_schema``), so it and the worker agree about every queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tcw.config import Config
from tcw.engine.executor_choice import ExecutorChoice, choose_executor
from tcw.errors import UsageError
from tcw.executors.api import Executor, declared_payload_schema

if TYPE_CHECKING:  # the worker pulls in aiohttp: validate-payload must stay quick
    from tcw.engine.worker import PayloadCheck
    from tcw.registry import Registry, RegistryEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueSchema:
    """What a worker of one queue runs its tasks with and checks their payloads against."""

    choice: ExecutorChoice
    executor: Executor
    entry: RegistryEntry | None  # None: payloads run unchecked (worker.accept_any_payload)


def queue_schema(
    config: Config,
    task_queue_id: str,
    load_executor: Callable[[str], Executor],
    registry: Registry | None = None,
) -> QueueSchema:
    """The executor and payload schema of a queue: its registry entry, else its executor's declared schema.

    Raises ``UsageError`` saying how to give the queue a schema when it has neither and any payload is
    not accepted.
    """
    from tcw.registry import UnknownSchema, load_registry
    from tcw.registry.registry import load_schema

    registry = registry or load_registry(config.registry, root_url=config.root_url)
    known: list[str] = []
    try:
        entry: RegistryEntry | None = registry.entry_for(task_queue_id)
    except UnknownSchema as error:
        entry, known = None, error.known
    choice = choose_executor(task_queue_id, config.worker, entry)
    executor = load_executor(choice.spec)
    if entry is None:
        declared = declared_payload_schema(executor)
        if declared is not None:
            schema = load_schema(declared, config.registry, root_url=config.root_url)
            entry = schema.under_key(task_queue_id, f"the payload_schema of executor {choice.spec}")
        elif not config.worker.accept_any_payload:
            raise UsageError(no_schema_message(task_queue_id, known, choice.spec))
        else:
            log.warning("no payload schema for task queue %s: payloads run unchecked", task_queue_id)
    return QueueSchema(choice, executor, entry)


def no_schema_message(task_queue_id: str, known: list[str], executor: str) -> str:
    """The refusal to start, with every way to fix it spelled out for this queue."""
    from tcw.registry.keys import nearest

    key = f'"{task_queue_id}"'
    known_keys = ", ".join(nearest(known, task_queue_id)) or "none"
    return (
        f"no payload schema for task queue {task_queue_id} (registry keys known: {known_keys}; executor "
        f"{executor} declares none), and this worker does not run unchecked payloads. Map the queue, or a "
        "glob over it, to a schema (`shell` is tcw's built-in one for the shell executor; a schema file or "
        "URL works too), or give the executor a payload_schema attribute (docs/plugin-api.md):\n"
        f"  config file:  registry: {{schema_urls: {{{key}: shell}}}}\n"
        f"  environment:  TCW_REGISTRY_SCHEMA_URLS='{{{key}: shell}}'\n"
        f"  registry dir: a line {key}: shell in <dir>/index.yaml, <dir> in registry.directories\n"
        "or pass --accept-any-payload (worker.accept_any_payload: true) to run any payload unchecked."
    )


def payload_check(entry: RegistryEntry) -> PayloadCheck:
    """The check against ``entry``: None for a payload that may run, else its problems rendered as text."""
    from tcw.registry import render_problems_text

    def check(payload: Mapping[str, Any]) -> str | None:
        problems = entry.validate(payload)
        return render_problems_text(entry, problems) if problems else None

    return check
