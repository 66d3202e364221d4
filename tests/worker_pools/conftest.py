"""Fixtures for running tcw in a worker pool: a worker-runner config on the local queue, and the
simulated runner that starts tcw with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.worker_pools.simulated_runner import SimulatedRunner, write_worker_config

POOL = "tcw-pool/runner"
HANDLER_POOL = "tcw-pool/handler"
SCHEMAS = {POOL: "shell"}
LOCATION = {"cloud": "static", "region": "rack-7"}

StartRunner = Callable[..., SimulatedRunner]


def task_definition(task_queue_id: str, payload: dict[str, Any], retries: int = 0) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "taskQueueId": task_queue_id,
        "created": now.isoformat(),
        "deadline": (now + timedelta(hours=1)).isoformat(),
        "retries": retries,
        "payload": payload,
        "metadata": {
            "name": "pool task",
            "description": "-",
            "owner": "t@example.com",
            "source": "https://x.test/",
        },
    }


def create_task(queue: Any, task_queue_id: str, payload: dict[str, Any], retries: int = 0) -> str:
    task_id: str = taskcluster.slugId()
    queue.createTask(task_id, task_definition(task_queue_id, payload, retries))
    return task_id


def shell(*commands: str) -> dict[str, Any]:
    return {"command": list(commands), "maxRunTime": 60}


def last_run(queue: Any, task_id: str) -> dict[str, Any]:
    return queue.status(task_id)["status"]["runs"][-1]  # type: ignore[no-any-return]


@pytest.fixture
def start_runner(local_queue: LocalQueue, tmp_path: Path) -> Iterator[StartRunner]:
    """``start_runner(tcw={...}, credentials=None, pool=POOL, **generic_worker_keys)`` -> a started
    SimulatedRunner (welcome not sent yet); every one is killed at teardown if still running."""
    started: list[SimulatedRunner] = []

    def start(
        tcw: dict[str, Any] | None = None,
        credentials: dict[str, str] | None = None,
        pool: str = POOL,
        **more: Any,
    ) -> SimulatedRunner:
        own: dict[str, Any] = {
            "worker": {"work_root": str(tmp_path / "work")},
            "registry": {"schema_urls": SCHEMAS},
        }
        for section, values in (tcw or {}).items():
            own[section] = {**own.get(section, {}), **values}
        index = len(started)
        config = write_worker_config(
            tmp_path / f"worker-config-{index}.json",
            root_url=local_queue.root_url,
            credentials=credentials or local_queue.root_credentials or {},
            worker_pool_id=pool,
            location=LOCATION,
            tcw=own,
            **more,
        )
        runner = SimulatedRunner(config, tmp_path / f"worker-{index}.stderr")
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.close()
