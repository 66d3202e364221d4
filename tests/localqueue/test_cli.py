"""`tcw queue serve` as a real process, and `tcw task create` / `tcw task status` against a local queue."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.cli import RunCli, env_for, tcw_process
from tests.support.paths import REPO_ROOT


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


@pytest.mark.usefixtures("quick_client_retries")
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


def serve(db: Path, *extra: str) -> subprocess.Popen[str]:
    args = ["queue", "serve", "--port", "0", "--db", str(db), "--claim-work-wait", "1", *extra]
    return tcw_process(  # type: ignore[return-value]
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def exported(output: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*export (TASKCLUSTER_\w+)=(\S+)$", output, re.MULTILINE))


def test_queue_serve_points_at_queue_env_which_prints_working_exports(
    run_cli: RunCli, tmp_path: Path
) -> None:
    db, secrets = tmp_path / "queue.sqlite3", tmp_path / "secrets"
    env_args = ["tcw", "queue", "env", "--db", str(db), "--secrets-dir", str(secrets)]
    first: dict[str, str] = {}
    for start in range(2):  # a new database, then the same one again
        with serve(db, "--secrets-dir", str(secrets)) as process:
            try:
                banner = "".join(read_until(process, "Press Ctrl"))
                assert banner.lower().count("local queue serving at") == 1, banner
                assert "ACCESS_TOKEN" not in banner and 'eval "$(tcw queue env --db' in banner
                exports = exported(run_cli(env_args).stdout)
                root_url = re.search(r"serving at (\S+)", banner)
                assert root_url and exports["TASKCLUSTER_ROOT_URL"] == root_url.group(1)
                credentials = {
                    "clientId": exports["TASKCLUSTER_CLIENT_ID"],
                    "accessToken": exports["TASKCLUSTER_ACCESS_TOKEN"],
                }
                queue: Any = taskcluster.Queue({"rootUrl": root_url.group(1), "credentials": credentials})
                assert queue.listTaskQueues()["taskQueues"] == []  # signed, and accepted
                first = first or exports
                assert exports["TASKCLUSTER_ACCESS_TOKEN"] == first["TASKCLUSTER_ACCESS_TOKEN"], start
            finally:
                process.send_signal(signal.SIGTERM if start == 0 else signal.SIGINT)
            assert process.wait(20) == 0


def test_a_second_queue_on_the_same_database_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    db, secrets = tmp_path / "queue.sqlite3", tmp_path / "secrets"
    with serve(db, "--secrets-dir", str(secrets)) as process:
        try:
            read_until(process, "Press Ctrl")
            args = ["tcw", "queue", "serve", "--port", "0", "--db", str(db), "--secrets-dir", str(secrets)]
            second = run_cli(args, exit_code=2)
            assert second.stderr.startswith("Error: another local queue is already serving the database")
            assert len(second.stderr.strip().splitlines()) == 1
        finally:
            process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0


def test_an_in_memory_queue_prints_its_exports_and_queue_env_explains(run_cli: RunCli) -> None:
    with serve(Path(":memory:")) as process:
        try:
            banner = "".join(read_until(process, "Press Ctrl"))
            assert "Warning" not in banner  # on loopback: nothing to warn about
            assert set(exported(banner)) == {
                "TASKCLUSTER_ROOT_URL",
                "TASKCLUSTER_CLIENT_ID",
                "TASKCLUSTER_ACCESS_TOKEN",
            }
        finally:
            process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    refused = run_cli(["tcw", "queue", "env", "--db", ":memory:"], exit_code=2)
    assert "start `tcw queue serve` first" in refused.stderr


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


def test_queue_serve_refuses_a_bad_host_or_database_path_in_one_line(run_cli: RunCli) -> None:
    for args, reason in (
        (["--host", "999.1.1.1", "--db", ":memory:"], "cannot listen on 999.1.1.1:"),
        (["--port", "0", "--db", "/proc/q.sqlite3"], "cannot open the local queue database /proc/q.sqlite3"),
        (["--port", "0", "--db", "/proc/self/status"], "cannot open the local queue database"),
    ):
        refused = run_cli(["tcw", "queue", "serve", *args], exit_code=2)
        assert refused.stderr.startswith(f"Error: {reason}"), refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_queue_serve_warns_when_bound_beyond_loopback() -> None:
    args = ["queue", "serve", "--host", "0.0.0.0", "--port", "0", "--db", ":memory:"]
    with tcw_process(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        try:
            output = "".join(read_until(process, "Press Ctrl"))  # type: ignore[arg-type]
        finally:
            process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    assert "Warning: serving plain HTTP on 0.0.0.0" in output and "TLS" in output
