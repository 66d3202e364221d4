"""§7: long waits show progress; Ctrl-C says what happens next; -q keeps the run's summary."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.first_hour.conftest import QUEUE_ID, new_task, user_env
from tests.inspect.test_inspect_queue import output_on_a_terminal
from tests.support.cli import tcw_process
from tests.support.waiting import wait_for


def sleeping_task(queue: Any, marker: Path, seconds: int, retries: int = 0) -> str:
    command = f"echo working; touch {marker}; sleep {seconds}; echo done"
    return new_task(queue, {"command": [["sh", "-c", command]], "maxRunTime": 60}, retries=retries)


def test_a_long_task_logs_progress_lines(local_queue: Any, queue: Any, tmp_path: Path) -> None:
    env = {
        **user_env(local_queue.root_credentials, local_queue.root_url),
        "TCW_WORKER_PROGRESS_INTERVAL": "0.3",
    }
    # Two workers side by side, one quiet, each running one of two like tasks.
    sleeping_task(queue, tmp_path / "started", 1)
    sleeping_task(queue, tmp_path / "started-again", 1)
    run = ["run", "--task-queue", QUEUE_ID, "--max-tasks", "1", "--work-root"]
    quiet_worker, worker = (
        tcw_process(
            [*flags, *run, str(tmp_path / name)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for flags, name in ((["-q"], "quiet"), ([], "w"))
    )
    _, quiet = quiet_worker.communicate(timeout=60)
    assert quiet_worker.returncode == 0
    assert "still running" not in quiet.decode()  # -q hides the progress lines (they are INFO)...
    assert quiet.decode().splitlines()[-1] == "worker stopped: 1 run: 1 completed"  # ...not the summary

    _, said = worker.communicate(timeout=60)
    lines = [line for line in said.decode().splitlines() if "still running after" in line]
    assert lines and "task log" in lines[0] and "bytes" in lines[0]
    assert sum("worker stopped: 1 run: 1 completed" in line for line in said.decode().splitlines()) == 1


def test_ctrl_c_says_what_happens_next_and_a_second_one_stops_the_task(
    local_queue: Any, queue: Any, tmp_path: Path
) -> None:
    env = user_env(local_queue.root_credentials, local_queue.root_url)
    marker = tmp_path / "started"
    task_id = sleeping_task(queue, marker, 60, retries=1)
    worker = tcw_process(
        ["run", "--task-queue", QUEUE_ID, "--work-root", str(tmp_path / "w"), "--shutdown-grace", "60"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for(marker.exists, timeout=30)
    worker.send_signal(signal.SIGINT)
    assert worker.stderr is not None
    said = b""
    while b"second Ctrl-C" not in said:
        line = worker.stderr.readline()
        assert line, said.decode()
        said += line
    assert b"1 running task(s) have 60 s to finish" in said and b"worker-shutdown" in said
    worker.send_signal(signal.SIGINT)
    worker.communicate(timeout=30)
    assert worker.returncode == 0
    run = queue.status(task_id)["status"]["runs"][0]
    assert (run["state"], run["reasonResolved"]) == ("exception", "worker-shutdown")


def test_claim_once_shows_a_spinner_while_it_waits_on_a_terminal(local_queue: Any) -> None:
    env = user_env(local_queue.root_credentials, local_queue.root_url)
    args = ["claim-once", "--task-queue", QUEUE_ID, "--wait", "1.5"]
    assert "waiting up to 1.5 s for a task" in output_on_a_terminal(args, env, exit_code=4)
