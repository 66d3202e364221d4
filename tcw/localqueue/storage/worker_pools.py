"""worker-manager's tables: worker pools, the workers it knows (static ones created by ``createWorker``),
and the errors workers report.

Rows are answered as ``PoolRow``, ``WorkerRow`` and ``ErrorRow``; the service shapes them into answers.
Secrets (a static worker's ``staticSecret``, the single-use reregistration secret) are kept as SHA-256
digests only: worker-manager compares them, never hands them back, so nothing in the database can be
replayed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS worker_pools (
    worker_pool_id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    previous_provider_ids TEXT NOT NULL DEFAULT '[]',
    description TEXT NOT NULL,
    config TEXT NOT NULL,
    owner TEXT NOT NULL,
    email_on_error INTEGER NOT NULL,
    created TEXT NOT NULL,
    last_modified TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wm_workers (
    worker_pool_id TEXT NOT NULL,
    worker_group TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    last_checked TEXT NOT NULL,
    state TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    static_secret_digest TEXT NOT NULL,
    secret_digest TEXT,
    PRIMARY KEY (worker_pool_id, worker_group, worker_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS worker_pool_errors (
    error_id TEXT PRIMARY KEY,
    worker_pool_id TEXT NOT NULL,
    reported TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    extra TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS worker_pool_errors_by_pool ON worker_pool_errors (worker_pool_id, reported);
"""

_POOL_COLUMNS = (
    "worker_pool_id, provider_id, previous_provider_ids, description, config, owner, email_on_error,"
    " created, last_modified"
)
_WORKER_COLUMNS = (
    "worker_pool_id, worker_group, worker_id, provider_id, created, expires, last_modified, last_checked,"
    " state, capacity, static_secret_digest, secret_digest"
)
_ERROR_COLUMNS = "error_id, worker_pool_id, reported, kind, title, description, extra"
_WORKER_KEY = "worker_pool_id = ? AND worker_group = ? AND worker_id = ?"

WorkerKey = tuple[str, str, str]  # (workerPoolId, workerGroup, workerId)


@dataclass(frozen=True)
class PoolRow:
    worker_pool_id: str
    provider_id: str
    previous_provider_ids: list[str]
    description: str
    config: dict[str, Any]
    owner: str
    email_on_error: bool
    created: str
    last_modified: str


@dataclass(frozen=True)
class WorkerRow:
    worker_pool_id: str
    worker_group: str
    worker_id: str
    provider_id: str
    created: str
    expires: str
    last_modified: str
    last_checked: str
    state: str
    capacity: int
    static_secret_digest: str
    secret_digest: str | None

    @property
    def key(self) -> WorkerKey:
        return (self.worker_pool_id, self.worker_group, self.worker_id)


@dataclass(frozen=True)
class ErrorRow:
    error_id: str
    worker_pool_id: str
    reported: str
    kind: str
    title: str
    description: str
    extra: dict[str, Any]


def _pool(row: Any) -> PoolRow:
    return PoolRow(
        row[0], row[1], json.loads(row[2]), row[3], json.loads(row[4]), row[5], bool(row[6]), row[7], row[8]
    )


# -- worker pools


def load_pool(db: sqlite3.Connection, worker_pool_id: str) -> PoolRow | None:
    row = db.execute(
        f"SELECT {_POOL_COLUMNS} FROM worker_pools WHERE worker_pool_id = ?", (worker_pool_id,)
    ).fetchone()
    return None if row is None else _pool(row)


def insert_pool(db: sqlite3.Connection, pool: PoolRow) -> bool:
    """False when a pool of that id exists already."""
    cursor = db.execute(
        f"INSERT INTO worker_pools ({_POOL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (worker_pool_id) DO NOTHING",
        _pool_values(pool),
    )
    return cursor.rowcount == 1


def replace_pool(db: sqlite3.Connection, pool: PoolRow) -> None:
    db.execute(
        f"INSERT OR REPLACE INTO worker_pools ({_POOL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        _pool_values(pool),
    )


def _pool_values(pool: PoolRow) -> tuple[Any, ...]:
    return (
        pool.worker_pool_id,
        pool.provider_id,
        json.dumps(pool.previous_provider_ids),
        pool.description,
        json.dumps(pool.config),
        pool.owner,
        int(pool.email_on_error),
        pool.created,
        pool.last_modified,
    )


def pool_page(db: sqlite3.Connection, limit: int, offset: int) -> list[PoolRow]:
    rows = db.execute(
        f"SELECT {_POOL_COLUMNS} FROM worker_pools ORDER BY worker_pool_id LIMIT ? OFFSET ?", (limit, offset)
    ).fetchall()
    return [_pool(row) for row in rows]


def pool_counts(db: sqlite3.Connection, worker_pool_id: str) -> dict[str, tuple[int, int]]:
    """(count, capacity) of the pool's workers by state."""
    rows = db.execute(
        "SELECT state, COUNT(*), SUM(capacity) FROM wm_workers WHERE worker_pool_id = ? GROUP BY state",
        (worker_pool_id,),
    ).fetchall()
    return {state: (int(count), int(capacity)) for state, count, capacity in rows}


# -- workers


def load_worker(db: sqlite3.Connection, key: WorkerKey) -> WorkerRow | None:
    row = db.execute(f"SELECT {_WORKER_COLUMNS} FROM wm_workers WHERE {_WORKER_KEY}", key).fetchone()
    return None if row is None else WorkerRow(*row)


def insert_worker(db: sqlite3.Connection, worker: WorkerRow) -> bool:
    """False when that worker exists already."""
    cursor = db.execute(
        f"INSERT INTO wm_workers ({_WORKER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (
            *worker.key,
            worker.provider_id,
            worker.created,
            worker.expires,
            worker.last_modified,
            worker.last_checked,
            worker.state,
            worker.capacity,
            worker.static_secret_digest,
            worker.secret_digest,
        ),
    )
    return cursor.rowcount == 1


def set_secret(db: sqlite3.Connection, key: WorkerKey, secret_digest: str, now: str) -> None:
    """The next reregistration secret (single use: each registration replaces it)."""
    db.execute(
        f"UPDATE wm_workers SET secret_digest = ?, last_modified = ?, last_checked = ? WHERE {_WORKER_KEY}",
        (secret_digest, now, now, *key),
    )


def set_state(db: sqlite3.Connection, key: WorkerKey, state: str, now: str) -> None:
    db.execute(f"UPDATE wm_workers SET state = ?, last_modified = ? WHERE {_WORKER_KEY}", (state, now, *key))


def touch_checked(db: sqlite3.Connection, key: WorkerKey, now: str) -> None:
    db.execute(f"UPDATE wm_workers SET last_checked = ? WHERE {_WORKER_KEY}", (now, *key))


def worker_page(
    db: sqlite3.Connection, worker_pool_id: str, state: str | None, limit: int, offset: int
) -> list[WorkerRow]:
    rows = db.execute(
        f"SELECT {_WORKER_COLUMNS} FROM wm_workers WHERE worker_pool_id = ? AND (? IS NULL OR state = ?)"
        " ORDER BY worker_group, worker_id LIMIT ? OFFSET ?",
        (worker_pool_id, state, state, limit, offset),
    ).fetchall()
    return [WorkerRow(*row) for row in rows]


# -- errors


def insert_error(db: sqlite3.Connection, error: ErrorRow) -> None:
    db.execute(
        f"INSERT INTO worker_pool_errors ({_ERROR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            error.error_id,
            error.worker_pool_id,
            error.reported,
            error.kind,
            error.title,
            error.description,
            json.dumps(error.extra),
        ),
    )


def error_page(
    db: sqlite3.Connection, worker_pool_id: str, error_id: str | None, limit: int, offset: int
) -> list[ErrorRow]:
    """The pool's errors, newest first (one of them when ``error_id`` is given)."""
    rows = db.execute(
        f"SELECT {_ERROR_COLUMNS} FROM worker_pool_errors WHERE worker_pool_id = ?"
        " AND (? IS NULL OR error_id = ?) ORDER BY reported DESC, error_id LIMIT ? OFFSET ?",
        (worker_pool_id, error_id, error_id, limit, offset),
    ).fetchall()
    return [ErrorRow(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6])) for row in rows]
