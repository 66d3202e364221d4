"""Resolution: a run ends completed, failed or exception, reported by its worker (reportCompleted/Failed/
Exception), by a user (cancelTask, cancelTaskGroup) or by the clock (see resolvers.py). An exception whose
reason the queue retries adds a new pending run while retries remain; any other resolution is final and
frees the tasks that depend on it.

Resolution rules as the real queue has them: only a running run can be resolved; reporting the same
outcome again is harmless (idempotent), anything else on a resolved run is a 409.
"""

from __future__ import annotations

from typing import Any

from tcw.localqueue.core.errors import RequestConflict
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.queue import tasks
from tcw.localqueue.services.queue.status import now_text, require_task, require_task_and_run, status_reply
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import tasks as rows
from tcw.localqueue.storage.database import transaction
from tcw.localqueue.storage.tasks import RunRow, TaskRow

# Exception reasons after which the queue itself adds a run (if retries remain), with its reasonCreated.
RETRIED_REASONS = {"worker-shutdown": "retry", "claim-expired": "retry", "intermittent-task": "task-retry"}


# -- transitions


def resolve_run(state: QueueState, task: TaskRow, run: RunRow, run_state: str, reason: str) -> None:
    """Resolve the latest run; retry it when the reason allows and retries remain, else the task is done."""
    rows.resolve_run_row(state.db, task.task_id, run.run_id, run_state, reason, now_text(state))
    retry_reason = RETRIED_REASONS.get(reason)
    if retry_reason is not None and task.retries_left > 0:
        rows.set_task_state(state.db, task.task_id, "pending", task.retries_left - 1)
        rows.insert_run(
            state.db,
            task,
            run.run_id + 1,
            state="pending",
            reason_created=retry_reason,
            now=now_text(state),
        )
        state.notify_pending(task.task_queue_id)
        return
    rows.set_task_state(state.db, task.task_id, run_state)
    task_resolved(state, task.task_id, run_state)


def resolve_unscheduled(state: QueueState, task: TaskRow, reason: str) -> None:
    """Cancel or deadline before any run: a run is created already in ``exception``."""
    rows.insert_run(
        state.db,
        task,
        0,
        state="exception",
        reason_created="exception",
        now=now_text(state),
        reason_resolved=reason,
    )
    rows.set_task_state(state.db, task.task_id, "exception")
    task_resolved(state, task.task_id, "exception")


def resolve_active(state: QueueState, task: TaskRow, reason: str) -> None:
    """Resolve a task that is unscheduled, pending or running as ``exception/<reason>``; others are left."""
    if task.state == "unscheduled":
        resolve_unscheduled(state, task, reason)
    elif task.state in tasks.ACTIVE_STATES:
        run_id = rows.latest_run_id(state.db, task.task_id)
        run = None if run_id is None else rows.load_run(state.db, task.task_id, run_id)
        if run is not None:
            resolve_run(state, task, run, "exception", reason)


def task_resolved(state: QueueState, task_id: str, task_state: str) -> None:
    """Satisfy the dependency edges waiting on this task and schedule the dependents now free to run."""
    for dependent_id, requires in rows.unsatisfied_dependents(state.db, task_id):
        if task_state == "completed" or requires == "all-resolved":
            rows.satisfy_dependency(state.db, task_id, dependent_id)
            tasks.schedule_if_ready(state, dependent_id)


# -- reports by the worker


def _report(call: ApiCall, run_state: str, reason: str) -> Any:
    task, run = require_task_and_run(call.state, call.params["taskId"], call.params["runId"])
    call.authorize()
    if run.state == "running":
        with transaction(call.state.db):
            resolve_run(call.state, task, run, run_state, reason)
    elif (run.state, run.reason_resolved) != (run_state, reason):
        raise RequestConflict(
            f"Run {run.run_id} of task {task.task_id} is not running: it is {run.state}"
            + (f" ({run.reason_resolved})" if run.reason_resolved else "")
        )
    return status_reply(call.state, task.task_id)


async def report_completed(call: ApiCall) -> Any:
    # Old workers report failure as reportCompleted with {"success": false}; the service still honours it.
    if isinstance(call.body, dict) and call.body.get("success") is False:
        return _report(call, "failed", "failed")
    return _report(call, "completed", "completed")


async def report_failed(call: ApiCall) -> Any:
    return _report(call, "failed", "failed")


async def report_exception(call: ApiCall) -> Any:
    return _report(call, "exception", call.body["reason"])


# -- cancellation by a user


async def cancel_task(call: ApiCall) -> Any:
    """Resolve the current run ``exception/canceled`` (a run is made for it when there is none yet); the
    worker learns of it at its next reclaim or report, both then 409."""
    state = call.state
    task = require_task(state, call.params["taskId"])
    tasks.authorize_task_action(call, task)
    tasks.refuse_past_deadline(state, task, "canceled")
    with transaction(state.db):
        resolve_active(state, task, "canceled")
    return status_reply(state, task.task_id)


async def cancel_task_group(call: ApiCall) -> Any:
    """Cancel every unresolved task of a sealed group (a group still open is a 409)."""
    task_group_id, state = call.params["taskGroupId"], call.state
    group = tasks.require_group(state, task_group_id)
    call.authorize(schedulerId=group.scheduler_id)
    if group.sealed is None:
        raise RequestConflict(
            f"Task group {task_group_id} must be sealed (sealTaskGroup) before it is canceled"
        )
    group_tasks = rows.group_tasks(state.db, task_group_id)
    canceled = [task for task in group_tasks if task.state in tasks.UNRESOLVED_STATES]
    with transaction(state.db):
        for task in canceled:
            resolve_active(state, task, "canceled")
    return {
        "taskGroupId": task_group_id,
        "taskGroupSize": len(group_tasks),
        "cancelledCount": len(canceled),
        "taskIds": [task.task_id for task in canceled],
    }


HANDLERS: dict[str, Handler] = {
    "reportCompleted": report_completed,
    "reportFailed": report_failed,
    "reportException": report_exception,
    "cancelTask": cancel_task,
    "cancelTaskGroup": cancel_task_group,
}
