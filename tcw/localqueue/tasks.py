"""Tasks: createTask, the task and status views, task groups and dependents, scheduleTask and rerunTask,
sealTaskGroup, changeTaskPriority and changeTaskGroupPriority, and the scheduling of runs (also when a
resolution frees dependents, in resolution.py).

A task's ``state`` is that of its latest run (``unscheduled`` before the first); only the latest run can
change. A final resolution (no automatic retry left) satisfies the dependencies that wait on it.
"""

from __future__ import annotations

import json
from typing import Any

from tcw.localqueue import checks, store, workers
from tcw.localqueue.api import (
    ApiCall,
    Handler,
    InputError,
    QueueState,
    RequestConflict,
    ResourceNotFound,
)
from tcw.localqueue.dates import format_date
from tcw.localqueue.store import RunRow, TaskRow

MAX_RUNS = 50
ACTIVE_STATES = ("pending", "running")
UNRESOLVED_STATES = ("unscheduled", *ACTIVE_STATES)


def require_task(state: QueueState, task_id: str) -> TaskRow:
    task = store.load_task(state.db, task_id)
    if task is None:
        raise ResourceNotFound(f"Task {task_id} not found")
    return task


def require_task_and_run(state: QueueState, task_id: str, run_id: str) -> tuple[TaskRow, RunRow]:
    """The task and the run a ``<taskId>/runs/<runId>`` route names (404 for either unknown)."""
    task = require_task(state, task_id)
    run = store.load_run(state.db, task_id, int(run_id))
    if run is None:
        raise ResourceNotFound(f"Run {run_id} of task {task_id} not found")
    return task, run


def status_reply(state: QueueState, task_id: str) -> dict[str, Any]:
    return {"status": store.load_status(state.db, task_id)}


# -- scheduling (also used by resolution.py)


def schedule_run(state: QueueState, task: TaskRow, run_id: int, reason: str) -> None:
    store.insert_run(state.db, task, run_id, state="pending", reason_created=reason, now=now_text(state))
    store.set_task_state(state.db, task.task_id, "pending")
    state.notify_pending(task.task_queue_id)


def schedule_if_ready(state: QueueState, task_id: str) -> None:
    task = store.load_task(state.db, task_id)
    if task is None or task.state != "unscheduled" or task.deadline <= state.now():
        return
    waiting = state.db.execute(
        "SELECT 1 FROM dependencies WHERE dependent_task_id = ? AND satisfied = 0 LIMIT 1", (task_id,)
    ).fetchone()
    if waiting is None:
        schedule_run(state, task, 0, "scheduled")


def now_text(state: QueueState) -> str:
    return format_date(state.now())


# -- createTask


async def create_task(call: ApiCall) -> Any:
    task_id, state = call.params["taskId"], call.state
    definition = checks.task_definition(task_id, call.body, state.now())
    call.authorize(
        scopes=definition["scopes"],
        routes=definition["routes"],
        projectId=definition["projectId"],
        schedulerId=definition["schedulerId"],
        priorities=checks.priorities_at_least(definition["priority"]),
        provisionerId=definition["provisionerId"],
        workerType=definition["workerType"],
    )
    existing = store.load_task(state.db, task_id)
    if existing is not None:
        if existing.definition != definition:
            raise RequestConflict(f"taskId {task_id} already used by another task")
        return status_reply(state, task_id)
    _check_task_group(state, definition)
    _check_dependencies(state, task_id, definition["dependencies"])
    with store.transaction(state.db):
        _insert_task(state, task_id, definition)
        schedule_if_ready(state, task_id)
    return status_reply(state, task_id)


def _check_task_group(state: QueueState, definition: dict[str, Any]) -> None:
    row = state.db.execute(
        "SELECT scheduler_id, sealed FROM task_groups WHERE task_group_id = ?", (definition["taskGroupId"],)
    ).fetchone()
    if row is None:
        return
    if row[0] != definition["schedulerId"]:
        raise RequestConflict(
            f"Task group {definition['taskGroupId']} has schedulerId {row[0]},"
            f" not {definition['schedulerId']}"
        )
    if row[1] is not None:
        raise RequestConflict(f"Task group {definition['taskGroupId']} is sealed")


def _check_dependencies(state: QueueState, task_id: str, dependencies: list[str]) -> None:
    others = [dependency for dependency in dependencies if dependency != task_id]
    known: set[str] = set()
    for start in range(0, len(others), 500):
        chunk = others[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = state.db.execute(f"SELECT task_id FROM tasks WHERE task_id IN ({marks})", chunk)
        known.update(row[0] for row in rows)
    missing = [dependency for dependency in others if dependency not in known]
    if missing:
        raise InputError("Dependencies not found: " + ", ".join(missing[:20]))


def _insert_task(state: QueueState, task_id: str, definition: dict[str, Any]) -> None:
    db, now = state.db, now_text(state)
    db.execute(
        f"INSERT INTO tasks ({store.TASK_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'unscheduled', ?)",
        (
            task_id,
            definition["taskGroupId"],
            definition["schedulerId"],
            definition["projectId"],
            definition["taskQueueId"],
            definition["priority"],
            definition["requires"],
            definition["retries"],
            definition["created"],
            definition["deadline"],
            definition["expires"],
            json.dumps(definition, separators=(",", ":")),
        ),
    )
    db.execute(
        "INSERT INTO task_groups (task_group_id, scheduler_id, expires) VALUES (?, ?, ?)"
        " ON CONFLICT (task_group_id) DO UPDATE SET expires = MAX(expires, excluded.expires)",
        (definition["taskGroupId"], definition["schedulerId"], definition["expires"]),
    )
    workers.queue_seen(state, definition["taskQueueId"], now)
    for dependency in definition["dependencies"]:
        satisfied = dependency != task_id and _satisfies(state, dependency, definition["requires"])
        db.execute(
            "INSERT INTO dependencies (required_task_id, dependent_task_id, satisfied) VALUES (?, ?, ?)",
            (dependency, task_id, int(satisfied)),
        )


def _satisfies(state: QueueState, required_task_id: str, requires: str) -> bool:
    row = state.db.execute("SELECT state FROM tasks WHERE task_id = ?", (required_task_id,)).fetchone()
    resolved = ("completed",) if requires == "all-completed" else ("completed", "failed", "exception")
    return row is not None and row[0] in resolved


# -- reading tasks


async def get_task(call: ApiCall) -> Any:
    task = require_task(call.state, call.params["taskId"])
    call.authorize()
    return task.definition


async def get_status(call: ApiCall) -> Any:
    require_task(call.state, call.params["taskId"])
    call.authorize()
    return status_reply(call.state, call.params["taskId"])


def _known_tasks(call: ApiCall) -> tuple[list[TaskRow], dict[str, str]]:
    """The known tasks among ``taskIds`` (unknown ones are skipped silently, as the service does)."""
    task_ids = list(dict.fromkeys(call.body.get("taskIds", [])))
    call.authorize(taskIds=task_ids)
    limit, offset = checks.page(call.query)
    found = [store.load_task(call.state.db, task_id) for task_id in task_ids[offset : offset + limit]]
    more = {"continuationToken": str(offset + limit)} if offset + limit < len(task_ids) else {}
    return [task for task in found if task is not None], more


async def get_tasks(call: ApiCall) -> Any:
    found, more = _known_tasks(call)
    return {"tasks": [{"taskId": task.task_id, "task": task.definition} for task in found], **more}


async def get_statuses(call: ApiCall) -> Any:
    found, more = _known_tasks(call)
    db = call.state.db
    statuses = [
        {"taskId": task.task_id, "status": store.status_json(task, store.load_runs(db, task.task_id))}
        for task in found
    ]
    return {"statuses": statuses, **more}


def definitions_and_statuses(state: QueueState, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """``[{status, task}]`` for task rows selected with ``store.TASK_COLUMNS``."""
    out = []
    for row in rows:
        task = store.task_from_row(row)
        out.append(
            {
                "status": store.status_json(task, store.load_runs(state.db, task.task_id)),
                "task": task.definition,
            }
        )
    return out


def group_row(state: QueueState, task_group_id: str) -> tuple[Any, ...]:
    row = state.db.execute(
        "SELECT scheduler_id, expires, sealed FROM task_groups WHERE task_group_id = ?", (task_group_id,)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f"Task group {task_group_id} not found")
    return tuple(row)


def group_tasks(state: QueueState, task_group_id: str) -> list[TaskRow]:
    """Every task of the group, by taskId."""
    rows = state.db.execute(
        f"SELECT {store.TASK_COLUMNS} FROM tasks WHERE task_group_id = ? ORDER BY task_id", (task_group_id,)
    ).fetchall()
    return [store.task_from_row(row) for row in rows]


def _group_json(task_group_id: str, row: tuple[Any, ...]) -> dict[str, Any]:
    group = {"taskGroupId": task_group_id, "schedulerId": row[0], "expires": row[1]}
    if row[2] is not None:
        group["sealed"] = row[2]
    return group


async def get_task_group(call: ApiCall) -> Any:
    task_group_id = call.params["taskGroupId"]
    row = group_row(call.state, task_group_id)
    call.authorize()
    return _group_json(task_group_id, row)


async def list_task_group(call: ApiCall) -> Any:
    task_group_id = call.params["taskGroupId"]
    row = group_row(call.state, task_group_id)
    call.authorize()
    limit, offset = checks.page(call.query)
    rows = call.state.db.execute(
        f"SELECT {store.TASK_COLUMNS} FROM tasks WHERE task_group_id = ? ORDER BY task_id LIMIT ? OFFSET ?",
        (task_group_id, limit, offset),
    ).fetchall()
    tasks = definitions_and_statuses(call.state, rows)
    return {**_group_json(task_group_id, row), "tasks": tasks, **checks.next_token(offset, limit, len(rows))}


async def list_dependent_tasks(call: ApiCall) -> Any:
    task_id = call.params["taskId"]
    require_task(call.state, task_id)
    call.authorize()
    limit, offset = checks.page(call.query)
    columns = ", ".join(f"t.{column.strip()}" for column in store.TASK_COLUMNS.split(","))
    rows = call.state.db.execute(
        f"SELECT {columns} FROM dependencies d JOIN tasks t ON t.task_id = d.dependent_task_id"
        " WHERE d.required_task_id = ? ORDER BY t.task_id LIMIT ? OFFSET ?",
        (task_id, limit, offset),
    ).fetchall()
    tasks = definitions_and_statuses(call.state, rows)
    return {"taskId": task_id, "tasks": tasks, **checks.next_token(offset, limit, len(rows))}


# -- scheduling by hand


def authorize_task_action(call: ApiCall, task: TaskRow) -> None:
    """scheduleTask, rerunTask and cancelTask: scopes by task, by project, or by scheduler."""
    call.authorize(schedulerId=task.scheduler_id, taskGroupId=task.task_group_id, projectId=task.project_id)


def refuse_past_deadline(state: QueueState, task: TaskRow, action: str) -> None:
    if task.deadline <= state.now():
        raise RequestConflict(
            f"Task {task.task_id} can't be {action} past its deadline of {format_date(task.deadline)}"
        )


async def schedule_task(call: ApiCall) -> Any:
    """Schedule an unscheduled task now, whatever its dependencies say."""
    state = call.state
    task = require_task(state, call.params["taskId"])
    authorize_task_action(call, task)
    refuse_past_deadline(state, task, "scheduled")
    if task.state == "unscheduled":
        with store.transaction(state.db):
            schedule_run(state, task, 0, "scheduled")
    return status_reply(state, task.task_id)


async def rerun_task(call: ApiCall) -> Any:
    """Add a run to a resolved task, with a fresh retry budget; a task still pending or running is left."""
    state = call.state
    task = require_task(state, call.params["taskId"])
    authorize_task_action(call, task)
    refuse_past_deadline(state, task, "rerun")
    if task.state in ACTIVE_STATES:
        return status_reply(state, task.task_id)
    latest = store.latest_run_id(state.db, task.task_id)
    next_run = 0 if latest is None else latest + 1
    if next_run >= MAX_RUNS:
        raise RequestConflict(f"Task {task.task_id} already has the maximum of {MAX_RUNS} runs")
    with store.transaction(state.db):
        store.set_task_state(state.db, task.task_id, "pending", int(task.definition["retries"]))
        schedule_run(state, task, next_run, "rerun")
    return status_reply(state, task.task_id)


# -- task groups and priorities


async def seal_task_group(call: ApiCall) -> Any:
    """No task may join the group afterwards; sealing again changes nothing."""
    task_group_id, state = call.params["taskGroupId"], call.state
    row = group_row(state, task_group_id)
    call.authorize(schedulerId=row[0])
    if row[2] is None:
        with store.transaction(state.db):
            state.db.execute(
                "UPDATE task_groups SET sealed = ? WHERE task_group_id = ?", (now_text(state), task_group_id)
            )
        row = group_row(state, task_group_id)
    return _group_json(task_group_id, row)


def set_priority(state: QueueState, task: TaskRow, priority: str) -> None:
    """Future runs and pending runs take the new priority; a running run keeps its own."""
    definition = {**task.definition, "priority": priority}
    state.db.execute(
        "UPDATE tasks SET priority = ?, definition = ? WHERE task_id = ?",
        (priority, json.dumps(definition, separators=(",", ":")), task.task_id),
    )
    state.db.execute(
        "UPDATE runs SET priority_rank = ? WHERE task_id = ? AND state = 'pending'",
        (store.PRIORITY_RANKS[priority], task.task_id),
    )


async def change_task_priority(call: ApiCall) -> Any:
    state = call.state
    task = require_task(state, call.params["taskId"])
    call.authorize(taskQueueId=task.task_queue_id)
    if task.state not in UNRESOLVED_STATES:
        raise RequestConflict(f"Task {task.task_id} is resolved; its priority cannot change")
    with store.transaction(state.db):
        set_priority(state, task, call.body["newPriority"])
    return status_reply(state, task.task_id)


async def change_task_group_priority(call: ApiCall) -> Any:
    task_group_id, state, priority = call.params["taskGroupId"], call.state, call.body["newPriority"]
    row = group_row(state, task_group_id)
    call.authorize(schedulerId=row[0])
    changed = [task for task in group_tasks(state, task_group_id) if task.state in UNRESOLVED_STATES]
    with store.transaction(state.db):
        for task in changed:
            set_priority(state, task, priority)
    return {
        "taskGroupId": task_group_id,
        "schedulerId": row[0],
        "newPriority": priority,
        "tasksAffected": len(changed),
        "taskIds": [task.task_id for task in changed],
    }


HANDLERS: dict[str, Handler] = {
    "sealTaskGroup": seal_task_group,
    "changeTaskPriority": change_task_priority,
    "changeTaskGroupPriority": change_task_group_priority,
    "createTask": create_task,
    "task": get_task,
    "status": get_status,
    "tasks": get_tasks,
    "statuses": get_statuses,
    "getTaskGroup": get_task_group,
    "listTaskGroup": list_task_group,
    "listDependentTasks": list_dependent_tasks,
    "scheduleTask": schedule_task,
    "rerunTask": rerun_task,
}
