"""`make demo`: a local queue, the example tasks, a real `tcw run`, and each task's result.

Starts the local queue in this process, creates the tasks in examples/tasks/ (a passing one, a failing
one, one with artifacts, one with a malformed payload), runs `tcw run` as a subprocess until it has
claimed them all, then prints how each task ended and what it published.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import yaml
from rich.console import Console

from tcw.config import LocalQueueSettings
from tcw.localqueue.server import LocalQueue
from tcw.taskcluster_client import sync_queue
from tcw.tasks import create_task

HERE = Path(__file__).resolve().parent
TASK_QUEUE = "tcw-demo/shell"
SCHEMA_URLS = json.dumps({TASK_QUEUE: "shell"})  # registry.schema_urls: the queue -> the built-in schema
WORKER_TIMEOUT = 45.0


def create_example_tasks(queue: Any) -> dict[str, str]:
    """taskId -> example name for every examples/tasks/*.yml, with the defaults `tcw task create` fills in."""
    created = {}
    for path in sorted((HERE / "tasks").glob("*.yml")):
        spec = yaml.safe_load(path.read_text())
        task_id = create_task(queue, {**spec, "taskQueueId": TASK_QUEUE, "retries": 0})
        created[task_id] = path.stem
    return created


def run_worker(local: LocalQueue, max_tasks: int) -> int:
    """The real `tcw run`, as a subprocess, until it has claimed ``max_tasks`` tasks."""
    assert local.root_credentials is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKCLUSTER_", "TCW_"))}
    env["TASKCLUSTER_CLIENT_ID"] = local.root_credentials["clientId"]
    env["TASKCLUSTER_ACCESS_TOKEN"] = local.root_credentials["accessToken"]
    # The worker checks payloads against its queue's schema and will not start without one: tcw's
    # built-in `shell` schema, here given through the environment (a config file works the same way).
    env["TCW_REGISTRY_SCHEMA_URLS"] = SCHEMA_URLS
    if os.geteuid() == 0:
        # A worker running as root runs tasks as root only when told to; in production, set
        # worker.task_user instead (README, "What protects what"). The demo's tasks are the examples'.
        env["TCW_WORKER_ALLOW_ROOT_TASKS"] = "true"
        print("(running as root: the demo sets TCW_WORKER_ALLOW_ROOT_TASKS=true)", flush=True)
    command = [sys.executable, "-m", "tcw", "--root-url", local.root_url, "run", "--task-queue", TASK_QUEUE]
    command += ["--worker-id", "demo-worker", "--max-tasks", str(max_tasks), "--idle-timeout", "15"]
    print(
        f"$ TCW_REGISTRY_SCHEMA_URLS='{SCHEMA_URLS}' "
        f"tcw run --task-queue {TASK_QUEUE} --max-tasks {max_tasks} --idle-timeout 15",
        flush=True,
    )
    return subprocess.run(command, env=env, cwd=HERE.parent, timeout=WORKER_TIMEOUT, check=False).returncode


def show_results(queue: Any, created: dict[str, str]) -> bool:
    """Print each task's result, artifacts and the end of its log; True when every task is resolved."""
    console = Console(width=max(Console().width, 100))
    all_resolved = True
    for task_id, name in created.items():
        runs = queue.status(task_id)["status"]["runs"]
        run = runs[-1] if runs else {"state": "unscheduled", "runId": 0}
        result = run["state"] + (f"/{run['reasonResolved']}" if run["state"] == "exception" else "")
        all_resolved &= run["state"] in ("completed", "failed", "exception")
        artifacts = queue.listArtifacts(task_id, str(run["runId"])).get("artifacts", [])
        console.rule(f"[bold]{name}[/bold]  {task_id}  run {run['runId']}: [bold]{result}[/bold]")
        for artifact in artifacts:
            console.print(f"  {artifact['name']}  ({artifact['storageType']}, {artifact['contentType']})")
        console.print("  [dim]end of public/logs/live_backing.log:[/dim]")
        for line in log_tail(queue, task_id, run["runId"]):
            console.print(f"    {line}", markup=False, highlight=False)
    return all_resolved


def log_tail(queue: Any, task_id: str, run_id: int, lines: int = 4) -> list[str]:
    url = queue.buildSignedUrl("getArtifact", task_id, str(run_id), "public/logs/live_backing.log")
    response = requests.get(url, timeout=10)
    if response.status_code != 200:
        return [f"(not available: HTTP {response.status_code})"]
    return response.text.rstrip("\n").splitlines()[-lines:]


def main() -> int:
    started = time.monotonic()
    settings = LocalQueueSettings(db=":memory:", port=0, claim_work_wait=2.0, resolver_interval=1.0)
    with LocalQueue(settings) as local:
        print(f"local queue at {local.root_url}")
        queue = sync_queue(local.client_options())
        created = create_example_tasks(queue)
        print(f"created {len(created)} tasks on {TASK_QUEUE}: {', '.join(created.values())}")
        code = run_worker(local, max_tasks=len(created))
        ok = show_results(queue, created)
    print(f"tcw run exited {code}; demo took {time.monotonic() - started:.1f} s")
    return 0 if code == 0 and ok else 1


if __name__ == "__main__":
    sys.exit(main())
