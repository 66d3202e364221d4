"""What an operator sees of `tcw run`: /metrics, /healthz, SIGUSR1 drain, `tcw status`, the disk guard."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tcw.engine.daemon import open_worker
from tcw.engine.metrics import WorkerMetrics
from tcw.engine.status import status_path, write_private
from tests.support.cli import RunCli, tcw_process
from tests.support.localqueue import MakeLocalQueue
from tests.support.ports import unused_port
from tests.support.tasks import TASK_QUEUE, create_task, last_run, runs, shell
from tests.support.waiting import wait_for
from tests.support.worker import MakeConfig, prepare_worker, worker_env


def endpoints(work_root: Path) -> dict[str, str]:
    """The URLs the running worker serves, from its status file."""
    path = status_path(work_root)
    wait_for(path.exists, timeout=30)
    return json.loads(path.read_text())["endpoints"]  # type: ignore[no-any-return]


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics parsed by prometheus_client's own parser: {(sample name, labels): value}."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


async def test_metrics_count_the_runs(local_queue: Any, queue: Any, worker_config: MakeConfig) -> None:
    config = worker_config(local_queue, live_log_port=0, listen_address="127.0.0.1", max_tasks=3)
    passing = [create_task(queue, shell("true")) for _ in range(2)]
    failing = create_task(queue, shell("exit 3"))
    async with open_worker(config, prepare_worker(config)) as worker:
        loop = asyncio.create_task(worker.run_forever())
        urls = await asyncio.to_thread(endpoints, worker.work_root)
        await asyncio.to_thread(wait_for, lambda: len(worker.records) == 3, 60)
        got = await asyncio.to_thread(samples, urls["metrics"])
        await loop
    assert [last_run(queue, task_id) for task_id in passing] == ["completed", "completed"]
    assert last_run(queue, failing) == "failed"
    assert got[("tcw_tasks_claimed_total", ())] == 3
    assert got[("tcw_tasks_resolved_total", (("reason", ""), ("state", "completed")))] == 2
    assert got[("tcw_tasks_resolved_total", (("reason", ""), ("state", "failed")))] == 1
    assert got[("tcw_run_duration_seconds_count", ())] == 3
    assert got[("tcw_claim_work_calls_total", ())] >= 1
    assert got[("tcw_capacity", ())] == 1 and got[("tcw_capacity_in_use", ())] == 0
    for method in ("reportCompleted", "reportFailed", "createArtifact"):
        assert got[("tcw_queue_call_duration_seconds_count", (("method", method),))] >= 1
    # each run: the task log and live.log's link; runs this short end before a live.log reference is due
    assert got[("tcw_queue_call_duration_seconds_count", (("method", "createArtifact"),))] == 6
    assert abs(got[("tcw_last_queue_contact_timestamp_seconds", ())] - time.time()) < 30
    assert urls["healthz"].endswith("/healthz") and urls["liveLogs"].startswith("http://127.0.0.1:")


def test_each_worker_keeps_its_own_registry() -> None:
    first, second = WorkerMetrics(1, lambda: 0), WorkerMetrics(4, lambda: 2)
    first.claim_answered(2)
    assert b"tcw_tasks_claimed_total 2.0" in first.exposition()
    assert b"tcw_tasks_claimed_total 0.0" in second.exposition()
    assert b"tcw_capacity_in_use 2.0" in second.exposition()


@pytest.mark.usefixtures("quick_client_retries")  # the worker's polls of the stopped queue fail sooner
async def test_healthz_turns_503_while_the_queue_is_down_and_200_when_it_is_back(
    make_local_queue: MakeLocalQueue, worker_config: MakeConfig, tmp_path: Path
) -> None:
    port, db = unused_port(), str(tmp_path / "queue.sqlite3")
    local = make_local_queue(port=port, db=db, claim_work_wait=0.5)
    # The window exceeds the time between two empty claimWork answers (a 0.5 s poll, a back-off of up to
    # 2.5 s).
    config = worker_config(
        local, metrics_port=0, listen_address="127.0.0.1", health_window=3.5, idle_timeout=None
    )
    async with open_worker(config, prepare_worker(config)) as worker:
        loop = asyncio.create_task(worker.run_forever())
        health = (await asyncio.to_thread(endpoints, worker.work_root))["healthz"]

        def status() -> int:
            return requests.get(health, timeout=10).status_code

        assert await asyncio.to_thread(status) == 200
        local.stop()
        await asyncio.to_thread(wait_for, lambda: status() == 503, 30)
        down = await asyncio.to_thread(requests.get, health, timeout=10)
        assert "no claimWork answer and no reclaim" in down.text and "claimWork" in down.text
        make_local_queue(port=port, db=db, claim_work_wait=0.5)
        await asyncio.to_thread(wait_for, lambda: status() == 200, 60)
        worker.request_stop(immediate=True)
        await loop


def status_showing(run_cli: RunCli, work: Path, text: str) -> str | None:
    shown = run_cli(["tcw", "status", "--work-root", str(work)]).stdout
    return shown if text in shown else None


def test_sigusr1_drains_the_running_task_and_tcw_status_shows_it(
    local_queue: Any, queue: Any, tmp_path: Path, run_cli: RunCli
) -> None:
    started, release, work = tmp_path / "started", tmp_path / "release", tmp_path / "work"
    running = create_task(
        queue, shell(f"echo yes > {started}; while [ ! -e {release} ]; do sleep 0.1; done; echo done")
    )
    args = ["--root-url", local_queue.root_url, "run", "--task-queue", TASK_QUEUE, "--worker-id", "drainer"]
    args += ["--work-root", str(work), "--shutdown-grace", "0.3"]
    worker = tcw_process(args, env=worker_env(local_queue.root_credentials), stderr=subprocess.PIPE)
    try:
        wait_for(lambda: started.exists() and started.read_text().strip(), timeout=30)
        pending = create_task(queue, shell("echo never claimed"))
        shown = wait_for(lambda: status_showing(run_cli, work, running), timeout=10)
        assert "drainer" in shown and "capacity 1/1 in use" in shown and "running for" in shown
        assert stat.S_IMODE(status_path(work, worker.pid).stat().st_mode) == 0o600
        drain_sent = time.monotonic()
        worker.send_signal(signal.SIGUSR1)
        wait_for(lambda: status_showing(run_cli, work, "draining for"), timeout=10)
        # A SIGTERM would stop the task after the 0.3 s grace; the drain lets it run on: still there at 1.2 s
        time.sleep(max(0.0, drain_sent + 1.2 - time.monotonic()))
        assert worker.poll() is None and status_showing(run_cli, work, running)
        release.touch()
        _, stderr = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, stderr.decode()
    assert time.monotonic() - drain_sent > 1.2  # it outlived the 0.3 s grace a SIGTERM gives
    assert last_run(queue, running) == "completed"
    assert runs(queue, pending)[0]["state"] == "pending"
    assert "draining" in stderr.decode()
    gone = run_cli(["tcw", "status", "--work-root", str(work)], exit_code=1)
    assert "no worker is running" in gone.stderr


async def test_the_disk_guard_claims_nothing_and_says_why(
    local_queue: Any, queue: Any, worker_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    task_id = create_task(queue, shell("true"))
    config = worker_config(local_queue, min_free_disk_mb=1 << 40, idle_timeout=0.5)
    async with open_worker(config, prepare_worker(config)) as worker:
        with caplog.at_level(logging.WARNING, logger="tcw.engine.diskguard"):
            records = await worker.run_forever()
    assert records == []
    assert runs(queue, task_id)[0]["state"] == "pending"
    [warning] = [r.getMessage() for r in caplog.records if r.name == "tcw.engine.diskguard"]
    assert "not claiming" in warning and "MiB free, under worker.min_free_disk_mb 1099511627776" in warning
    assert worker.metrics.registry.get_sample_value("tcw_claim_work_calls_total") == 0


def test_tcw_status_calls_a_status_file_whose_process_is_gone_stale(tmp_path: Path, run_cli: RunCli) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    data = {"pid": dead.pid, "workerGroup": "g", "workerId": "killed", "started": time.time(), "running": []}
    write_private(status_path(tmp_path, dead.pid), data)
    shown = run_cli(["tcw", "status", "--work-root", str(tmp_path)], exit_code=1)
    assert "g/killed" in shown.stdout and f"pid {dead.pid} is gone" in shown.stdout
    assert "only stale status files" in shown.stderr
