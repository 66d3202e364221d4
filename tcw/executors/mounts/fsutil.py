"""File-system primitives the mounts rely on for crash safety: atomic state files, locks, a trash.

A worker can be killed at any instruction. State that says "this cache is clean" must therefore only
ever be written whole and only after the data it describes is in place: ``write_state`` writes a
temporary file, fsyncs it and renames it over the old one (rename is atomic on POSIX), then fsyncs the
directory so the rename itself survives a power cut. Locks are ``flock`` locks: the kernel drops them
when their holder dies, so a lock never outlives a killed worker and a stale "in use" is recognisable
as "state says in use, yet nobody holds the lock".

Deleting a large tree takes time and can fail halfway; a half-deleted cache must never be picked up
again. So nothing is deleted in place: it is first renamed into ``trash/`` (one atomic step), and the
trash is emptied afterwards, again later if that was interrupted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``state`` as JSON, all or nothing."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(dict(state), file, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    sync_directory(path.parent)


def read_state(path: Path) -> dict[str, Any] | None:
    """The state at ``path``, or None when it is missing or not a JSON object (never half-written,
    see ``write_state``; unreadable means someone else's file or a disk fault: treat it as absent)."""
    try:
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def sync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Lock:
    """A held ``flock``; ``release`` (or the holder's death) lets it go."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor: int | None = descriptor

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the last descriptor drops the flock
            self._descriptor = None

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_lock(path: Path, *, shared: bool = False) -> Lock | None:
    """The lock on ``path`` (created if missing) if nobody holds it in a conflicting mode, else None.

    Each call opens the file anew, so two holders in one process conflict like two processes do."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    except BaseException:
        os.close(descriptor)
        raise
    return Lock(descriptor)


def move_to_trash(path: Path, trash: Path) -> None:
    """Take ``path`` out of use in one atomic rename; ``empty_trash`` deletes it later."""
    trash.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.rename(path, trash / uuid.uuid4().hex)


def empty_trash(trash: Path) -> None:
    """Delete what was moved to the trash; what cannot be deleted now stays for the next call."""
    for entry in _entries(trash):
        remove_tree(entry)


def remove_tree(path: Path) -> None:
    """Delete a tree even where the task left it unwritable (a directory without its write bit)."""

    def make_writable_and_retry(function: Any, name: str, _: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), 0o700)
            if os.path.isdir(name) and not os.path.islink(name):
                os.chmod(name, 0o700)
            function(name)

    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    shutil.rmtree(path, onerror=make_writable_and_retry)


Owner = tuple[int, int]
"""(uid, gid) of the user tasks run as."""


def make_private(path: Path) -> None:
    """``path`` as a directory only the worker's user can enter: caches of other tasks and the content
    store live there, and a task user must reach them only through what is mounted in its own directory."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def give_tree(path: Path, owner: Owner) -> None:
    """Everything under ``path`` (symlinks themselves, never their targets) to ``owner``."""
    os.lchown(path, *owner)
    for directory, subdirectories, files in os.walk(path):
        for name in (*subdirectories, *files):
            os.lchown(os.path.join(directory, name), *owner)


def give_directories(path: Path, owner: Owner) -> None:
    """The directories and symlinks under ``path`` to ``owner``, so a task can add files there; the files
    stay as they are (a read-only mount's files are the content store's, shared by hard links)."""
    os.lchown(path, *owner)
    for directory, subdirectories, files in os.walk(path):
        for name in subdirectories:
            os.lchown(os.path.join(directory, name), *owner)
        for name in files:
            if os.path.islink(os.path.join(directory, name)):
                os.lchown(os.path.join(directory, name), *owner)


def tree_size(path: Path) -> int:
    """Bytes allocated under ``path`` (hard links counted once per tree, symlinks not followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for directory, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(directory, name))
                if (info.st_dev, info.st_ino) not in seen:
                    seen.add((info.st_dev, info.st_ino))
                    total += info.st_blocks * 512
    return total


def _entries(directory: Path) -> Iterator[Path]:
    try:
        yield from sorted(directory.iterdir())
    except FileNotFoundError:
        return
