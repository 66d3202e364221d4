"""`tcw run --worker-pool P/W` against the local worker-manager: registration with a static secret,
claiming with the registered credentials, reregistration on worker-runner's timing, termination when
worker-manager says so, and removal on the way out. The official ``WorkerManager`` client drives and
checks every step."""

from __future__ import annotations

import json
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import taskcluster

from tcw.localqueue.core.dates import parse_date
from tcw.localqueue.server import LocalQueue
from tests.support.cli import tcw_process
from tests.support.waiting import wait_for
from tests.worker_pools.conftest import create_task, last_run, shell

POOL = "tcw-pool/static"
GROUP, WORKER_ID = "rack", "host-1"
WAIT = 30.0
# worker-runner renews 30 s before expiry when the credentials last under 5 minutes: 31 s credentials
# are renewed every second.
REREGISTRATION_TIMEOUT = 31


@pytest.fixture
def manager(local_queue: LocalQueue) -> Any:
    return taskcluster.WorkerManager(local_queue.client_options())


def make_pool(manager: Any, reregistration_timeout: int = REREGISTRATION_TIMEOUT) -> str:
    """The pool and its one static worker; returns the worker's secret."""
    config = {"lifecycle": {"reregistrationTimeout": reregistration_timeout}, "workerConfig": {}}
    body = {
        "providerId": "static",
        "description": "d",
        "config": config,
        "owner": "o@example.com",
        "emailOnError": False,
    }
    manager.createWorkerPool(POOL, body)
    static_secret = secrets.token_urlsafe(33)
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    manager.createWorker(
        POOL, GROUP, WORKER_ID, {"expires": expires, "providerInfo": {"staticSecret": static_secret}}
    )
    return static_secret


def start_member(
    local_queue: LocalQueue, tmp_path: Path, static_secret: str, *extra: str
) -> subprocess.Popen[bytes]:
    env = {
        "TCW_WORKER_STATIC_SECRET": static_secret,
        "TCW_WORKER_TERMINATE_CHECK_INTERVAL": "0.3",
        "TCW_REGISTRY_SCHEMA_URLS": json.dumps({POOL: "shell"}),
    }
    args = ["--root-url", local_queue.root_url, "run", "--worker-pool", POOL, "--worker-group", GROUP]
    args += ["--worker-id", WORKER_ID, "--work-root", str(tmp_path / "work"), *extra]
    return tcw_process(args, env=env, stderr=subprocess.PIPE)


def test_registers_claims_reregisters_and_leaves_when_told(
    local_queue: LocalQueue, manager: Any, tmp_path: Path
) -> None:
    static_secret = make_pool(manager)
    queue = taskcluster.Queue(local_queue.client_options())
    task_id = create_task(queue, POOL, shell("echo hello from the pool"))
    process = start_member(local_queue, tmp_path, static_secret)
    try:
        wait_for(lambda: last_run(queue, task_id)["state"] == "completed", timeout=WAIT)
        run = last_run(queue, task_id)
        assert (run["workerGroup"], run["workerId"]) == (GROUP, WORKER_ID)
        created = parse_date(manager.worker(POOL, GROUP, WORKER_ID)["created"])
        # Each (re)registration stamps the worker; two reregistrations after the first registration.
        modified: set[str] = set()

        def stamped_three_times() -> bool:
            modified.add(manager.worker(POOL, GROUP, WORKER_ID)["lastModified"])
            return len({m for m in modified if parse_date(m) > created}) >= 3

        wait_for(stamped_three_times, timeout=WAIT)
        assert manager.shouldWorkerTerminate(POOL, GROUP, WORKER_ID)["terminate"] is False
        manager.deleteWorkerPool(POOL)  # from now on worker-manager tells its workers to terminate
        _, stderr = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    log = stderr.decode()
    assert process.returncode == 0, log
    assert log.count("reregistered with worker-manager") >= 2
    assert "worker-manager says to terminate (worker pool was deleted)" in log
    assert manager.worker(POOL, GROUP, WORKER_ID)["state"] == "stopped"  # it removed itself
    assert static_secret not in log and "accessToken" not in log


def registered(manager: Any) -> bool:
    worker = manager.worker(POOL, GROUP, WORKER_ID)
    return parse_date(worker["lastModified"]) > parse_date(worker["created"])


def claiming(queue: Any) -> bool:
    """The queue has seen the worker's claimWork."""
    provisioner_id, worker_type = POOL.split("/")
    return any(w["workerId"] == WORKER_ID for w in queue.listWorkers(provisioner_id, worker_type)["workers"])


def test_idle_timeout_removes_the_worker_and_a_signal_does_not(
    local_queue: LocalQueue, manager: Any, tmp_path: Path
) -> None:
    static_secret = make_pool(manager, reregistration_timeout=3600)
    process = start_member(local_queue, tmp_path, static_secret)
    queue = taskcluster.Queue(local_queue.client_options())
    wait_for(lambda: registered(manager) and claiming(queue), timeout=WAIT)  # registered, waiting for work
    process.terminate()
    _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 0, stderr.decode()
    assert manager.worker(POOL, GROUP, WORKER_ID)["state"] == "running"  # may come back: registers again

    process = start_member(local_queue, tmp_path, static_secret, "--idle-timeout", "0.5")
    _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 0, stderr.decode()
    assert manager.worker(POOL, GROUP, WORKER_ID)["state"] == "stopped"


def test_a_wrong_secret_is_a_clear_error(local_queue: LocalQueue, manager: Any, tmp_path: Path) -> None:
    make_pool(manager)
    wrong = secrets.token_urlsafe(33)
    process = start_member(local_queue, tmp_path, wrong)
    _, stderr = process.communicate(timeout=WAIT)
    log = stderr.decode()
    assert process.returncode == 5, log
    assert "registerWorker" in log and "bad staticSecret" in log
    assert wrong not in log


def test_a_missing_secret_is_a_usage_error(local_queue: LocalQueue, manager: Any, tmp_path: Path) -> None:
    make_pool(manager)
    args = ["--root-url", local_queue.root_url, "run", "--worker-pool", POOL, "--worker-id", WORKER_ID]
    process = tcw_process(
        args, env={"TCW_REGISTRY_SCHEMA_URLS": json.dumps({POOL: "shell"})}, stderr=subprocess.PIPE
    )
    _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 2
    assert "TCW_WORKER_STATIC_SECRET" in stderr.decode()


def test_a_set_up_error_after_registering_reaches_the_pool_s_errors(
    local_queue: LocalQueue, manager: Any, tmp_path: Path
) -> None:
    static_secret = make_pool(manager)
    # An executor that cannot be loaded: found after registering, when the worker is prepared.
    env = {"TCW_WORKER_STATIC_SECRET": static_secret, "TCW_WORKER_EXECUTOR": "tcw_no_such_module:run"}
    args = ["--root-url", local_queue.root_url, "run", "--worker-pool", POOL, "--worker-group", GROUP]
    args += ["--worker-id", WORKER_ID, "--work-root", str(tmp_path / "work")]
    process = tcw_process(args, env=env, stderr=subprocess.PIPE)
    _, stderr = process.communicate(timeout=WAIT)
    assert process.returncode == 2, stderr.decode()
    errors = manager.listWorkerPoolErrors(POOL)["workerPoolErrors"]
    assert [(e["kind"], e["extra"]["workerId"]) for e in errors] == [("config-error", WORKER_ID)]
    assert "tcw_no_such_module" in errors[0]["description"]
    assert static_secret not in json.dumps(errors)
    assert manager.worker(POOL, GROUP, WORKER_ID)["state"] == "running"  # fixable: not removed
