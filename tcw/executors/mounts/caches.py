"""Writable directory caches: named directories handed from one task to the next on this worker.

Each cache name has a pool of instances, ``caches/<instance id>/`` holding ``state.json``, ``lock`` and,
while no task has it, ``data/``. A task gets an idle clean instance of its cache name, or a new empty
(or preloaded) one when every instance is in use by another running task: a second task never waits
for the first (waiting could last the first task's whole run, and two tasks each waiting for the
other's cache would never end), and never shares a directory with it. generic-worker does the same.

Handing over is two renames: ``data/`` into the task directory before the commands, and back after, so
a 2 GB cache costs what an empty one does. The state says ``in-use`` before the data leaves and says
``clean`` only after it is back, written atomically; an instance is handed out only when its state is
``clean`` and its lock is free. So a worker killed at any point (mid-preload, mid-task, mid-handover)
leaves an instance that is not ``clean``, and it is purged the next time it is looked at. An instance
whose task did not end cleanly (failed, cancelled, lost its claim, or exited with a status listed in
``onExitStatus.purgeCaches``) is purged instead of being put back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcw.executors.mounts import fsutil

CLEAN = "clean"
IN_USE = "in-use"
PREPARING = "preparing"


class CacheMoveFailed(Exception):
    """A cache could not be moved (not copied) into or out of a task directory."""


@dataclass(frozen=True)
class CacheInstance:
    """One instance, as ``list`` shows it."""

    path: Path
    name: str
    state: str  # clean, in-use, preparing, or "broken" for an unreadable state file
    in_use: bool  # its lock is held right now (a running task has it)
    last_used: float

    def size(self) -> int:
        """Bytes it holds (a walk of its tree: asked for only when listing or removing it)."""
        return fsutil.tree_size(self.path)


class HeldCache:
    """An instance a run holds: locked, marked in use, its data in the task directory."""

    def __init__(self, caches: CacheStore, path: Path, name: str, lock: fsutil.Lock, state: dict[str, Any]):
        self.caches = caches
        self.path = path
        self.name = name
        self.lock = lock
        self.state = state
        self.mounted_at: Path | None = None
        self.fresh = state.get("state") == PREPARING

    @property
    def data(self) -> Path:
        return self.path / "data"

    def mount(self, target: Path, task: str) -> None:
        """Move the data to ``target`` (its parent exists, ``target`` does not)."""
        self.state.update(state=IN_USE, task=task)
        fsutil.write_state(self.path / "state.json", self.state)
        _move(self.data, target)
        self.mounted_at = target

    def put_back(self) -> bool:
        """Move the data home and mark the instance clean; False (and the instance purged) when the
        task left no directory there (removed it, or put a symlink or file in its place)."""
        target = self.mounted_at
        if target is None or target.is_symlink() or not target.is_dir():
            self.purge()
            return False
        _move(target, self.data)
        self.state.update(state=CLEAN, lastUsed=time.time(), runs=int(self.state.get("runs", 0)) + 1)
        fsutil.write_state(self.path / "state.json", self.state)
        self.lock.release()
        return True

    def purge(self) -> None:
        """Out of the pool for good; what is in the task directory goes with the task directory."""
        fsutil.move_to_trash(self.path, self.caches.trash)
        self.lock.release()


class CacheStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.trash = root.parent / "trash"

    def acquire(self, name: str) -> HeldCache:
        """An idle clean instance of ``name``, most recently used first, or a new one (``fresh``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        candidates = [entry for entry in self._states() if entry[1].get("name") == name]
        candidates.sort(key=lambda entry: float(entry[1].get("lastUsed", 0)), reverse=True)
        for path, _ in candidates:
            lock = fsutil.try_lock(path / "lock")
            if lock is None:
                continue  # a running task has it
            state = fsutil.read_state(path / "state.json")
            if state is not None and state.get("state") == CLEAN and (path / "data").is_dir():
                return HeldCache(self, path, name, lock, state)
            fsutil.move_to_trash(path, self.trash)  # left unclean by a killed worker, or purged meanwhile
            lock.release()
        return self._create(name)

    def _create(self, name: str) -> HeldCache:
        path = self.root / uuid.uuid4().hex
        path.mkdir()
        lock = fsutil.try_lock(path / "lock")
        assert lock is not None  # nobody else knows this directory yet
        state = {"name": name, "state": PREPARING, "created": time.time(), "lastUsed": time.time()}
        fsutil.write_state(path / "state.json", state)
        return HeldCache(self, path, name, lock, state)

    def instances(self) -> list[CacheInstance]:
        found = []
        for path in _listing(self.root):
            state = fsutil.read_state(path / "state.json") or {}
            lock = fsutil.try_lock(path / "lock", shared=True)
            if lock is not None:
                lock.release()
            found.append(
                CacheInstance(
                    path,
                    str(state.get("name", "?")),
                    str(state.get("state", "broken")),
                    lock is None,
                    float(state.get("lastUsed", 0) or 0),
                )
            )
        return found

    def remove_idle(self, instance: CacheInstance) -> bool:
        """Purge ``instance`` unless a run holds it; whether it was purged."""
        lock = fsutil.try_lock(instance.path / "lock")
        if lock is None:
            return False
        with lock:
            fsutil.move_to_trash(instance.path, self.trash)
        return True

    def _states(self) -> list[tuple[Path, dict[str, Any]]]:
        return [(path, fsutil.read_state(path / "state.json") or {}) for path in _listing(self.root)]


def _move(source: Path, target: Path) -> None:
    try:
        os.rename(source, target)
    except OSError as error:
        if error.errno == errno.EXDEV:
            raise CacheMoveFailed(
                f"cannot move {source} to {target}: they are on different file systems; put mounts.root "
                "on the work root's file system (caches are moved, never copied)"
            ) from error
        raise CacheMoveFailed(f"cannot move {source} to {target}: {error.strerror or error}") from error


def _listing(directory: Path) -> list[Path]:
    with contextlib.suppress(FileNotFoundError):
        return sorted(path for path in directory.iterdir() if path.is_dir())
    return []
