"""The ``task_queues`` and ``workers`` tables: the task queues seen by createTask and claimWork, and the
record kept of every worker (recent tasks, quarantine). Rows are answered as the tuples the queries select
(columns as in ``QUEUE_COLUMNS`` and ``WORKER_COLUMNS``); the queue's handlers shape them into answers.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from tcw.localqueue.storage.database import transaction

QUEUE_COLUMNS = "task_queue_id, expires, last_date_active, description, stability"
WORKER_COLUMNS = (
    "worker_group, worker_id, first_claim, last_date_active, expires, recent_tasks, quarantine_until,"
    " quarantine_details"
)
PROVISIONER_QUERY = (
    "SELECT substr(task_queue_id, 1, instr(task_queue_id, '/') - 1) AS provisioner_id, MAX(expires),"
    " MAX(last_date_active) FROM task_queues GROUP BY provisioner_id"
)
_WORKER_KEY = "task_queue_id = ? AND worker_group = ? AND worker_id = ?"

WorkerKey = tuple[str, str, str]  # (taskQueueId, workerGroup, workerId)


# -- task queues and provisioners


def queue_active(db: sqlite3.Connection, task_queue_id: str, now: str, expires: str) -> None:
    db.execute(
        "INSERT INTO task_queues (task_queue_id, expires, last_date_active) VALUES (?, ?, ?)"
        " ON CONFLICT (task_queue_id) DO UPDATE SET expires = excluded.expires,"
        " last_date_active = excluded.last_date_active",
        (task_queue_id, expires, now),
    )


def load_queue(db: sqlite3.Connection, task_queue_id: str) -> tuple[Any, ...] | None:
    row = db.execute(
        f"SELECT {QUEUE_COLUMNS} FROM task_queues WHERE task_queue_id = ?", (task_queue_id,)
    ).fetchone()
    return None if row is None else tuple(row)


def queue_page(db: sqlite3.Connection, limit: int, offset: int, prefix: str = "") -> list[Any]:
    """Task queues by id whose id starts with ``prefix``."""
    return db.execute(
        f"SELECT {QUEUE_COLUMNS} FROM task_queues WHERE substr(task_queue_id, 1, ?) = ?"
        " ORDER BY task_queue_id LIMIT ? OFFSET ?",
        (len(prefix), prefix, limit, offset),
    ).fetchall()


def provisioner_page(db: sqlite3.Connection, limit: int, offset: int) -> list[Any]:
    """(provisionerId, expires, lastDateActive) of the provisioners named by task queues."""
    return db.execute(
        f"{PROVISIONER_QUERY} ORDER BY provisioner_id LIMIT ? OFFSET ?", (limit, offset)
    ).fetchall()


def load_provisioner(db: sqlite3.Connection, provisioner_id: str) -> tuple[Any, ...] | None:
    row = db.execute(
        f"SELECT * FROM ({PROVISIONER_QUERY}) WHERE provisioner_id = ?", (provisioner_id,)
    ).fetchone()
    return None if row is None else tuple(row)


# -- workers


def worker_activity(db: sqlite3.Connection, key: WorkerKey) -> tuple[list[Any], str | None] | None:
    """The worker's recent tasks and quarantineUntil, or None for a worker never recorded."""
    row = db.execute(
        f"SELECT recent_tasks, quarantine_until FROM workers WHERE {_WORKER_KEY}", key
    ).fetchone()
    return None if row is None else (json.loads(row[0]), row[1])


def insert_worker(
    db: sqlite3.Connection, key: WorkerKey, now: str, expires: str, recent: list[dict[str, Any]]
) -> None:
    db.execute(
        "INSERT INTO workers (task_queue_id, worker_group, worker_id, first_claim, last_date_active,"
        " expires, recent_tasks) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (*key, now, now, expires, json.dumps(recent)),
    )


def touch_worker(
    db: sqlite3.Connection, key: WorkerKey, now: str, expires: str, recent: list[dict[str, Any]] | None
) -> None:
    """Active now, remembered at least until ``expires``; ``recent`` replaces its recent tasks if given."""
    db.execute(
        "UPDATE workers SET last_date_active = ?, expires = MAX(expires, ?),"
        f" recent_tasks = COALESCE(?, recent_tasks) WHERE {_WORKER_KEY}",
        (now, expires, None if recent is None else json.dumps(recent), *key),
    )


def load_worker(db: sqlite3.Connection, key: WorkerKey) -> tuple[Any, ...] | None:
    row = db.execute(f"SELECT {WORKER_COLUMNS} FROM workers WHERE {_WORKER_KEY}", key).fetchone()
    return None if row is None else tuple(row)


def queue_workers(db: sqlite3.Connection, task_queue_id: str) -> list[tuple[Any, ...]]:
    """Every worker recorded for the task queue, by group and id."""
    rows = db.execute(
        f"SELECT {WORKER_COLUMNS} FROM workers WHERE task_queue_id = ? ORDER BY worker_group, worker_id",
        (task_queue_id,),
    ).fetchall()
    return [tuple(row) for row in rows]


def add_quarantine(db: sqlite3.Connection, key: WorkerKey, until: str, detail: dict[str, Any]) -> None:
    db.execute(
        "UPDATE workers SET quarantine_until = ?, quarantine_details = json_insert(quarantine_details,"
        f" '$[#]', json(?)) WHERE {_WORKER_KEY}",
        (until, json.dumps(detail), *key),
    )


def set_worker_expires(db: sqlite3.Connection, key: WorkerKey, expires: str) -> None:
    db.execute(f"UPDATE workers SET expires = ? WHERE {_WORKER_KEY}", (expires, *key))


def expire_workers(db: sqlite3.Connection, now: str) -> int:
    """Delete the workers past their ``expires`` and not quarantined beyond now, and the task queues past
    theirs, as the real queue's expire-worker-info job does."""
    with transaction(db):
        gone = db.execute(
            "DELETE FROM workers WHERE expires < ? AND (quarantine_until IS NULL OR quarantine_until < ?)",
            (now, now),
        ).rowcount
        db.execute("DELETE FROM task_queues WHERE expires < ?", (now,))
    return gone
