"""The content store serves a second task the artifact the first downloaded: no request at all for it."""

from __future__ import annotations

import io
import tarfile
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from tests.engine.faultproxy import FaultProxy, Faults
from tests.engine.mounts.test_caches import PUBLIC_ARTIFACTS
from tests.support.tasks import create_task, last_run, shell
from tests.support.worker import MakeConfig, run_worker


@dataclass
class CountingProxy(FaultProxy):
    """Forwards everything, counting requests by path."""

    paths: Counter[str] = field(default_factory=Counter)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.paths[request.path] += 1
        return await super()._handle(request)


def archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("bin/tool")
        data = b"#!/bin/sh\necho ok\n"
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_a_second_task_mounts_the_artifact_without_a_download(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    local_queue.set_anonymous_role(PUBLIC_ARTIFACTS)
    data = archive()

    async def produce(ctx: Any) -> None:
        await ctx.artifacts.upload("public/tool.tar.gz", data)

    producer = create_task(queue, {})
    await run_worker(worker_config(local_queue, max_tasks=1, artifact_storage="object"), produce)
    proxy = CountingProxy(local_queue.root_url, Faults())
    await proxy.start()
    try:
        content = {"taskId": producer, "artifact": "public/tool.tar.gz"}  # no digest: keyed by taskId/name
        mounts = [{"directory": "t", "content": content, "format": "tar.gz"}]
        config = worker_config(local_queue, max_tasks=1)
        config = replace(config, root_url=proxy.url)

        def artifact_requests() -> int:  # the queue's artifact answer and the object service's download
            return sum(count for path, count in proxy.paths.items() if producer in path)

        first = create_task(queue, shell("t/bin/tool", mounts=mounts))
        await run_worker(config)
        downloaded = artifact_requests()
        second = create_task(queue, shell("t/bin/tool", mounts=mounts))
        await run_worker(config)
    finally:
        await proxy.stop()
    assert last_run(queue, first) == "completed" and last_run(queue, second) == "completed"
    assert downloaded >= 2  # the artifact's answer, then the object's download
    assert artifact_requests() == downloaded  # the second task asked for nothing
