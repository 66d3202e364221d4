"""The connection every storage module works on, with the caches that belong to one queue's database.

``Database`` is an ``sqlite3.Connection`` (so ``execute`` and ``close`` are the usual ones) that also
carries the parsed task definitions: they never change once created, so each is parsed once per database,
and two queues in one process (tests) never share a parse. Handlers run on one event loop and never await
inside a ``transaction``, so each handler's writes are atomic.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEFINITIONS_MAX = 10_000


class Database(sqlite3.Connection):
    """A connection opened by ``schema.open_db``; ``definitions`` is its parse cache."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = DefinitionCache()


class DefinitionCache:
    """Parsed task definitions by taskId; the text is kept with the parse and compared, so that only the
    very same text reuses it."""

    def __init__(self, limit: int = DEFINITIONS_MAX) -> None:
        self.limit = limit
        self._parsed: dict[str, tuple[str, dict[str, Any]]] = {}

    def parse(self, task_id: str, text: str) -> dict[str, Any]:
        cached = self._parsed.get(task_id)
        if cached is not None and cached[0] == text:
            return cached[1]
        if len(self._parsed) >= self.limit:
            self._parsed.clear()
        definition: dict[str, Any] = json.loads(text)
        self._parsed[task_id] = (text, definition)
        return definition


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


def get_meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
