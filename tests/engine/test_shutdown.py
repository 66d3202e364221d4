"""SIGTERM on a real `tcw run` process: warm stop, grace expiry, and the second signal's cold stop."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.cli import tcw_process
from tests.support.localqueue import workers_seen
from tests.support.tasks import TASK_QUEUE, create_task, last_run, runs, shell
from tests.support.waiting import wait_for
from tests.support.worker import worker_env


def start_worker(local: Any, tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    creds = local.root_credentials
    env = worker_env(creds)
    args = ["--root-url", local.root_url, "run", "--task-queue", TASK_QUEUE, "--worker-id", "sig-worker"]
    args += ["--work-root", str(tmp_path / "work"), *extra]
    return tcw_process(args, env=env, stderr=subprocess.PIPE)


def wait_for_file(path: Path, timeout: float = 20) -> None:
    """The task's own readiness signal: it wrote ``path``."""
    wait_for(lambda: path.exists() and path.read_text().strip(), timeout)


def read_stderr_until(process: subprocess.Popen[bytes], text: str) -> str:
    """The worker's log up to its first line holding ``text``: its own word that it acted on a signal."""
    assert process.stderr is not None
    read = ""
    while text not in read:
        line = process.stderr.readline().decode()
        assert line, f"the worker ended without logging {text!r}:\n{read}"
        read += line
    return read


def finish(process: subprocess.Popen[bytes], timeout: float = 20) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=timeout)
    return process.returncode, stderr.decode()


def test_first_sigterm_lets_the_running_task_finish(local_queue: Any, queue: Any, tmp_path: Path) -> None:
    started = tmp_path / "started"
    task_id = create_task(queue, shell(f"echo yes > {started}; sleep 1.5; echo finished"))
    waiting = create_task(queue, shell("echo never claimed"))
    process = start_worker(local_queue, tmp_path, "--shutdown-grace", "20")
    wait_for_file(started)
    process.send_signal(signal.SIGTERM)
    code, stderr = finish(process)
    assert code == 0, stderr
    assert last_run(queue, task_id) == "completed"
    assert runs(queue, waiting)[0]["state"] == "pending"


def test_grace_expiry_and_second_sigterm_report_worker_shutdown(
    local_queue: Any, queue: Any, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    first = create_task(queue, shell(f"echo yes > {started}; sleep 60"), retries=1)
    process = start_worker(local_queue, tmp_path, "--shutdown-grace", "0.5")
    wait_for_file(started)
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code, stderr = finish(process)
    assert code == 0, stderr
    assert time.monotonic() - stopped_at < 6
    assert runs(queue, first)[0]["reasonResolved"] == "worker-shutdown"
    assert runs(queue, first)[1]["state"] == "pending"  # the queue retries it

    started.unlink()
    process = start_worker(local_queue, tmp_path, "--shutdown-grace", "60")
    wait_for_file(started)
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    warm = read_stderr_until(process, "stopping: no new claims")  # else both signals might merge into one
    process.send_signal(signal.SIGTERM)
    code, stderr = finish(process)
    stderr = warm + stderr
    assert code == 0, stderr
    assert time.monotonic() - stopped_at < 6
    assert runs(queue, first)[1]["reasonResolved"] == "worker-shutdown"
    assert "worker-shutdown" in stderr


def test_sigterm_while_idle_ends_the_long_poll_at_once(local_queue: Any, queue: Any, tmp_path: Path) -> None:
    process = start_worker(local_queue, tmp_path)
    wait_for(lambda: workers_seen(queue, TASK_QUEUE), timeout=20)  # started and waiting in claimWork
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code, stderr = finish(process)
    assert code == 0, stderr
    assert time.monotonic() - stopped_at < 2


def test_sigint_stops_claim_once_waiting_for_a_task(local_queue: Any, queue: Any, tmp_path: Path) -> None:
    creds = local_queue.root_credentials
    env = worker_env(creds)
    args = ["--root-url", local_queue.root_url, "claim-once", "--task-queue", TASK_QUEUE, "--wait", "60"]
    process = tcw_process(args, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    wait_for(lambda: workers_seen(queue, TASK_QUEUE), timeout=20)  # waiting in claimWork
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 4, stderr.decode()
    assert time.monotonic() - stopped_at < 2
