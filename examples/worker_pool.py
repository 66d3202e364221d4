"""tcw in a worker pool, both ways, end to end on the local deployment (its queue and worker-manager).

1. Under worker-runner: the pool's config carries tcw's settings under ``genericWorker.config.tcw``; the
   runner registers the static worker, writes generic-worker's config file and starts
   ``tcw run --config FILE --with-worker-runner``. Here tests/worker_pools/simulated_runner.py plays the
   runner's part (the registration, the file, the protocol: welcome, new-credentials,
   graceful-termination), since start-worker is a Go binary not shipped with tcw.
2. On its own: ``tcw run --worker-pool P/W`` with the static secret in TCW_WORKER_STATIC_SECRET registers,
   reregisters, and leaves the pool when worker-manager says so (here: the pool is deleted).

Then ``tcw inspect-runs --task-queue P/W`` shows worker-manager's view beside the queue's.

    .venv/bin/python examples/worker_pool.py
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import taskcluster

from tcw.config import LocalQueueSettings
from tcw.localqueue.server import LocalQueue

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for the simulated runner in tests/
from tests.worker_pools.simulated_runner import SimulatedRunner, write_worker_config  # noqa: E402

POOL = "tcw-example/pool"
TCW_SETTINGS = {"registry": {"schema_urls": {POOL: "shell"}}, "worker": {"capacity": 1}}
TIMEOUT = 60.0


def wait_until(what: str, condition: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting until {what}")
        time.sleep(0.1)


def run_task(queue: Any, command: str) -> str:
    task_id: str = taskcluster.slugId()
    now = datetime.now(UTC)
    queue.createTask(
        task_id,
        {
            "taskQueueId": POOL,
            "created": now.isoformat(),
            "deadline": (now + timedelta(hours=1)).isoformat(),
            "payload": {"command": [command], "maxRunTime": 60},
            "metadata": {
                "name": command,
                "description": "-",
                "owner": "me@example.com",
                "source": "https://x.test/",
            },
        },
    )
    wait_until(
        f"{command!r} completes",
        lambda: (
            queue.status(task_id)["status"]["runs"][-1:]
            and queue.status(task_id)["status"]["runs"][-1]["state"] == "completed"
        ),
    )
    run = queue.status(task_id)["status"]["runs"][-1]
    print(f"  task {task_id} ({command}): completed by {run['workerGroup']}/{run['workerId']}")
    return task_id


def static_worker(manager: Any, worker_id: str) -> str:
    """createWorker for one host of the pool; its secret (in real life: kept in a secret store)."""
    static_secret = secrets.token_urlsafe(33)
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    manager.createWorker(
        POOL, "rack", worker_id, {"expires": expires, "providerInfo": {"staticSecret": static_secret}}
    )
    return static_secret


def under_worker_runner(local: LocalQueue, manager: Any, queue: Any, work: Path) -> None:
    print("1. under worker-runner (simulated): tcw run --config FILE --with-worker-runner")
    static_secret = static_worker(manager, "runner-host")
    proof = {"staticSecret": static_secret}
    registered = manager.registerWorker(
        {
            "workerPoolId": POOL,
            "providerId": "static",
            "workerGroup": "rack",
            "workerId": "runner-host",
            "workerIdentityProof": proof,
        }
    )
    tcw = registered["workerConfig"]["genericWorker"]["config"]["tcw"]
    tcw = {**tcw, "worker": {**tcw["worker"], "work_root": str(work / "runner")}}
    config = write_worker_config(
        work / "generic-worker.json",
        root_url=local.root_url,
        credentials=registered["credentials"],
        worker_pool_id=POOL,
        worker_group="rack",
        worker_id="runner-host",
        tcw=tcw,
    )
    runner = SimulatedRunner(config, work / "runner.stderr")
    try:
        runner.welcome()
        _, hello = runner.expect("hello", TIMEOUT)
        print(f"  hello, capabilities {hello['capabilities']}")
        run_task(queue, "echo hello from the worker-runner child")
        as_worker = taskcluster.WorkerManager(local.client_options(registered["credentials"]))
        ids = {"workerPoolId": POOL, "workerGroup": "rack", "workerId": "runner-host"}
        renewed = as_worker.reregisterWorker({**ids, "secret": registered["secret"]})
        fresh = renewed["credentials"]
        runner.send(
            {
                "type": "new-credentials",
                "client-id": fresh["clientId"],
                "access-token": fresh["accessToken"],
                "certificate": fresh.get("certificate", ""),
            }
        )
        print("  sent new-credentials after reregisterWorker")
        run_task(queue, "echo claimed with the new credentials")
        runner.send({"type": "graceful-termination", "finish-tasks": False})
        print(f"  graceful-termination: tcw exited {runner.wait(TIMEOUT)}")
    finally:
        runner.close()


def with_worker_pool_flag(local: LocalQueue, manager: Any, queue: Any, work: Path) -> None:
    print("2. on its own: TCW_WORKER_STATIC_SECRET=... tcw run --worker-pool P/W")
    static_secret = static_worker(manager, "pod-0")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKCLUSTER_", "TCW_"))}
    env.update({"TCW_WORKER_STATIC_SECRET": static_secret, "TCW_WORKER_TERMINATE_CHECK_INTERVAL": "1"})
    env["TCW_REGISTRY_SCHEMA_URLS"] = json.dumps({POOL: "shell"})
    command = [sys.executable, "-m", "tcw", "--root-url", local.root_url, "run", "--worker-pool", POOL]
    command += ["--worker-group", "rack", "--worker-id", "pod-0", "--work-root", str(work / "pod")]
    worker = subprocess.Popen(command, env=env, cwd=REPO)
    try:
        run_task(queue, "echo hello from a self-registered tcw")
        print("  deleteWorkerPool: worker-manager now tells its workers to terminate")
        manager.deleteWorkerPool(POOL)
        code = worker.wait(TIMEOUT)
        print(f"  tcw exited {code}; worker-manager has it {manager.worker(POOL, 'rack', 'pod-0')['state']}")
    finally:
        if worker.poll() is None:
            worker.kill()


def main() -> int:
    settings = LocalQueueSettings(db=":memory:", port=0, claim_work_wait=1.0, resolver_interval=0.5)
    with LocalQueue(settings) as local, tempfile.TemporaryDirectory() as scratch:
        print(f"local deployment (queue and worker-manager) at {local.root_url}")
        manager = taskcluster.WorkerManager(local.client_options())
        queue = taskcluster.Queue(local.client_options())
        config = {
            "lifecycle": {"reregistrationTimeout": 3600},
            "workerConfig": {"genericWorker": {"config": {"tcw": TCW_SETTINGS}}},
        }
        pool = {
            "providerId": "static",
            "description": "example pool",
            "config": config,
            "owner": "me@example.com",
            "emailOnError": False,
        }
        manager.createWorkerPool(POOL, pool)
        under_worker_runner(local, manager, queue, Path(scratch))
        with_worker_pool_flag(local, manager, queue, Path(scratch))
        print(f"$ tcw inspect-runs --task-queue {POOL}")
        creds = local.root_credentials or {}
        env = {
            **os.environ,
            "TASKCLUSTER_CLIENT_ID": creds["clientId"],
            "TASKCLUSTER_ACCESS_TOKEN": creds["accessToken"],
        }
        inspect = [
            sys.executable,
            "-m",
            "tcw",
            "--root-url",
            local.root_url,
            "inspect-runs",
            "--task-queue",
            POOL,
            "--min-runs",
            "1",
        ]
        return subprocess.run(inspect, env=env, cwd=REPO, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
