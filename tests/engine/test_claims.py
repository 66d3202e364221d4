"""Claiming within capacity, keeping claims alive across several claim periods, and losing them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import exited
from tests.support.tasks import create_task, last_run, runs, shell
from tests.support.waiting import until, wait_for_pids
from tests.support.worker import MakeConfig, run_worker


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

    records = await run_worker(worker_config(local_queue, capacity=3, max_tasks=7), handler)
    assert most == 3
    assert sorted(r.task_id for r in records) == sorted(task_ids)
    assert all(last_run(queue, task_id) == "completed" for task_id in task_ids)


async def test_a_task_longer_than_several_claim_periods_keeps_its_claim(
    make_local_queue: Any, worker_config: MakeConfig
) -> None:
    import taskcluster

    # 2.5 s claims: each reclaim has 0.83 s to spare on a busy machine (three pytest workers on two cores)
    local = make_local_queue(claim_timeout=2.5, resolver_interval=0.2)
    queue = taskcluster.Queue(local.client_options())
    task_id = create_task(queue, shell("sleep 5.5; echo done"))  # reclaimed at 1.67, 3.33 and 5 s
    await run_worker(worker_config(local, max_tasks=1))
    assert [run["state"] for run in runs(queue, task_id)] == ["completed"]


async def test_a_cancelled_task_is_killed_within_2_s_of_the_next_reclaim_and_not_reported(
    make_local_queue: Any, worker_config: MakeConfig, tmp_path: Path
) -> None:
    import taskcluster

    local = make_local_queue(claim_timeout=2, resolver_interval=0.2)
    queue = taskcluster.Queue(local.client_options())
    scripts = {"plain": "", "ignores SIGTERM": "trap '' TERM; "}
    pid_files = {name: tmp_path / f"pid-{index}" for index, name in enumerate(scripts)}
    task_ids = {
        name: create_task(queue, shell(f"{trap}echo $$ > {pid_files[name]}; exec sleep 60"))
        for name, trap in scripts.items()
    }
    reclaim_refused = _RunOverTimes()
    taskrun_log = logging.getLogger("tcw.engine.taskrun")
    taskrun_log.addHandler(reclaim_refused)
    level = taskrun_log.level
    taskrun_log.setLevel(logging.WARNING)  # whatever an earlier in-process CLI run set (-q)

    async def cancel_and_time_the_kill(name: str) -> tuple[float, float]:
        """Cancel the task once it runs; when (monotonic) it was cancelled and when its process died."""
        [pid] = await wait_for_pids(pid_files[name], 1, within=60)
        await asyncio.to_thread(queue.cancelTask, task_ids[name])
        cancelled_at = time.monotonic()
        await exited(pid)
        return cancelled_at, time.monotonic()

    watchers = {name: asyncio.create_task(cancel_and_time_the_kill(name)) for name in scripts}
    try:
        records = await run_worker(worker_config(local, capacity=2, max_tasks=2))
    finally:
        taskrun_log.removeHandler(reclaim_refused)
        taskrun_log.setLevel(level)
    for name, watcher in watchers.items():
        cancelled_at, died_at = await asyncio.wait_for(watcher, timeout=10)
        refused_at = reclaim_refused.times[task_ids[name]]
        assert cancelled_at < refused_at < died_at, name  # alive until the reclaim told the worker
        assert died_at - refused_at < 2.0, f"{name}: killed {died_at - refused_at:.2f} s after the reclaim"
    assert all(record.reported is False for record in records)
    for task_id in task_ids.values():
        assert [(run["state"], run["reasonResolved"]) for run in runs(queue, task_id)] == [
            ("exception", "canceled")
        ]
        assert not any(
            a["name"].startswith("public/logs") for a in queue.listArtifacts(task_id, "0")["artifacts"]
        )


class _RunOverTimes(logging.Handler):
    """When (monotonic) the worker learnt from a reclaim that each task's run is over, by taskId."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.times: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("run is over"):
            self.times.setdefault(getattr(record, "taskId", ""), time.monotonic())


@pytest.mark.usefixtures("quick_client_retries")
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
        await asyncio.sleep(2.5)  # a reclaim must have succeeded by 2 s, when the claim would lapse
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


async def test_a_retry_claimed_while_its_lost_run_is_torn_down_is_still_stopped_on_request(
    make_local_queue: Any, worker_config: MakeConfig
) -> None:
    """Run 0 is lost (resolved behind the worker's back, so its reclaim answers 409) while the same worker,
    with a free slot, has claimed run 1; run 0's clean-up must not take run 1 out of ``request_stop``'s
    reach."""
    import taskcluster

    from tcw.engine.daemon import WorkerSetup, open_worker
    from tcw.executors.api import WorkerShutdown

    local = make_local_queue(claim_timeout=2, resolver_interval=0.2)
    queue = taskcluster.Queue(local.client_options())
    task_id = create_task(queue, {}, retries=1)
    retry_started = asyncio.Event()

    async def handler(ctx: Any) -> None:
        if ctx.run_id == 0:
            await asyncio.to_thread(queue.reportException, task_id, "0", {"reason": "worker-shutdown"})
            await asyncio.wait_for(retry_started.wait(), 10)
            await asyncio.wait_for(ctx.cancelled.wait(), 10)  # the reclaim found the run over
            return
        retry_started.set()
        with contextlib.suppress(TimeoutError):  # not stopped: the run completes, and the test fails
            await asyncio.wait_for(ctx.cancelled.wait(), 8)
            raise WorkerShutdown("stopped")

    config = worker_config(local, capacity=2, idle_timeout=None)
    async with open_worker(config, WorkerSetup(handler, None)) as worker:
        serving = asyncio.create_task(worker.run_forever())
        await until(lambda: any(record.run_id == 0 for record in worker.records), within=20)
        worker.request_stop(immediate=True)
        records = await asyncio.wait_for(serving, 20)
    retry = next(record for record in records if record.run_id == 1)
    assert str(retry.resolution) == "exception/worker-shutdown"
    assert last_run(queue, task_id) == "exception/worker-shutdown"
