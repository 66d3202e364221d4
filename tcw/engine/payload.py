"""The payload check run before a task: the worker queue's registry entry, or its executor's schema.

A payload that fails it is never run; the rendered problems go into the task log and the run is reported
``exception/malformed-payload``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tcw.config import Config
from tcw.engine.worker import PayloadCheck
from tcw.errors import UsageError


def payload_check_for(config: Config, task_queue_id: str, executor_spec: str) -> PayloadCheck | None:
    """The check for this worker; raises ``UsageError`` when there is no schema and none is waived."""
    from tcw.registry import UnknownSchema, builtin_schema, load_registry, render_problems_text

    registry = load_registry(config.registry, root_url=config.root_url)
    try:
        entry = registry.entry_for(task_queue_id)
    except UnknownSchema as error:
        if executor_spec == "shell":
            entry = builtin_schema("shell")
        elif config.worker.accept_any_payload:
            return None
        else:
            raise UsageError(
                f"{error.message}\nno payload schema for task queue {task_queue_id} and executor "
                f"{executor_spec!r}: add one to the registry, or run with --accept-any-payload"
            ) from error

    def check(payload: Mapping[str, Any]) -> str | None:
        problems = entry.validate(payload)
        return render_problems_text(entry, problems) if problems else None

    return check
