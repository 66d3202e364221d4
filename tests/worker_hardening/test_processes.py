"""Issue 10, item 2: a task's background process that left its process group (setsid, double fork) dies
with the run: when it completes, when it is cancelled, and when the worker is SIGKILLed; through the run's
cgroup (where the host allows one) and through the worker as subreaper (forced by the setting)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import tcw_process
from tests.support.tasks import TASK_QUEUE, create_task, last_run, shell
from tests.support.worker import MakeConfig, run_worker, worker_env
from tests.worker_hardening.conftest import escaping_writer, running, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="cgroups and prctl are Linux's")


def cgroups_usable() -> bool:
    """A cgroup v2 mount this process may create cgroups in (read here, not through the code under test)."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    points = [line.split()[4] for line in mounts if " - cgroup2 " in line]
    return os.geteuid() == 0 and any(os.access(point, os.W_OK) for point in points)


needs_cgroups = pytest.mark.skipif(not cgroups_usable(), reason="no writable cgroup v2 hierarchy here")


def writer_pid(pid_file: Path) -> int:
    assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != ""), "no writer started"
    return int(pid_file.read_text().split()[0])


def assert_stopped_writing(pid: int, out: Path) -> None:
    assert wait_until(lambda: not running(pid), timeout=5), f"the escaped writer {pid} is still running"
    size = out.stat().st_size
    assert not wait_until(lambda: out.stat().st_size != size, timeout=0.5)


def worker_command(local_queue: Any, tmp_path: Path, *extra: str) -> list[str]:
    args = ["--root-url", local_queue.root_url, "run", "--task-queue", TASK_QUEUE, "--idle-timeout", "5"]
    return [*args, "--work-root", str(tmp_path / "work"), *extra]


@needs_cgroups
async def test_an_escaped_writer_dies_when_its_task_completes(
    local_queue: Any, queue: Any, worker_config: MakeConfig, tmp_path: Path, pid_file: Path
) -> None:
    out = tmp_path / "out"
    task_id = create_task(queue, shell(escaping_writer(pid_file, out)))
    records = await run_worker(worker_config(local_queue, max_tasks=1))
    assert last_run(queue, task_id) == "completed"
    assert records[0].reported
    assert_stopped_writing(writer_pid(pid_file), out)


@needs_cgroups
async def test_an_escaped_writer_dies_when_its_task_is_cancelled(
    make_local_queue: Any, worker_config: MakeConfig, tmp_path: Path, pid_file: Path
) -> None:
    import taskcluster

    local = make_local_queue(claim_timeout=2, resolver_interval=0.2)
    queue = taskcluster.Queue(local.client_options())
    out = tmp_path / "out"
    task_id = create_task(queue, shell(escaping_writer(pid_file, out) + "; exec sleep 60"))

    async def cancel_once_running() -> None:
        await asyncio.to_thread(writer_pid, pid_file)
        await asyncio.to_thread(queue.cancelTask, task_id)

    canceller = asyncio.create_task(cancel_once_running())
    await run_worker(worker_config(local, max_tasks=1))
    await canceller
    assert last_run(queue, task_id) == "exception/canceled"
    assert_stopped_writing(writer_pid(pid_file), out)


@needs_cgroups
def test_an_escaped_writer_and_its_task_die_when_the_worker_is_killed(
    local_queue: Any, queue: Any, tmp_path: Path, pid_file: Path
) -> None:
    out, leader_file = tmp_path / "out", tmp_path / "leader.pid"
    task_id = create_task(
        queue, shell(f"echo $$ > {leader_file}; " + escaping_writer(pid_file, out) + "; sleep 60")
    )
    worker = tcw_process(
        worker_command(local_queue, tmp_path),
        env=worker_env(local_queue.root_credentials),
        stderr=subprocess.DEVNULL,
    )
    try:
        writer = writer_pid(pid_file)
        leader = int(leader_file.read_text())
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        worker.kill()
    try:
        assert wait_until(lambda: not running(leader), timeout=10), (
            "the task's own process outlived the worker"
        )
        assert_stopped_writing(writer, out)
    finally:
        if running(leader):
            os.kill(leader, signal.SIGKILL)
    assert last_run(queue, task_id) == "running"  # nothing reported it: the claim expires as upstream


def test_the_subreaper_kills_an_escaped_writer_when_its_task_completes(
    local_queue: Any, queue: Any, tmp_path: Path, pid_file: Path
) -> None:
    out = tmp_path / "out"
    task_id = create_task(queue, shell(escaping_writer(pid_file, out)))
    env = {**worker_env(local_queue.root_credentials), "TCW_WORKER_CONTAINMENT": "subreaper"}
    worker = tcw_process(
        [*worker_command(local_queue, tmp_path), "--max-tasks", "1"], env=env, stderr=subprocess.PIPE
    )
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr.decode()
    assert "contained by subreaper" in stderr.decode()
    assert last_run(queue, task_id) == "completed"
    assert_stopped_writing(writer_pid(pid_file), out)
