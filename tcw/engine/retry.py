"""Retrying a queue call that failed transiently, with exponential backoff and jitter."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """``base * 2**attempt`` capped, with ±25 % jitter so that many workers do not retry in step."""
    delay: float = min(cap, base * 2.0**attempt)
    return delay * random.uniform(0.75, 1.25)


async def retrying(
    operation: Callable[[], Awaitable[T]],
    *,
    transient: tuple[type[BaseException], ...],
    attempts: int,
    base: float = 0.5,
    cap: float = 8.0,
) -> T:
    """Run ``operation`` until it succeeds, a non-transient error escapes, or ``attempts`` are used up."""
    for attempt in range(attempts - 1):
        try:
            return await operation()
        except transient:
            await asyncio.sleep(backoff_delay(attempt, base, cap))
    return await operation()
