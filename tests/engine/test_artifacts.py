"""Artifacts of every type land on the local queue and download with the right content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from tcw.executors.api import TaskFailed
from tests.engine.faultproxy import FaultProxy, Faults
from tests.support.tasks import create_task, last_run, shell
from tests.support.worker import MakeConfig, run_worker


def fetch(queue: Any, task_id: str, name: str, follow: bool = True) -> requests.Response:
    url = queue.buildSignedUrl("getArtifact", task_id, "0", name)
    return requests.get(url, timeout=10, allow_redirects=follow)


async def publish_everything(ctx: Any) -> None:
    big = ctx.work_dir / "big.bin"
    big.write_bytes(bytes(range(256)) * 4096)  # 1 MiB: too big to send inline, goes through a PUT
    await ctx.artifacts.upload("public/small.txt", b"small and inline\n")
    await ctx.artifacts.upload("public/big.bin", big)
    await ctx.artifacts.link("public/alias.txt", "public/small.txt")
    await ctx.artifacts.reference("public/elsewhere", "https://example.com/target", content_type="text/html")
    await ctx.artifacts.error("public/gone.txt", "file-missing-on-worker", "it was never made")


async def test_object_link_reference_and_error_artifacts(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    task_id = create_task(queue, {})
    await run_worker(worker_config(local_queue, max_tasks=1, artifact_storage="object"), publish_everything)
    assert last_run(queue, task_id) == "completed"
    kinds = {a["name"]: a["storageType"] for a in queue.listArtifacts(task_id, "0")["artifacts"]}
    assert kinds["public/small.txt"] == "object" and kinds["public/big.bin"] == "object"
    assert kinds["public/alias.txt"] == "link" and kinds["public/elsewhere"] == "reference"
    assert kinds["public/gone.txt"] == "error"
    assert fetch(queue, task_id, "public/small.txt").text == "small and inline\n"
    assert fetch(queue, task_id, "public/big.bin").content == bytes(range(256)) * 4096
    assert fetch(queue, task_id, "public/alias.txt").text == "small and inline\n"
    reference = fetch(queue, task_id, "public/elsewhere", follow=False)
    assert reference.status_code == 303 and reference.headers["Location"] == "https://example.com/target"
    assert fetch(queue, task_id, "public/gone.txt").status_code == 424


async def test_s3_storage_by_default(local_queue: Any, queue: Any, worker_config: MakeConfig) -> None:
    async def handler(ctx: Any) -> None:
        await ctx.artifacts.upload("public/s3.txt", b"through a putUrl\n")

    task_id = create_task(queue, {})
    await run_worker(worker_config(local_queue, max_tasks=1), handler)
    kinds = {a["name"]: a["storageType"] for a in queue.listArtifacts(task_id, "0")["artifacts"]}
    assert kinds["public/s3.txt"] == "s3" and kinds["public/logs/live_backing.log"] == "s3"
    assert fetch(queue, task_id, "public/s3.txt").text == "through a putUrl\n"


async def test_object_artifacts_are_created_without_content_length(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    """Upstream v106 takes createArtifact with contentLength for an object artifact, then answers its
    finishArtifact with a 500: the artifact-created message it publishes then fails its own schema
    (seen against the real services of ../shared/upstream). s3 artifacts publish no message."""
    proxy = await FaultProxy(local_queue.root_url, Faults()).start()

    class ViaProxy:
        root_url = proxy.url
        root_credentials = local_queue.root_credentials

    async def handler(ctx: Any) -> None:
        await ctx.artifacts.upload("public/result.txt", b"twelve bytes")

    task_id = create_task(queue, {})
    try:
        await run_worker(worker_config(ViaProxy, max_tasks=1, artifact_storage="object"), handler)
    finally:
        await proxy.stop()
    assert last_run(queue, task_id) == "completed"
    created = [
        json.loads(body)
        for method, path, body in proxy.requests
        if "/artifacts/" in path and method == "POST"
    ]
    objects = [body for body in created if body.get("storageType") == "object"]
    assert len(objects) == 2 and not [
        body for body in objects if "contentLength" in body
    ]  # the result, the log


async def test_shell_file_and_directory_artifacts_and_a_missing_one(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    artifacts = [
        {"type": "file", "path": "report.txt", "name": "public/report.txt"},
        {"type": "directory", "path": "out", "name": "public/out"},
    ]
    good = create_task(
        queue, shell("mkdir out && echo r > report.txt && echo a > out/a.txt", artifacts=artifacts)
    )
    missing = [{"type": "file", "path": "nope.txt", "name": "public/nope.txt"}]
    bad = create_task(queue, shell("true", artifacts=missing))
    await run_worker(worker_config(local_queue, capacity=2, max_tasks=2))
    assert last_run(queue, good) == "completed"
    assert fetch(queue, good, "public/report.txt").text == "r\n"
    assert fetch(queue, good, "public/out/a.txt").text == "a\n"
    assert last_run(queue, bad) == "failed"
    assert fetch(queue, bad, "public/nope.txt").status_code == 424
    assert "nope.txt" in fetch(queue, bad, "public/logs/live_backing.log").text


async def test_publisher_turns_a_missing_file_into_an_error_artifact(
    local_queue: Any, queue: Any, worker_config: MakeConfig, tmp_path: Path
) -> None:
    async def handler(ctx: Any) -> None:
        await ctx.upload_artifact("public/missing.txt", tmp_path / "not-there.txt")

    task_id = create_task(queue, {})
    records = await run_worker(worker_config(local_queue, max_tasks=1), handler)
    assert records[0].resolution == TaskFailed.resolution
    assert fetch(queue, task_id, "public/missing.txt").status_code == 424
