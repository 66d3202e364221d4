"""Creating tasks and reading their status: the defaults `tcw task create` fills in, and the calls.

The CLI, the demo, the benchmarks and the tests create tasks through here, so a task made by any of them
looks the same to the queue.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from tcw.config import ID_PATTERN, ID_RULE, WORKER_TYPE_PATTERN, WORKER_TYPE_RULE
from tcw.errors import UsageError
from tcw.taskcluster_client import new_task_id, parse_time, sync_call

DEFAULT_DEADLINE = timedelta(days=1)
DEFAULT_LIFETIME = timedelta(days=365)


def fill_defaults(definition: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The definition with created/deadline/expires, payload and metadata filled where missing."""
    now = now or datetime.now(UTC)
    filled = dict(definition)
    filled.setdefault("created", now.isoformat())
    deadline = filled.setdefault("deadline", (now + DEFAULT_DEADLINE).isoformat())
    if "expires" not in filled and isinstance(deadline, str):
        with suppress(ValueError):  # a bad deadline is for the queue to report
            filled["expires"] = (parse_time(deadline) + DEFAULT_LIFETIME).isoformat()
    filled.setdefault("payload", {})
    metadata = filled.setdefault("metadata", {})
    if isinstance(metadata, dict):
        metadata.setdefault("name", "task created by tcw")
        metadata.setdefault("description", "Created with `tcw task create`.")
        metadata.setdefault("owner", f"tcw@{socket.gethostname()}")
        metadata.setdefault("source", "https://github.com/taskcluster/taskcluster")
    return filled


PAYLOAD_KEYS = frozenset({"command", "maxRunTime", "env", "artifacts", "onExitStatus", "mounts", "features"})
TASK_KEYS = frozenset({"payload", "metadata", "taskQueueId", "provisionerId", "workerType", "taskGroupId"})


def check_definition(definition: Mapping[str, Any], where: str) -> None:
    """What the queue would refuse for reasons a person should read in words, before any call: a bare
    payload given as a task, and a task queue id that cannot be one."""
    if not TASK_KEYS & definition.keys() and PAYLOAD_KEYS & definition.keys():
        raise UsageError(
            f"{where}: this is a bare payload ({', '.join(sorted(PAYLOAD_KEYS & definition.keys()))}), "
            "not a task definition: wrap it in `payload:` (and give --task-queue P/W)"
        )
    queue = definition.get("taskQueueId")
    if queue is not None:
        problem = task_queue_problem(queue)
        if problem:
            raise UsageError(f"{where}: taskQueueId {queue!r}: {problem}")


def task_queue_problem(queue: object) -> str | None:
    """Why ``queue`` is not a task queue id (``provisionerId/workerType``), in words; None when it is."""
    if not isinstance(queue, str) or queue.count("/") != 1:
        return "must be provisionerId/workerType, with exactly one '/'"
    provisioner_id, worker_type = queue.split("/")
    if not ID_PATTERN.match(provisioner_id):
        return f"its provisionerId {provisioner_id!r} {ID_RULE}"
    if not WORKER_TYPE_PATTERN.match(worker_type):
        return f"its workerType {worker_type!r} {WORKER_TYPE_RULE}"
    return None


def create_task(queue: Any, definition: Mapping[str, Any], task_id: str | None = None) -> str:
    """Create the task (defaults filled in) with a sync queue client (``sync_queue``); returns its taskId.

    The taskId is ``task_id``, else the definition's ``taskId``, else a new one. Raises ``UsageError``
    when the queue refuses the definition, ``QueueUnavailable`` when it cannot be used.
    """
    body = dict(definition)
    task_id = task_id or body.pop("taskId", None) or new_task_id()
    body.pop("taskId", None)
    with sync_call(f"create task {task_id} (createTask)", queue):
        queue.createTask(task_id, fill_defaults(body))
    return task_id


def task_status(queue: Any, task_id: str) -> dict[str, Any]:
    """The queue's status structure of the task (state, runs)."""
    with sync_call(f"get the status of task {task_id}", queue):
        return queue.status(task_id)["status"]  # type: ignore[no-any-return]


def pending_tasks(queue: Any, task_queue_id: str, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` pending runs of the queue (``listPendingTasks``), each with its task's status
    (for ``retriesLeft``), without claiming anything."""
    with sync_call(f"list the pending tasks of {task_queue_id} (listPendingTasks)", queue):
        answer = queue.listPendingTasks(task_queue_id, query={"limit": limit})
    listed = answer.get("tasks", [])[:limit]
    return [{**entry, "status": task_status(queue, entry["taskId"])} for entry in listed]
