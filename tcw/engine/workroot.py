"""The worker's directory tree, private to the worker and to each task, made without following symlinks.

```
<work root>/                 the worker's, 0700 (0710 with the task user's group when tasks run as one)
  logs/                      the worker's, 0700: task logs, out of a task user's reach
    task_<taskId>_<runId>.log      0600, created O_EXCL | O_NOFOLLOW
  task_<taskId>_<runId>/     0700, owned by the user the task runs as
```

A work root that exists already must be the worker's and writable by nobody else: under a shared temp dir
another user could have made it first and planted symlinks where the worker will write. Everything below
it is reached through directory descriptors, so a path swapped after the checks changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from tcw.errors import UsageError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
LOGS = "logs"

FileIdentity = tuple[int, int]
"""(st_dev, st_ino): which file a descriptor or path really is."""


class WorkRootError(UsageError):
    """The work root cannot be used safely; the message says why and what to do."""


@dataclass(frozen=True)
class Owner:
    """The user (and group) a task runs as, who owns its work directory."""

    uid: int
    gid: int


class WorkRoot:
    """An opened, checked work root. ``task_group`` is the group of the task user (None: tasks run as
    the worker), which alone may traverse the root to reach its own task directory."""

    def __init__(self, path: Path, task_group: int | None = None) -> None:
        self.path = path
        self._fd = _open_own_directory(path, 0o710 if task_group is not None else 0o700, None, task_group)
        try:
            self.logs = path / LOGS
            self._logs_fd = _open_own_directory(Path(LOGS), 0o700, self._fd, None, shown=self.logs)
        except BaseException:
            os.close(self._fd)
            raise

    def close(self) -> None:
        for fd in (self._logs_fd, self._fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def create_log(self, name: str) -> tuple[int, FileIdentity]:
        """A new, empty task log only the worker can open: a write descriptor and the file's identity.
        Whatever had the name (a symlink planted there, a crashed run's log) is removed, never followed."""
        _remove_entry(name, self._logs_fd)
        fd = os.open(name, _LOG_FLAGS, 0o600, dir_fd=self._logs_fd)
        info = os.fstat(fd)
        return fd, (info.st_dev, info.st_ino)

    def create_task_dir(self, name: str, owner: Owner | None = None) -> Path:
        """A fresh, private task directory, owned by ``owner`` when the task runs as another user."""
        _remove_entry(name, self._fd)
        os.mkdir(name, 0o700, dir_fd=self._fd)
        if owner is not None:
            os.chown(name, owner.uid, owner.gid, dir_fd=self._fd, follow_symlinks=False)
        return self.path / name

    def remove(self, name: str, *, log: bool = False) -> None:
        _remove_entry(name, self._logs_fd if log else self._fd)


def _open_own_directory(
    path: Path, mode: int, parent_fd: int | None, group: int | None, shown: Path | None = None
) -> int:
    """Create ``path`` (mode ``mode``) or open the one there, refusing it unless this user owns it and
    nobody else may write to it; then give it exactly ``mode``."""
    shown = shown or path
    if parent_fd is None:
        _make_parents(path)
    try:
        os.mkdir(path, mode, dir_fd=parent_fd)
    except FileExistsError:
        pass
    except OSError as error:
        raise _unusable(shown, error) from error
    flags = _DIR_FLAGS | (os.O_NOFOLLOW if parent_fd is not None else 0)
    try:
        fd = os.open(path, flags, dir_fd=parent_fd)
    except OSError as error:
        raise _unusable(shown, error) from error
    try:
        _check_owned(fd, shown)
        if group is not None:
            os.fchown(fd, -1, group)
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _make_parents(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _unusable(path, error) from error


def _unusable(path: Path, error: OSError) -> WorkRootError:
    return WorkRootError(f"work root {path}: not a writable directory ({error.strerror or error})")


def _check_owned(fd: int, shown: Path) -> None:
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        raise WorkRootError(
            f"work root {shown}: owned by uid {info.st_uid}, not by this worker (uid {os.geteuid()}); "
            "another user may have created it to plant files: remove it or set worker.work_root"
        )
    if stat.S_IMODE(info.st_mode) & 0o022:
        raise WorkRootError(
            f"work root {shown}: writable by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            "remove it or set worker.work_root to a directory only this worker can write"
        )


def _remove_entry(name: str, dir_fd: int) -> None:
    """Remove ``name`` in ``dir_fd`` whatever it is, following no symlink (``rmtree`` walks by fd)."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd, ignore_errors=True)
    else:
        os.unlink(name, dir_fd=dir_fd)
