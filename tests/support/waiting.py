"""Waiting for a condition instead of sleeping for a guessed time: poll briefly, fail with a message.

Use these only where there is nothing to await (a file another process writes, a table the code under test
keeps); a process's exit is awaited through its pidfd instead (`tests.support.processes.exited`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

POLL = 0.02  # seconds between two looks: short enough not to slow a test, long enough not to spin


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll until ``predicate()`` is truthy and return its value; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(POLL)
    raise AssertionError("condition not met in time")


async def until(predicate: Callable[[], Any], within: float = 5.0) -> Any:
    """The event loop's `wait_for`: poll ``predicate()`` until it is truthy, letting the loop run between
    two looks; its value, or fail the test after ``within`` s."""
    try:
        async with asyncio.timeout(within):
            while not (value := predicate()):  # noqa: ASYNC110 - nothing to await: that is why we poll
                await asyncio.sleep(POLL)
    except TimeoutError:
        raise AssertionError(f"condition not met in {within} s") from None
    return value


def _pids_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


async def wait_for_pids(path: Path, count: int, within: float = 10.0) -> list[int]:
    """The pids the helper scripts (or a task's ``echo $$``) wrote to ``path``, once ``count`` are there."""
    pids: list[int] = await until(lambda: len(found := _pids_in(path)) >= count and found, within)
    return pids
