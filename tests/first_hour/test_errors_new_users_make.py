"""§5: credentials, reachability and the errors a new user makes, each said in one line."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.first_hour.conftest import QUEUE_ID, user_env
from tests.support.ports import unused_port

TASK = "taskQueueId: first-hour/shell\npayload: {command: [[true]], maxRunTime: 5}\n"


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


class NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def not_taskcluster() -> Iterator[str]:
    """A web server that answers 404 to everything, as a wrong root URL (a company home page) does."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_no_credentials_is_one_line_naming_the_call_and_the_missing_scopes(
    local_queue: Any, run_cli: Any
) -> None:
    env = user_env(None, local_queue.root_url)
    refused = run_cli(["tcw", "task", "create", "-"], input=TASK, exit_code=5, env=env)
    [line] = error_lines(refused.stderr)
    assert "(createTask)" in line and "missing scopes queue:create-task:" in line
    assert "TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN are unset" in line
    assert refused.stderr.splitlines() == [line]


def test_a_wrong_access_token_is_named_as_such(local_queue: Any, run_cli: Any) -> None:
    env = {
        **user_env(local_queue.root_credentials, local_queue.root_url),
        "TASKCLUSTER_ACCESS_TOKEN": "wrong",
    }
    refused = run_cli(["tcw", "task", "create", "-"], input=TASK, exit_code=5, env=env)
    [line] = error_lines(refused.stderr)
    assert "the access token does not match client id root (Bad mac)" in line


def test_a_url_that_is_no_deployment_is_named_as_such(not_taskcluster: str, run_cli: Any) -> None:
    said = run_cli(
        ["tcw", "--root-url", not_taskcluster, "task", "status", "fmloJN0KSqWKuRrhtAN16A"], exit_code=5
    )
    assert "not as a Taskcluster deployment" in said.stderr and "None" not in said.stderr
    worker = run_cli(["tcw", "--root-url", not_taskcluster, "run", "--task-queue", QUEUE_ID], exit_code=5)
    assert "not as a Taskcluster deployment" in worker.stderr


@pytest.mark.usefixtures("quick_client_retries")
def test_an_unreachable_root_url_is_one_line_without_the_client_s_retry_warnings(run_cli: Any) -> None:
    gone = f"http://127.0.0.1:{unused_port()}"
    said = run_cli(["tcw", "--root-url", gone, "task", "status", "fmloJN0KSqWKuRrhtAN16A"], exit_code=5)
    assert said.stderr.splitlines() == error_lines(said.stderr) and len(error_lines(said.stderr)) == 1
    assert "cannot be reached" in said.stderr


def test_tcw_run_against_an_unreachable_queue_exits_5_after_the_startup_timeout(run_cli: Any) -> None:
    gone = f"http://127.0.0.1:{unused_port()}"
    env = {"TCW_WORKER_STARTUP_TIMEOUT": "1"}
    started = time.monotonic()
    said = run_cli(["tcw", "--root-url", gone, "run", "--task-queue", QUEUE_ID], exit_code=5, env=env)
    assert time.monotonic() - started < 20
    [line] = error_lines(said.stderr)
    assert f"cannot reach the queue at {gone} within 1 s" in line and "worker.startup_timeout" in line


def test_task_create_creates_every_document_in_a_group_and_explains_bad_input(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    env = user_env(local_queue.root_credentials, local_queue.root_url)
    group = "fmloJN0KSqWKuRrhtAN16A"
    created = run_cli(
        ["tcw", "task", "create", "--task-group", group, "-"], input=f"{TASK}---\n{TASK}", env=env
    )
    task_ids = created.stdout.split()
    assert len(task_ids) == 2
    assert {queue.task(task_id)["taskGroupId"] for task_id in task_ids} == {group}

    bare = run_cli(
        ["tcw", "task", "create", "-"], input="command: [[true]]\nmaxRunTime: 5\n", exit_code=2, env=env
    )
    assert error_lines(bare.stderr) == [
        line for line in error_lines(bare.stderr) if "wrap it in `payload:`" in line
    ]
    assert len(error_lines(bare.stderr)) == 1

    gone = {**env, "TASKCLUSTER_ROOT_URL": f"http://127.0.0.1:{unused_port()}"}  # no call is made
    bad_queue = run_cli(
        ["tcw", "task", "create", "--task-queue", "Proj/Linux", "-"], input=TASK, exit_code=2, env=gone
    )
    [line] = error_lines(bad_queue.stderr)
    assert "workerType 'Linux'" in line and "lower-case" in line

    half_bad = f"{TASK}---\ntaskQueueId: nope\n"
    before = len(queue.listTaskGroup(group)["tasks"])
    run_cli(["tcw", "task", "create", "--task-group", group, "-"], input=half_bad, exit_code=2, env=env)
    assert len(queue.listTaskGroup(group)["tasks"]) == before  # checked all before creating any


def test_inspect_runs_keeps_the_service_s_400_message_and_exits_2(local_queue: Any, run_cli: Any) -> None:
    env = user_env(local_queue.root_credentials, local_queue.root_url)
    said = run_cli(["tcw", "inspect-runs", "--task-group", "not-a-slug"], exit_code=2, env=env)
    assert "400" in said.stderr and "taskGroupId 'not-a-slug' does not match" in said.stderr
