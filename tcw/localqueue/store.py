"""The local queue's SQLite database: schema, migrations, and small typed readers shared by every API module.

Tables (dates are TEXT in the service's fixed-width ``...T..:..:..mmmZ`` form, so they compare as strings):

- ``meta(key, value)``: ``schema_version`` and ``issuer_access_token`` (the token of the queue's own auth
  client, which signs task credentials and must survive restarts).
- ``tasks``: one row per task; ``definition`` is the JSON the ``task`` method returns; ``state`` is the task
  state (``unscheduled``, ``pending``, ``running``, ``completed``, ``failed``, ``exception``) kept in step
  with the runs; ``retries_left``, ``deadline``, ``expires``, ``project_id``, ``task_queue_id``...
  mirror the definition for queries.
- ``runs``: one row per (task_id, run_id): ``state``, ``reason_created``, ``reason_resolved``,
  ``worker_group``, ``worker_id``, ``taken_until``, ``scheduled``, ``started``, ``resolved``;
  ``task_queue_id`` and ``priority_rank`` are copied in, so pending and claimed runs are found by partial
  indexes alone; the rowid orders runs by insertion (first in, first claimed).
- ``dependencies(required_task_id, dependent_task_id, satisfied)``: edges of ``task.dependencies``.
- ``task_groups(task_group_id, scheduler_id, expires, sealed)``.
- ``task_queues(task_queue_id, expires, last_date_active, description, stability)``: queues seen by
  createTask/claimWork.
- ``workers(task_queue_id, worker_group, worker_id, ...)``: workers recorded on every claim, with
  ``recent_tasks`` and ``quarantine_details`` as JSON lists.

Other modules that keep tables of their own (artifacts.py, objects.py) expose ``SCHEMA``: idempotent SQL
(``CREATE TABLE IF NOT EXISTS ...``) that ``open_db`` runs after the migrations here: they own their layout.

Handlers run on one event loop and never await inside a ``transaction``, so each handler's writes are atomic.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tcw.localqueue.dates import parse_date

PRIORITY_RANKS = {
    "highest": 6,
    "very-high": 5,
    "high": 4,
    "medium": 3,
    "low": 2,
    "very-low": 1,
    "lowest": 0,
}

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY,
        task_group_id TEXT NOT NULL,
        scheduler_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        task_queue_id TEXT NOT NULL,
        priority TEXT NOT NULL,
        requires TEXT NOT NULL,
        retries_left INTEGER NOT NULL,
        created TEXT NOT NULL,
        deadline TEXT NOT NULL,
        expires TEXT NOT NULL,
        state TEXT NOT NULL,
        definition TEXT NOT NULL
    );
    CREATE INDEX tasks_by_group ON tasks (task_group_id, task_id);
    CREATE INDEX tasks_open_by_deadline ON tasks (deadline)
        WHERE state IN ('unscheduled', 'pending', 'running');
    CREATE TABLE runs (
        task_id TEXT NOT NULL,
        run_id INTEGER NOT NULL,
        task_queue_id TEXT NOT NULL,
        priority_rank INTEGER NOT NULL,
        state TEXT NOT NULL,
        reason_created TEXT NOT NULL,
        reason_resolved TEXT,
        worker_group TEXT,
        worker_id TEXT,
        taken_until TEXT,
        scheduled TEXT NOT NULL,
        started TEXT,
        resolved TEXT,
        PRIMARY KEY (task_id, run_id)
    );
    CREATE INDEX runs_pending ON runs (task_queue_id, priority_rank DESC) WHERE state = 'pending';
    CREATE INDEX runs_claimed ON runs (task_queue_id, started) WHERE state = 'running';
    CREATE INDEX runs_claim_expiry ON runs (taken_until) WHERE state = 'running';
    CREATE TABLE dependencies (
        required_task_id TEXT NOT NULL,
        dependent_task_id TEXT NOT NULL,
        satisfied INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (required_task_id, dependent_task_id)
    ) WITHOUT ROWID;
    CREATE INDEX dependencies_by_dependent ON dependencies (dependent_task_id, satisfied);
    CREATE TABLE task_groups (
        task_group_id TEXT PRIMARY KEY,
        scheduler_id TEXT NOT NULL,
        expires TEXT NOT NULL,
        sealed TEXT
    ) WITHOUT ROWID;
    CREATE TABLE task_queues (
        task_queue_id TEXT PRIMARY KEY,
        expires TEXT NOT NULL,
        last_date_active TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        stability TEXT NOT NULL DEFAULT 'experimental'
    ) WITHOUT ROWID;
    CREATE TABLE workers (
        task_queue_id TEXT NOT NULL,
        worker_group TEXT NOT NULL,
        worker_id TEXT NOT NULL,
        first_claim TEXT NOT NULL,
        last_date_active TEXT,
        expires TEXT NOT NULL,
        recent_tasks TEXT NOT NULL DEFAULT '[]',
        quarantine_until TEXT,
        quarantine_details TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (task_queue_id, worker_group, worker_id)
    ) WITHOUT ROWID;
    """,
)

# Modules whose own tables are created after ours (each may define SCHEMA: str).
SCHEMA_MODULES = ("tcw.localqueue.artifacts", "tcw.localqueue.objects")


def open_db(path: str) -> sqlite3.Connection:
    """Open (creating or migrating) the database at ``path``; ``":memory:"`` keeps nothing.

    A new file is created readable by its owner only: it holds the queue's issuer token, which signs every
    temporary credential the queue hands out (SQLite gives its -wal and -shm files the same mode).
    """
    if path != ":memory:":
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    if path != ":memory:":
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA foreign_keys=OFF")
    migrate(db)
    for module_name in SCHEMA_MODULES:
        schema = getattr(importlib.import_module(module_name), "SCHEMA", None)
        if schema:
            db.executescript(schema)
    return db


def migrate(db: sqlite3.Connection) -> None:
    """Apply every migration newer than the database's ``schema_version``."""
    version = schema_version(db)
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        db.executescript(f"BEGIN;\n{script}\nCOMMIT;")
        set_meta(db, "schema_version", str(number))


def schema_version(db: sqlite3.Connection) -> int:
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not exists:
        return 0
    return int(get_meta(db, "schema_version") or 0)


def get_meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All writes inside commit together or not at all; nested use joins the outer transaction."""
    if db.in_transaction:
        yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@dataclass(frozen=True)
class TaskRow:
    task_id: str
    task_group_id: str
    scheduler_id: str
    project_id: str
    task_queue_id: str
    priority: str
    requires: str
    retries_left: int
    created: datetime
    deadline: datetime
    expires: datetime
    state: str
    definition: dict[str, Any]  # parsed once and shared: read it, never modify it

    @property
    def provisioner_id(self) -> str:
        return self.task_queue_id.split("/", 1)[0]

    @property
    def worker_type(self) -> str:
        return self.task_queue_id.split("/", 1)[1]


@dataclass(frozen=True)
class RunRow:
    task_id: str
    run_id: int
    state: str
    reason_created: str
    reason_resolved: str | None
    worker_group: str | None
    worker_id: str | None
    taken_until: datetime | None
    scheduled: datetime
    started: datetime | None
    resolved: datetime | None


TASK_COLUMNS = (
    "task_id, task_group_id, scheduler_id, project_id, task_queue_id, priority, requires, retries_left, "
    "created, deadline, expires, state, definition"
)
RUN_COLUMNS = (
    "task_id, run_id, state, reason_created, reason_resolved, worker_group, worker_id, taken_until, "
    "scheduled, started, resolved"
)

# Definitions never change once created, so each is parsed once. The text is kept with the parsed value:
# several queues may share a process (tests), and only the very same text may reuse a parse.
_DEFINITIONS: dict[str, tuple[str, dict[str, Any]]] = {}
_DEFINITIONS_MAX = 10_000


def definition_from_text(task_id: str, text: str) -> dict[str, Any]:
    cached = _DEFINITIONS.get(task_id)
    if cached is not None and cached[0] == text:
        return cached[1]
    if len(_DEFINITIONS) >= _DEFINITIONS_MAX:
        _DEFINITIONS.clear()
    definition: dict[str, Any] = json.loads(text)
    _DEFINITIONS[task_id] = (text, definition)
    return definition


def task_from_row(row: tuple[Any, ...]) -> TaskRow:
    return TaskRow(
        task_id=row[0],
        task_group_id=row[1],
        scheduler_id=row[2],
        project_id=row[3],
        task_queue_id=row[4],
        priority=row[5],
        requires=row[6],
        retries_left=row[7],
        created=parse_date(row[8]),
        deadline=parse_date(row[9]),
        expires=parse_date(row[10]),
        state=row[11],
        definition=definition_from_text(row[0], row[12]),
    )


def _optional_date(text: str | None) -> datetime | None:
    return None if text is None else parse_date(text)


def run_from_row(row: tuple[Any, ...]) -> RunRow:
    return RunRow(
        task_id=row[0],
        run_id=row[1],
        state=row[2],
        reason_created=row[3],
        reason_resolved=row[4],
        worker_group=row[5],
        worker_id=row[6],
        taken_until=_optional_date(row[7]),
        scheduled=parse_date(row[8]),
        started=_optional_date(row[9]),
        resolved=_optional_date(row[10]),
    )


def load_task(db: sqlite3.Connection, task_id: str) -> TaskRow | None:
    """The task, or None if the queue has never seen it."""
    row = db.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else task_from_row(row)


def load_runs(db: sqlite3.Connection, task_id: str) -> list[RunRow]:
    """Every run of the task, in runId order (empty for an unscheduled task)."""
    rows = db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE task_id = ? ORDER BY run_id", (task_id,))
    return [run_from_row(row) for row in rows]


def load_run(db: sqlite3.Connection, task_id: str, run_id: int) -> RunRow | None:
    """One run, or None if the task has no such run."""
    row = db.execute(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE task_id = ? AND run_id = ?", (task_id, run_id)
    ).fetchone()
    return None if row is None else run_from_row(row)


def latest_run_id(db: sqlite3.Connection, task_id: str) -> int | None:
    row = db.execute("SELECT MAX(run_id) FROM runs WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


# -- writes shared by the task and worker handlers and the resolvers


def insert_run(
    db: sqlite3.Connection,
    task: TaskRow,
    run_id: int,
    *,
    state: str,
    reason_created: str,
    now: str,
    reason_resolved: str | None = None,
) -> None:
    """Append a run; a run created already resolved (cancel/deadline before scheduling) gets ``resolved``."""
    db.execute(
        "INSERT INTO runs (task_id, run_id, task_queue_id, priority_rank, state, reason_created,"
        " reason_resolved, scheduled, resolved) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            task.task_id,
            run_id,
            task.task_queue_id,
            PRIORITY_RANKS[task.priority],
            state,
            reason_created,
            reason_resolved,
            now,
            None if reason_resolved is None else now,
        ),
    )


def set_task_state(db: sqlite3.Connection, task_id: str, state: str, retries_left: int | None = None) -> None:
    if retries_left is None:
        db.execute("UPDATE tasks SET state = ? WHERE task_id = ?", (state, task_id))
    else:
        db.execute(
            "UPDATE tasks SET state = ?, retries_left = ? WHERE task_id = ?", (state, retries_left, task_id)
        )


def resolve_run_row(
    db: sqlite3.Connection, task_id: str, run_id: int, state: str, reason: str, now: str
) -> None:
    db.execute(
        "UPDATE runs SET state = ?, reason_resolved = ?, resolved = ? WHERE task_id = ? AND run_id = ?",
        (state, reason, now, task_id, run_id),
    )


def run_json(run: RunRow) -> dict[str, Any]:
    """A run as task-status responses show it (absent fields are left out, never null)."""
    from tcw.localqueue.dates import format_date

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


def load_status(db: sqlite3.Connection, task_id: str) -> dict[str, Any] | None:
    """The task's status structure, or None for an unknown task."""
    task = load_task(db, task_id)
    return None if task is None else status_json(task, load_runs(db, task_id))
