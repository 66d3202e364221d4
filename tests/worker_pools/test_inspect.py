"""`tcw inspect-runs --task-queue` shows worker-manager's view of a pool beside the queue's."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.cli import RunCli
from tests.worker_pools.conftest import create_task, shell

POOL = "tcw-pool/inspected"
OTHER = "tcw-pool/unmanaged"


def _run_tasks(queue: Any, pool: str, worker_id: str, count: int) -> None:
    for _ in range(count):
        create_task(queue, pool, shell("true"))
    worker = {"workerGroup": "rack", "workerId": worker_id, "tasks": count}
    for claim in queue.claimWork(pool, worker)["tasks"]:
        queue.reportCompleted(claim["status"]["taskId"], str(claim["runId"]))


def test_worker_manager_view_beside_the_queue_s(local_queue: LocalQueue, run_cli: RunCli) -> None:
    manager = taskcluster.WorkerManager(local_queue.client_options())
    pool = {
        "providerId": "static",
        "description": "d",
        "config": {},
        "owner": "o@example.com",
        "emailOnError": False,
    }
    manager.createWorkerPool(POOL, pool)
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    manager.createWorker(
        POOL,
        "rack",
        "host-1",
        {"expires": expires, "providerInfo": {"staticSecret": secrets.token_urlsafe(33)}},
    )
    queue = taskcluster.Queue(local_queue.client_options())
    _run_tasks(queue, POOL, "host-1", 2)
    _run_tasks(queue, OTHER, "host-9", 1)
    error = {
        "workerGroup": "rack",
        "workerId": "host-1",
        "kind": "config-error",
        "title": "Bad key",
        "description": "x",
        "extra": {},
    }
    manager.reportWorkerError(POOL, error)

    creds = local_queue.root_credentials or {}
    env = {"TASKCLUSTER_CLIENT_ID": creds["clientId"], "TASKCLUSTER_ACCESS_TOKEN": creds["accessToken"]}
    base = [
        "tcw",
        "--root-url",
        local_queue.root_url,
        "inspect-runs",
        "--task-queue",
        POOL,
        "--task-queue",
        OTHER,
    ]
    document = json.loads(run_cli([*base, "--format", "json"], env=env).stdout)
    workers = {w["workerId"]: w for w in document["workers"]}
    assert workers["host-1"]["workerManagerState"] == "running"
    assert workers["host-1"]["workerManagerLastModified"] is not None
    assert workers["host-9"]["workerManagerState"] is None  # a pool worker-manager does not know
    assert [e["title"] for e in document["workerPoolErrors"][POOL]] == ["Bad key"]
    assert OTHER not in document["workerPoolErrors"]

    manager.removeWorker(POOL, "rack", "host-1")
    table = run_cli([*base, "--format", "table"], env={**env, "COLUMNS": "250"}).stdout
    assert "worker-manager" in table and "stopped since" in table
    assert "1 worker error(s) reported to worker-manager" in table and "config-error: Bad key" in table
