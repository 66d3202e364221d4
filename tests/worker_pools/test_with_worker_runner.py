"""`tcw run --config FILE --with-worker-runner` driven by the simulated worker-runner over real pipes,
against the local queue."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import TEST_SETTINGS
from tests.support.waiting import wait_for
from tests.worker_pools.conftest import (
    HANDLER_POOL,
    LOCATION,
    POOL,
    StartRunner,
    create_task,
    last_run,
    shell,
)
from tests.worker_pools.handlers import PROTOCOL_LOOKING
from tests.worker_pools.simulated_runner import RUNNER_CAPABILITIES, SimulatedRunner

WAIT = 30.0  # generous: the machine is shared; every wait ends as soon as its condition holds


def logged_text(runner: SimulatedRunner) -> str:
    """Everything the worker logged: its ``log`` messages and its stderr."""
    messages = [json.dumps(message["body"]) for message in runner.of_type("log")]
    return "\n".join([*messages, runner.stderr()])


def completed(queue: Any, task_id: str) -> bool:
    return bool(last_run(queue, task_id)["state"] == "completed")


def test_hello_a_task_and_nothing_else_on_stdout(
    start_runner: StartRunner, queue: Any, tmp_path: Path
) -> None:
    seen = tmp_path / "location"
    task_id = create_task(
        queue,
        POOL,
        shell(
            f"echo '{PROTOCOL_LOOKING}'",
            'echo \'~{"type":"error-report"}\' >&2',
            f'printf %s "$TASKCLUSTER_WORKER_LOCATION" > {seen}',
        ),
    )
    runner = start_runner()
    welcomed = runner.welcome()
    arrived, hello = runner.expect("hello", timeout=WAIT)
    assert arrived - welcomed < 5.0
    assert sorted(hello["capabilities"]) == sorted(RUNNER_CAPABILITIES)
    wait_for(lambda: completed(queue, task_id), timeout=WAIT)
    assert json.loads(seen.read_text()) == LOCATION
    runner.send({"type": "graceful-termination", "finish-tasks": False})
    assert runner.wait(WAIT) == 0, runner.stderr()
    kinds = {message["type"] for _, message in runner.messages}
    assert kinds <= {"hello", "log"}, kinds  # the task's protocol-looking lines were not obeyed or relayed
    assert runner.other_lines == []
    assert any("resolved completed" in m["body"]["textPayload"] for m in runner.of_type("log"))


def test_a_handler_printing_protocol_lines_does_not_reach_the_runner(
    start_runner: StartRunner, queue: Any
) -> None:
    task_id = create_task(queue, HANDLER_POOL, {})
    tcw = {"worker": {"executor": "tests.worker_pools.handlers:prints_protocol", "accept_any_payload": True}}
    runner = start_runner(tcw=tcw, pool=HANDLER_POOL)
    runner.welcome(["graceful-termination"])
    runner.expect("hello", timeout=WAIT)
    wait_for(lambda: completed(queue, task_id), timeout=WAIT)
    runner.send({"type": "graceful-termination", "finish-tasks": False})
    assert runner.wait(WAIT) == 0, runner.stderr()
    assert [message["type"] for _, message in runner.messages] == ["hello"]
    assert runner.other_lines == []
    assert runner.stderr().count(PROTOCOL_LOOKING) == 3  # they went to stderr, which the runner only logs


def _temporary(
    client: dict[str, str], start: datetime, expiry: datetime, name: str, pool: str
) -> dict[str, str]:
    scopes = [f"queue:claim-work:{pool}", "queue:worker-id:*"]
    made = taskcluster.createTemporaryCredentials(
        client["clientId"], client["accessToken"], start, expiry, scopes, name
    )
    return {key: value.decode() if isinstance(value, bytes) else value for key, value in made.items()}


def test_new_credentials_replace_the_old_ones_at_once(
    start_runner: StartRunner, local_queue: LocalQueue, queue: Any
) -> None:
    scopes = ["queue:claim-work:*", "queue:worker-id:*", "auth:create-client:*"]
    old_issuer = local_queue.add_client("runner-issuer-old", scopes)
    new_issuer = local_queue.add_client("runner-issuer-new", scopes)
    now = datetime.now(UTC)
    old = _temporary(old_issuer, now - timedelta(minutes=1), now + timedelta(hours=1), "old-creds", POOL)
    runner = start_runner(credentials=old)
    runner.welcome()
    runner.expect("hello", timeout=WAIT)
    fresh = _temporary(new_issuer, now - timedelta(minutes=1), now + timedelta(hours=1), "new-creds", POOL)
    runner.send(
        {
            "type": "new-credentials",
            "client-id": fresh["clientId"],
            "access-token": fresh["accessToken"],
            "certificate": fresh["certificate"],
        }
    )
    wait_for(lambda: "calling with new credentials" in logged_text(runner), timeout=WAIT)
    # From now on the old credentials are refused: their issuer's token is replaced, which invalidates
    # every certificate it signed. A claimWork let in with them before may still be waiting for work:
    # the task comes once that long poll is over, so that only a call with the new ones can claim it.
    local_queue.add_client("runner-issuer-old", scopes)
    time.sleep(TEST_SETTINGS.claim_work_wait + 0.5)
    task_id = create_task(queue, POOL, shell("echo claimed with the new credentials"))
    wait_for(lambda: completed(queue, task_id), timeout=WAIT)
    runner.send({"type": "graceful-termination", "finish-tasks": False})
    assert runner.wait(WAIT) == 0, runner.stderr()
    logged = logged_text(runner)
    assert "calling with new credentials from worker-runner (client new-creds)" in logged
    # As tcw reports a refusal ("claimWork refused: ... the queue answered 401: ..."); a bare "401" also
    # matched the worker's pid or the pytest-N directory in the paths it logs.
    assert "answered 401" not in logged and "refused" not in logged, logged
    assert old["accessToken"] not in logged and fresh["accessToken"] not in logged


def test_graceful_termination_during_a_task_reports_worker_shutdown(
    start_runner: StartRunner, queue: Any, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    task_id = create_task(queue, POOL, shell(f"echo yes > {started}; sleep 60"), retries=1)
    runner = start_runner()
    runner.welcome()
    runner.expect("hello", timeout=WAIT)
    wait_for(started.exists, timeout=WAIT)
    stopped = time.monotonic()
    runner.send({"type": "graceful-termination", "finish-tasks": False})
    assert runner.wait(WAIT) == 0, runner.stderr()
    assert time.monotonic() - stopped < 15
    first = queue.status(task_id)["status"]["runs"][0]
    assert (first["state"], first["reasonResolved"]) == ("exception", "worker-shutdown")
    assert runner.of_type("shutdown") == []  # the runner asked; the worker does not ask back


def test_idle_timeout_sends_shutdown_then_exits_0(start_runner: StartRunner) -> None:
    runner = start_runner(tcw={"worker": {"idle_timeout": 0.5}})
    runner.welcome()
    runner.expect("hello", timeout=WAIT)
    runner.expect("shutdown", timeout=WAIT)
    assert runner.wait(WAIT) == 0, runner.stderr()


def test_without_the_shutdown_capability_idle_timeout_just_exits(start_runner: StartRunner) -> None:
    runner = start_runner(tcw={"worker": {"idle_timeout": 0.5}})
    runner.welcome(["graceful-termination"])
    assert runner.wait(WAIT) == 0, runner.stderr()
    assert [message["type"] for _, message in runner.messages] == ["hello"]


def test_a_bad_config_is_an_error_report_then_a_non_zero_exit(
    start_runner: StartRunner, local_queue: LocalQueue
) -> None:
    runner = start_runner(tcw={"worker": {"capacity": "many", "idle_timout": 5}})
    runner.welcome()
    _, report = runner.expect("error-report", timeout=WAIT)
    assert runner.wait(WAIT) != 0
    assert {key: type(value) for key, value in report.items()} == {
        "type": str,
        "kind": str,
        "title": str,
        "description": str,
        "extra": dict,
    }
    assert "capacity" in report["description"] and "idle_timout" in report["description"]
    token = (local_queue.root_credentials or {})["accessToken"]
    assert token not in json.dumps(report)
    assert runner.other_lines == []


def test_unknown_generic_worker_keys_are_ignored(start_runner: StartRunner) -> None:
    runner = start_runner(
        tcw={"worker": {"idle_timeout": 0.5}}, publicIP="10.0.0.1", ed25519SigningKeyLocation="/k"
    )
    runner.welcome(["shutdown"])
    runner.expect("shutdown", timeout=WAIT)
    assert runner.wait(WAIT) == 0, runner.stderr()


def test_finish_tasks_lets_the_running_task_complete(
    start_runner: StartRunner, queue: Any, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    task_id = create_task(queue, POOL, shell(f"echo yes > {started}; sleep 1"))
    runner = start_runner()
    runner.welcome()
    runner.expect("hello", timeout=WAIT)
    wait_for(started.exists, timeout=WAIT)
    runner.send({"type": "graceful-termination", "finish-tasks": True})
    assert runner.wait(WAIT) == 0, runner.stderr()
    assert last_run(queue, task_id)["state"] == "completed"


def test_refused_credentials_are_an_error_report_then_a_non_zero_exit(
    start_runner: StartRunner, local_queue: LocalQueue
) -> None:
    client_id = (local_queue.root_credentials or {})["clientId"]
    wrong = {"clientId": client_id, "accessToken": "not-the-token-" + "x" * 30}
    runner = start_runner(credentials=wrong)
    runner.welcome()
    _, report = runner.expect("error-report", timeout=WAIT)
    assert runner.wait(WAIT) == 5
    assert "401" in report["description"]  # from the start-up ping, before any claimWork
    assert wrong["accessToken"] not in json.dumps(report)
