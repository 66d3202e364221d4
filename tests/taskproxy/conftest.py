"""Fixtures for the task proxy: a claimed run on the local queue, and a proxy started for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import taskcluster

from tcw.engine.taskproxy.server import TaskProxy
from tcw.engine.taskproxy.signing import task_authorized_scopes
from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import from_now
from tests.support.tasks import task_definition

TASK_QUEUE = "tcw-proxy/worker"
TASK_SCOPES = ["secrets:get:project/x"]


@dataclass
class ClaimedRun:
    """A run claimed from the local queue; ``credentials`` is what the engine would hold right now."""

    queue: LocalQueue
    task_id: str
    run_id: int
    task: dict[str, Any]
    credentials: dict[str, str]
    proxy: TaskProxy = field(init=False)

    def current(self) -> dict[str, str]:
        return self.credentials

    def reclaim(self) -> None:
        """Reclaim as the worker does (with the run's own credentials) and hold the new ones."""
        as_run = taskcluster.Queue(self.queue.client_options(self.credentials))
        self.credentials = as_run.reclaimTask(self.task_id, str(self.run_id))["credentials"]


def claim_run(queue: LocalQueue, scopes: list[str]) -> ClaimedRun:
    root = taskcluster.Queue(queue.client_options())
    task_id = taskcluster.slugId()
    definition = task_definition(TASK_QUEUE, scopes=scopes, expires=from_now(days=1))
    root.createTask(task_id, definition)
    claimed = root.claimWork(TASK_QUEUE, {"workerGroup": "g", "workerId": "w", "tasks": 1})["tasks"][0]
    return ClaimedRun(queue, task_id, claimed["runId"], claimed["task"], claimed["credentials"])


@pytest.fixture
def secrets_queue(local_queue: LocalQueue) -> LocalQueue:
    secrets = taskcluster.Secrets(local_queue.client_options())
    for name in ("project/x", "project/y"):
        secrets.set(name, {"secret": {"name": name}, "expires": from_now(hours=1)})
    return local_queue


@pytest.fixture
async def run(secrets_queue: LocalQueue) -> AsyncIterator[ClaimedRun]:
    """A run of a task with scope ``secrets:get:project/x``, and its proxy, started."""
    claimed = claim_run(secrets_queue, TASK_SCOPES)
    claimed.proxy = TaskProxy(
        root_url=secrets_queue.root_url,
        credentials=claimed.current,
        authorized_scopes=task_authorized_scopes(claimed.task, claimed.task_id, claimed.run_id),
        name=f"{claimed.task_id}/{claimed.run_id}",
    )
    await claimed.proxy.start()
    yield claimed
    await claimed.proxy.close()
