"""Claiming within capacity, keeping claims alive across several claim periods, and losing them."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from tests.engine.conftest import MakeConfig, create_task, last_run, run_worker, runs, shell


async def test_never_more_runs_than_capacity(local_queue: Any, queue: Any, worker_config: MakeConfig) -> None:
    task_ids = [create_task(queue, {"n": n}) for n in range(7)]
    running = 0
    most = 0

    async def handler(ctx: Any) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.3)
        running -= 1

    records = await run_worker(worker_config(local_queue, capacity=3, idle_timeout=1.0), handler)
    assert most == 3
    assert sorted(r.task_id for r in records) == sorted(task_ids)
    assert all(last_run(queue, task_id) == "completed" for task_id in task_ids)


async def test_a_task_longer_than_several_claim_periods_keeps_its_claim(
    make_local_queue: Any, worker_config: MakeConfig
) -> None:
    import taskcluster

    local = make_local_queue(claim_timeout=2, resolver_interval=0.2)
    queue = taskcluster.Queue(local.client_options())
    task_id = create_task(queue, shell("sleep 5; echo done"))
    await run_worker(worker_config(local, max_tasks=1))
    assert [run["state"] for run in runs(queue, task_id)] == ["completed"]


async def test_a_cancelled_task_is_killed_at_the_next_reclaim_and_not_reported(
    make_local_queue: Any, worker_config: MakeConfig, tmp_path: Path
) -> None:
    import taskcluster

    local = make_local_queue(claim_timeout=3, resolver_interval=0.2)
    queue = taskcluster.Queue(local.client_options())
    pid_file = tmp_path / "pid"
    task_id = create_task(queue, shell(f"echo $$ > {pid_file}; exec sleep 60"))
    config = worker_config(local, max_tasks=1)

    async def cancel_once_running() -> float:
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.05)
        await asyncio.to_thread(queue.cancelTask, task_id)
        return time.monotonic()

    canceller = asyncio.create_task(cancel_once_running())
    records = await run_worker(config)
    cancelled_at = await canceller
    pid = int(pid_file.read_text())
    assert not _alive(pid)
    # The reclaim comes at most ~2 s (two thirds of the claim) after the cancel; the kill right after it.
    assert time.monotonic() - cancelled_at < 2 + 2 + 1
    assert records[0].reported is False
    assert [(run["state"], run["reasonResolved"]) for run in runs(queue, task_id)] == [
        ("exception", "canceled")
    ]
    assert not any(
        a["name"].startswith("public/logs") for a in queue.listArtifacts(task_id, "0")["artifacts"]
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: the worker reaps its own children, so this means still running.
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


async def test_reclaims_failing_transiently_are_retried_and_the_claim_holds(
    make_local_queue: Any, worker_config: MakeConfig
) -> None:
    import taskcluster

    from tests.engine.faultproxy import FaultProxy, Faults

    local = make_local_queue(claim_timeout=2, resolver_interval=0.2)
    queue = taskcluster.Queue(local.client_options())
    task_id = create_task(queue, {})
    proxy = await FaultProxy(local.root_url, Faults(error=0.3, drop=0.1, seed=7)).start()
    reclaims = 0

    async def slow(ctx: Any) -> None:
        nonlocal reclaims
        first = ctx.credentials()["clientId"]
        await asyncio.sleep(3.5)
        reclaims = int(ctx.credentials()["clientId"] != first)

    class ViaProxy:
        root_url = proxy.url
        root_credentials = local.root_credentials

    try:
        await run_worker(worker_config(ViaProxy, max_tasks=1), slow)
    finally:
        await proxy.stop()
    assert proxy.injected["error"] + proxy.injected["drop"] > 0
    assert reclaims == 1  # the credentials were swapped by a reclaim
    assert [run["state"] for run in runs(queue, task_id)] == ["completed"]


async def test_run_once_is_one_claim_run_report_cycle(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    from tcw.engine.daemon import WorkerSetup, open_worker

    task_ids = [create_task(queue, {"n": n}) for n in range(3)]

    async def handler(ctx: Any) -> None:
        await asyncio.sleep(0)

    config = worker_config(local_queue, capacity=2)
    async with open_worker(config, WorkerSetup(handler, None)) as worker:
        records = await worker.run_once()
    assert len(records) == 2 and all(record.reported for record in records)
    assert sorted(last_run(queue, task_id) for task_id in task_ids) == ["completed", "completed", "pending"]
