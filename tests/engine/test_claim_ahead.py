"""Claim ahead: a slot takes its next task as soon as the task's processes are gone, while the finished
run's log upload and report are still in flight; and never more than one run finishing per slot."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.engine.faultproxy import FaultProxy, Faults
from tests.support.tasks import create_task, runs, shell
from tests.support.worker import MakeConfig, run_worker

REPORT_DELAY = 1.5  # every reportCompleted waits this long at the proxy


async def test_the_next_task_starts_while_the_last_one_reports_but_one_finishing_run_per_slot(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    task_ids = [await asyncio.to_thread(create_task, queue, shell("true")) for _ in range(3)]
    proxy = await FaultProxy(local_queue.root_url, Faults(slow={"/completed": REPORT_DELAY})).start()

    class ViaProxy:
        root_url = proxy.url
        root_credentials = local_queue.root_credentials

    try:
        records = await run_worker(worker_config(ViaProxy, capacity=1, max_tasks=3))
    finally:
        await proxy.stop()

    assert [record.resolution.state for record in records] == ["completed"] * 3
    first, second, third = [(await asyncio.to_thread(runs, queue, task_id))[0] for task_id in task_ids]
    # The second task was claimed while the first one's report waited at the proxy...
    assert second["started"] < first["resolved"], (first, second)
    # ...but the third only once the first had resolved: the second's report was then in flight too.
    assert third["started"] >= first["resolved"], (first, third)
