"""A proxy between worker and queue drops, delays and fails requests; every task is resolved exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import taskcluster

from tests.engine.faultproxy import FaultProxy, Faults
from tests.support.localqueue import ServedQueue, served_queue
from tests.support.tasks import create_task, runs
from tests.support.worker import MakeConfig, run_worker

TASKS = 200


@pytest.mark.usefixtures("quick_client_retries")
async def test_two_hundred_tasks_through_a_faulty_network_resolve_exactly_once(
    worker_config: MakeConfig,
) -> None:
    # The queue in its own process: at a few hundred calls a second, it and this worker (with the proxy)
    # would take turns on one interpreter lock in this one.
    with served_queue() as served:
        await _run_two_hundred_tasks(served, worker_config)


async def _run_two_hundred_tasks(local_queue: ServedQueue, worker_config: MakeConfig) -> None:
    queue = taskcluster.Queue(local_queue.client_options())
    task_ids = await asyncio.to_thread(lambda: [create_task(queue, {"n": n}) for n in range(TASKS)])
    faults = Faults(drop=0.05, error=0.05, delay=0.1, lose_answer=0.05, max_delay=0.2)
    proxy = await FaultProxy(local_queue.root_url, faults).start()
    executed: Counter[str] = Counter()

    async def handler(ctx: Any) -> None:
        executed[ctx.task_id] += 1
        await ctx.artifacts.upload("public/result.txt", f"task {ctx.payload['n']}\n".encode())

    class ViaProxy:
        root_url = proxy.url
        root_credentials = local_queue.root_credentials

    try:
        records = await run_worker(
            # object artifacts: each takes four calls through the proxy, where s3's PUT would go around it
            worker_config(ViaProxy, capacity=16, max_tasks=TASKS, idle_timeout=10, artifact_storage="object"),
            handler,
        )
    finally:
        await proxy.stop()

    assert sum(proxy.injected.values()) > 50, proxy.injected
    assert all(count == 1 for count in executed.values()) and len(executed) == TASKS
    statuses = await asyncio.to_thread(lambda: {task_id: runs(queue, task_id) for task_id in task_ids})
    for task_id, task_runs in statuses.items():
        assert [run["state"] for run in task_runs] == ["completed"], (
            task_id,
            [run.get("reasonResolved") for run in task_runs],
        )
    assert Counter(record.task_id for record in records) == Counter(task_ids)
    assert all(record.reported for record in records)


@pytest.mark.usefixtures("quick_client_retries")
async def test_an_upload_whose_finish_answers_are_all_lost_is_not_lost(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    """The client gives up on finishUpload after its retries although the upload took effect; the
    publisher's own retry then meets "Object already exists" and must take the upload as done."""
    task_id = await asyncio.to_thread(create_task, queue, {})
    proxy = await FaultProxy(local_queue.root_url, Faults(lose_first={"/finish-upload/": 6})).start()

    async def handler(ctx: Any) -> None:
        await ctx.artifacts.upload("public/result.txt", b"made it\n")

    class ViaProxy:
        root_url = proxy.url
        root_credentials = local_queue.root_credentials

    try:
        records = await run_worker(worker_config(ViaProxy, max_tasks=1, artifact_storage="object"), handler)
    finally:
        await proxy.stop()
    assert proxy.injected["lose_answer"] == 6
    assert records[0].resolution.state == "completed"
    task_runs = await asyncio.to_thread(runs, queue, task_id)
    assert [run["state"] for run in task_runs] == ["completed"]
