"""A worker on the local queue: its config and environment, and running the real loop to its end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tcw.config import Config, load_config
from tcw.engine.daemon import WorkerSetup, prepare, serve
from tcw.engine.worker import RunRecord
from tcw.executors.api import Executor
from tcw.executors.loader import resolve_executor
from tests.support.tasks import PROVISIONER, TASK_QUEUE, WORKER_TYPE

SHELL_SCHEMA = {TASK_QUEUE: "shell"}  # registry.schema_urls mapping the test queue to the built-in schema

MakeConfig = Callable[..., Config]


def worker_env(credentials: Mapping[str, str], schemas: Mapping[str, str] = SHELL_SCHEMA) -> dict[str, str]:
    """The environment of a `tcw run` / `tcw claim-once` with these credentials and payload schemas."""
    env = {
        "TASKCLUSTER_CLIENT_ID": credentials["clientId"],
        "TASKCLUSTER_ACCESS_TOKEN": credentials["accessToken"],
    }
    if schemas:
        env["TCW_REGISTRY_SCHEMA_URLS"] = json.dumps(dict(schemas))
    return env


def make_worker_config(
    tmp_path: Path,
    local: Any,
    credentials: Mapping[str, str] | None = None,
    schemas: Mapping[str, str] = SHELL_SCHEMA,
    directories: tuple[str, ...] = (),
    **worker: Any,
) -> Config:
    """A worker on TASK_QUEUE of ``local`` (a LocalQueue, or anything with its ``root_url`` and
    ``root_credentials``), its files under ``tmp_path``, whose payloads the built-in
    ``shell`` schema checks (``schemas`` sets ``registry.schema_urls``, ``{}`` for none; ``directories``
    sets ``registry.directories``; other keywords are ``worker.*`` settings)."""
    creds = credentials or local.root_credentials
    assert creds is not None
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
        "worker.allow_root_tasks": True,  # CI runs as root; tests/worker_hardening run tasks as a task user
    }
    flags.update({f"worker.{key}": value for key, value in worker.items()})
    return load_config(flags=flags, environ={})


def prepare_worker(config: Config) -> WorkerSetup:
    """What `tcw run` and `tcw claim-once` decide before the first claim, loading executors as they do."""
    return prepare(config, resolve_executor)


async def run_worker(
    config: Config, executor: Executor | None = None, payload_check: Any = None
) -> list[RunRecord]:
    """The real loop to its end (``max_tasks`` or ``idle_timeout``), with the configured executor unless
    a test handler is given."""
    setup = WorkerSetup(executor, payload_check) if executor is not None else prepare_worker(config)
    return await asyncio.wait_for(serve(config, setup), timeout=90)
