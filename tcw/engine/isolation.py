"""Keeping the worker's own secrets out of reach of the tasks it runs.

Removing the credentials from ``os.environ`` stops children inheriting them, but a task running as the same
user could still read them from ``/proc/<worker pid>/environ`` (the kernel keeps the environment the
process started with) or attach to the worker with ptrace and read its memory. Marking the worker
non-dumpable makes its ``/proc`` files root-owned and refuses ptrace by the same user; a task's ``execve``
resets the flag, so the tasks themselves are unaffected. A separate user for tasks is still the stronger
wall; this closes the gap when there is none.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import MutableMapping

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
        if name in SECRET_VARIABLES or name.startswith("TCW_CREDENTIALS_"):
            del environ[name]


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
    """Both walls, before the worker starts any task."""
    scrub_worker_credentials(os.environ)
    hide_process_memory()
