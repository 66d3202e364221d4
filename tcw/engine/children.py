"""How the worker's event loop waits for the task processes executors start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def children_watched_by_pidfd() -> Iterator[bool]:
    """Within the block, the running loop waits for children through pidfds, not a thread per child.

    Python 3.11's default child watcher starts a thread for every process just to ``waitpid`` it, which at
    a few tasks a second costs the worker several per cent of its CPU; 3.12 made the pidfd watcher the
    default (and deprecated choosing one), so there this does nothing. The watcher is global to the
    event-loop policy, so the previous one comes back on the way out: a later loop in the same process
    must not inherit a watcher tied to a closed one. Yields whether the watcher was switched.
    """
    if not _pidfd_usable():
        yield False
        return
    policy = asyncio.get_event_loop_policy()
    previous = policy.get_child_watcher()
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    policy.set_child_watcher(watcher)
    try:
        yield True
    finally:
        policy.set_child_watcher(previous)
        watcher.close()


def _pidfd_usable() -> bool:
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel older than 5.3, or a sandbox that forbids it
        return False
    return True
