"""The connection every storage module works on, with the caches that belong to one queue's database.

``Database`` is an ``sqlite3.Connection`` (so ``execute`` and ``close`` are the usual ones) that also
carries the parsed task definitions: they never change once created, so each is parsed once per database,
and two queues in one process (tests) never share a parse. Handlers run on one event loop and never await
inside a ``transaction``, so each handler's writes are atomic.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# What the parsed definitions may hold: a task definition may be megabytes (its payload), so the cache is
# bounded by size, not by count. A parse costs about its text again, so an entry is charged twice its text.
DEFINITIONS_MAX_BYTES = 64 * 1024 * 1024


class Database(sqlite3.Connection):
    """A connection opened by ``schema.open_db``; ``definitions`` is its parse cache."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.definitions = DefinitionCache()


class DefinitionCache:
    """Parsed task definitions by taskId, least recently used first out once they hold more than
    ``max_bytes``; the text is kept with the parse and compared, so that only the very same text reuses it.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = DEFINITIONS_MAX_BYTES if max_bytes is None else max_bytes
        self._parsed: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._bytes = 0

    @property
    def cached_bytes(self) -> int:
        """What the kept entries are charged, counted from the entries themselves."""
        return sum(_cost(text) for text, _parsed in self._parsed.values())

    def __len__(self) -> int:
        return len(self._parsed)

    def parse(self, task_id: str, text: str) -> dict[str, Any]:
        cached = self._parsed.get(task_id)
        if cached is not None and cached[0] == text:
            self._parsed.move_to_end(task_id)
            return cached[1]
        definition: dict[str, Any] = json.loads(text)
        self._forget(task_id)
        if _cost(text) <= self.max_bytes:
            self._parsed[task_id] = (text, definition)
            self._bytes += _cost(text)
            while self._bytes > self.max_bytes:
                self._forget(next(iter(self._parsed)))
        return definition

    def forget(self, task_ids: Iterable[str]) -> None:
        """Drop the parses of tasks that are gone (expired)."""
        for task_id in task_ids:
            self._forget(task_id)

    def _forget(self, task_id: str) -> None:
        dropped = self._parsed.pop(task_id, None)
        if dropped is not None:
            self._bytes -= _cost(dropped[0])


def _cost(text: str) -> int:
    return 2 * len(text)


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


def forget_meta(db: sqlite3.Connection, key: str) -> None:
    """Delete a value so that it is gone from the file too (a moved secret must not linger in free pages)."""
    db.execute("PRAGMA secure_delete=ON")
    with transaction(db):
        db.execute("DELETE FROM meta WHERE key = ?", (key,))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def deployment_id(db: sqlite3.Connection) -> str:
    """The database's random name (it names the directory of its secrets); made on first use."""
    with transaction(db):
        known = get_meta(db, "deployment_id")
        if known is None:
            known = secrets.token_hex(16)
            set_meta(db, "deployment_id", known)
    return known


def stored_deployment_id(path: Path) -> str | None:
    """The name ``deployment_id`` gave the database at ``path``, read without writing to it (None before
    a queue has served it)."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        return get_meta(db, "deployment_id") if exists else None
    finally:
        db.close()
