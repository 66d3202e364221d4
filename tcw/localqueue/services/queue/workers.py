"""What the queue knows of workers and task queues: the record kept of every worker (recentTasks,
firstClaim, lastDateActive, quarantine), declareWorker and quarantineWorker, and the views of task queues,
provisioners, worker types, workers, and the pending and claimed runs of a queue.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

from tcw.localqueue.core import checks
from tcw.localqueue.core.dates import format_date, parse_date
from tcw.localqueue.core.errors import ResourceNotFound
from tcw.localqueue.services.api import ApiCall, Handler
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import tasks as task_rows
from tcw.localqueue.storage import workers as rows
from tcw.localqueue.storage.database import transaction

RECENT_TASKS = 20
WORKER_LIFETIME = timedelta(days=1)


# -- worker and task-queue records


def queue_seen(state: QueueState, task_queue_id: str, now: str) -> None:
    """Record a task queue as active (createTask, claimWork); task-queue rows live 5 days after that."""
    rows.queue_active(state.db, task_queue_id, now, format_date(parse_date(now) + timedelta(days=5)))


def worker_seen(
    state: QueueState, task_queue_id: str, worker_group: str, worker_id: str, claimed: list[dict[str, Any]]
) -> str | None:
    """Record that a worker was active (and what it claimed); returns its quarantineUntil, if any."""
    now = format_date(state.now())
    expires = format_date(state.now() + WORKER_LIFETIME)
    key = (task_queue_id, worker_group, worker_id)
    known = rows.worker_activity(state.db, key)
    if known is None:
        rows.insert_worker(state.db, key, now, expires, claimed[-RECENT_TASKS:])
        return None
    recent, quarantine_until = known
    rows.touch_worker(state.db, key, now, expires, (recent + claimed)[-RECENT_TASKS:] if claimed else None)
    return quarantine_until


def quarantined(state: QueueState, quarantine_until: str | None) -> bool:
    return quarantine_until is not None and quarantine_until > format_date(state.now())


# -- views of task queues and workers


def _queue_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """A task-queue row (task_queue_id, expires, last_date_active, description, stability)."""
    return {
        "taskQueueId": row[0],
        "expires": row[1],
        "lastDateActive": row[2],
        "description": row[3],
        "stability": row[4],
    }


def _page_of_queues(call: ApiCall, prefix: str = "") -> tuple[list[Any], dict[str, str]]:
    limit, offset = checks.page(call.query)
    page = rows.queue_page(call.state.db, limit, offset, prefix)
    return page, checks.next_token(offset, limit, len(page))


async def list_task_queues(call: ApiCall) -> Any:
    call.authorize()
    page, more = _page_of_queues(call)
    return {"taskQueues": [_queue_json(row) for row in page], **more}


def _require_queue(state: QueueState, task_queue_id: str) -> tuple[Any, ...]:
    row = rows.load_queue(state.db, task_queue_id)
    if row is None:
        raise ResourceNotFound(f"Task queue {task_queue_id} not found")
    return row


async def get_task_queue(call: ApiCall) -> Any:
    row = _require_queue(call.state, call.params["taskQueueId"])
    call.authorize()
    return _queue_json(row)


def _worker_type_json(row: tuple[Any, ...]) -> dict[str, Any]:
    provisioner_id, worker_type = row[0].split("/", 1)
    return {**_queue_json(row), "provisionerId": provisioner_id, "workerType": worker_type}


async def list_worker_types(call: ApiCall) -> Any:
    call.authorize()
    prefix = call.params["provisionerId"] + "/"
    page, more = _page_of_queues(call, prefix)
    return {"workerTypes": [_worker_type_json(row) for row in page], **more}


async def get_worker_type(call: ApiCall) -> Any:
    row = _require_queue(call.state, f"{call.params['provisionerId']}/{call.params['workerType']}")
    call.authorize()
    return _worker_type_json(row)


def _provisioner_json(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "provisionerId": row[0],
        "expires": row[1],
        "lastDateActive": row[2],
        "description": "",
        "stability": "experimental",
    }


async def list_provisioners(call: ApiCall) -> Any:
    call.authorize()
    limit, offset = checks.page(call.query)
    page = rows.provisioner_page(call.state.db, limit, offset)
    return {
        "provisioners": [_provisioner_json(row) for row in page],
        **checks.next_token(offset, limit, len(page)),
    }


async def get_provisioner(call: ApiCall) -> Any:
    provisioner_id = call.params["provisionerId"]
    row = rows.load_provisioner(call.state.db, provisioner_id)
    if row is None:
        raise ResourceNotFound(f"Provisioner {provisioner_id} not found")
    call.authorize()
    return _provisioner_json(row)


def _queue_names(task_queue_id: str) -> dict[str, str]:
    provisioner_id, worker_type = task_queue_id.split("/", 1)
    return {"provisionerId": provisioner_id, "workerType": worker_type, "taskQueueId": task_queue_id}


async def pending_tasks(call: ApiCall) -> Any:
    task_queue_id = call.params["taskQueueId"]
    call.authorize()
    return {
        **_queue_names(task_queue_id),
        "pendingTasks": task_rows.count_runs(call.state.db, task_queue_id, "pending"),
    }


async def task_queue_counts(call: ApiCall) -> Any:
    task_queue_id = call.params["taskQueueId"]
    call.authorize()
    return {
        **_queue_names(task_queue_id),
        "pendingTasks": task_rows.count_runs(call.state.db, task_queue_id, "pending"),
        "claimedTasks": task_rows.count_runs(call.state.db, task_queue_id, "running"),
    }


def _runs_in_queue(call: ApiCall, run_state: str, order: str) -> tuple[list[Any], dict[str, str]]:
    limit, offset = checks.page(call.query)
    page = task_rows.runs_in_queue(call.state.db, call.params["taskQueueId"], run_state, order, limit, offset)
    return page, checks.next_token(offset, limit, len(page))


def _definition(state: QueueState, task_id: str) -> dict[str, Any]:
    task = task_rows.load_task(state.db, task_id)
    return {} if task is None else task.definition


async def list_pending_tasks(call: ApiCall) -> Any:
    call.authorize()
    page, more = _runs_in_queue(call, "pending", "priority_rank DESC, rowid")
    listed = [
        {"taskId": row[0], "runId": row[1], "inserted": row[2], "task": _definition(call.state, row[0])}
        for row in page
    ]
    return {"tasks": listed, **more}


async def list_claimed_tasks(call: ApiCall) -> Any:
    call.authorize()
    page, more = _runs_in_queue(call, "running", "started, rowid")
    listed = [
        {
            "taskId": row[0],
            "runId": row[1],
            "claimed": row[3],
            "workerGroup": row[4],
            "workerId": row[5],
            "task": _definition(call.state, row[0]),
        }
        for row in page
    ]
    return {"tasks": listed, **more}


def _worker_key(call: ApiCall) -> tuple[str, str, str]:
    params = call.params
    return (f"{params['provisionerId']}/{params['workerType']}", params["workerGroup"], params["workerId"])


def _load_worker(state: QueueState, key: tuple[str, str, str]) -> tuple[Any, ...] | None:
    """A worker the queue still knows: seen within a day, or quarantined (expired ones are forgotten)."""
    row = rows.load_worker(state.db, key)
    if row is None or not _worker_alive(state, row):
        return None
    return row


def _worker_alive(state: QueueState, row: tuple[Any, ...]) -> bool:
    now = format_date(state.now())
    return bool(row[4] > now or (row[6] is not None and row[6] > now))


def _worker_json(state: QueueState, task_queue_id: str, row: tuple[Any, ...]) -> dict[str, Any]:
    worker: dict[str, Any] = {
        **_queue_names(task_queue_id),
        "workerGroup": row[0],
        "workerId": row[1],
        "firstClaim": row[2],
        "expires": row[4],
        "recentTasks": json.loads(row[5]),
    }
    if row[3] is not None:
        worker["lastDateActive"] = row[3]
    if quarantined(state, row[6]):
        worker["quarantineUntil"] = row[6]
    details = json.loads(row[7])
    if details:
        worker["quarantineDetails"] = details
    return worker


async def get_worker(call: ApiCall) -> Any:
    key = _worker_key(call)
    row = _load_worker(call.state, key)
    if row is None:
        raise ResourceNotFound(f"Worker {key[1]}/{key[2]} of task queue {key[0]} not found")
    call.authorize()
    return _worker_json(call.state, key[0], row)


def _listed_worker(state: QueueState, row: tuple[Any, ...]) -> dict[str, Any]:
    worker = {"workerGroup": row[0], "workerId": row[1], "firstClaim": row[2]}
    if row[3] is not None:
        worker["lastDateActive"] = row[3]
    recent = json.loads(row[5])
    if recent:
        worker["latestTask"] = recent[-1]
    if quarantined(state, row[6]):
        worker["quarantineUntil"] = row[6]
    return worker


async def list_workers(call: ApiCall) -> Any:
    """Workers of a task queue; ``?quarantined=true|false`` keeps only (un)quarantined ones."""
    call.authorize()
    task_queue_id = f"{call.params['provisionerId']}/{call.params['workerType']}"
    limit, offset = checks.page(call.query)
    wanted = call.query.get("quarantined")
    alive = [
        row for row in rows.queue_workers(call.state.db, task_queue_id) if _worker_alive(call.state, row)
    ]
    if wanted in ("true", "false"):
        alive = [row for row in alive if quarantined(call.state, row[6]) == (wanted == "true")]
    window = alive[offset : offset + limit]
    workers = [_listed_worker(call.state, row) for row in window]
    return {"workers": workers, **checks.next_token(offset, limit, len(window))}


async def quarantine_worker(call: ApiCall) -> Any:
    """Quarantine (or, with a date not in the future, release) a worker the queue has seen."""
    state, key = call.state, _worker_key(call)
    if _load_worker(state, key) is None:
        raise ResourceNotFound(f"Worker {key[1]}/{key[2]} of task queue {key[0]} not found")
    call.authorize()
    until = format_date(parse_date(call.body["quarantineUntil"]))
    detail = {
        "clientId": call.caller.client_id,
        "updatedAt": format_date(state.now()),
        "quarantineUntil": until,
        "quarantineInfo": call.body.get("quarantineInfo", ""),
    }
    with transaction(state.db):
        rows.add_quarantine(state.db, key, until, detail)
    return _worker_json(state, key[0], cast("tuple[Any, ...]", _load_worker(state, key)))


async def declare_worker(call: ApiCall) -> Any:
    """A worker announces itself (and how long to remember it) without claiming."""
    state, key = call.state, _worker_key(call)
    call.authorize(properties=sorted(call.body))
    expires = format_date(parse_date(call.body["expires"]))
    with transaction(state.db):
        queue_seen(state, key[0], format_date(state.now()))
        worker_seen(state, *key, [])
        rows.set_worker_expires(state.db, key, expires)
    row = _load_worker(state, key)
    if row is None:
        raise ResourceNotFound(f"Worker {key[1]}/{key[2]} expired at {expires}")
    return _worker_json(state, key[0], row)


HANDLERS: dict[str, Handler] = {
    "listTaskQueues": list_task_queues,
    "getTaskQueue": get_task_queue,
    "listProvisioners": list_provisioners,
    "getProvisioner": get_provisioner,
    "listWorkerTypes": list_worker_types,
    "getWorkerType": get_worker_type,
    "pendingTasks": pending_tasks,
    "taskQueueCounts": task_queue_counts,
    "listPendingTasks": list_pending_tasks,
    "listClaimedTasks": list_claimed_tasks,
    "getWorker": get_worker,
    "listWorkers": list_workers,
    "quarantineWorker": quarantine_worker,
    "declareWorker": declare_worker,
}
