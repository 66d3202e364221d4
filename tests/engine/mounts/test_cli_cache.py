"""`tcw cache list` and `tcw cache purge` on what a real worker left, and the before-claim collection."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tcw.executors.shell import ShellExecutor
from tests.support.cli import RunCli
from tests.support.tasks import create_task, last_run, shell
from tests.support.worker import MakeConfig, run_worker


def cache_task(queue: Any, command: str, name: str = "build") -> str:
    payload = shell(command, mounts=[{"cacheName": name, "directory": "c"}])
    return create_task(queue, payload, scopes=[f"generic-worker:cache:{name}"])


async def test_list_and_purge_what_a_worker_kept(
    local_queue: Any, queue: Any, worker_config: MakeConfig, tmp_path: Path, run_cli: RunCli
) -> None:
    cache_task(queue, "echo a > c/f", "alpha")
    cache_task(queue, "echo b > c/f", "beta")
    await run_worker(worker_config(local_queue, max_tasks=2))
    work_root = str(tmp_path / "work")
    listed = run_cli(["tcw", "cache", "list", "--work-root", work_root]).stdout
    assert "cache alpha\tclean" in listed and "cache beta\tclean" in listed
    assert (
        "purged cache alpha" in run_cli(["tcw", "cache", "purge", "alpha", "--work-root", work_root]).stdout
    )
    listed = run_cli(["tcw", "cache", "list", "--work-root", work_root]).stdout
    assert "alpha" not in listed and "cache beta\tclean" in listed


async def test_the_worker_collects_idle_caches_before_claiming_when_the_disk_is_short(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    first = cache_task(queue, "echo kept > c/f")
    await run_worker(worker_config(local_queue, max_tasks=1))
    second = cache_task(queue, "test ! -e c/f")
    # A minimum no disk can meet: everything idle is collected before the claim.
    config = worker_config(local_queue, max_tasks=1)
    config = replace(config, mounts=replace(config.mounts, min_free_space_mb=1 << 40))
    await run_worker(config, ShellExecutor.from_config(config))
    assert last_run(queue, first) == "completed" and last_run(queue, second) == "completed"
