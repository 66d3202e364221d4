"""The local deployment's SQLite database: its tables, their migrations, and opening it.

Tables (dates are TEXT in the service's fixed-width ``...T..:..:..mmmZ`` form, so they compare as strings):

- ``meta(key, value)``: ``schema_version`` and ``deployment_id`` (the random name of the directory that
  keeps this database's secrets, auth/keystore.py; the issuer token itself was kept here before, and is
  moved out on start).
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

The storage modules that keep tables of their own (artifacts.py, objects.py, blobs.py) expose ``SCHEMA``:
idempotent SQL (``CREATE TABLE IF NOT EXISTS ...``) that ``open_db`` runs after the migrations here: they
own their layout. A new service's storage module does the same and is added to ``OWN_SCHEMAS``.
"""

from __future__ import annotations

import os
import sqlite3

from tcw.localqueue.storage import artifacts, blobs, objects, secrets, worker_pools
from tcw.localqueue.storage.database import Database, get_meta, set_meta

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

# Tables of the modules that own their layout, created after the migrations.
OWN_SCHEMAS = (blobs.SCHEMA, objects.SCHEMA, artifacts.SCHEMA, worker_pools.SCHEMA, secrets.SCHEMA)


def open_db(path: str) -> Database:
    """Open (creating or migrating) the database at ``path``; ``":memory:"`` keeps nothing.

    A new file is created readable by its owner only (SQLite gives its -wal and -shm files the same mode):
    task definitions may hold what their authors would not show everyone.
    """
    if path != ":memory:":
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=Database)
    if path != ":memory:":
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA foreign_keys=OFF")
    migrate(db)
    for schema in OWN_SCHEMAS:
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
