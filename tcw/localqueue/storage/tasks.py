"""The task aggregate's tables: ``tasks``, their ``runs`` and the ``dependencies`` between tasks.

Every query of them is here; the queue's handlers (services/queue) decide what to run, this module only
reads and writes rows. Dates are stored in the service's fixed-width text form, so they compare as strings.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tcw.localqueue.core.dates import parse_date
from tcw.localqueue.storage.database import Database, transaction

PRIORITY_RANKS = {
    "highest": 6,
    "very-high": 5,
    "high": 4,
    "medium": 3,
    "low": 2,
    "very-low": 1,
    "lowest": 0,
}
# Run states spelled into the SQL, so the partial indexes (WHERE state = 'pending' / 'running') apply.
RUN_STATE_SQL = {"pending": "state = 'pending'", "running": "state = 'running'"}
IN_CHUNK = 500  # ids per ``IN (...)``: far below SQLite's limit of bound parameters


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


def task_from_row(db: Database, row: tuple[Any, ...]) -> TaskRow:
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
        definition=db.definitions.parse(row[0], row[12]),
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


def load_task(db: Database, task_id: str) -> TaskRow | None:
    """The task, or None if the queue has never seen it."""
    row = db.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else task_from_row(db, row)


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


# -- writes


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


def _dump(definition: dict[str, Any]) -> str:
    return json.dumps(definition, separators=(",", ":"))


def insert_task(db: sqlite3.Connection, task_id: str, definition: dict[str, Any]) -> None:
    """A new task, ``unscheduled``, its queried fields mirrored from the definition."""
    db.execute(
        f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'unscheduled', ?)",
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
            _dump(definition),
        ),
    )


def known_task_ids(db: sqlite3.Connection, task_ids: list[str]) -> set[str]:
    """Those of ``task_ids`` the queue has."""
    known: set[str] = set()
    for start in range(0, len(task_ids), IN_CHUNK):
        chunk = task_ids[start : start + IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT task_id FROM tasks WHERE task_id IN ({marks})", chunk)
        known.update(row[0] for row in rows)
    return known


def task_state(db: sqlite3.Connection, task_id: str) -> str | None:
    row = db.execute("SELECT state FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else str(row[0])


def set_priority(db: sqlite3.Connection, task: TaskRow, priority: str) -> None:
    """The task's definition and its pending runs take the new priority; a running run keeps its own."""
    definition = {**task.definition, "priority": priority}
    db.execute(
        "UPDATE tasks SET priority = ?, definition = ? WHERE task_id = ?",
        (priority, _dump(definition), task.task_id),
    )
    db.execute(
        "UPDATE runs SET priority_rank = ? WHERE task_id = ? AND state = 'pending'",
        (PRIORITY_RANKS[priority], task.task_id),
    )


def _tasks(db: Database, query: str, args: Iterable[Any]) -> list[TaskRow]:
    return [task_from_row(db, row) for row in db.execute(query, tuple(args)).fetchall()]


def group_tasks(db: Database, task_group_id: str, limit: int = -1, offset: int = 0) -> list[TaskRow]:
    """Tasks of the group by taskId (every one unless ``limit`` is given)."""
    return _tasks(
        db,
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE task_group_id = ? ORDER BY task_id LIMIT ? OFFSET ?",
        (task_group_id, limit, offset),
    )


_JOINED_TASK_COLUMNS = ", ".join(f"t.{column.strip()}" for column in TASK_COLUMNS.split(","))


def dependent_tasks(db: Database, task_id: str, limit: int, offset: int) -> list[TaskRow]:
    """A page of the tasks that depend on ``task_id``, by taskId."""
    return _tasks(
        db,
        f"SELECT {_JOINED_TASK_COLUMNS} FROM dependencies d JOIN tasks t ON t.task_id = d.dependent_task_id"
        " WHERE d.required_task_id = ? ORDER BY t.task_id LIMIT ? OFFSET ?",
        (task_id, limit, offset),
    )


def open_tasks_past_deadline(db: sqlite3.Connection, now: str) -> list[str]:
    rows = db.execute(
        "SELECT task_id FROM tasks WHERE state IN ('unscheduled', 'pending', 'running') AND deadline <= ?",
        (now,),
    ).fetchall()
    return [row[0] for row in rows]


# -- runs


def pending_runs(db: sqlite3.Connection, task_queue_id: str, count: int) -> list[tuple[str, int]]:
    """Up to ``count`` pending runs of the queue as (taskId, runId), highest priority first, then oldest."""
    rows = db.execute(
        "SELECT task_id, run_id FROM runs WHERE task_queue_id = ? AND state = 'pending'"
        " ORDER BY priority_rank DESC, rowid LIMIT ?",
        (task_queue_id, count),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def take_run(
    db: sqlite3.Connection,
    task_id: str,
    run_id: int,
    *,
    worker_group: str,
    worker_id: str,
    taken_until: str,
    now: str,
) -> bool:
    """Make a pending run running for this worker; False when it is no longer pending (another process on
    the same database took it)."""
    taken = db.execute(
        "UPDATE runs SET state = 'running', worker_group = ?, worker_id = ?, taken_until = ?, started = ?"
        " WHERE task_id = ? AND run_id = ? AND state = 'pending'",
        (worker_group, worker_id, taken_until, now, task_id, run_id),
    )
    return taken.rowcount == 1


def extend_claim(db: sqlite3.Connection, task_id: str, run_id: int, taken_until: str) -> None:
    db.execute(
        "UPDATE runs SET taken_until = ? WHERE task_id = ? AND run_id = ?", (taken_until, task_id, run_id)
    )


def lapsed_claims(db: sqlite3.Connection, now: str) -> list[tuple[str, int]]:
    """Running runs whose ``takenUntil`` is not after ``now``, as (taskId, runId)."""
    rows = db.execute(
        "SELECT task_id, run_id FROM runs WHERE state = 'running' AND taken_until <= ?", (now,)
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def count_runs(db: sqlite3.Connection, task_queue_id: str, run_state: str) -> int:
    """Pending or running runs of a task queue."""
    row = db.execute(
        f"SELECT COUNT(*) FROM runs WHERE task_queue_id = ? AND {RUN_STATE_SQL[run_state]}", (task_queue_id,)
    ).fetchone()
    return int(row[0])


def runs_in_queue(
    db: sqlite3.Connection, task_queue_id: str, run_state: str, order: str, limit: int, offset: int
) -> list[tuple[Any, ...]]:
    """A page of (task_id, run_id, scheduled, started, worker_group, worker_id) of the queue's pending or
    running runs, in ``order`` (an ORDER BY clause of ours, never a caller's)."""
    return db.execute(
        "SELECT task_id, run_id, scheduled, started, worker_group, worker_id FROM runs"
        f" WHERE task_queue_id = ? AND {RUN_STATE_SQL[run_state]} ORDER BY {order} LIMIT ? OFFSET ?",
        (task_queue_id, limit, offset),
    ).fetchall()


# -- dependencies


def insert_dependency(
    db: sqlite3.Connection, required_task_id: str, dependent_task_id: str, satisfied: bool
) -> None:
    db.execute(
        "INSERT INTO dependencies (required_task_id, dependent_task_id, satisfied) VALUES (?, ?, ?)",
        (required_task_id, dependent_task_id, int(satisfied)),
    )


def waits_on_dependencies(db: sqlite3.Connection, task_id: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM dependencies WHERE dependent_task_id = ? AND satisfied = 0 LIMIT 1", (task_id,)
    ).fetchone()
    return row is not None


def unsatisfied_dependents(db: sqlite3.Connection, task_id: str) -> list[tuple[str, str]]:
    """(dependent taskId, its ``requires``) of every edge still waiting on ``task_id``."""
    rows = db.execute(
        "SELECT d.dependent_task_id, t.requires FROM dependencies d"
        " JOIN tasks t ON t.task_id = d.dependent_task_id"
        " WHERE d.required_task_id = ? AND d.satisfied = 0",
        (task_id,),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def satisfy_dependency(db: sqlite3.Connection, required_task_id: str, dependent_task_id: str) -> None:
    db.execute(
        "UPDATE dependencies SET satisfied = 1 WHERE required_task_id = ? AND dependent_task_id = ?",
        (required_task_id, dependent_task_id),
    )


def expire_tasks(db: Database, now: str) -> int:
    """Delete the tasks whose ``expires`` is past, with their runs and the dependencies they wait on,
    as the real queue's expire-tasks and expire-task-dependency jobs do."""
    with transaction(db):
        expired = [row[0] for row in db.execute("SELECT task_id FROM tasks WHERE expires < ?", (now,))]
        gone = [(task_id,) for task_id in expired]
        db.executemany("DELETE FROM runs WHERE task_id = ?", gone)
        db.executemany("DELETE FROM dependencies WHERE dependent_task_id = ?", gone)
        db.executemany("DELETE FROM tasks WHERE task_id = ?", gone)
    db.definitions.forget(expired)
    return len(expired)
