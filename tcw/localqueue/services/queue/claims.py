"""Claims: a pending run becomes running for one worker (claimWork, claimTask) and stays so while the worker
reclaims it (reclaimTask) before ``takenUntil``. Every claim and reclaim answers fresh task credentials valid
until that time, and records the worker as seen. A lapsed claim is resolved by the resolver loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from tcw.localqueue.auth.clients import issue_task_credentials
from tcw.localqueue.core.dates import format_date, format_date_as_postgres, parse_date
from tcw.localqueue.core.errors import RequestConflict
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.queue import tasks, workers
from tcw.localqueue.services.queue.status import load_status, require_task_and_run
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import tasks as rows
from tcw.localqueue.storage.database import transaction
from tcw.localqueue.storage.tasks import TaskRow


def _taken_until(state: QueueState, now: datetime) -> datetime:
    """A claim's end, at the millisecond precision it is stored and answered with."""
    return parse_date(format_date(now + timedelta(seconds=state.claim_timeout)))


def _claim(
    state: QueueState, task: TaskRow, run_id: int, worker_group: str, worker_id: str
) -> dict[str, Any] | None:
    """Turn one pending run into a running one for this worker; returns the claim's reply parts, or None
    when the run is no longer pending (another process on the same database took it)."""
    now = state.now()
    taken_until = _taken_until(state, now)
    taken = rows.take_run(
        state.db,
        task.task_id,
        run_id,
        worker_group=worker_group,
        worker_id=worker_id,
        taken_until=format_date(taken_until),
        now=format_date(now),
    )
    if not taken:
        return None
    rows.set_task_state(state.db, task.task_id, "running")
    return _claim_reply(state, task, run_id, worker_group, worker_id, taken_until)


def _claim_reply(
    state: QueueState,
    task: TaskRow,
    run_id: int,
    worker_group: str,
    worker_id: str,
    taken_until: datetime,
    *,
    claimed: bool = True,
) -> dict[str, Any]:
    """What a claim (``claimed``) or a reclaim answers. The real queue gives a claim's top-level
    ``takenUntil`` as its database renders it (``+00:00``) and a reclaim's as JavaScript does (``Z``)."""
    credentials = issue_task_credentials(
        state.issuer,
        task_id=task.task_id,
        run_id=run_id,
        worker_group=worker_group,
        worker_id=worker_id,
        taken_until=taken_until,
        task_scopes=task.definition["scopes"],
    )
    return {
        "status": load_status(state.db, task.task_id),
        "runId": run_id,
        "workerGroup": worker_group,
        "workerId": worker_id,
        "takenUntil": format_date_as_postgres(taken_until) if claimed else format_date(taken_until),
        "credentials": credentials,
    }


def claim_pending(
    state: QueueState, task_queue_id: str, worker_group: str, worker_id: str, count: int
) -> list[dict[str, Any]]:
    """Claim up to ``count`` pending runs, highest priority first, then oldest."""
    pending = rows.pending_runs(state.db, task_queue_id, count)
    claims: list[dict[str, Any]] = []
    if not pending:
        return claims
    now = state.now()
    with transaction(state.db):
        for task_id, run_id in pending:
            task = rows.load_task(state.db, task_id)
            if task is None or task.deadline <= now:
                continue  # the deadline resolver will resolve it
            claim = _claim(state, task, run_id, worker_group, worker_id)
            if claim is not None:
                claims.append({**claim, "task": task.definition})
        if claims:
            recent = [{"taskId": claim["status"]["taskId"], "runId": claim["runId"]} for claim in claims]
            workers.worker_seen(state, task_queue_id, worker_group, worker_id, recent)
    return claims


async def claim_work(call: ApiCall) -> Any:
    """Long-poll: answer as soon as at least one task is claimed, else ``[]`` after claim_work_wait."""
    state, task_queue_id = call.state, call.params["taskQueueId"]
    worker_group, worker_id = call.body["workerGroup"], call.body["workerId"]
    call.authorize(workerGroup=worker_group, workerId=worker_id)
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + state.claim_work_wait
    with transaction(state.db):
        workers.queue_seen(state, task_queue_id, format_date(state.now()))
        quarantine_until = workers.worker_seen(state, task_queue_id, worker_group, worker_id, [])
    # A quarantined worker is recorded and kept waiting like any other, but never given work.
    wanted = 0 if workers.quarantined(state, quarantine_until) else call.body.get("tasks", 1)
    while True:
        claims = claim_pending(state, task_queue_id, worker_group, worker_id, wanted) if wanted else []
        if claims or loop.time() >= give_up_at or state.closing:
            return {"tasks": claims}
        with contextlib.suppress(TimeoutError):  # time is up: one last look, then answer
            async with asyncio.timeout_at(give_up_at):
                await state.wait_for_pending(task_queue_id)


async def claim_task(call: ApiCall) -> Any:
    """The deprecated claim of one named run (claimWork is what workers use)."""
    state = call.state
    task, run = require_task_and_run(state, call.params["taskId"], call.params["runId"])
    worker_group, worker_id = call.body["workerGroup"], call.body["workerId"]
    call.authorize(
        provisionerId=task.provisioner_id,
        workerType=task.worker_type,
        workerGroup=worker_group,
        workerId=worker_id,
    )
    tasks.refuse_past_deadline(state, task, "claimed")
    same_worker = (run.worker_group, run.worker_id) == (worker_group, worker_id)
    if run.state == "running" and same_worker and run.taken_until is not None:
        return {
            **_claim_reply(state, task, run.run_id, worker_group, worker_id, run.taken_until),
            "task": task.definition,
        }
    with transaction(state.db):
        claim = _claim(state, task, run.run_id, worker_group, worker_id) if run.state == "pending" else None
        if claim is None:
            raise RequestConflict(f"Run {run.run_id} of task {task.task_id} is {run.state}, not pending")
        workers.worker_seen(
            state,
            task.task_queue_id,
            worker_group,
            worker_id,
            [{"taskId": task.task_id, "runId": run.run_id}],
        )
    return {**claim, "task": task.definition}


async def reclaim_task(call: ApiCall) -> Any:
    """Extend a running claim: 403 without the run's scope (checked before anything is looked up), 404
    unknown run, then 409 past the deadline, then 409 unless running."""
    state = call.state
    call.authorize()
    task, run = require_task_and_run(state, call.params["taskId"], call.params["runId"])
    if task.deadline <= state.now():
        raise RequestConflict(f"Task {task.task_id} is past its deadline; it cannot be reclaimed")
    if run.state != "running" or run.worker_group is None or run.worker_id is None:
        raise RequestConflict(f"Run {run.run_id} of task {task.task_id} is {run.state}, not running")
    taken_until = _taken_until(state, state.now())
    with transaction(state.db):
        rows.extend_claim(state.db, task.task_id, run.run_id, format_date(taken_until))
        workers.worker_seen(state, task.task_queue_id, run.worker_group, run.worker_id, [])
    return _claim_reply(state, task, run.run_id, run.worker_group, run.worker_id, taken_until, claimed=False)


HANDLERS: dict[str, Handler] = {
    "claimWork": claim_work,
    "claimTask": claim_task,
    "reclaimTask": reclaim_task,
}
