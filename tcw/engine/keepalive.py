"""Keeping one run's claim alive: reclaim before each ``takenUntil``, swap in the new credentials.

Runs beside the task as its own asyncio task, started with the run and cancelled when the run ends. The
schedule comes from the lease each claim or reclaim returns (its ``takenUntil``, timed on the queue's
clock), never from a constant, with a margin that leaves room to retry a failed reclaim before it lapses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tcw.engine.claim import Claim
from tcw.engine.queue_port import RunPort
from tcw.engine.retry import backoff_delay
from tcw.errors import QueueRefused, RunGone, TransientQueueError

log = logging.getLogger(__name__)

MAX_MARGIN = 180.0  # generic-worker reclaims 3 minutes before takenUntil


def reclaim_delay(seconds_left: float) -> float:
    """How long to wait before reclaiming: all but a margin of a third of the time left (at most 3 min)."""
    margin = min(MAX_MARGIN, seconds_left / 3)
    return max(0.0, seconds_left - margin)


async def keep_alive(claim: Claim, port: RunPort, on_lost: Callable[[str], None]) -> None:
    """Reclaim until cancelled; when the run is over (409/404, or the claim lapsed) call ``on_lost(why)``."""
    while True:
        await asyncio.sleep(reclaim_delay(claim.seconds_left()))
        why = await _reclaim_once(claim, port)
        if why is not None:
            on_lost(why)
            return


async def _reclaim_once(claim: Claim, port: RunPort) -> str | None:
    """One successful reclaim (retrying until ``takenUntil``), or why the run is over."""
    attempt = 0
    while True:
        try:
            lease = await port.reclaim()
        except RunGone as error:
            return f"the queue refused the reclaim, the run is over ({error.message})"
        except (TransientQueueError, QueueRefused) as error:
            left = claim.seconds_left()
            if left <= 0:
                return f"reclaims failed until takenUntil passed ({error.message})"
            log.warning("reclaim failed, retrying: %s", error.message, extra=claim.log_fields)
            await asyncio.sleep(min(backoff_delay(attempt, 0.5, 10.0), left))
            attempt += 1
            continue
        claim.renew(lease)
        log.debug("reclaimed until %s", lease.taken_until.isoformat(), extra=claim.log_fields)
        return None
