"""The clock's part: a background loop that resolves lapsed claims and tasks past their deadline, and now
and then forgets expired artifacts and objects with their bytes, as the real queue's periodic jobs do.

Each pass works in short transactions of its own, between requests on the queue's event loop, so a pass
never holds the database while a handler waits for it.
"""

from __future__ import annotations

import asyncio
import logging

from tcw.localqueue.core.dates import format_date
from tcw.localqueue.services.queue.resolution import resolve_active, resolve_run
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage import artifacts, objects, task_groups, workers
from tcw.localqueue.storage import tasks as rows
from tcw.localqueue.storage.database import transaction

log = logging.getLogger(__name__)

# Expired storage is swept every this many resolver passes: once a minute at the default 5 s interval.
EXPIRY_SWEEP_EVERY = 12


def expire_claims(state: QueueState) -> int:
    """Resolve runs whose claim lapsed as ``exception/claim-expired`` (retried while retries remain).
    Tasks past their deadline are left to the deadline resolver."""
    now = format_date(state.now())
    expired = 0
    for task_id, run_id in rows.lapsed_claims(state.db, now):
        with transaction(state.db):
            task = rows.load_task(state.db, task_id)
            run = rows.load_run(state.db, task_id, run_id)
            if task is None or run is None or run.state != "running" or format_date(task.deadline) <= now:
                continue
            if run.taken_until is None or format_date(run.taken_until) > now:
                continue  # reclaimed meanwhile
            resolve_run(state, task, run, "exception", "claim-expired")
            expired += 1
    return expired


def resolve_deadlines(state: QueueState) -> int:
    """Resolve every unfinished task past its deadline as ``exception/deadline-exceeded`` (no retry)."""
    now = format_date(state.now())
    past_deadline = rows.open_tasks_past_deadline(state.db, now)
    for task_id in past_deadline:
        with transaction(state.db):
            task = rows.load_task(state.db, task_id)
            if task is not None:
                resolve_active(state, task, "deadline-exceeded")
    return len(past_deadline)


def resolve_due(state: QueueState) -> None:
    expired, past_deadline = expire_claims(state), resolve_deadlines(state)
    if expired or past_deadline:
        log.info("resolved %d expired claims and %d tasks past their deadline", expired, past_deadline)


def sweep_expired(state: QueueState) -> None:
    """Forget what has expired, as the real queue's expire-* jobs do: artifacts and objects (and the bytes
    they held), tasks with their runs and dependencies, task groups, workers and task queues."""
    now = state.now()
    gone_artifacts = artifacts.expire_artifacts(state.db, state.blob_dir, now)
    gone_objects = objects.expire_objects(state.db, state.blob_dir, now)
    gone_tasks = rows.expire_tasks(state.db, format_date(now))
    task_groups.expire_groups(state.db, format_date(now))
    gone_workers = workers.expire_workers(state.db, format_date(now))
    if gone_artifacts or gone_objects or gone_tasks or gone_workers:
        log.info(
            "removed expired: %d artifacts, %d objects, %d tasks, %d workers",
            gone_artifacts,
            gone_objects,
            gone_tasks,
            gone_workers,
        )


async def run_forever(state: QueueState) -> None:
    """The resolver loop, sweeping expired storage on its first pass and every ``EXPIRY_SWEEP_EVERY``-th
    after; a failing pass is logged and the next one tries again."""
    passes = 0
    while True:
        try:
            resolve_due(state)
            if passes % EXPIRY_SWEEP_EVERY == 0:
                sweep_expired(state)
        except Exception:
            log.exception("local queue resolver pass failed")
        passes += 1
        await asyncio.sleep(state.resolver_interval)
