"""Seed a queue with task runs through the real API, as workers would leave them.

Tasks are created with the given (root) credentials; each simulated worker claims them with ``claimWork``
under its own ``workerGroup/workerId`` and resolves each run with the temporary credentials the claim
returned, or abandons the claim so the queue resolves it ``claim-expired``. Used by the integration tests and
by ``bench/inspect_scale.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import slugid
import taskcluster.aio

from tests.support.tasks import task_definition

# How a simulated worker ends a claimed run.
COMPLETED, FAILED, ABANDON = "completed", "failed", "abandon"
EXPIRY_WAIT = 15.0  # seconds `wait_pending_again` gives the queue to expire abandoned claims


class Seeder:
    """One session and root client against a queue, for creating tasks and playing workers."""

    def __init__(self, client_options: Mapping[str, Any], task_queue_id: str, concurrency: int = 16) -> None:
        self.options = dict(client_options)
        self.task_queue_id = task_queue_id
        self.slots = asyncio.Semaphore(concurrency)
        self.session: Any = None
        self.queue: Any = None

    async def __aenter__(self) -> Seeder:
        self.session = taskcluster.aio.createSession()
        self.queue = taskcluster.aio.Queue(self.options, session=self.session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def create_tasks(self, count: int, task_group_id: str, retries: int = 3) -> list[str]:
        async def create(index: int) -> str:
            task_id: str = slugid.nice()
            async with self.slots:
                definition = task_definition(
                    self.task_queue_id, taskGroupId=task_group_id, retries=retries, schedulerId="tcw-tests"
                )
                definition["metadata"]["name"] = f"inspect test task {index}"
                await self.queue.createTask(task_id, definition)
            return task_id

        return list(await asyncio.gather(*(create(i) for i in range(count))))

    async def claim(self, worker: str, count: int) -> list[dict[str, Any]]:
        """Claim exactly ``count`` pending tasks as ``worker`` ("group/id"), in batches of up to 32."""
        group, worker_id = worker.split("/")
        claims: list[dict[str, Any]] = []
        while len(claims) < count:
            answer = await self.queue.claimWork(
                self.task_queue_id,
                {"workerGroup": group, "workerId": worker_id, "tasks": min(32, count - len(claims))},
            )
            claims.extend(answer["tasks"])
        return claims

    async def resolve(self, claim: Mapping[str, Any], outcome: str) -> None:
        if outcome == ABANDON:
            return
        options = {"rootUrl": self.options["rootUrl"], "credentials": claim["credentials"]}
        task_queue = taskcluster.aio.Queue(options, session=self.session)
        task_id, run_id = claim["status"]["taskId"], claim["runId"]
        async with self.slots:
            if outcome == COMPLETED:
                await task_queue.reportCompleted(task_id, run_id)
            elif outcome == FAILED:
                await task_queue.reportFailed(task_id, run_id)
            else:
                await task_queue.reportException(task_id, run_id, {"reason": outcome})

    async def work(self, worker: str, outcomes: Sequence[str]) -> list[tuple[str, int]]:
        """Claim one task per outcome as ``worker`` and end each run that way; returns (taskId, runId)."""
        claims = await self.claim(worker, len(outcomes))
        await asyncio.gather(*(self.resolve(c, o) for c, o in zip(claims, outcomes, strict=True)))
        return [(c["status"]["taskId"], c["runId"]) for c in claims]

    async def wait_pending_again(self, task_ids: Sequence[str]) -> None:
        """Wait until each task's last run is a pending retry (its claim expired and the queue retried it),
        for up to EXPIRY_WAIT seconds."""
        waiting = set(task_ids)
        try:
            async with asyncio.timeout(EXPIRY_WAIT):
                while waiting:
                    for task_id in list(waiting):
                        runs = (await self.queue.status(task_id))["status"]["runs"]
                        if len(runs) > 1 and runs[-1]["state"] == "pending":
                            waiting.discard(task_id)
                    if waiting:
                        await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(
                f"claims of {sorted(waiting)} did not expire within {EXPIRY_WAIT} s"
            ) from None


def outcomes(**counts: int) -> list[str]:
    """``outcomes(completed=18, failed=2)`` -> a list with those outcomes interleaved."""
    pool = [name for name, count in counts.items() for _ in range(count)]
    return pool[0::2] + pool[1::2]
