"""Issue 10, items 1 and 6: the work root, the task log and uploads, attacked by another user and the task."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tcw.errors import UsageError
from tests.support.tasks import create_task, last_run, shell
from tests.support.waiting import until
from tests.support.worker import MakeConfig, run_worker
from tests.worker_hardening.conftest import MakeHostDir, MakeUser, artifact, as_user

SECRET = "the worker's own secret\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    path.chmod(0o600)
    return path


async def test_a_work_root_another_user_made_is_refused_and_its_symlinks_never_written_through(
    local_queue: Any,
    queue: Any,
    worker_config: MakeConfig,
    make_user: MakeUser,
    host_dir: MakeHostDir,
    secret: Path,
) -> None:
    evil = make_user("evil")
    task_id = create_task(queue, shell("echo task output"))  # its id is public (listPendingTasks)
    root = host_dir(0o1777) / "tcw-work"  # in a directory like /tmp, where anyone may create
    log = f"task_{task_id}_0.log"
    as_user(
        evil,
        f"mkdir -m 777 {root} {root}/logs && ln -s {secret} {root}/{log} && ln -s {secret} {root}/logs/{log}",
    )

    with pytest.raises(UsageError, match=f"owned by uid {evil.pw_uid}"):
        await run_worker(worker_config(local_queue, work_root=str(root), max_tasks=1))
    assert await asyncio.to_thread(secret.read_text) == SECRET
    assert last_run(queue, task_id) == "pending"


async def test_a_work_root_others_may_write_is_refused(
    local_queue: Any, worker_config: MakeConfig, tmp_path: Path
) -> None:
    root = tmp_path / "open"
    root.mkdir()
    root.chmod(0o777)
    with pytest.raises(UsageError, match="writable by group or others"):
        await run_worker(worker_config(local_queue, work_root=str(root), max_tasks=1))


async def test_task_directories_and_logs_are_private_under_umask_022(
    local_queue: Any, queue: Any, worker_config: MakeConfig, tmp_path: Path
) -> None:
    root = tmp_path / "work"
    root.mkdir(mode=0o755)
    task_id = create_task(queue, shell("echo hi > out.txt"))
    previous = os.umask(0o022)
    try:
        await run_worker(worker_config(local_queue, work_root=str(root), max_tasks=1, keep_workdir=True))
    finally:
        os.umask(previous)
    assert last_run(queue, task_id) == "completed"
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in root.rglob(f"task_{task_id}_0*")}
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert modes == {f"task_{task_id}_0": 0o700, f"task_{task_id}_0.log": 0o600}


async def test_a_task_swapping_its_log_for_a_symlink_or_linking_a_file_uploads_neither(
    local_queue: Any, queue: Any, worker_config: MakeConfig, tmp_path: Path, secret: Path
) -> None:
    # Wherever the log is (beside the work dir before, in logs/ now), the task replaces it with a symlink
    # to a file of the worker's, and hard-links that file into its work dir as a declared artifact.
    swap = 'for f in "$TASK_WORKDIR.log" "${TASK_WORKDIR%/*}/logs/${TASK_WORKDIR##*/}.log"; do'
    swap += f' rm -f "$f"; ln -s {secret} "$f"; done; ln {secret} leak.txt; ln -s {secret} sym.txt'
    artifacts = [
        {"type": "file", "path": "leak.txt", "name": "public/leak.txt"},
        {"type": "file", "path": "sym.txt", "name": "public/sym.txt"},
    ]
    task_id = create_task(queue, shell(swap, artifacts=artifacts))
    await run_worker(worker_config(local_queue, work_root=str(tmp_path / "work"), max_tasks=1))

    assert last_run(queue, task_id) == "failed"
    for name in ("public/logs/live_backing.log", "public/leak.txt", "public/sym.txt"):
        assert SECRET.strip() not in artifact(queue, task_id, name).text, name
    assert await asyncio.to_thread(secret.read_text) == SECRET


def _run_files(root: Path) -> list[str]:
    """What runs left in the work root: task directories and task logs."""
    return sorted(path.name for path in root.rglob("task_*"))


async def test_a_run_leaves_no_files_behind_neither_while_the_worker_goes_on_nor_when_it_stops(
    local_queue: Any, queue: Any, worker_config: MakeConfig, tmp_path: Path
) -> None:
    # The removals are batched off the loop: the first run's files must still go while the worker idles,
    # and the last runs' when it stops right after them (max_tasks), before the batch would have gone.
    root = tmp_path / "work"
    first = create_task(queue, shell("echo one > out.txt; sleep 0.5"))  # long enough to be seen
    worker = asyncio.create_task(run_worker(worker_config(local_queue, work_root=str(root), max_tasks=3)))
    await until(lambda: _run_files(root))  # the first run has started...
    await until(lambda: not _run_files(root))  # ...and its files are gone, after its report
    assert not worker.done()  # while the worker waits for its next task, not at its stop
    assert await asyncio.to_thread(last_run, queue, first) == "completed"
    later = [await asyncio.to_thread(create_task, queue, shell("echo more > out.txt")) for _ in range(2)]
    records = await worker
    assert [record.resolution.state for record in records] == ["completed"] * 3
    assert [last_run(queue, task_id) for task_id in later] == ["completed"] * 2
    assert _run_files(root) == []
