"""Resident memory of `tcw run`: idle, and while a task prints 1 GB.

Starts the local queue in this process and `tcw run` as a subprocess; reads the worker's VmRSS from /proc
after it has polled idle for a few seconds, then creates a task that writes 1 GiB to stdout and reads the
worker's peak (VmHWM) once that task is resolved; its 1 GiB log is uploaded too.
Targets: idle at most 70 MB; the 1 GB task leaves the peak within 10 MB of idle.
Usage: .venv/bin/python bench/engine_memory.py [MiB]   (default 1024)
"""

from __future__ import annotations

import json
import os
import signal
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
from tcw.tasks import create_task

TASK_QUEUE = "tcw-bench/memory"


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def create_loud_task(queue: Any, command: str) -> str:
    now = datetime.now(UTC)
    return create_task(
        queue,
        {
            "taskQueueId": TASK_QUEUE,
            "schedulerId": "tcw-bench",
            "projectId": "tcw-bench",
            "created": now.isoformat(),
            "deadline": (now + timedelta(hours=1)).isoformat(),
            "retries": 0,
            "payload": {"command": [command], "maxRunTime": 600},
            "metadata": {
                "name": "loud",
                "description": "bench",
                "owner": "b@example.com",
                "source": "https://x.test/",
            },
        },
    )


def wait_resolved(queue: Any, task_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = queue.status(task_id)["status"]["runs"]
        if runs and runs[-1]["state"] not in ("pending", "running"):
            return str(runs[-1]["state"])
        time.sleep(0.2)
    raise TimeoutError("the task did not resolve")


def main() -> int:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    settings = LocalQueueSettings(db=":memory:", port=0, claim_work_wait=1.0)
    with LocalQueue(settings) as local, tempfile.TemporaryDirectory(prefix="tcw-bench-") as work:
        assert local.root_credentials is not None
        queue = taskcluster.Queue(local.client_options())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKCLUSTER_", "TCW_"))}
        env["TASKCLUSTER_CLIENT_ID"] = local.root_credentials["clientId"]
        env["TASKCLUSTER_ACCESS_TOKEN"] = local.root_credentials["accessToken"]
        env["TCW_REGISTRY_SCHEMA_URLS"] = json.dumps({TASK_QUEUE: "shell"})
        env["TCW_WORKER_ALLOW_ROOT_TASKS"] = "true"  # the bench's own tasks, also when it runs as root
        command = [sys.executable, "-m", "tcw", "-q", "--root-url", local.root_url, "run"]
        command += ["--task-queue", TASK_QUEUE, "--work-root", work]
        worker = subprocess.Popen(command, env=env)
        try:
            time.sleep(4)  # start-up plus a few empty long-polls
            idle = memory_mb(worker.pid, "VmRSS")
            print(f"idle tcw run: RSS {idle:.1f} MB (target <= 70 MB)", flush=True)
            started = time.monotonic()
            task_id = create_loud_task(queue, f"head -c {mib * 1024 * 1024} /dev/zero | tr '\\0' 'x'")
            state = wait_resolved(queue, task_id)
            peak = memory_mb(worker.pid, "VmHWM")
            now = memory_mb(worker.pid, "VmRSS")
            took = time.monotonic() - started
            print(
                f"task printing {mib} MiB ({state}, {took:.1f} s incl. log upload): peak RSS {peak:.1f} MB,"
            )
            print(f"  {peak - idle:+.1f} MB over idle (target <= +10 MB); RSS afterwards {now:.1f} MB")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
