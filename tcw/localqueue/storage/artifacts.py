"""The ``artifacts`` table: the artifacts of each run, by name, with their storage type and details.

The bytes of an ``s3`` artifact are the blob ``s3/<taskId>/<runId>/<name>``; those of an ``object``
artifact belong to the object ``t/<taskId>/<runId>/<name>`` (objects.py), which expires with its object.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tcw.localqueue.core.dates import format_date, parse_date
from tcw.localqueue.storage import blobs
from tcw.localqueue.storage.database import transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
    task_id TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    storage_type TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_length INTEGER,
    details TEXT NOT NULL,
    present INTEGER NOT NULL,
    expires TEXT NOT NULL,
    PRIMARY KEY (task_id, run_id, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS artifacts_by_expiry ON artifacts (expires);
"""


@dataclass(frozen=True)
class Artifact:
    task_id: str
    run_id: int
    name: str
    storage_type: str
    content_type: str
    content_length: int | None
    details: dict[str, Any]
    present: bool
    expires: datetime


ARTIFACT_COLUMNS = (
    "task_id, run_id, name, storage_type, content_type, content_length, details, present, expires"
)


def artifact_from_row(row: tuple[Any, ...]) -> Artifact:
    task_id, run_id, name, storage_type, content_type, content_length = row[:6]
    return Artifact(
        task_id,
        run_id,
        name,
        storage_type,
        content_type,
        content_length,
        json.loads(row[6]),
        bool(row[7]),
        parse_date(row[8]),
    )


def load_artifact(db: sqlite3.Connection, task_id: str, run_id: int, name: str) -> Artifact | None:
    row = db.execute(
        f"SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE task_id = ? AND run_id = ? AND name = ?",
        (task_id, run_id, name),
    ).fetchone()
    return None if row is None else artifact_from_row(row)


def object_name(task_id: str, run_id: int, name: str) -> str:
    """The object holding an ``object`` artifact's bytes; never stored, always derived (as the queue does)."""
    return f"t/{task_id}/{run_id}/{name}"


def s3_blob_key(task_id: str, run_id: int, name: str) -> str:
    return f"s3/{task_id}/{run_id}/{name}"


def expire_artifacts(db: sqlite3.Connection, blob_dir: Path, now: datetime) -> int:
    """Forget artifacts past their expiry with their s3 bytes (an object artifact's bytes go with its
    object, see ``objects.expire_objects``)."""
    rows = db.execute(
        "SELECT task_id, run_id, name FROM artifacts WHERE expires < ?", (format_date(now),)
    ).fetchall()
    with transaction(db):
        blobs.delete_blobs(db, blob_dir, [s3_blob_key(*row) for row in rows])
        db.executemany("DELETE FROM artifacts WHERE task_id = ? AND run_id = ? AND name = ?", rows)
    return len(rows)


def insert_artifact(
    db: sqlite3.Connection,
    task_id: str,
    run_id: int,
    name: str,
    *,
    storage_type: str,
    content_type: str,
    content_length: int | None,
    details: dict[str, Any],
    expires: datetime,
) -> None:
    """A new artifact; all but ``object`` artifacts are present at once (those once their upload finished)."""
    db.execute(
        f"INSERT INTO artifacts ({ARTIFACT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            task_id,
            run_id,
            name,
            storage_type,
            content_type,
            content_length,
            json.dumps(details),
            storage_type != "object",
            format_date(expires),
        ),
    )


def update_artifact(
    db: sqlite3.Connection,
    task_id: str,
    run_id: int,
    name: str,
    *,
    storage_type: str,
    details: dict[str, Any],
    expires: datetime,
) -> None:
    db.execute(
        "UPDATE artifacts SET storage_type = ?, details = ?, expires = ? "
        "WHERE task_id = ? AND run_id = ? AND name = ?",
        (storage_type, json.dumps(details), format_date(expires), task_id, run_id, name),
    )


def mark_present(db: sqlite3.Connection, task_id: str, run_id: int, name: str) -> None:
    """An ``object`` artifact whose upload finished: readable from now on."""
    db.execute(
        "UPDATE artifacts SET present = 1, details = '{}' WHERE task_id = ? AND run_id = ? AND name = ?",
        (task_id, run_id, name),
    )


def artifacts_after(
    db: sqlite3.Connection, task_id: str, run_id: int, after: str, limit: int
) -> list[Artifact]:
    """Up to ``limit`` artifacts of the run whose names sort after ``after``, by name."""
    rows = db.execute(
        f"SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE task_id = ? AND run_id = ? AND name > ? "
        "ORDER BY name LIMIT ?",
        (task_id, run_id, after, limit),
    ).fetchall()
    return [artifact_from_row(row) for row in rows]
