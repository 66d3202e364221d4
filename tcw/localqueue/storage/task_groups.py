"""The ``task_groups`` table: each group's schedulerId, expiry and the time it was sealed."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tcw.localqueue.storage.database import transaction


@dataclass(frozen=True)
class GroupRow:
    task_group_id: str
    scheduler_id: str
    expires: str
    sealed: str | None


def load_group(db: sqlite3.Connection, task_group_id: str) -> GroupRow | None:
    row = db.execute(
        "SELECT scheduler_id, expires, sealed FROM task_groups WHERE task_group_id = ?", (task_group_id,)
    ).fetchone()
    return None if row is None else GroupRow(task_group_id, row[0], row[1], row[2])


def record_group(db: sqlite3.Connection, task_group_id: str, scheduler_id: str, expires: str) -> None:
    """A task joined the group: create it, or extend its expiry to the task's."""
    db.execute(
        "INSERT INTO task_groups (task_group_id, scheduler_id, expires) VALUES (?, ?, ?)"
        " ON CONFLICT (task_group_id) DO UPDATE SET expires = MAX(expires, excluded.expires)",
        (task_group_id, scheduler_id, expires),
    )


def seal_group(db: sqlite3.Connection, task_group_id: str, now: str) -> None:
    db.execute("UPDATE task_groups SET sealed = ? WHERE task_group_id = ?", (now, task_group_id))


def expire_groups(db: sqlite3.Connection, now: str) -> int:
    """Delete the task groups whose ``expires`` (the latest of their tasks') is past."""
    with transaction(db):
        return db.execute("DELETE FROM task_groups WHERE expires < ?", (now,)).rowcount


def recent_group_ids(db: sqlite3.Connection, limit: int, window: int = 2000) -> list[str]:
    """The groups of the most recently created tasks, newest first, looking at the last ``window`` tasks
    only: the web view's landing page lists them without scanning a large database."""
    rows = db.execute(
        "SELECT task_group_id FROM (SELECT task_group_id, rowid AS at FROM tasks ORDER BY rowid DESC LIMIT ?)"
        " GROUP BY task_group_id ORDER BY MAX(at) DESC LIMIT ?",
        (window, limit),
    )
    return [row[0] for row in rows]
