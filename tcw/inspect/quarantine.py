"""Quarantining flagged workers through the queue's ``quarantineWorker``.

Planning is separate from acting so ``--dry-run`` and the confirmation prompt show exactly the calls that
would be made. A worker already quarantined until after the requested time is left alone: re-quarantining it
would shorten an operator's "forever" (year 3000) quarantine to a few days.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tcw.errors import QueueUnavailable
from tcw.inspect.analyse import WorkerStats
from tcw.inspect.collect import QueueReader, queue_reader
from tcw.inspect.runs import WorkerKey, format_time

QUARANTINE_INFO_LIMIT = 4000  # characters the queue accepts in quarantineInfo


@dataclass(frozen=True)
class QuarantineAction:
    key: WorkerKey
    until: datetime
    info: str


@dataclass(frozen=True)
class QuarantinePlan:
    actions: tuple[QuarantineAction, ...]
    already_quarantined: tuple[WorkerStats, ...]  # until at or after the requested time: left alone


def quarantine_info(worker: WorkerStats, comment: str | None) -> str:
    """The comment the queue records with the quarantine: the operator's words, then the flags' reasons."""
    reasons = "; ".join(f"{flag.kind}: {flag.reason}" for flag in worker.flags)
    text = f"{comment} -- tcw inspect-runs: {reasons}" if comment else f"tcw inspect-runs: {reasons}"
    return text[:QUARANTINE_INFO_LIMIT]


def plan_quarantine(workers: Sequence[WorkerStats], until: datetime, comment: str | None) -> QuarantinePlan:
    actions, already = [], []
    for worker in workers:
        current = worker.info.quarantine_until
        if current is not None and current >= until:
            already.append(worker)
        else:
            actions.append(QuarantineAction(worker.key, until, quarantine_info(worker, comment)))
    return QuarantinePlan(tuple(actions), tuple(already))


@dataclass(frozen=True)
class QuarantineResult:
    action: QuarantineAction
    error: QueueUnavailable | None = None  # None: the queue accepted it


async def _quarantine_one(reader: QueueReader, action: QuarantineAction) -> QuarantineResult:
    key = action.key
    body = {"quarantineUntil": format_time(action.until), "quarantineInfo": action.info}
    route = (key.provisioner_id, key.worker_type, key.worker_group, key.worker_id)
    try:
        await reader.call("quarantineWorker", *route, body, label=", ".join(route))
    except QueueUnavailable as error:
        return QuarantineResult(action, error)
    return QuarantineResult(action)


async def _apply(
    client_options: Mapping[str, Any], plan: QuarantinePlan, concurrency: int
) -> list[QuarantineResult]:
    async with queue_reader(client_options, concurrency, Counter()) as reader:
        return list(await asyncio.gather(*(_quarantine_one(reader, action) for action in plan.actions)))


def apply_quarantine(
    client_options: Mapping[str, Any], plan: QuarantinePlan, concurrency: int
) -> list[QuarantineResult]:
    """Make every planned ``quarantineWorker`` call; one refused call does not stop the others."""
    if not plan.actions:
        return []
    return asyncio.run(_apply(client_options, plan, concurrency))
