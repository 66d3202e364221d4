"""Waiting for a condition instead of sleeping for a guessed time: poll briefly, fail with a message."""

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


def _pids_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


async def wait_for_pids(path: Path, count: int, within: float = 10.0) -> list[int]:
    """The pids the helper scripts wrote to ``path``, once ``count`` of them are there."""
    async with asyncio.timeout(within):
        while len(pids := await asyncio.to_thread(_pids_in, path)) < count:
            await asyncio.sleep(POLL)
    return pids
