"""Stopping process trees: maxRunTime, cancellation, asyncio cancellation, leftovers, flat memory."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
import time
from pathlib import Path

import pytest

from tcw.engine.children import children_watched_by_pidfd
from tcw.engine.taskrun import KILL_GRACE
from tcw.executors.api import TaskFailed, WorkerShutdown
from tcw.executors.process import DEFAULT_CANCEL_GRACE, run_process
from tcw.executors.shell import ShellExecutor
from tests.support.processes import exited, is_running, our_zombies, script
from tests.support.task_runs import MakeRun
from tests.support.waiting import wait_for_pids

GRACE = 0.5


async def assert_all_gone(pids: list[int], within: float = 1.0) -> None:
    with contextlib.suppress(TimeoutError):  # then the assertion below names who is left
        async with asyncio.timeout(within):
            await asyncio.gather(*map(exited, pids))
    assert [pid for pid in pids if is_running(pid)] == []
    assert our_zombies() == []


async def test_max_run_time_kills_the_whole_tree_after_the_grace(make_run: MakeRun, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    run = make_run({"command": [script("spawn_tree.py", pid_file)], "maxRunTime": 1})
    started = time.monotonic()

    with pytest.raises(TaskFailed, match="maxRunTime exceeded: the task ran longer than 1 s"):
        await ShellExecutor(grace=GRACE)(run.ctx)

    elapsed = time.monotonic() - started
    # The SIGTERM-ignoring child held the group for the whole grace, then SIGKILL ended it.
    assert 1 + GRACE <= elapsed < 1 + GRACE + 1.5
    await assert_all_gone(await wait_for_pids(pid_file, 3), within=0.2)
    assert re.search(
        r"\] Command 0: killed by signal 15 \(SIGTERM\) after \d+\.\d+ s, "
        r"stopped by the worker: maxRunTime of 1 s exceeded$",
        run.log_lines()[-1],
    )


async def test_max_run_time_covers_all_commands_together(make_run: MakeRun) -> None:
    run = make_run({"command": [["sleep", "0.6"], ["sleep", "0.6"], ["touch", "late"]], "maxRunTime": 1})

    with pytest.raises(TaskFailed, match="maxRunTime exceeded"):
        await ShellExecutor(grace=GRACE)(run.ctx)

    assert not (run.work_dir / "late").exists()
    assert "Command 1: killed by signal 15 (SIGTERM)" in run.log_lines()[-1]


async def test_cancelled_run_is_killed_at_once_and_reported_as_shutdown(
    make_run: MakeRun, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    run = make_run({"command": [script("sleep.py", pid_file, 60)], "maxRunTime": 60})
    execution = asyncio.create_task(ShellExecutor()(run.ctx))
    pids = await wait_for_pids(pid_file, 1)

    run.ctx.cancelled.set()
    started = time.monotonic()
    with pytest.raises(WorkerShutdown):
        await execution

    assert time.monotonic() - started < 1.0
    await assert_all_gone(pids, within=0.2)
    assert run.log_lines()[-1].endswith("stopped by the worker: the run was cancelled")


async def test_cancelled_run_ignoring_term_is_killed_within_the_default_cancel_grace(
    make_run: MakeRun, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    run = make_run({"command": [script("ignore_term.py", pid_file)], "maxRunTime": 60})
    execution = asyncio.create_task(ShellExecutor(grace=30)(run.ctx))
    pids = await wait_for_pids(pid_file, 1)

    run.ctx.cancelled.set()
    started = time.monotonic()
    with pytest.raises(WorkerShutdown):
        await execution

    # ~1 s: TERM is ignored, KILL follows, and the executor returns before the engine gives up on it.
    assert DEFAULT_CANCEL_GRACE <= time.monotonic() - started < KILL_GRACE
    await assert_all_gone(pids, within=0.2)


async def test_asyncio_cancellation_stops_the_tree(make_run: MakeRun, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    run = make_run({"command": [script("spawn_tree.py", pid_file)], "maxRunTime": 60})
    execution = asyncio.create_task(ShellExecutor(grace=30, cancel_grace=GRACE)(run.ctx))
    pids = await wait_for_pids(pid_file, 3)

    execution.cancel()
    with pytest.raises(asyncio.CancelledError):
        await execution

    await assert_all_gone(pids, within=0.2)


async def test_leftover_background_processes_are_stopped_when_the_command_ends(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    background = " ".join(script("sleep.py", pid_file, 60))
    argv = ["/bin/sh", "-c", f"{background} & while [ ! -s {pid_file} ]; do sleep 0.02; done; exit 0"]

    ended = await run_process(argv, cwd=tmp_path, env={}, output=tmp_path / "log", grace=GRACE)

    assert ended.returncode == 0
    assert ended.stopped_by is None
    await assert_all_gone(await wait_for_pids(pid_file, 1))


def resident_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


async def test_a_task_printing_200_mb_leaves_the_worker_memory_flat(make_run: MakeRun) -> None:
    run = make_run({"command": [script("spew.py", 200)], "maxRunTime": 60})
    rss_before, peak_before = resident_kib("VmRSS"), resident_kib("VmHWM")

    await ShellExecutor()(run.ctx)

    assert run.ctx.log_path.stat().st_size > 200 * 1024 * 1024
    assert resident_kib("VmRSS") - rss_before < 10 * 1024
    assert resident_kib("VmHWM") - peak_before < 10 * 1024


async def test_a_second_asyncio_cancellation_kills_without_waiting_for_the_grace(
    make_run: MakeRun, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    run = make_run({"command": [script("ignore_term.py", pid_file)], "maxRunTime": 60})
    execution = asyncio.create_task(ShellExecutor(cancel_grace=30)(run.ctx))
    pids = await wait_for_pids(pid_file, 1)
    started = time.monotonic()

    execution.cancel()
    await asyncio.sleep(0.1)
    assert is_running(pids[0])  # it ignored the TERM and is inside its grace
    execution.cancel()
    with pytest.raises(asyncio.CancelledError):
        await execution

    await assert_all_gone(pids)
    assert time.monotonic() - started < 2.0


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12 already waits for children through pidfds")
async def test_children_are_reaped_through_pidfds_and_the_old_watcher_comes_back() -> None:
    policy = asyncio.get_event_loop_policy()
    before = policy.get_child_watcher()
    with children_watched_by_pidfd() as switched:
        if not switched:
            pytest.skip("this kernel has no pidfd_open")
        assert isinstance(policy.get_child_watcher(), asyncio.PidfdChildWatcher)
        threads = threading.active_count()
        process = await asyncio.create_subprocess_exec("sh", "-c", "sleep 0.3; exit 7")
        assert threading.active_count() == threads  # no waiter thread for the running child
        assert await asyncio.wait_for(process.wait(), 5) == 7
    assert policy.get_child_watcher() is before
