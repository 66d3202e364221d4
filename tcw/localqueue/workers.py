"""What the queue knows of workers and task queues: the record kept of every worker (recentTasks,
firstClaim, lastDateActive, quarantine), declareWorker and quarantineWorker, and the views of task queues,
provisioners, worker types, workers, and the pending and claimed runs of a queue.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

from tcw.localqueue import checks, store
from tcw.localqueue.api import ApiCall, Handler, QueueState, ResourceNotFound
from tcw.localqueue.dates import format_date, parse_date

RECENT_TASKS = 20
WORKER_LIFETIME = timedelta(days=1)


# -- worker and task-queue records


def queue_seen(state: QueueState, task_queue_id: str, now: str) -> None:
    """Record a task queue as active (createTask, claimWork); task-queue rows live 5 days after that."""
    expires = format_date(parse_date(now) + timedelta(days=5))
    state.db.execute(
        "INSERT INTO task_queues (task_queue_id, expires, last_date_active) VALUES (?, ?, ?)"
        " ON CONFLICT (task_queue_id) DO UPDATE SET expires = excluded.expires,"
        " last_date_active = excluded.last_date_active",
        (task_queue_id, expires, now),
    )


def worker_seen(
    state: QueueState, task_queue_id: str, worker_group: str, worker_id: str, claimed: list[dict[str, Any]]
) -> str | None:
    """Record that a worker was active (and what it claimed); returns its quarantineUntil, if any."""
    now = format_date(state.now())
    expires = format_date(state.now() + WORKER_LIFETIME)
    key = (task_queue_id, worker_group, worker_id)
    row = state.db.execute(
        "SELECT recent_tasks, quarantine_until FROM workers"
        " WHERE task_queue_id = ? AND worker_group = ? AND worker_id = ?",
        key,
    ).fetchone()
    if row is None:
        state.db.execute(
            "INSERT INTO workers (task_queue_id, worker_group, worker_id, first_claim, last_date_active,"
            " expires, recent_tasks) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*key, now, now, expires, json.dumps(claimed[-RECENT_TASKS:])),
        )
        return None
    recent = json.loads(row[0]) + claimed if claimed else None
    state.db.execute(
        "UPDATE workers SET last_date_active = ?, expires = MAX(expires, ?),"
        " recent_tasks = COALESCE(?, recent_tasks)"
        " WHERE task_queue_id = ? AND worker_group = ? AND worker_id = ?",
        (now, expires, None if recent is None else json.dumps(recent[-RECENT_TASKS:]), *key),
    )
    return cast("str | None", row[1])


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


QUEUE_COLUMNS = "task_queue_id, expires, last_date_active, description, stability"


def _page_of_queues(
    call: ApiCall, where: str = "", args: tuple[Any, ...] = ()
) -> tuple[list[Any], dict[str, str]]:
    limit, offset = checks.page(call.query)
    rows = call.state.db.execute(
        f"SELECT {QUEUE_COLUMNS} FROM task_queues {where} ORDER BY task_queue_id LIMIT ? OFFSET ?",
        (*args, limit, offset),
    ).fetchall()
    return rows, checks.next_token(offset, limit, len(rows))


async def list_task_queues(call: ApiCall) -> Any:
    call.authorize()
    rows, more = _page_of_queues(call)
    return {"taskQueues": [_queue_json(row) for row in rows], **more}


def _require_queue(state: QueueState, task_queue_id: str) -> tuple[Any, ...]:
    row = state.db.execute(
        f"SELECT {QUEUE_COLUMNS} FROM task_queues WHERE task_queue_id = ?", (task_queue_id,)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f"Task queue {task_queue_id} not found")
    return tuple(row)


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
    rows, more = _page_of_queues(call, "WHERE substr(task_queue_id, 1, ?) = ?", (len(prefix), prefix))
    return {"workerTypes": [_worker_type_json(row) for row in rows], **more}


async def get_worker_type(call: ApiCall) -> Any:
    row = _require_queue(call.state, f"{call.params['provisionerId']}/{call.params['workerType']}")
    call.authorize()
    return _worker_type_json(row)


PROVISIONER_QUERY = (
    "SELECT substr(task_queue_id, 1, instr(task_queue_id, '/') - 1) AS provisioner_id, MAX(expires),"
    " MAX(last_date_active) FROM task_queues GROUP BY provisioner_id"
)


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
    rows = call.state.db.execute(
        f"{PROVISIONER_QUERY} ORDER BY provisioner_id LIMIT ? OFFSET ?", (limit, offset)
    ).fetchall()
    return {
        "provisioners": [_provisioner_json(row) for row in rows],
        **checks.next_token(offset, limit, len(rows)),
    }


async def get_provisioner(call: ApiCall) -> Any:
    provisioner_id = call.params["provisionerId"]
    row = call.state.db.execute(
        f"SELECT * FROM ({PROVISIONER_QUERY}) WHERE provisioner_id = ?", (provisioner_id,)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f"Provisioner {provisioner_id} not found")
    call.authorize()
    return _provisioner_json(tuple(row))


# Run states spelled into the SQL, so the partial indexes (WHERE state = 'pending' / 'running') apply.
RUN_STATE_SQL = {"pending": "state = 'pending'", "running": "state = 'running'"}


def _count(state: QueueState, task_queue_id: str, run_state: str) -> int:
    row = state.db.execute(
        f"SELECT COUNT(*) FROM runs WHERE task_queue_id = ? AND {RUN_STATE_SQL[run_state]}", (task_queue_id,)
    ).fetchone()
    return int(row[0])


def _queue_names(task_queue_id: str) -> dict[str, str]:
    provisioner_id, worker_type = task_queue_id.split("/", 1)
    return {"provisionerId": provisioner_id, "workerType": worker_type, "taskQueueId": task_queue_id}


async def pending_tasks(call: ApiCall) -> Any:
    task_queue_id = call.params["taskQueueId"]
    call.authorize()
    return {**_queue_names(task_queue_id), "pendingTasks": _count(call.state, task_queue_id, "pending")}


async def task_queue_counts(call: ApiCall) -> Any:
    task_queue_id = call.params["taskQueueId"]
    call.authorize()
    return {
        **_queue_names(task_queue_id),
        "pendingTasks": _count(call.state, task_queue_id, "pending"),
        "claimedTasks": _count(call.state, task_queue_id, "running"),
    }


def _runs_in_queue(call: ApiCall, run_state: str, order: str) -> tuple[list[Any], dict[str, str]]:
    limit, offset = checks.page(call.query)
    rows = call.state.db.execute(
        "SELECT task_id, run_id, scheduled, started, worker_group, worker_id FROM runs"
        f" WHERE task_queue_id = ? AND {RUN_STATE_SQL[run_state]} ORDER BY {order} LIMIT ? OFFSET ?",
        (call.params["taskQueueId"], limit, offset),
    ).fetchall()
    return rows, checks.next_token(offset, limit, len(rows))


def _definition(state: QueueState, task_id: str) -> dict[str, Any]:
    task = store.load_task(state.db, task_id)
    return {} if task is None else task.definition


async def list_pending_tasks(call: ApiCall) -> Any:
    call.authorize()
    rows, more = _runs_in_queue(call, "pending", "priority_rank DESC, rowid")
    listed = [
        {"taskId": row[0], "runId": row[1], "inserted": row[2], "task": _definition(call.state, row[0])}
        for row in rows
    ]
    return {"tasks": listed, **more}


async def list_claimed_tasks(call: ApiCall) -> Any:
    call.authorize()
    rows, more = _runs_in_queue(call, "running", "started, rowid")
    listed = [
        {
            "taskId": row[0],
            "runId": row[1],
            "claimed": row[3],
            "workerGroup": row[4],
            "workerId": row[5],
            "task": _definition(call.state, row[0]),
        }
        for row in rows
    ]
    return {"tasks": listed, **more}


WORKER_COLUMNS = (
    "worker_group, worker_id, first_claim, last_date_active, expires, recent_tasks, quarantine_until,"
    " quarantine_details"
)


def _worker_key(call: ApiCall) -> tuple[str, str, str]:
    params = call.params
    return (f"{params['provisionerId']}/{params['workerType']}", params["workerGroup"], params["workerId"])


def _load_worker(state: QueueState, key: tuple[str, str, str]) -> tuple[Any, ...] | None:
    """A worker the queue still knows: seen within a day, or quarantined (expired ones are forgotten)."""
    row = state.db.execute(
        f"SELECT {WORKER_COLUMNS} FROM workers"
        " WHERE task_queue_id = ? AND worker_group = ? AND worker_id = ?",
        key,
    ).fetchone()
    if row is None or not _worker_alive(state, tuple(row)):
        return None
    return tuple(row)


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
    rows = call.state.db.execute(
        f"SELECT {WORKER_COLUMNS} FROM workers WHERE task_queue_id = ? ORDER BY worker_group, worker_id",
        (task_queue_id,),
    ).fetchall()
    wanted = call.query.get("quarantined")
    alive = [tuple(row) for row in rows if _worker_alive(call.state, tuple(row))]
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
    with store.transaction(state.db):
        state.db.execute(
            "UPDATE workers SET quarantine_until = ?, quarantine_details = json_insert(quarantine_details,"
            " '$[#]', json(?)) WHERE task_queue_id = ? AND worker_group = ? AND worker_id = ?",
            (until, json.dumps(detail), *key),
        )
    return _worker_json(state, key[0], cast("tuple[Any, ...]", _load_worker(state, key)))


async def declare_worker(call: ApiCall) -> Any:
    """A worker announces itself (and how long to remember it) without claiming."""
    state, key = call.state, _worker_key(call)
    call.authorize(properties=sorted(call.body))
    expires = format_date(parse_date(call.body["expires"]))
    with store.transaction(state.db):
        queue_seen(state, key[0], format_date(state.now()))
        worker_seen(state, *key, [])
        state.db.execute(
            "UPDATE workers SET expires = ? WHERE task_queue_id = ? AND worker_group = ? AND worker_id = ?",
            (expires, *key),
        )
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
