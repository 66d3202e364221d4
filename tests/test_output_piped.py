"""Output off a terminal: a real `tcw` process writing to pipes prints every log record and table row
whole, on one line; on a terminal (a pty) tables are drawn by rich as before."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.cli import KEPT_VARIABLES
from tests.support.paths import REPO_ROOT
from tests.support.tasks import TASK_QUEUE, create_task, shell

GROUP, WORKER = "g" * 38, "w" * 38  # the longest ids the queue allows: far wider than 80 columns together
LONG_URL = "https://artifacts.example.com/" + "/".join(f"segment-{n}" for n in range(12)) + "/build.log"


def tcw_env(local_queue: LocalQueue, **extra: str) -> dict[str, str]:
    creds = local_queue.root_credentials
    assert creds is not None
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TASKCLUSTER_", "TCW_")) or k in KEPT_VARIABLES
    }
    env.pop("COLUMNS", None)
    env.update(
        TASKCLUSTER_ROOT_URL=local_queue.root_url,
        TASKCLUSTER_CLIENT_ID=creds["clientId"],
        TASKCLUSTER_ACCESS_TOKEN=creds["accessToken"],
        **extra,
    )
    return env


def tcw(args: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``tcw ARGS`` as a real process with stdout and stderr to pipes."""
    return subprocess.run(
        [sys.executable, "-m", "tcw", *args],
        check=False,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def resolved_task(local_queue: LocalQueue) -> tuple[str, dict[str, Any]]:
    """A task whose one run was claimed by GROUP/WORKER and completed: its status has long values."""
    queue = taskcluster.Queue(local_queue.client_options())
    task_id = create_task(queue, shell("true"))
    claim = queue.claimWork(TASK_QUEUE, {"workerGroup": GROUP, "workerId": WORKER, "tasks": 1})["tasks"][0]
    queue.reportCompleted(task_id, str(claim["runId"]))
    return task_id, queue.status(task_id)["status"]


def test_task_status_piped_prints_whole_tab_separated_rows(local_queue: LocalQueue) -> None:
    task_id, status = resolved_task(local_queue)
    done = tcw(["task", "status", task_id], tcw_env(local_queue))
    assert done.returncode == 0, done.stderr
    assert "\u2026" not in done.stdout  # rich's ellipsis for a cut cell
    lines = done.stdout.splitlines()
    assert lines[0] == f"{task_id}  completed"
    header = lines.index("run\tstate\treason created\treason resolved\tworker\tstarted\tresolved")
    (run,) = status["runs"]
    row = [str(run["runId"]), "completed", "scheduled", "completed", f"{GROUP}/{WORKER}"]
    assert lines[header + 1].split("\t") == [*row, run["started"], run["resolved"]]


def test_log_lines_piped_are_one_record_each_never_wrapped(local_queue: LocalQueue, tmp_path: Path) -> None:
    queue = taskcluster.Queue(local_queue.client_options())
    task_id = create_task(queue, shell("true"), name=f"build from {LONG_URL}")
    env = tcw_env(local_queue, TCW_REGISTRY_SCHEMA_URLS=json.dumps({TASK_QUEUE: "shell"}))
    args = ["claim-once", "--task-queue", TASK_QUEUE, "--wait", "5", "--work-root", str(tmp_path)]
    done = tcw([*args, "--worker-group", GROUP, "--worker-id", WORKER], env)
    assert done.returncode == 0, done.stderr
    claimed = [line for line in done.stderr.splitlines() if " claimed " in line]
    assert len(claimed) == 1, done.stderr
    assert f"claimed build from {LONG_URL} [" in claimed[0] and f"taskId={task_id}" in claimed[0]
    # Every stderr line is a record of its own (a timestamp first), so none is the tail of a wrapped one.
    assert all(line[:4].isdigit() and "T" in line[:11] for line in done.stderr.splitlines()), done.stderr
    # The claim panel on stdout keeps the name on one line too.
    assert any(f"build from {LONG_URL}" in line for line in done.stdout.splitlines()), done.stdout


def test_task_status_on_a_terminal_is_still_a_rich_table(local_queue: LocalQueue) -> None:
    task_id, _ = resolved_task(local_queue)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tcw", "task", "status", task_id],
        env={**tcw_env(local_queue), "COLUMNS": "200"},
        cwd=REPO_ROOT,
        stdout=follower,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the pty reports EIO once the process has closed its end
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0
    text = output.decode("utf-8", "replace")
    assert "\u2503" in text or "\u2502" in text, text  # rich's box drawing
    assert "\t" not in text
