"""The ``secrets`` table of the secrets service: one JSON value per name, with its expiry.

Values are kept as the JSON text they came as, not encrypted as the real service keeps them: the database
file is its owner's alone (schema.open_db), which is what guards the issuer token beside them. An expired
secret is never answered (the queries compare ``expires`` with now, as the real service's do) and is
deleted by the service's sweep.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tcw.localqueue.core.dates import format_date, parse_date

SCHEMA = """
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    expires TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS secrets_by_expiry ON secrets (expires);
"""


@dataclass(frozen=True)
class SecretRow:
    name: str
    secret: dict[str, Any]
    expires: datetime


def upsert_secret(db: sqlite3.Connection, name: str, secret: dict[str, Any], expires: datetime) -> None:
    db.execute(
        "INSERT INTO secrets (name, secret, expires) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET secret = excluded.secret, expires = excluded.expires",
        (name, json.dumps(secret, separators=(",", ":")), format_date(expires)),
    )


def load_secret(db: sqlite3.Connection, name: str, now: datetime) -> SecretRow | None:
    """The secret, unless there is none or it has expired."""
    row = db.execute(
        "SELECT secret, expires FROM secrets WHERE name = ? AND expires >= ?", (name, format_date(now))
    ).fetchone()
    return None if row is None else SecretRow(name, json.loads(row[0]), parse_date(row[1]))


def delete_secret(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM secrets WHERE name = ?", (name,))


def name_page(db: sqlite3.Connection, now: datetime, limit: int, offset: int) -> list[str]:
    """Names of the secrets that have not expired, by name."""
    rows = db.execute(
        "SELECT name FROM secrets WHERE expires >= ? ORDER BY name LIMIT ? OFFSET ?",
        (format_date(now), limit, offset),
    ).fetchall()
    return [str(row[0]) for row in rows]


def expire_secrets(db: sqlite3.Connection, now: datetime) -> int:
    """Delete every secret that expired before ``now``; how many went."""
    return db.execute("DELETE FROM secrets WHERE expires < ?", (format_date(now),)).rowcount
