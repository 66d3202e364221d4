"""Resident memory of `tcw run`: idle, and while a task prints 1 GB.

Starts the local queue in this process and `tcw run` as a subprocess; reads the worker's VmRSS from /proc
after it has polled idle for a few seconds, then creates a task that writes 1 GiB to stdout and reads the
worker's peak (VmHWM) once that task is resolved; its 1 GiB log is uploaded too.
With --live-log the worker serves live logs (`--live-log-port 0`), and two readers of the task's
public/logs/live.log (through the queue's redirect) watch it: one reads everything as it comes, one
never reads.
Targets: idle at most 70 MB; the 1 GB task leaves the peak within 10 MB of idle.
Usage: .venv/bin/python bench/engine_memory.py [MiB] [--live-log]   (default 1024)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
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


def live_log_url(queue: Any, task_id: str, timeout: float = 60) -> str:
    """Where the queue's redirect for the run's live.log points, once the worker has published it."""
    url = queue.buildSignedUrl("getArtifact", task_id, 0, "public/logs/live.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = requests.get(url, allow_redirects=False, timeout=10)
        if answer.status_code == 303:
            return str(answer.headers["Location"])
        time.sleep(0.05)
    raise TimeoutError("live.log was not published")


class Readers:
    """One reader taking the live log as fast as it comes, one that connects and never reads."""

    def __init__(self, url: str) -> None:
        self.read = 0
        parts = urllib.parse.urlsplit(url)
        self.stuck = socket.create_connection((parts.hostname or "", parts.port or 80))
        self.stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.stuck.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        self.follower = threading.Thread(target=self._follow, args=(url,), daemon=True)
        self.follower.start()

    def _follow(self, url: str) -> None:
        with requests.get(url, stream=True, timeout=600) as response:
            for chunk in response.iter_content(chunk_size=1 << 20):
                self.read += len(chunk)

    def close(self) -> None:
        self.follower.join(timeout=60)
        self.stuck.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mib", nargs="?", type=int, default=1024, help="MiB the task prints")
    parser.add_argument("--live-log", action="store_true", help="serve live logs, with two readers")
    args = parser.parse_args()
    mib = args.mib
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
        if args.live_log:
            command += ["--live-log-port", "0"]
            env["TCW_WORKER_LISTEN_ADDRESS"] = "127.0.0.1"
        worker = subprocess.Popen(command, env=env)
        try:
            time.sleep(4)  # start-up plus a few empty long-polls
            idle = memory_mb(worker.pid, "VmRSS")
            live = "with live logs on" if args.live_log else "live logs off"
            print(f"idle tcw run ({live}): RSS {idle:.1f} MB (target <= 70 MB)", flush=True)
            started = time.monotonic()
            command = f"head -c {mib * 1024 * 1024} /dev/zero | tr '\\0' 'x'"
            if args.live_log:  # a second to connect both readers before the output starts
                command = f"sleep 1; {command}"
            task_id = create_loud_task(queue, command)
            readers = Readers(live_log_url(queue, task_id)) if args.live_log else None
            state = wait_resolved(queue, task_id)
            if readers is not None:
                readers.close()
                print(f"  live log readers: one read {readers.read / 2**20:.1f} MiB, one read nothing")
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
