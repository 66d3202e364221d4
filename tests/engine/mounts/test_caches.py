"""Caches and artifact mounts through the real worker and the local queue."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

from tcw.executors.mounts import disk
from tcw.executors.mounts.caches import CLEAN, CacheStore
from tcw.executors.mounts.fsutil import tree_size
from tests.support.tasks import create_task, last_run, shell
from tests.support.worker import MakeConfig, run_worker

CACHE_SCOPE = "generic-worker:cache:build"
# What deployments give their anonymous role, so that public artifacts need no scope of the task's.
PUBLIC_ARTIFACTS = ("queue:get-artifact:public/*",)


def cache_task(queue: Any, *commands: str, scopes: tuple[str, ...] = (CACHE_SCOPE,), **extra: Any) -> str:
    payload = shell(*commands, mounts=[{"cacheName": "build", "directory": "cache"}], **extra)
    return create_task(queue, payload, scopes=list(scopes))


def log_of(queue: Any, task_id: str) -> str:
    import requests

    url = queue.buildSignedUrl("getLatestArtifact", task_id, "public/logs/live_backing.log")
    return requests.get(url, timeout=10).text


async def test_two_tasks_share_a_cache_and_a_failing_one_is_not_handed_on(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    first = cache_task(queue, "echo kept > cache/file")
    second = cache_task(queue, "cat cache/file > seen; test -s seen; echo more >> cache/file; exit 3")
    third = cache_task(queue, "test ! -e cache/file")
    await run_worker(worker_config(local_queue, max_tasks=3))
    assert last_run(queue, first) == "completed"
    assert last_run(queue, second) == "failed"  # it saw the first's file, then failed
    assert "exit code 3" in log_of(queue, second)  # not 1: it saw the first task's file
    assert last_run(queue, third) == "completed", log_of(queue, third)
    assert "Purged cache build" in log_of(queue, second)


async def test_an_exit_status_in_purge_caches_purges(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    first = cache_task(queue, "echo x > cache/file", onExitStatus={"purgeCaches": [0]})
    second = cache_task(queue, "test ! -e cache/file")
    await run_worker(worker_config(local_queue, max_tasks=2))
    assert last_run(queue, first) == "completed"
    assert "purgeCaches" in log_of(queue, first)
    assert last_run(queue, second) == "completed"


async def test_a_task_without_the_cache_scope_is_refused(
    local_queue: Any, queue: Any, worker_config: MakeConfig, tmp_path: Path
) -> None:
    task_id = cache_task(queue, "touch cache/ran", scopes=())
    await run_worker(worker_config(local_queue, max_tasks=1))
    assert last_run(queue, task_id) == "exception/malformed-payload"
    assert CACHE_SCOPE in log_of(queue, task_id)
    assert not CacheStore(tmp_path / "work" / "mounts" / "caches").instances()


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_read_only_directory_from_another_tasks_artifact_checks_its_sha256(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    local_queue.set_anonymous_role(PUBLIC_ARTIFACTS)
    archive = tar_gz({"lib/data.txt": b"from the producer\n"})

    async def produce(ctx: Any) -> None:
        await ctx.artifacts.upload("public/toolchain.tar.gz", archive)

    producer = create_task(queue, {})
    await run_worker(worker_config(local_queue, max_tasks=1), produce)
    assert last_run(queue, producer) == "completed"

    def consumer(digest: str) -> str:
        content = {"taskId": producer, "artifact": "public/toolchain.tar.gz", "sha256": digest}
        mounts = [{"directory": "tc", "content": content, "format": "tar.gz"}]
        return create_task(queue, shell("grep -q producer tc/lib/data.txt", mounts=mounts))

    right = consumer(hashlib.sha256(archive).hexdigest())
    wrong = consumer("ab" * 32)
    await run_worker(worker_config(local_queue, max_tasks=2))
    assert last_run(queue, right) == "completed", log_of(queue, right)
    assert last_run(queue, wrong) == "exception/malformed-payload"
    assert "ab" * 32 in log_of(queue, wrong) and hashlib.sha256(archive).hexdigest() in log_of(queue, wrong)


async def test_a_private_artifact_is_read_with_the_tasks_scopes_only(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    async def produce(ctx: Any) -> None:
        await ctx.artifacts.upload("private/secret.txt", b"secret\n")

    producer = create_task(queue, {})
    await run_worker(worker_config(local_queue, max_tasks=1), produce)
    mounts = [{"file": "s", "content": {"taskId": producer, "artifact": "private/secret.txt"}}]
    scopes = ["queue:get-artifact:private/*"]
    allowed_id = create_task(queue, shell("grep -q secret s", mounts=mounts), scopes=scopes)
    await run_worker(worker_config(local_queue, max_tasks=1))
    assert last_run(queue, allowed_id) == "completed", log_of(queue, allowed_id)


def test_collection_frees_the_oldest_idle_cache_and_never_one_in_use(tmp_path: Path) -> None:
    root = tmp_path / "mounts"
    caches = CacheStore(root / "caches")
    held = {}
    for name in ("in-use", "oldest-idle", "newer-idle"):  # in this order: "in-use" is the least recent
        cache = caches.acquire(name)
        cache.data.mkdir()
        (cache.data / "blob").write_bytes(b"\x01" * (1 << 20))
        cache.mounted_at = cache.data
        cache.put_back()
    held["in-use"] = caches.acquire("in-use")
    held["in-use"].mount(tmp_path / "task-cache", "task/0")

    def used() -> int:
        return tree_size(root) + tree_size(tmp_path / "task-cache")

    budget = used() + (1 << 19)  # a disk with half a MiB free; the minimum asks for one MiB
    result = disk.collect(root, 1 << 20, free_space=lambda: budget - used())
    left = {instance.name: instance for instance in caches.instances()}
    assert set(left) == {"in-use", "newer-idle"}
    assert left["newer-idle"].state == CLEAN
    assert (tmp_path / "task-cache" / "blob").exists()
    assert result.removed and "oldest-idle" in result.removed[0]


async def test_indexed_content_on_a_deployment_without_an_index_says_so(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    content = {"namespace": "project.toolchains.latest", "artifact": "public/clang.tar.zst"}
    mounts = [{"directory": "clang", "content": content, "format": "tar.zst"}]
    task_id = create_task(queue, shell("touch ran", mounts=mounts))
    await run_worker(worker_config(local_queue, max_tasks=1))
    assert last_run(queue, task_id) == "exception/malformed-payload"
    assert "has no index service" in log_of(queue, task_id)
