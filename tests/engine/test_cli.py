"""`tcw claim-once` and `tcw run` through the real click app, against the local queue."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.tasks import TASK_QUEUE, create_task, last_run, runs, shell
from tests.support.worker import worker_env


def base_args(local: Any, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """The root URL and an environment with the queue's credentials and TASK_QUEUE mapped to ``shell``."""
    creds = local.root_credentials
    env = {**worker_env(creds), "TCW_REGISTRY_CACHE_DIR": str(tmp_path / "schema-cache")}
    return ["tcw", "--root-url", local.root_url], env


def test_claim_once_runs_one_task_and_exits_with_its_result(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    args, env = base_args(local_queue, tmp_path)
    failing = create_task(queue, shell("exit 1"), name="the failing one")
    common = ["claim-once", "--task-queue", TASK_QUEUE, "--wait", "2", "--work-root", str(tmp_path)]
    result = run_cli([*args, *common], exit_code=1, env=env)
    assert failing in result.stdout and "the failing one" in result.stdout and "maxRunTime" in result.stdout
    assert f"{failing} run 0: failed after" in result.stdout
    assert "kept" not in result.stdout
    assert last_run(queue, failing) == "failed"

    passing = create_task(queue, shell("echo hi"))
    result = run_cli([*args, *common, "--format", "json", "--keep-workdir"], exit_code=0, env=env)
    document = json.loads(result.stdout)
    assert document["taskId"] == passing and document["state"] == "completed" and document["reported"] is True
    work_dir, task_log = tmp_path / f"task_{passing}_0", tmp_path / "logs" / f"task_{passing}_0.log"
    assert (document["workDir"], document["taskLog"]) == (str(work_dir), str(task_log))
    assert work_dir.is_dir() and task_log.is_file()
    assert not (tmp_path / f"task_{failing}_0").exists()
    assert not (tmp_path / "logs" / f"task_{failing}_0.log").exists()

    kept = create_task(queue, shell("echo kept > out.txt"))
    result = run_cli([*args, *common, "--keep-workdir"], exit_code=0, env=env)
    work_dir = tmp_path / f"task_{kept}_0"
    assert f"work directory kept: {work_dir}\n" in result.stdout
    assert f"task log kept: {tmp_path / 'logs' / work_dir.name}.log\n" in result.stdout
    assert (work_dir / "out.txt").read_text() == "kept\n"

    malformed = create_task(queue, {"command": "not a list"})
    run_cli([*args, *common], exit_code=3, env=env)
    assert last_run(queue, malformed) == "exception/malformed-payload"

    run_cli([*args, *common[:-2], "--wait", "0.5"], exit_code=4, env=env)


def test_claim_once_no_run_releases_the_task_for_a_retry(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    args, env = base_args(local_queue, tmp_path)
    task_id = create_task(queue, shell("echo hi"), retries=2)
    result = run_cli([*args, "claim-once", "--task-queue", TASK_QUEUE, "--wait", "2", "--no-run"], env=env)
    assert task_id in result.stdout
    task_runs = runs(queue, task_id)
    assert (task_runs[0]["state"], task_runs[0]["reasonResolved"]) == ("exception", "worker-shutdown")
    assert task_runs[1]["state"] == "pending"


def test_usage_errors_exit_2(local_queue: Any, run_cli: Any, tmp_path: Path) -> None:
    args, env = base_args(local_queue, tmp_path)
    result = run_cli([*args, "run", "--task-queue", "no-slash"], exit_code=2, env=env)
    assert "provisionerId/workerType" in result.stderr
    result = run_cli([*args, "run", "--task-queue", "a/b", "--provisioner-id", "a"], exit_code=2, env=env)
    assert "not both" in result.stderr
    any_payload = ["run", "--task-queue", "a/b", "--accept-any-payload"]
    result = run_cli([*args, *any_payload, "--executor", "nosuchmodule:fn"], exit_code=2, env=env)
    assert "nosuchmodule" in result.stderr
    result = run_cli(["tcw", *any_payload], exit_code=2, env={})
    assert "root_url" in result.stderr
    (tmp_path / "a-file").write_text("")
    result = run_cli(
        [*args, *any_payload, "--work-root", str(tmp_path / "a-file" / "sub")], exit_code=2, env=env
    )
    assert "not a writable directory" in result.stderr


def test_run_with_max_tasks_ends_cleanly(local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path) -> None:
    args, env = base_args(local_queue, tmp_path)
    task_ids = [create_task(queue, shell("true")) for _ in range(3)]
    result = run_cli(
        [
            *args,
            "--log-format",
            "json",
            "run",
            "--task-queue",
            TASK_QUEUE,
            "--capacity",
            "2",
            "--max-tasks",
            "3",
        ],
        env=env,
    )
    assert all(last_run(queue, task_id) == "completed" for task_id in task_ids)
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    for event in ("claimed", "resolved"):  # each claim and each resolution, with its ids and duration
        logged = [entry for entry in entries if entry["message"].startswith(event)]
        assert sorted(entry["taskId"] for entry in logged) == sorted(task_ids), event
        assert all(entry["runId"] == 0 and entry["duration"] >= 0 for entry in logged), logged


def test_claim_once_with_the_example_python_handler(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    import requests

    args, env = base_args(local_queue, tmp_path)
    del env["TCW_REGISTRY_SCHEMA_URLS"]  # mapped to `shell`, the queue would get the shell executor
    common = ["claim-once", "--task-queue", TASK_QUEUE, "--wait", "2", "--executor", "examples.handler:greet"]
    greeted = create_task(queue, {"name": "world"})
    run_cli([*args, *common, "--accept-any-payload"], exit_code=0, env=env)
    url = queue.buildSignedUrl("getArtifact", greeted, "0", "public/greeting.txt")
    assert requests.get(url, timeout=10).text == "hello, world\n"
    nameless = create_task(queue, {})
    run_cli([*args, *common, "--accept-any-payload"], exit_code=3, env=env)
    assert last_run(queue, nameless) == "exception/malformed-payload"


def test_a_worker_without_claim_scopes_stops_with_a_clear_error(local_queue: Any, run_cli: Any) -> None:
    creds = local_queue.add_client("no-scopes", [])
    env = worker_env(creds)
    args = ["tcw", "--root-url", local_queue.root_url]
    result = run_cli([*args, "run", "--task-queue", TASK_QUEUE], exit_code=5, env=env)
    assert f"queue:claim-work:{TASK_QUEUE}" in result.stderr
    env["TASKCLUSTER_ACCESS_TOKEN"] = "wrong"
    result = run_cli([*args, "claim-once", "--task-queue", TASK_QUEUE, "--wait", "2"], exit_code=5, env=env)
    assert "401" in result.stderr


@pytest.mark.usefixtures("quick_client_retries")
def test_claim_once_against_an_unreachable_queue_exits_5(run_cli: Any) -> None:
    from tests.support.ports import unused_port

    port = unused_port()
    env = {"TASKCLUSTER_CLIENT_ID": "c", "TASKCLUSTER_ACCESS_TOKEN": "t"}
    args = ["tcw", "--root-url", f"http://127.0.0.1:{port}", "claim-once", "--task-queue", TASK_QUEUE]
    args.append("--accept-any-payload")
    started = time.monotonic()
    result = run_cli([*args, "--wait", "30"], exit_code=5, env=env)
    assert time.monotonic() - started < 10  # the official client's own retries, then the answer
    assert "cannot reach the queue" in result.stderr
