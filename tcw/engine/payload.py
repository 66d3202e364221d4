"""The payload check run before a task: the registry entry of the worker's queue.

A payload that fails it is never run; the rendered problems go into the task log and the run is reported
``exception/malformed-payload``. A worker whose queue has no entry refuses to start unless told to accept
any payload: running whatever arrives unchecked is a choice to make, not a default to fall into. That also
keeps the worker and `tcw validate-payload --task-queue` in agreement about every queue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tcw.config import Config
from tcw.engine.worker import PayloadCheck
from tcw.errors import UsageError

if TYPE_CHECKING:
    from tcw.registry import RegistryEntry

log = logging.getLogger(__name__)


def registry_entry_for(config: Config, task_queue_id: str) -> RegistryEntry | None:
    """The registry entry of the worker's queue, or None when it has none and any payload is accepted.

    Raises ``UsageError`` saying how to map the queue when it has none and any payload is not accepted.
    """
    from tcw.registry import UnknownSchema, load_registry

    registry = load_registry(config.registry, root_url=config.root_url)
    try:
        return registry.entry_for(task_queue_id)
    except UnknownSchema as error:
        if not config.worker.accept_any_payload:
            raise UsageError(no_schema_message(task_queue_id, error.known)) from error
    log.warning("no payload schema for task queue %s: payloads run unchecked", task_queue_id)
    return None


def no_schema_message(task_queue_id: str, known: list[str]) -> str:
    """The refusal to start, with every way to fix it spelled out for this queue."""
    from tcw.registry.keys import nearest

    key = f'"{task_queue_id}"'
    known_keys = ", ".join(nearest(known, task_queue_id)) or "none"
    return (
        f"no payload schema for task queue {task_queue_id} (registry keys known: {known_keys}), and this "
        "worker does not run unchecked payloads. Map the queue, or a glob over it, to a schema (`shell` is "
        "tcw's built-in one for the shell executor; a schema file or URL works too):\n"
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
