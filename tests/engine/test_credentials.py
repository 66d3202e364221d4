"""The worker's own credentials never reach a task; run calls use the run's temporary credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.cli import tcw_process
from tests.support.tasks import TASK_QUEUE, create_task, last_run, shell
from tests.support.worker import worker_env


def test_a_task_dumping_its_environment_sees_no_worker_token(
    local_queue: Any, queue: Any, tmp_path: Path
) -> None:
    # Only the scopes claimWork needs: reclaims, artifacts and reports must use the run's credentials.
    creds = local_queue.add_client("engine-worker", [f"queue:claim-work:{TASK_QUEUE}", "queue:worker-id:*"])
    dump = tmp_path / "env.txt"
    task_id = create_task(queue, shell(f"env | tee {dump}; ls -la; cat $HOME/* 2>/dev/null || true"))
    env = worker_env(creds)
    args = ["--root-url", local_queue.root_url, "-v", "run", "--task-queue", TASK_QUEUE, "--max-tasks", "1"]
    args += ["--work-root", str(tmp_path / "work")]
    process = tcw_process(args, env=env, stderr=subprocess.PIPE)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()

    assert last_run(queue, task_id) == "completed"
    token = creds["accessToken"]
    environment = dump.read_text()
    assert "TASK_ID=" + task_id in environment
    assert token not in environment and "TASKCLUSTER_ACCESS_TOKEN" not in environment
    assert creds["clientId"] not in environment
    log = requests.get(
        queue.buildSignedUrl("getArtifact", task_id, "0", "public/logs/live_backing.log"), timeout=10
    )
    assert "TASK_ID=" in log.text and token not in log.text
    assert token not in stderr.decode()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_the_worker_hides_its_memory_and_environment_from_same_user_tasks() -> None:
    # A non-dumpable process's /proc files (environ, mem) are root-owned and ptrace by the same user is
    # refused; the flag is per process and reset by execve, so the tasks it starts stay ordinary.
    probe = (
        "import ctypes, ctypes.util, subprocess\n"
        "from tcw.engine.isolation import protect_worker_secrets\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
        "protect_worker_secrets()\n"
        "child = subprocess.run(['python3', '-c', 'import ctypes, ctypes.util; "
        "print(ctypes.CDLL(ctypes.util.find_library(\\'c\\')).prctl(3, 0, 0, 0, 0))'],"
        " capture_output=True, text=True)\n"
        "print(libc.prctl(3, 0, 0, 0, 0), child.stdout.strip())\n"
    )
    env = {**os.environ, "TASKCLUSTER_ACCESS_TOKEN": "worker-secret"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["0", "1"]  # the worker is not dumpable; a task it starts is
