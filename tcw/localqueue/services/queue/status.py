"""The task-status structure every task, claim and resolution method answers, and the lookups of the task
and run a route names.
"""

from __future__ import annotations

from typing import Any

from tcw.localqueue.core.dates import format_date
from tcw.localqueue.core.errors import ResourceNotFound
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import tasks as rows
from tcw.localqueue.storage.database import Database
from tcw.localqueue.storage.tasks import RunRow, TaskRow


def require_task(state: QueueState, task_id: str) -> TaskRow:
    task = rows.load_task(state.db, task_id)
    if task is None:
        raise ResourceNotFound(f"Task {task_id} not found")
    return task


def require_task_and_run(state: QueueState, task_id: str, run_id: str) -> tuple[TaskRow, RunRow]:
    """The task and the run a ``<taskId>/runs/<runId>`` route names (404 for either unknown)."""
    task = require_task(state, task_id)
    run = rows.load_run(state.db, task_id, int(run_id))
    if run is None:
        raise ResourceNotFound(f"Run {run_id} of task {task_id} not found")
    return task, run


def status_reply(state: QueueState, task_id: str) -> dict[str, Any]:
    return {"status": load_status(state.db, task_id)}


def now_text(state: QueueState) -> str:
    return format_date(state.now())


def run_json(run: RunRow) -> dict[str, Any]:
    """A run as task-status responses show it (absent fields are left out, never null)."""
    out: dict[str, Any] = {
        "runId": run.run_id,
        "state": run.state,
        "reasonCreated": run.reason_created,
        "scheduled": format_date(run.scheduled),
    }
    if run.reason_resolved is not None:
        out["reasonResolved"] = run.reason_resolved
    if run.worker_group is not None:
        out["workerGroup"] = run.worker_group
        out["workerId"] = run.worker_id
    if run.taken_until is not None:
        out["takenUntil"] = format_date(run.taken_until)
    if run.started is not None:
        out["started"] = format_date(run.started)
    if run.resolved is not None:
        out["resolved"] = format_date(run.resolved)
    return out


def status_json(task: TaskRow, runs: list[RunRow]) -> dict[str, Any]:
    """The task-status structure."""
    definition = task.definition
    return {
        "taskId": task.task_id,
        "provisionerId": task.provisioner_id,
        "workerType": task.worker_type,
        "taskQueueId": task.task_queue_id,
        "schedulerId": task.scheduler_id,
        "projectId": task.project_id,
        "taskGroupId": task.task_group_id,
        "priority": task.priority,
        "deadline": definition["deadline"],
        "expires": definition["expires"],
        "retriesLeft": task.retries_left,
        "state": task.state,
        "runs": [run_json(run) for run in runs],
    }


def load_status(db: Database, task_id: str) -> dict[str, Any] | None:
    """The task's status structure, or None for an unknown task."""
    task = rows.load_task(db, task_id)
    return None if task is None else status_json(task, rows.load_runs(db, task_id))
