"""Claim ahead: a slot takes its next task as soon as the task's processes are gone, while the finished
run's log upload and report are still in flight; and never more than one run finishing per slot.

Most tests hold a run's report at a proxy (``ReportGate``) for as long as they need it finishing, so what
happens meanwhile (a stop, a drain, the idle clock, a lost claim, the metrics) is seen without a guessed
sleep; the run's handler names the run to hold, so nothing depends on the order the queue hands tasks out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tcw.config import Config
from tcw.engine.daemon import WorkerSetup, open_worker, serve_one
from tcw.engine.status import snapshot, status_path, write_private
from tcw.engine.worker import RunRecord, Worker
from tcw.executors.api import WorkerShutdown
from tests.engine.faultproxy import FaultProxy, Faults
from tests.engine.test_shutdown import start_worker
from tests.support.cli import RunCli
from tests.support.tasks import create_task, last_run, runs, shell
from tests.support.waiting import until
from tests.support.worker import MakeConfig, run_worker

REPORT_DELAY = 0.6  # every reportCompleted waits this long at the proxy
REPORT = re.compile(r"/task/([^/]+)/runs/\d+/(completed|failed|exception)$")
Handler = Callable[[Any], Any]


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


@dataclass
class ReportGate(FaultProxy):
    """Forwards everything, except that the reports of the tasks in ``held`` wait until the test takes
    them out, and the next ``fail[taskId]`` report attempts of a task are answered 500."""

    held: set[str] = field(default_factory=set)
    fail: Counter[str] = field(default_factory=Counter)
    arrived: Counter[str] = field(default_factory=Counter)  # report attempts per taskId
    claim_polls: int = 0
    _polling: set[asyncio.Task[Any]] = field(default_factory=set)

    async def stop(self) -> None:
        for poll in self._polling:  # abandoned by the worker: not worth waiting out the queue's long-poll
            poll.cancel()
        await super().stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if "/claim-work/" in request.path:
            self.claim_polls += 1
            poll = asyncio.current_task()
            assert poll is not None
            self._polling.add(poll)
            try:
                return await super()._handle(request)
            finally:
                self._polling.discard(poll)
        report = REPORT.search(request.path)
        if report is not None:
            task_id = report.group(1)
            self.arrived[task_id] += 1
            if self.fail[task_id] > 0:
                self.fail[task_id] -= 1
                return web.Response(status=500, text="injected failure")
            while task_id in self.held:  # noqa: ASYNC110 - the test releases it by taking it out
                await asyncio.sleep(0.01)
        return await super()._handle(request)


@pytest.fixture
async def gate(local_queue: Any) -> AsyncIterator[ReportGate]:
    proxy = ReportGate(local_queue.root_url, Faults())
    await proxy.start()
    yield proxy
    proxy.held.clear()
    await proxy.stop()


def via(gate: ReportGate, config: Config) -> Config:
    return replace(config, root_url=gate.url)


@contextlib.asynccontextmanager
async def serving(
    gate: ReportGate, config: Config, handler: Handler
) -> AsyncIterator[tuple[Worker, asyncio.Task[list[RunRecord]]]]:
    """An opened worker calling through ``gate`` with ``handler`` as its executor, its ``run_forever``
    running in the background."""
    async with open_worker(via(gate, config), WorkerSetup(handler, None)) as worker:
        job = asyncio.create_task(worker.run_forever())
        try:
            yield worker, job
        finally:  # a failed test leaves nothing running
            if not job.done():
                worker.request_stop(immediate=True)
                gate.held.clear()
            await asyncio.wait_for(asyncio.gather(job, return_exceptions=True), 20)


async def stopped_on_request(ctx: Any) -> None:
    await ctx.cancelled.wait()
    raise WorkerShutdown("stopped")


def by_task(records: list[RunRecord]) -> dict[str, RunRecord]:
    assert len({record.task_id for record in records}) == len(records), records  # each run ended once
    return {record.task_id: record for record in records}


# -- stopping while a run reports ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["grace-expires", "second-stop", "drain-without-finishing"])
async def test_a_stop_while_a_run_reports_stops_the_next_task_but_not_the_report(
    local_queue: Any,
    queue: Any,
    worker_config: MakeConfig,
    gate: ReportGate,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    """``drain(finish_tasks=False)`` is worker-runner's graceful-termination and the pool's failed
    reregistration."""
    for _ in range(2):
        create_task(queue, {})
    order: list[str] = []

    async def handler(ctx: Any) -> None:
        order.append(ctx.task_id)
        if len(order) == 1:  # the run that finishes: its report waits at the gate
            gate.held.add(ctx.task_id)
            return
        await stopped_on_request(ctx)

    config = worker_config(local_queue, idle_timeout=None, shutdown_grace=0.3)
    caplog.set_level(logging.INFO, logger="tcw.engine.worker")
    async with serving(gate, config, handler) as (worker, job):
        await until(lambda: len(order) == 2 and gate.arrived[order[0]], within=10)
        if how == "drain-without-finishing":
            worker.drain(finish_tasks=False)
        else:
            worker.request_stop()
        if how == "second-stop":
            worker.request_stop()
        # The running task is stopped (at once, or when the grace is over) and reported...
        await until(lambda: gate.arrived[order[1]], within=10)
        # ...while the finished one's report, still held, keeps the worker from returning.
        assert not job.done()
        gate.held.clear()
        records = by_task(await asyncio.wait_for(job, 20))
    finished, stopped = order
    assert str(records[finished].resolution) == "completed" and records[finished].reported
    assert str(records[stopped].resolution) == "exception/worker-shutdown" and records[stopped].reported
    assert [run["state"] for run in runs(queue, finished)] == ["completed"]
    assert last_run(queue, stopped) == "exception/worker-shutdown"
    # What the worker says it stops counts the running task, not the one already reporting.
    said = (
        "1 running task(s) have 0 s to finish"
        if how == "grace-expires"
        else "stopping now: 1 running task(s)"
    )
    assert said in caplog.text, caplog.text


async def test_sigterm_on_tcw_run_while_a_run_reports_kills_the_next_task_and_keeps_the_report(
    local_queue: Any, queue: Any, tmp_path: Path, gate: ReportGate
) -> None:
    """The same through the signal handler, with real task processes: `true` reports (held) while
    `sleep 30` runs; SIGTERM, the grace passes, the sleep is killed and reported, then the report lands."""
    finished = create_task(queue, shell("true"))
    killed = create_task(queue, shell(f"echo $$ > {tmp_path / 'pid'}; exec sleep 30"))
    gate.held.add(finished)

    class ViaGate:
        root_url = gate.url
        root_credentials = local_queue.root_credentials

    process = start_worker(ViaGate, tmp_path, "--shutdown-grace", "0.5")
    try:
        await until(lambda: gate.arrived[finished] and (tmp_path / "pid").exists(), within=20)
        process.send_signal(signal.SIGTERM)
        await until(lambda: gate.arrived[killed], within=20)  # stopped at the end of the grace
        assert process.poll() is None  # still waiting for the held report
        gate.held.clear()
        _, stderr = await asyncio.to_thread(process.communicate, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr.decode()
    assert [run["state"] for run in runs(queue, finished)] == ["completed"]
    assert last_run(queue, killed) == "exception/worker-shutdown"


async def test_a_stop_while_only_a_report_is_in_flight_waits_for_it(
    local_queue: Any, queue: Any, worker_config: MakeConfig, gate: ReportGate
) -> None:
    task_id = create_task(queue, {})

    async def handler(ctx: Any) -> None:
        gate.held.add(ctx.task_id)

    config = worker_config(local_queue, idle_timeout=None, shutdown_grace=0.2)
    async with serving(gate, config, handler) as (worker, job):
        await until(lambda: gate.arrived[task_id], within=10)
        worker.request_stop()
        await asyncio.sleep(0.4)  # past the grace: shutting the runs down must not touch a finished one
        assert not job.done()
        gate.held.clear()
        records = by_task(await asyncio.wait_for(job, 20))
    assert str(records[task_id].resolution) == "completed" and records[task_id].reported
    assert last_run(queue, task_id) == "completed"


async def test_a_drain_while_a_run_reports_returns_once_the_report_landed(
    local_queue: Any,
    queue: Any,
    worker_config: MakeConfig,
    gate: ReportGate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    task_id = create_task(queue, {})

    async def handler(ctx: Any) -> None:
        gate.held.add(ctx.task_id)

    caplog.set_level(logging.INFO, logger="tcw.engine.worker")
    async with serving(gate, worker_config(local_queue, idle_timeout=None), handler) as (worker, job):
        await until(lambda: gate.arrived[task_id], within=10)
        worker.drain()
        await asyncio.sleep(0.2)
        assert not job.done() and worker.draining
        gate.held.clear()
        records = by_task(await asyncio.wait_for(job, 20))
    assert records[task_id].reported and last_run(queue, task_id) == "completed"
    assert "draining: no new claims; 0 running task(s)" in caplog.text, caplog.text
    assert worker.draining  # a drain, not a stop: exit 0 and no shutdown message to worker-runner


# -- how many tasks: max_tasks, capacity -----------------------------------------------------------------


async def test_max_tasks_is_never_exceeded_by_claiming_ahead(
    local_queue: Any, queue: Any, worker_config: MakeConfig, gate: ReportGate
) -> None:
    task_ids = [create_task(queue, {}) for _ in range(4)]
    order: list[str] = []

    async def handler(ctx: Any) -> None:
        order.append(ctx.task_id)
        if len(order) == 1:
            gate.held.add(ctx.task_id)  # the second task is claimed while this one reports
        else:
            gate.held.clear()

    records = await run_worker(via(gate, worker_config(local_queue, max_tasks=2)), handler)
    assert len(by_task(records)) == 2 and all(record.reported for record in records)
    assert sorted(last_run(queue, task_id) for task_id in task_ids) == ["completed"] * 2 + ["pending"] * 2


async def test_capacity_bounds_running_tasks_and_twice_capacity_bounds_runs(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    capacity = 2
    task_ids = [create_task(queue, {}) for _ in range(8)]
    proxy = ReportGate(local_queue.root_url, Faults(slow={"/completed": 0.5}))
    await proxy.start()
    running = most_running = most_active = 0
    worker: Worker | None = None

    def look() -> None:
        nonlocal most_active
        assert worker is not None
        most_active = max(most_active, len(worker.active_runs()))

    async def handler(ctx: Any) -> None:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        look()
        await asyncio.sleep(0.05)
        running -= 1

    async def watch() -> None:
        while True:
            look()
            await asyncio.sleep(0.005)

    config = via(proxy, worker_config(local_queue, capacity=capacity, max_tasks=len(task_ids)))
    try:
        async with open_worker(config, WorkerSetup(handler, None)) as worker:
            watcher = asyncio.create_task(watch())
            records = await asyncio.wait_for(worker.run_forever(), 60)
            watcher.cancel()
    finally:
        await proxy.stop()
    assert len(by_task(records)) == len(task_ids)
    assert all(last_run(queue, task_id) == "completed" for task_id in task_ids)
    assert most_running == capacity
    assert capacity < most_active <= 2 * capacity  # claimed ahead, but one finishing run per slot at most


# -- the idle clock --------------------------------------------------------------------------------------


async def test_idle_timeout_waits_for_the_last_report_and_counts_from_it(
    make_local_queue: Any, worker_config: MakeConfig
) -> None:
    """The claim poll that goes out while the last run reports must not outlive the idle time counted from
    that report (the real queue's long-poll lasts 20 s)."""
    import taskcluster

    local = make_local_queue(claim_work_wait=10.0)
    queue = taskcluster.Queue(local.client_options())
    task_id = create_task(queue, {})
    idle = 0.5
    gate = ReportGate(local.root_url, Faults())
    await gate.start()

    async def handler(ctx: Any) -> None:
        gate.held.add(ctx.task_id)

    try:
        async with serving(gate, worker_config(local, idle_timeout=idle), handler) as (worker, job):
            await until(lambda: gate.arrived[task_id], within=10)
            await asyncio.sleep(idle + 0.3)
            assert not job.done()  # idle does not start while a run reports
            released = time.monotonic()
            gate.held.clear()
            records = await asyncio.wait_for(job, 20)
            stopped_after = time.monotonic() - released
            assert not worker.stopping  # idle: it stopped of its own accord
    finally:
        await gate.stop()
    assert records[0].reported and last_run(queue, task_id) == "completed"
    assert idle <= stopped_after < idle + 4.0, stopped_after


# -- one-off cycles --------------------------------------------------------------------------------------


async def test_run_once_and_claim_once_claim_once_even_while_reporting(
    local_queue: Any, queue: Any, worker_config: MakeConfig, gate: ReportGate
) -> None:
    task_ids = [create_task(queue, {}) for _ in range(3)]

    async def handler(ctx: Any) -> None:
        gate.held.add(ctx.task_id)

    config = via(gate, worker_config(local_queue, capacity=1))
    async with open_worker(config, WorkerSetup(handler, None)) as worker:
        once = asyncio.create_task(worker.run_once())
        await until(lambda: sum(gate.arrived.values()) == 1, within=10)
        assert not once.done()
        gate.held.clear()
        records = await asyncio.wait_for(once, 20)
    assert len(records) == 1 and records[0].reported and gate.claim_polls == 1

    one = asyncio.create_task(serve_one(config, WorkerSetup(handler, None), wait=5))
    await until(lambda: sum(gate.arrived.values()) == 2, within=10)
    assert not one.done()
    gate.held.clear()
    result = await asyncio.wait_for(one, 20)
    assert result.record is not None and result.record.reported and gate.claim_polls == 2
    assert sorted(last_run(queue, task_id) for task_id in task_ids) == ["completed", "completed", "pending"]


# -- a report that fails, a claim that is lost -----------------------------------------------------------


async def test_a_report_retried_while_the_next_task_runs_resolves_each_run_once(
    local_queue: Any, queue: Any, worker_config: MakeConfig, gate: ReportGate
) -> None:
    task_ids = [create_task(queue, {}) for _ in range(2)]
    order: list[str] = []

    async def handler(ctx: Any) -> None:
        order.append(ctx.task_id)
        if len(order) == 1:
            gate.fail[ctx.task_id] = 2  # answered 500 twice, then forwarded
            return
        await until(lambda: gate.arrived[order[0]] == 3, within=10)  # retried while this task runs

    records = by_task(await run_worker(via(gate, worker_config(local_queue, max_tasks=2)), handler))
    assert all(record.reported and str(record.resolution) == "completed" for record in records.values())
    for task_id in task_ids:
        assert [run["state"] for run in runs(queue, task_id)] == ["completed"]
    assert gate.arrived == {order[0]: 3, order[1]: 1}


async def test_a_claim_lost_while_its_run_reports_is_not_reported_and_the_next_task_is(
    local_queue: Any, queue: Any, worker_config: MakeConfig, gate: ReportGate
) -> None:
    for _ in range(2):
        create_task(queue, {})
    order: list[str] = []
    opened: list[Worker] = []

    def ended(task_id: str) -> bool:
        return any(record.task_id == task_id for record in opened[0].records)

    async def handler(ctx: Any) -> None:
        order.append(ctx.task_id)
        if len(order) == 1:
            gate.held.add(ctx.task_id)
            return
        lost = order[0]
        await asyncio.to_thread(queue.cancelTask, lost)  # the run is over at the queue while it reports
        gate.held.clear()
        await until(lambda: ended(lost), within=10)  # its report answered 409 while this task ran

    config = via(gate, worker_config(local_queue, max_tasks=2))
    async with open_worker(config, WorkerSetup(handler, None)) as worker:
        opened.append(worker)
        records = by_task(await asyncio.wait_for(worker.run_forever(), 30))
    lost, next_one = order
    assert not records[lost].reported and records[next_one].reported
    assert [f"{run['state']}/{run['reasonResolved']}" for run in runs(queue, lost)] == ["exception/canceled"]
    assert [run["state"] for run in runs(queue, next_one)] == ["completed"]
    assert worker.metrics.resolutions == {"not reported": 1, "completed": 1}


# -- what an operator sees -------------------------------------------------------------------------------


async def test_metrics_and_status_count_a_reporting_run_apart_from_running_ones(
    local_queue: Any, queue: Any, worker_config: MakeConfig, gate: ReportGate, run_cli: RunCli, tmp_path: Path
) -> None:
    for _ in range(2):
        create_task(queue, {})
    order: list[str] = []
    go_on = asyncio.Event()

    async def handler(ctx: Any) -> None:
        order.append(ctx.task_id)
        if len(order) == 1:
            gate.held.add(ctx.task_id)
            return
        await go_on.wait()

    def in_use(worker: Worker) -> str:
        line = next(
            line
            for line in worker.metrics.exposition().decode().splitlines()
            if line.startswith("tcw_capacity_in_use ")
        )
        return line.split()[-1]

    def finishing(worker: Worker) -> dict[str, bool]:
        return {entry["taskId"]: entry["finishing"] for entry in snapshot(worker, {})["running"]}

    work = tmp_path / "work"
    async with serving(gate, worker_config(local_queue, idle_timeout=None), handler) as (worker, _):
        await until(lambda: len(order) == 2 and gate.arrived[order[0]], within=10)
        reporting, running = order
        assert in_use(worker) == "1.0"
        assert finishing(worker) == {reporting: True, running: False}
        write_private(status_path(work), snapshot(worker, {}))
        shown = run_cli(["tcw", "status", "--work-root", str(work)]).stdout
        assert "capacity 1/1 in use" in shown and shown.count("(reporting)") == 1, shown
        go_on.set()
        await until(lambda: len(worker.records) == 1, within=10)  # the second ended; the first still reports
        assert in_use(worker) == "0.0"
        assert finishing(worker) == {reporting: True}
        gate.held.clear()
        await until(lambda: len(worker.records) == 2, within=10)
        assert in_use(worker) == "0.0" and finishing(worker) == {}
