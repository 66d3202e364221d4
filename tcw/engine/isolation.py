"""Keeping the worker's own secrets out of reach of the tasks it runs.

Removing the credentials from ``os.environ`` stops children inheriting them, but a task running as the same
user could still read them from ``/proc/<worker pid>/environ`` (the kernel keeps the environment the
process started with) or attach to the worker with ptrace and read its memory. Marking the worker
non-dumpable makes its ``/proc`` files root-owned and refuses ptrace by the same user; a task's ``execve``
resets the flag, so the tasks themselves are unaffected. Root reads root-owned files all the same, so the
secrets are also erased from the kernel's copy of the environment (the initial stack area that
``/proc/<pid>/environ`` shows), and tasks do not run as root unless told to (``sandbox.py``). A separate
user for tasks (``worker.task_user``) is still the stronger wall; this closes the gap when there is none.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

log = logging.getLogger(__name__)

# Variables holding the worker's own credentials; tasks get the run's temporary ones from the engine.
SECRET_VARIABLES = (
    "TASKCLUSTER_CLIENT_ID",
    "TASKCLUSTER_ACCESS_TOKEN",
    "TASKCLUSTER_CERTIFICATE",
    "TCW_WORKER_STATIC_SECRET",  # what registers a static worker in its pool
)
PR_SET_DUMPABLE = 4


def scrub_worker_credentials(environ: MutableMapping[str, str]) -> None:
    """Remove the worker's credentials from ``environ`` (already read into the config), so no process
    started from here can inherit them, whatever its executor does with the environment."""
    for name in list(environ):
        if _is_secret(name):
            del environ[name]


def _is_secret(name: str) -> bool:
    return name in SECRET_VARIABLES or name.startswith("TCW_CREDENTIALS_")


def erase_initial_environment() -> int:
    """Overwrite the worker's credentials in the environment block the kernel shows as
    ``/proc/<pid>/environ`` (Linux); how many entries were erased. ``os.environ`` is a copy of that
    block and C's ``environ`` no longer points into it for names already removed with ``unsetenv``."""
    try:
        fields = Path("/proc/self/stat").read_bytes().rsplit(b")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50 and 51)
    except (OSError, IndexError, ValueError):
        return 0
    if not 0 < start < end:
        return 0
    block = ctypes.string_at(start, end - start)
    erased, offset = 0, 0
    for entry in block.split(b"\0"):
        name = entry.partition(b"=")[0].decode("utf-8", "replace")
        if entry and _is_secret(name):
            ctypes.memset(start + offset, 0, len(entry))
            erased += 1
        offset += len(entry) + 1
    return erased


def hide_process_memory() -> bool:
    """Make this process non-dumpable (Linux); False where the platform has no such switch."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("could not make the worker non-dumpable (errno %d)", ctypes.get_errno())
        return False
    return True


def protect_worker_secrets() -> None:
    """All three walls, before the worker starts any task."""
    scrub_worker_credentials(os.environ)
    if sys.platform.startswith("linux"):
        erase_initial_environment()
    hide_process_memory()
