"""`tcw queue serve` as a real process, and `tcw task create` / `tcw task status` against a local queue."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import requests
import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.fixtures.cli import REPO_ROOT, RunCli, tcw_process


def env_for(local_queue: LocalQueue) -> dict[str, str]:
    creds = local_queue.root_credentials
    assert creds is not None
    return {
        "TASKCLUSTER_ROOT_URL": local_queue.root_url,
        "TASKCLUSTER_CLIENT_ID": creds["clientId"],
        "TASKCLUSTER_ACCESS_TOKEN": creds["accessToken"],
    }


def test_task_create_from_yaml_file_fills_defaults(
    run_cli: RunCli, local_queue: LocalQueue, tmp_path: Path
) -> None:
    task_file = tmp_path / "task.yml"
    task_file.write_text("taskQueueId: tcw-test/worker\npayload:\n  command: [echo, hi]\n")
    result = run_cli(["tcw", "task", "create", str(task_file)], env=env_for(local_queue))
    task_id = result.stdout.strip()
    definition = taskcluster.Queue(local_queue.client_options()).task(task_id)
    assert definition["payload"] == {"command": ["echo", "hi"]}
    assert definition["deadline"] > definition["created"] and definition["expires"] > definition["deadline"]
    assert definition["metadata"]["name"]


def test_task_create_puts_a_queueless_example_on_the_given_queue(
    run_cli: RunCli, local_queue: LocalQueue
) -> None:
    example = REPO_ROOT / "examples" / "tasks" / "passing.yml"  # the examples name no queue
    command = ["tcw", "task", "create", "--task-queue", "tcw-test/other", str(example)]
    task_id = run_cli(command, env=env_for(local_queue)).stdout.strip()
    definition = taskcluster.Queue(local_queue.client_options()).task(task_id)
    assert definition["taskQueueId"] == "tcw-test/other"
    assert (definition["provisionerId"], definition["workerType"]) == ("tcw-test", "other")


def test_task_create_from_stdin_json_keeps_its_task_id(run_cli: RunCli, local_queue: LocalQueue) -> None:
    task_id = taskcluster.slugId()
    document = json.dumps({"taskId": task_id, "taskQueueId": "tcw-test/worker", "priority": "high"})
    result = run_cli(["tcw", "task", "create", "-"], input=document, env=env_for(local_queue))
    assert result.stdout.strip() == task_id


def test_task_status_text_and_json(run_cli: RunCli, local_queue: LocalQueue) -> None:
    env = env_for(local_queue)
    task_id = run_cli(["tcw", "task", "create", "-"], input="taskQueueId: a/b\n", env=env).stdout.strip()
    text = run_cli(["tcw", "task", "status", task_id], env=env).stdout
    assert task_id in text and "pending" in text and "scheduled" in text
    status = json.loads(run_cli(["tcw", "task", "status", task_id, "--format", "json"], env=env).stdout)
    assert status["taskId"] == task_id and status["state"] == "pending"


def test_task_errors_are_one_line_with_exit_codes(
    run_cli: RunCli, local_queue: LocalQueue, tmp_path: Path
) -> None:
    env = env_for(local_queue)
    bad = run_cli(["tcw", "task", "create", "-"], input="- not a mapping\n", env=env, exit_code=2)
    assert bad.stderr.startswith("Error: ") and "mapping" in bad.stderr
    rejected = run_cli(["tcw", "task", "create", "-"], input="taskQueueId: BAD\n", env=env, exit_code=2)
    assert "taskQueueId 'BAD'" in rejected.stderr and "exactly one '/'" in rejected.stderr
    missing = run_cli(["tcw", "task", "status", taskcluster.slugId()], env=env, exit_code=2)
    assert "404" in missing.stderr
    gone = {**env, "TASKCLUSTER_ROOT_URL": "http://127.0.0.1:9"}
    down = run_cli(["tcw", "task", "status", taskcluster.slugId()], env=gone, exit_code=5)
    assert "cannot be reached" in down.stderr


def read_until(process: subprocess.Popen[str], pattern: str) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    while not any(re.search(pattern, line) for line in lines):
        line = process.stdout.readline()
        assert line, f"tcw queue serve ended early: {lines}"
        lines.append(line)
    return lines


def serve(db: Path) -> subprocess.Popen[str]:
    args = ["queue", "serve", "--port", "0", "--db", str(db), "--claim-work-wait", "1"]
    return tcw_process(args, stdout=subprocess.PIPE, text=True)  # type: ignore[return-value]


def test_queue_serve_prints_credentials_once_and_stops_on_signals(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    with serve(db) as process:
        try:
            output = "".join(read_until(process, "Press Ctrl"))
            root_url = re.search(r"TASKCLUSTER_ROOT_URL=(\S+)", output)
            token = re.search(r"TASKCLUSTER_ACCESS_TOKEN=(\S+)", output)
            assert root_url and token
            credentials = {"clientId": "root", "accessToken": token.group(1)}
            queue: Any = taskcluster.Queue({"rootUrl": root_url.group(1), "credentials": credentials})
            assert queue.ping()["alive"] is True
            assert requests.get(root_url.group(1) + "/api/queue/v1/task-queues", timeout=10).ok
        finally:
            process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0

    with serve(db) as again:
        try:
            output = "".join(read_until(again, "Press Ctrl"))
            assert "ACCESS_TOKEN" not in output and "root-credentials.json" in output
        finally:
            again.send_signal(signal.SIGINT)
        assert again.wait(20) == 0


def test_queue_serve_reports_a_busy_port_and_a_bad_clients_file(
    run_cli: RunCli, local_queue: LocalQueue, tmp_path: Path
) -> None:
    port = local_queue.root_url.rsplit(":", 1)[1]
    busy = run_cli(["tcw", "queue", "serve", "--port", port, "--db", ":memory:"], exit_code=2)
    assert busy.stderr.startswith("Error: cannot listen on 127.0.0.1:")
    clients = tmp_path / "clients.yml"
    clients.write_text("- clientId: x\n")
    serve_args = ["tcw", "queue", "serve", "--port", "0", "--db", str(tmp_path / "q.sqlite3")]
    bad = run_cli([*serve_args, "--clients", str(clients)], exit_code=2)
    assert "missing accessToken" in bad.stderr
    assert not (tmp_path / "q.sqlite3").exists()
