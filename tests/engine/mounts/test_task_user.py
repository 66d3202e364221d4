"""Mounts when tasks run as a user of their own: theirs to write where they should, nothing more."""

from __future__ import annotations

import base64
import io
import tarfile
from typing import Any

from tests.support.tasks import create_task, last_run, shell
from tests.support.worker import MakeConfig, run_worker
from tests.worker_hardening.conftest import MakeHostDir, MakeUser, artifact, host_dir, make_user

__all__ = ["host_dir", "make_user"]  # fixtures used here


def tool_archive() -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("bin/tool.txt")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"tool\n"))
    return base64.b64encode(buffer.getvalue()).decode()


async def test_a_task_user_writes_its_cache_and_files_but_not_the_store(
    local_queue: Any, queue: Any, worker_config: MakeConfig, make_user: MakeUser, host_dir: MakeHostDir
) -> None:
    user = make_user("mounts")
    work = host_dir(0o711) / "work"
    mounts = [
        {"cacheName": "c", "directory": "caches/c"},
        {"file": "etc/notes.txt", "content": {"raw": "notes\n"}},
        {"directory": "ro", "content": {"base64": tool_archive()}, "format": "tar.gz"},
    ]
    probe = (
        "echo mine > caches/c/file && echo more >> etc/notes.txt && touch ro/bin/added"
        " && ! (echo x >> ro/bin/tool.txt) 2>/dev/null"
        f" && ! ls {work}/mounts > /dev/null 2>&1"
    )
    payloads = [shell(probe, mounts=mounts), shell("grep -q mine caches/c/file", mounts=mounts[:1])]
    ids = [create_task(queue, payload, scopes=["generic-worker:cache:c"]) for payload in payloads]
    config = worker_config(local_queue, max_tasks=2, task_user=user.pw_name, work_root=str(work))
    await run_worker(config)
    for task_id in ids:
        assert last_run(queue, task_id) == "completed", artifact(
            queue, task_id, "public/logs/live_backing.log"
        ).text
