"""Tasks for the tests: one minimal valid definition, creating tasks on the engine tests' queue, and
reading their runs back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tcw import tasks

PROVISIONER = "tcw-test"
WORKER_TYPE = "engine"
TASK_QUEUE = f"{PROVISIONER}/{WORKER_TYPE}"


def task_definition(
    task_queue_id: str = "tcw-test/worker", *, name: str = "tcw test task", **overrides: Any
) -> dict[str, Any]:
    """A minimal valid task for ``createTask``: created now, deadline in an hour, empty payload; keyword
    arguments replace its top-level fields (``payload=``, ``retries=``...), ``name`` its metadata's."""
    now = datetime.now(UTC)
    definition: dict[str, Any] = {
        "taskQueueId": task_queue_id,
        "created": now.isoformat(),
        "deadline": (now + timedelta(hours=1)).isoformat(),
        "payload": {},
        "metadata": {
            "name": name,
            "description": "made by the tests",
            "owner": "tcw@example.com",
            "source": "https://github.com/example/tcw",
        },
    }
    definition.update(overrides)
    return definition


def create_task(
    queue: Any, payload: Mapping[str, Any], *, retries: int = 0, name: str = "test task", **overrides: Any
) -> str:
    """Create a task with this payload on TASK_QUEUE (the engine tests' worker queue); its id."""
    definition = task_definition(TASK_QUEUE, name=name, payload=dict(payload), retries=retries, **overrides)
    return tasks.create_task(queue, definition)


def shell(*commands: str | list[str], max_run_time: int = 30, **extra: Any) -> dict[str, Any]:
    """A ``shell`` executor payload running these commands."""
    return {"command": list(commands), "maxRunTime": max_run_time, **extra}


def runs(queue: Any, task_id: str) -> list[dict[str, Any]]:
    return queue.status(task_id)["status"]["runs"]  # type: ignore[no-any-return]


def last_run(queue: Any, task_id: str) -> str:
    """The last run's state, with its reason when it is an exception: ``exception/canceled``."""
    run = runs(queue, task_id)[-1]
    return f"{run['state']}/{run['reasonResolved']}" if run["state"] == "exception" else str(run["state"])
