"""`make demo`: a local queue, the example tasks, a real `tcw run`, and each task's result.

Starts the local queue in this process, creates the tasks in examples/tasks/ (a passing one, a failing
one, one with artifacts, one with a malformed payload, one reading a secret through the task proxy),
runs `tcw run` as a subprocess until it has claimed them all, then prints how each task ended and what
it published. The queue keeps them in .tcw/demo/queue.sqlite3, with a client of the demo's own in
.tcw/demo/clients.yml, and the demo ends by printing the commands (root URL and credentials included)
that serve it again and look at each task.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from tcw.config import LocalQueueSettings
from tcw.errors import TcwError
from tcw.executors.api import LOG_NAME
from tcw.localqueue.server import LocalQueue
from tcw.secrets import set_secret
from tcw.task_artifacts import read_artifact_text
from tcw.taskcluster_client import sync_client, sync_queue
from tcw.tasks import create_task

HERE = Path(__file__).resolve().parent
STATE = HERE.parent / ".tcw" / "demo"  # .tcw/ is git-ignored
TASK_QUEUE = "tcw-demo/shell"
WORKER_TIMEOUT = 45.0
SERVE_PORT = 8731  # where the printed commands serve the demo's queue again (tcw queue serve's default)


def create_example_tasks(queue: Any) -> dict[str, str]:
    """taskId -> example name for every examples/tasks/*.yml, with the defaults `tcw task create` fills in."""
    created = {}
    for path in sorted((HERE / "tasks").glob("*.yml")):
        spec = yaml.safe_load(path.read_text())
        task_id = create_task(queue, {**spec, "taskQueueId": TASK_QUEUE, "retries": 0})
        created[task_id] = path.stem
    return created


def demo_client() -> dict[str, str]:
    """A fresh database and a client of the demo's own (all scopes), written where the printed
    `tcw queue serve --clients` finds it again."""
    STATE.mkdir(parents=True, exist_ok=True)
    for stale in STATE.glob("queue.sqlite3*"):  # the database, its journal and its blobs directory
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    credentials = {"clientId": "demo", "accessToken": secrets.token_urlsafe(32)}
    clients = STATE / "clients.yml"
    clients.write_text(yaml.safe_dump([{**credentials, "scopes": ["*"]}]))
    clients.chmod(0o600)
    return credentials


def run_worker(local: LocalQueue, credentials: dict[str, str], max_tasks: int) -> int:
    """The real `tcw run`, as a subprocess, until it has claimed ``max_tasks`` tasks. No registry is
    configured: the shell executor's own payload schema checks the payloads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKCLUSTER_", "TCW_"))}
    env["TASKCLUSTER_CLIENT_ID"] = credentials["clientId"]
    env["TASKCLUSTER_ACCESS_TOKEN"] = credentials["accessToken"]
    if os.geteuid() == 0:
        # A worker running as root runs tasks as root only when told to; in production, set
        # worker.task_user instead (README, "What protects what"). The demo's tasks are the examples'.
        env["TCW_WORKER_ALLOW_ROOT_TASKS"] = "true"
        print("(running as root: the demo sets TCW_WORKER_ALLOW_ROOT_TASKS=true)", flush=True)
    command = [sys.executable, "-m", "tcw", "--root-url", local.root_url, "run", "--task-queue", TASK_QUEUE]
    command += ["--worker-id", "demo-worker", "--max-tasks", str(max_tasks), "--idle-timeout", "15"]
    print(f"$ tcw run --task-queue {TASK_QUEUE} --max-tasks {max_tasks} --idle-timeout 15", flush=True)
    return subprocess.run(command, env=env, cwd=HERE.parent, timeout=WORKER_TIMEOUT, check=False).returncode


def show_results(options: dict[str, Any], created: dict[str, str]) -> bool:
    """Print each task's result, artifacts and the end of its log; True when every task is resolved."""
    queue = sync_queue(options)
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
        console.print(f"  [dim]end of {LOG_NAME}:[/dim]")
        for line in log_tail(options, task_id, run["runId"]):
            console.print(f"    {line}", markup=False, highlight=False)
    return all_resolved


def log_tail(options: dict[str, Any], task_id: str, run_id: int, lines: int = 4) -> list[str]:
    try:
        return read_artifact_text(options, task_id, run_id, LOG_NAME).rstrip("\n").splitlines()[-lines:]
    except TcwError as error:
        return [f"(not available: {error.message})"]


def _shown(path: Path) -> str:
    """Relative to the repository root, where the commands are pasted, when it is in there."""
    return str(path.relative_to(HERE.parent)) if path.is_relative_to(HERE.parent) else str(path)


def paste_commands(credentials: dict[str, str], created: dict[str, str]) -> list[str]:
    """Commands that work as printed, in a shell at the repository root: serve the demo's queue again,
    then look at its tasks."""
    by_name = {name: task_id for task_id, name in created.items()}
    db, clients = (shlex.quote(_shown(path)) for path in (STATE / "queue.sqlite3", STATE / "clients.yml"))
    return [
        ". .venv/bin/activate",
        f"tcw queue serve --db {db} --clients {clients} --port {SERVE_PORT} --public-read &",
        f"export TASKCLUSTER_ROOT_URL=http://127.0.0.1:{SERVE_PORT}"
        f" TASKCLUSTER_CLIENT_ID={credentials['clientId']}"
        f" TASKCLUSTER_ACCESS_TOKEN={credentials['accessToken']}",
        f"tcw task status {by_name['passing']}",
        f"tcw task log {by_name['failing']}",
        f"tcw task artifacts {by_name['artifacts']}",
        f"tcw task download {by_name['artifacts']} public/report.txt -o -",
    ]


def main() -> int:
    started = time.monotonic()
    credentials = demo_client()
    settings = LocalQueueSettings(
        db=str(STATE / "queue.sqlite3"),
        clients_file=str(STATE / "clients.yml"),
        port=0,
        claim_work_wait=2.0,
        resolver_interval=1.0,
    )
    with LocalQueue(settings) as local:
        print(f"local queue at {local.root_url}")
        options = local.client_options(credentials)
        # examples/tasks/secret.yml reads it through the task proxy, with its own scopes.
        set_secret(sync_client("secrets", options), "project/demo", {"greeting": "hello"})
        created = create_example_tasks(sync_queue(options))
        print(f"created {len(created)} tasks on {TASK_QUEUE}: {', '.join(created.values())}")
        code = run_worker(local, credentials, max_tasks=len(created))
        ok = show_results(options, created)
    print(f"tcw run exited {code}; demo took {time.monotonic() - started:.1f} s")
    web_view = f"http://127.0.0.1:{SERVE_PORT}/tasks/{next(iter(created))}"
    print(f"\nThe queue keeps these tasks: once served again (below), the web view shows them at {web_view}.")
    print("To look at them yourself, paste at the repository root:\n")
    for line in paste_commands(credentials, created):
        print(f"  {line}")
    return 0 if code == 0 and ok else 1


if __name__ == "__main__":
    sys.exit(main())
