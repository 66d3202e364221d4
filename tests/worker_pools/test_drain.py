"""``Worker.drain``, the entry point behind worker-runner's graceful-termination (and a SIGUSR1 drain):
no new claims; running tasks finish, or stop now; a stop request afterwards starts the usual grace."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import taskcluster

from tcw.config import Config, load_config
from tcw.engine.daemon import open_worker, prepare
from tcw.engine.worker import Worker
from tcw.executors.loader import resolve_executor
from tcw.localqueue.server import LocalQueue
from tests.worker_pools.conftest import create_task, last_run, shell

POOL = "tcw-pool/drain"


def config_for(local: LocalQueue, tmp_path: Path, **worker: Any) -> Config:
    creds = local.root_credentials or {}
    flags: dict[str, Any] = {
        "root_url": local.root_url,
        "credentials.client_id": creds["clientId"],
        "credentials.access_token": creds["accessToken"],
        "registry.schema_urls": {POOL: "shell"},
        "worker.provisioner_id": "tcw-pool",
        "worker.worker_type": "drain",
        "worker.worker_id": "drainer",
        "worker.work_root": str(tmp_path / "work"),
        **{f"worker.{key}": value for key, value in worker.items()},
    }
    return load_config(flags=flags, environ={})


async def started_then(config: Config, started: Path, then: Any) -> None:
    """Serve until ``started`` exists, call ``then(worker)``, and wait for the worker to end."""
    async with open_worker(config, prepare(config, resolve_executor)) as worker:
        serving = asyncio.create_task(worker.run_forever())
        while not await asyncio.to_thread(started.exists):
            assert not serving.done(), serving
            await asyncio.sleep(0.05)
        then(worker)
        await asyncio.wait_for(serving, timeout=60)


@pytest.mark.parametrize(("finish", "expected"), [(True, "completed"), (False, "exception/worker-shutdown")])
def test_drain(local_queue: LocalQueue, tmp_path: Path, finish: bool, expected: str) -> None:
    queue = taskcluster.Queue(local_queue.client_options())
    started = tmp_path / "started"
    running = create_task(queue, POOL, shell(f"touch {started}; sleep 1"))
    waiting = create_task(queue, POOL, shell("echo never claimed"))

    def drain(worker: Worker) -> None:
        worker.drain(finish_tasks=finish)

    asyncio.run(started_then(config_for(local_queue, tmp_path), started, drain))
    run = last_run(queue, running)
    assert (run["state"] if run["state"] != "exception" else f"exception/{run['reasonResolved']}") == expected
    assert last_run(queue, waiting)["state"] == "pending"


def test_a_stop_request_after_a_drain_is_the_warm_one(local_queue: LocalQueue, tmp_path: Path) -> None:
    """Like a first SIGTERM: the running task keeps its shutdown_grace (here ample), it is not killed."""
    queue = taskcluster.Queue(local_queue.client_options())
    started = tmp_path / "started"
    running = create_task(queue, POOL, shell(f"touch {started}; sleep 1"))

    def drain_then_stop(worker: Worker) -> None:
        worker.drain(finish_tasks=True)
        worker.request_stop()

    asyncio.run(started_then(config_for(local_queue, tmp_path, shutdown_grace=60), started, drain_then_stop))
    assert last_run(queue, running)["state"] == "completed"
