"""Tasks: createTask, the task and status views, task groups and dependents, scheduleTask and rerunTask,
sealTaskGroup, changeTaskPriority and changeTaskGroupPriority, and the scheduling of runs (also when a
resolution frees dependents, in resolution.py).

A task's ``state`` is that of its latest run (``unscheduled`` before the first); only the latest run can
change. A final resolution (no automatic retry left) satisfies the dependencies that wait on it.
"""

from __future__ import annotations

from typing import Any

from tcw.localqueue.core import checks
from tcw.localqueue.core.dates import format_date
from tcw.localqueue.core.errors import InputError, RequestConflict, ResourceNotFound
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.queue import rules, workers
from tcw.localqueue.services.queue.status import now_text, require_task, status_json, status_reply
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import task_groups
from tcw.localqueue.storage import tasks as rows
from tcw.localqueue.storage.database import transaction
from tcw.localqueue.storage.task_groups import GroupRow
from tcw.localqueue.storage.tasks import TaskRow

MAX_RUNS = 50
ACTIVE_STATES = ("pending", "running")
UNRESOLVED_STATES = ("unscheduled", *ACTIVE_STATES)


# -- scheduling (also used by resolution.py)


def schedule_run(state: QueueState, task: TaskRow, run_id: int, reason: str) -> None:
    rows.insert_run(state.db, task, run_id, state="pending", reason_created=reason, now=now_text(state))
    rows.set_task_state(state.db, task.task_id, "pending")
    state.notify_pending(task.task_queue_id)


def schedule_if_ready(state: QueueState, task_id: str) -> None:
    task = rows.load_task(state.db, task_id)
    if task is None or task.state != "unscheduled" or task.deadline <= state.now():
        return
    if not rows.waits_on_dependencies(state.db, task_id):
        schedule_run(state, task, 0, "scheduled")


# -- createTask


async def create_task(call: ApiCall) -> Any:
    task_id, state = call.params["taskId"], call.state
    definition = rules.task_definition(task_id, call.body, state.now())
    call.authorize(
        scopes=definition["scopes"],
        routes=definition["routes"],
        projectId=definition["projectId"],
        schedulerId=definition["schedulerId"],
        priorities=rules.priorities_at_least(definition["priority"]),
        provisionerId=definition["provisionerId"],
        workerType=definition["workerType"],
    )
    existing = rows.load_task(state.db, task_id)
    if existing is not None:
        if existing.definition != definition:
            raise RequestConflict(f"taskId {task_id} already used by another task")
        return status_reply(state, task_id)
    _check_task_group(state, definition)
    _check_dependencies(state, task_id, definition["dependencies"])
    with transaction(state.db):
        _insert_task(state, task_id, definition)
        schedule_if_ready(state, task_id)
    return status_reply(state, task_id)


def _check_task_group(state: QueueState, definition: dict[str, Any]) -> None:
    group = task_groups.load_group(state.db, definition["taskGroupId"])
    if group is None:
        return
    if group.scheduler_id != definition["schedulerId"]:
        raise RequestConflict(
            f"Task group {definition['taskGroupId']} has schedulerId {group.scheduler_id},"
            f" not {definition['schedulerId']}"
        )
    if group.sealed is not None:
        raise RequestConflict(f"Task group {definition['taskGroupId']} is sealed")


def _check_dependencies(state: QueueState, task_id: str, dependencies: list[str]) -> None:
    others = [dependency for dependency in dependencies if dependency != task_id]
    known = rows.known_task_ids(state.db, others)
    missing = [dependency for dependency in others if dependency not in known]
    if missing:
        raise InputError("Dependencies not found: " + ", ".join(missing[:20]))


def _insert_task(state: QueueState, task_id: str, definition: dict[str, Any]) -> None:
    db = state.db
    rows.insert_task(db, task_id, definition)
    task_groups.record_group(db, definition["taskGroupId"], definition["schedulerId"], definition["expires"])
    workers.queue_seen(state, definition["taskQueueId"], now_text(state))
    for dependency in definition["dependencies"]:
        satisfied = dependency != task_id and _satisfies(state, dependency, definition["requires"])
        rows.insert_dependency(db, dependency, task_id, satisfied)


def _satisfies(state: QueueState, required_task_id: str, requires: str) -> bool:
    resolved = ("completed",) if requires == "all-completed" else ("completed", "failed", "exception")
    return rows.task_state(state.db, required_task_id) in resolved


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
    found = [rows.load_task(call.state.db, task_id) for task_id in task_ids[offset : offset + limit]]
    more = {"continuationToken": str(offset + limit)} if offset + limit < len(task_ids) else {}
    return [task for task in found if task is not None], more


async def get_tasks(call: ApiCall) -> Any:
    found, more = _known_tasks(call)
    return {"tasks": [{"taskId": task.task_id, "task": task.definition} for task in found], **more}


async def get_statuses(call: ApiCall) -> Any:
    found, more = _known_tasks(call)
    db = call.state.db
    statuses = [
        {"taskId": task.task_id, "status": status_json(task, rows.load_runs(db, task.task_id))}
        for task in found
    ]
    return {"statuses": statuses, **more}


def definitions_and_statuses(state: QueueState, tasks: list[TaskRow]) -> list[dict[str, Any]]:
    """``[{status, task}]`` of each task."""
    return [
        {"status": status_json(task, rows.load_runs(state.db, task.task_id)), "task": task.definition}
        for task in tasks
    ]


def require_group(state: QueueState, task_group_id: str) -> GroupRow:
    group = task_groups.load_group(state.db, task_group_id)
    if group is None:
        raise ResourceNotFound(f"Task group {task_group_id} not found")
    return group


def _group_json(group: GroupRow) -> dict[str, Any]:
    out = {"taskGroupId": group.task_group_id, "schedulerId": group.scheduler_id, "expires": group.expires}
    if group.sealed is not None:
        out["sealed"] = group.sealed
    return out


async def get_task_group(call: ApiCall) -> Any:
    group = require_group(call.state, call.params["taskGroupId"])
    call.authorize()
    return _group_json(group)


async def list_task_group(call: ApiCall) -> Any:
    group = require_group(call.state, call.params["taskGroupId"])
    call.authorize()
    limit, offset = checks.page(call.query)
    page = rows.group_tasks(call.state.db, group.task_group_id, limit, offset)
    tasks = definitions_and_statuses(call.state, page)
    return {**_group_json(group), "tasks": tasks, **checks.next_token(offset, limit, len(page))}


async def list_dependent_tasks(call: ApiCall) -> Any:
    task_id = call.params["taskId"]
    require_task(call.state, task_id)
    call.authorize()
    limit, offset = checks.page(call.query)
    page = rows.dependent_tasks(call.state.db, task_id, limit, offset)
    tasks = definitions_and_statuses(call.state, page)
    return {"taskId": task_id, "tasks": tasks, **checks.next_token(offset, limit, len(page))}


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
        with transaction(state.db):
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
    latest = rows.latest_run_id(state.db, task.task_id)
    next_run = 0 if latest is None else latest + 1
    if next_run >= MAX_RUNS:
        raise RequestConflict(f"Task {task.task_id} already has the maximum of {MAX_RUNS} runs")
    with transaction(state.db):
        rows.set_task_state(state.db, task.task_id, "pending", int(task.definition["retries"]))
        schedule_run(state, task, next_run, "rerun")
    return status_reply(state, task.task_id)


# -- task groups and priorities


async def seal_task_group(call: ApiCall) -> Any:
    """No task may join the group afterwards; sealing again changes nothing."""
    state = call.state
    group = require_group(state, call.params["taskGroupId"])
    call.authorize(schedulerId=group.scheduler_id)
    if group.sealed is None:
        with transaction(state.db):
            task_groups.seal_group(state.db, group.task_group_id, now_text(state))
        group = require_group(state, group.task_group_id)
    return _group_json(group)


async def change_task_priority(call: ApiCall) -> Any:
    state = call.state
    task = require_task(state, call.params["taskId"])
    call.authorize(taskQueueId=task.task_queue_id)
    if task.state not in UNRESOLVED_STATES:
        raise RequestConflict(f"Task {task.task_id} is resolved; its priority cannot change")
    with transaction(state.db):
        rows.set_priority(state.db, task, call.body["newPriority"])
    return status_reply(state, task.task_id)


async def change_task_group_priority(call: ApiCall) -> Any:
    state, priority = call.state, call.body["newPriority"]
    group = require_group(state, call.params["taskGroupId"])
    call.authorize(schedulerId=group.scheduler_id)
    group_tasks = rows.group_tasks(state.db, group.task_group_id)
    changed = [task for task in group_tasks if task.state in UNRESOLVED_STATES]
    with transaction(state.db):
        for task in changed:
            rows.set_priority(state.db, task, priority)
    return {
        "taskGroupId": group.task_group_id,
        "schedulerId": group.scheduler_id,
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
