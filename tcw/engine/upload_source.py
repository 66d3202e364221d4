"""Opening a file to upload as an artifact, when the task may have prepared a trap at its path.

A task controls its work directory, so a path in it may be a symlink (to ``/proc/self/environ``, to the
worker's config), a FIFO, or a hard link to a file of the worker's that it could never read through the
upload otherwise. What is uploaded is opened without following a symlink, must be a regular file with one
link, and must really lie inside the run's work directory (checked on the open descriptor, so swapping a
directory for a symlink after the check changes nothing), unless it is a file the worker created itself
(the task log), known by its device and inode.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO

from tcw.engine.workroot import FileIdentity

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeSource(Exception):
    """The path cannot be uploaded; the message says why (it ends a sentence starting with the path)."""


def open_upload_source(path: Path, roots: Collection[Path], own_files: Collection[FileIdentity]) -> BinaryIO:
    """``path`` opened for reading, if it is one of ``own_files`` or a singly linked regular file inside
    one of ``roots`` (with no root given, any such file); raises ``UnsafeSource`` otherwise."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError as error:
        raise UnsafeSource("does not exist") from error
    except OSError as error:
        raise UnsafeSource(f"cannot be opened without following a link ({error.strerror})") from error
    try:
        _check(fd, path, roots, own_files)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check(fd: int, path: Path, roots: Collection[Path], own_files: Collection[FileIdentity]) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeSource("is not a regular file")
    if (info.st_dev, info.st_ino) in own_files:
        return
    if info.st_nlink != 1:
        raise UnsafeSource(f"has {info.st_nlink} hard links (a link to a file elsewhere is not uploaded)")
    if roots and not any(_real_path(fd, path).is_relative_to(root.resolve()) for root in roots):
        raise UnsafeSource("is outside the task directory")


def _real_path(fd: int, path: Path) -> Path:
    """Where the open file really is: the kernel's answer where there is /proc, else the resolved path."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return path.resolve()
