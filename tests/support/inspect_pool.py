"""A pool of workers with known misbehaviour, seeded on a local queue through the real API, for the tests
of `tcw inspect-runs` (tests/inspect/conftest.py seeds it once for the package)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tcw.localqueue.server import LocalQueue
from tests.support.seeding import ABANDON, COMPLETED, FAILED, Seeder

POOL = "inspect-test/pool"


@dataclass(frozen=True)
class Seeded:
    queue: LocalQueue
    task_group_id: str
    task_ids: frozenset[str]

    def env(self) -> dict[str, str]:
        creds = self.queue.root_credentials or {}
        return {"TASKCLUSTER_CLIENT_ID": creds["clientId"], "TASKCLUSTER_ACCESS_TOKEN": creds["accessToken"]}

    def cli(self, *args: str) -> list[str]:
        return ["tcw", "--root-url", self.queue.root_url, "inspect-runs", *args]


async def seed_mixed_pool(queue: LocalQueue, task_group_id: str) -> None:
    """Four normal workers failing one run in ten, one failing 70 %, one letting three claims expire.

    The expiring claims come last, so that only the final claim can pick up their retries.
    """
    async with Seeder(queue.client_options(), POOL) as seeder:
        await seeder.create_tasks(100, task_group_id)
        await asyncio.gather(
            *(seeder.work(f"dc1/w{i}", [COMPLETED] * 18 + [FAILED] * 2) for i in range(4)),
            seeder.work("dc1/bad", [FAILED] * 14 + [COMPLETED] * 6),
        )
        await seeder.create_tasks(15, task_group_id)
        abandoned = await seeder.work("dc2/flaky", [ABANDON] * 3)
        await seeder.work("dc2/flaky", [COMPLETED] * 12)
        await seeder.wait_pending_again([task_id for task_id, _ in abandoned])
        await seeder.work("dc1/w0", [COMPLETED] * 3)  # the retries of the expired claims succeed here
