"""A periodic line for a long-running task, so a worker running a 10-minute task is not silent for 10
minutes: how long it has run and how big its log has grown (which says whether it is still doing
something)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from tcw.engine.claim import Claim

log = logging.getLogger(__name__)


async def log_progress(claim: Claim, log_path: Path, interval: float) -> None:
    """Log a progress line every ``interval`` seconds until cancelled (0 or less: never)."""
    if interval <= 0:
        return
    started = time.monotonic()
    while True:
        await asyncio.sleep(interval)
        elapsed = time.monotonic() - started
        try:
            size = (await asyncio.to_thread(log_path.stat)).st_size
        except OSError:
            size = 0
        fields = {**claim.log_fields, "elapsed": round(elapsed, 1), "logBytes": size}
        log.info("still running after %s, task log %s", _duration(elapsed), _size(size), extra=fields)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"
