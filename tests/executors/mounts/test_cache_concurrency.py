"""A cache busy with one running task is never shared: a second task gets a fresh instance at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tcw.executors.mounts.caches import CacheStore
from tcw.executors.shell import ShellExecutor
from tests.executors.mounts.conftest import Entry, b64, shell_payload, tar_bytes
from tests.support.task_runs import MakeRun
from tests.support.waiting import until

SCOPES = ["generic-worker:cache:shared"]
MOUNTS = [{"cacheName": "shared", "directory": "cache"}]


async def test_a_second_task_gets_a_fresh_cache_while_the_first_holds_it(
    executor: ShellExecutor, make_run: MakeRun, tmp_path: Path, mounts_root: Path
) -> None:
    holder = make_run(
        shell_payload(
            f"touch cache/mine && touch {tmp_path}/held && while [ ! -e {tmp_path}/go ]; do sleep 0.02; done",
            mounts=MOUNTS,
        ),
        scopes=SCOPES,
    )
    first = asyncio.create_task(executor(holder.ctx))
    await until((tmp_path / "held").exists, within=30)
    other = shell_payload("test ! -e cache/mine && touch cache/other", mounts=MOUNTS)
    second = make_run(other, scopes=SCOPES)
    await asyncio.wait_for(executor(second.ctx), timeout=30)  # it did not wait for the first
    (tmp_path / "go").touch()
    await asyncio.wait_for(first, timeout=30)
    instances = CacheStore(mounts_root / "caches").instances()
    assert sorted(instance.state for instance in instances) == ["clean", "clean"]
    contents = sorted(sorted(path.name for path in (i.path / "data").iterdir()) for i in instances)
    assert contents == [["mine"], ["other"]]


async def test_a_new_cache_is_preloaded_once_then_handed_on_as_left(
    executor: ShellExecutor, make_run: MakeRun
) -> None:
    preload = tar_bytes([Entry("seed.txt", b"seeded\n")])
    mounts = [
        {"cacheName": "shared", "directory": "c", "content": {"base64": b64(preload)}, "format": "tar.gz"}
    ]
    first = make_run(
        shell_payload("grep -q seeded c/seed.txt && echo changed > c/seed.txt", mounts=mounts), scopes=SCOPES
    )
    await executor(first.ctx)
    second = make_run(shell_payload("grep -q changed c/seed.txt", mounts=mounts), scopes=SCOPES)
    await executor(second.ctx)


async def test_a_cancelled_run_purges_its_cache(
    executor: ShellExecutor, make_run: MakeRun, tmp_path: Path, mounts_root: Path
) -> None:
    from tcw.executors.api import WorkerShutdown

    waiting = f"touch cache/half && touch {tmp_path}/held && sleep 30"
    run = make_run(shell_payload(waiting, mounts=MOUNTS), scopes=SCOPES)
    job = asyncio.create_task(executor(run.ctx))
    await until((tmp_path / "held").exists, within=30)
    run.ctx.cancelled.set()  # the claim was lost, or the worker is stopping
    with pytest.raises(WorkerShutdown):
        await asyncio.wait_for(job, timeout=30)
    assert CacheStore(mounts_root / "caches").instances() == []
    assert any("Purged cache shared" in line for line in run.log_lines())
