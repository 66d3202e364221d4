"""Helpers for engine tests: tasks on the local queue, a worker config pointing at it, running a worker."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import taskcluster

from tcw import tasks
from tcw.config import Config, load_config
from tcw.engine.daemon import WorkerSetup, prepare, serve
from tcw.engine.worker import RunRecord
from tcw.executors.api import Executor
from tcw.executors.loader import resolve_executor

PROVISIONER = "tcw-test"
WORKER_TYPE = "engine"
TASK_QUEUE = f"{PROVISIONER}/{WORKER_TYPE}"
SHELL_SCHEMA = {TASK_QUEUE: "shell"}  # registry.schema_urls mapping the test queue to the built-in schema


def worker_env(credentials: Mapping[str, str], schemas: Mapping[str, str] = SHELL_SCHEMA) -> dict[str, str]:
    """The environment of a `tcw run` / `tcw claim-once` with these credentials and payload schemas."""
    env = {
        "TASKCLUSTER_CLIENT_ID": credentials["clientId"],
        "TASKCLUSTER_ACCESS_TOKEN": credentials["accessToken"],
    }
    if schemas:
        env["TCW_REGISTRY_SCHEMA_URLS"] = json.dumps(dict(schemas))
    return env


def task_definition(
    payload: Mapping[str, Any], *, retries: int = 0, name: str = "test task"
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "taskQueueId": TASK_QUEUE,
        "schedulerId": "tcw-tests",
        "projectId": "tcw-tests",
        "created": now.isoformat(),
        "deadline": (now + timedelta(hours=1)).isoformat(),
        "expires": (now + timedelta(days=1)).isoformat(),
        "retries": retries,
        "payload": dict(payload),
        "metadata": {
            "name": name,
            "description": "engine test",
            "owner": "t@example.com",
            "source": "https://x.test/",
        },
    }


def create_task(queue: Any, payload: Mapping[str, Any], **options: Any) -> str:
    return tasks.create_task(queue, task_definition(payload, **options))


def shell(*commands: str | list[str], max_run_time: int = 30, **extra: Any) -> dict[str, Any]:
    return {"command": list(commands), "maxRunTime": max_run_time, **extra}


def runs(queue: Any, task_id: str) -> list[dict[str, Any]]:
    return queue.status(task_id)["status"]["runs"]  # type: ignore[no-any-return]


def last_run(queue: Any, task_id: str) -> str:
    run = runs(queue, task_id)[-1]
    return f"{run['state']}/{run['reasonResolved']}" if run["state"] == "exception" else str(run["state"])


@pytest.fixture
def queue(local_queue: Any) -> Any:
    """The sync official client with the local queue's root credentials."""
    return taskcluster.Queue(local_queue.client_options())


MakeConfig = Callable[..., Config]


@pytest.fixture
def worker_config(tmp_path: Path) -> MakeConfig:
    """``worker_config(local_queue, capacity=2, ...)``: a worker on TASK_QUEUE of that queue, whose payloads
    the built-in ``shell`` schema checks (``schemas`` sets ``registry.schema_urls``, ``{}`` for none;
    ``directories`` sets ``registry.directories``)."""

    def make(
        local: Any,
        credentials: Mapping[str, str] | None = None,
        schemas: Mapping[str, str] = SHELL_SCHEMA,
        directories: tuple[str, ...] = (),
        **worker: Any,
    ) -> Config:
        creds = credentials or local.root_credentials
        flags: dict[str, Any] = {
            "root_url": local.root_url,
            "credentials.client_id": creds["clientId"],
            "credentials.access_token": creds["accessToken"],
            "registry.schema_urls": dict(schemas),
            "registry.directories": directories,
            "registry.cache_dir": str(tmp_path / "schema-cache"),
            "worker.provisioner_id": PROVISIONER,
            "worker.worker_type": WORKER_TYPE,
            "worker.worker_id": "test-worker",
            "worker.work_root": str(tmp_path / "work"),
            "worker.idle_timeout": 3.0,
            "worker.allow_root_tasks": True,  # CI runs as root; tests/hardening run tasks as a task user
        }
        flags.update({f"worker.{key}": value for key, value in worker.items()})
        return load_config(flags=flags, environ={})

    return make


def prepare_worker(config: Config) -> WorkerSetup:
    """What `tcw run` and `tcw claim-once` decide before the first claim, loading executors as they do."""
    return prepare(config, functools.partial(resolve_executor, config=config))


async def run_worker(
    config: Config, executor: Executor | None = None, payload_check: Any = None
) -> list[RunRecord]:
    """The real loop to its end (``max_tasks`` or ``idle_timeout``), with the configured executor unless
    a test handler is given."""
    setup = WorkerSetup(executor, payload_check) if executor is not None else prepare_worker(config)
    return await asyncio.wait_for(serve(config, setup), timeout=90)
