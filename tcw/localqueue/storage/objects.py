"""The ``objects`` table of the object service: an object is an upload (``upload_id`` set) until its upload
is finished, then an immutable object whose bytes are the blob ``object/<name>`` (blobs.py).

``lock_in_upload`` is here, not in the object service, because the queue locks in the uploads of its
``object`` artifacts itself (as the real queue calls createUpload with no methods).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tcw.localqueue.core.dates import format_date, parse_date
from tcw.localqueue.core.errors import RequestConflict
from tcw.localqueue.storage import blobs
from tcw.localqueue.storage.database import transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    name TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    upload_id TEXT,
    upload_expires TEXT,
    expires TEXT NOT NULL,
    hashes TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_expiry ON objects (expires);
"""

UPLOAD_LIFETIME = timedelta(days=1)
SIMPLE_URL_LIFETIME = timedelta(minutes=30)


@dataclass(frozen=True)
class ObjectRow:
    name: str
    project_id: str
    upload_id: str | None  # None once finished
    expires: datetime
    hashes: dict[str, str]

    @property
    def finished(self) -> bool:
        return self.upload_id is None


def blob_key(name: str) -> str:
    return f"object/{name}"


def load_object(db: sqlite3.Connection, name: str) -> ObjectRow | None:
    row = db.execute(
        "SELECT name, project_id, upload_id, expires, hashes FROM objects WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None
    return ObjectRow(row[0], row[1], row[2], parse_date(row[3]), json.loads(row[4]))


def finished_object(db: sqlite3.Connection, name: str) -> ObjectRow | None:
    """The object if it exists and its upload is finished (only then is it visible to readers)."""
    found = load_object(db, name)
    return found if found is not None and found.finished else None


def lock_in_upload(
    db: sqlite3.Connection, *, name: str, project_id: str, upload_id: str, expires: datetime, now: datetime
) -> ObjectRow:
    """Begin the upload of ``name``, or confirm an identical one in progress (409 for anything else,
    a finished object included)."""
    existing = load_object(db, name)
    if existing is None:
        db.execute(
            "INSERT INTO objects (name, project_id, upload_id, upload_expires, expires) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, project_id, upload_id, format_date(now + UPLOAD_LIFETIME), format_date(expires)),
        )
        return ObjectRow(name, project_id, upload_id, parse_date(format_date(expires)), {})
    same = (existing.project_id, existing.upload_id, format_date(existing.expires)) == (
        project_id,
        upload_id,
        format_date(expires),
    )
    if not same:
        raise RequestConflict(
            "Object already exists", details={"name": name, "projectId": project_id, "backendId": "local"}
        )
    return existing


def set_hashes(db: sqlite3.Connection, name: str, hashes: dict[str, str]) -> None:
    db.execute("UPDATE objects SET hashes = ? WHERE name = ?", (json.dumps(hashes), name))


def finish_upload(db: sqlite3.Connection, name: str) -> None:
    """The upload becomes an immutable object."""
    db.execute("UPDATE objects SET upload_id = NULL, upload_expires = NULL WHERE name = ?", (name,))


def simple_download_url(db: sqlite3.Connection, root_url: str, name: str, now: datetime) -> str:
    """The ``simple`` download URL of a finished object (also where the queue redirects artifact GETs)."""
    return blobs.signed_url(db, root_url, blob_key(name), method="GET", expires=now + SIMPLE_URL_LIFETIME)


def expire_objects(db: sqlite3.Connection, blob_dir: Path, now: datetime) -> int:
    """Forget objects past their expiry and uploads unfinished after a day, bytes included."""
    stamp = format_date(now)
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM objects WHERE expires < ? OR (upload_id IS NOT NULL AND upload_expires < ?)",
            (stamp, stamp),
        )
    ]
    with transaction(db):
        blobs.delete_blobs(db, blob_dir, [blob_key(name) for name in names])
        db.executemany("DELETE FROM objects WHERE name = ?", [(name,) for name in names])
    return len(names)
