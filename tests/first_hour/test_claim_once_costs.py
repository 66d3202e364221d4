"""§2: `claim-once --peek` costs nothing; `--no-run` spends a retry and refuses a task with none left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.first_hour.conftest import QUEUE_ID, new_task, user_env

PAYLOAD = {"command": [["true"]], "maxRunTime": 10}


def claim_once(local_queue: Any, tmp_path: Path, *extra: str) -> list[str]:
    command = ["tcw", "--root-url", local_queue.root_url, "claim-once", "--task-queue", QUEUE_ID]
    return [*command, "--wait", "2", *extra, "--work-root", str(tmp_path)]


def test_peek_shows_the_pending_tasks_and_claims_nothing(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    env = user_env(local_queue.root_credentials)
    task_id = new_task(queue, PAYLOAD)
    shown = run_cli(claim_once(local_queue, tmp_path, "--peek"), env=env).stdout
    assert task_id in shown and "retries left" in shown
    document = json.loads(
        run_cli(claim_once(local_queue, tmp_path, "--peek", "--format", "json"), env=env).stdout
    )
    assert [entry["taskId"] for entry in document["pending"]] == [task_id]
    status = queue.status(task_id)["status"]
    assert [run["state"] for run in status["runs"]] == ["pending"] and status["retriesLeft"] == 0
    run_cli(claim_once(local_queue, tmp_path), env=env)
    assert queue.status(task_id)["status"]["state"] == "completed"
    run_cli(claim_once(local_queue, tmp_path, "--peek"), exit_code=4, env=env)


def test_no_run_refuses_a_task_with_no_retries_left_unless_forced(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    env = user_env(local_queue.root_credentials)
    last_chance = new_task(queue, PAYLOAD, retries=0)
    refused = run_cli(claim_once(local_queue, tmp_path, "--no-run"), exit_code=2, env=env)
    assert f"task {last_chance} has no retries left" in refused.stderr and "--force" in refused.stderr
    assert [run["state"] for run in queue.status(last_chance)["status"]["runs"]] == ["pending"]

    run_cli(claim_once(local_queue, tmp_path, "--no-run", "--force"), env=env)
    run = queue.status(last_chance)["status"]["runs"][-1]
    assert (run["state"], run["reasonResolved"]) == ("exception", "worker-shutdown")

    retried = new_task(queue, PAYLOAD, retries=1)
    run_cli(claim_once(local_queue, tmp_path, "--no-run"), env=env)
    status = queue.status(retried)["status"]
    assert [run["state"] for run in status["runs"]] == ["exception", "pending"] and status["retriesLeft"] == 0


def test_the_help_says_what_each_way_costs(run_cli: Any) -> None:
    text = " ".join(run_cli(["tcw", "claim-once", "--help"]).stdout.split())
    assert "--peek nothing" in text and "--no-run one retry" in text
    man = " ".join((Path(__file__).parents[2] / "man" / "tcw-claim-once.1").read_text().split())
    assert "spends one of its retries" in man and "costs nothing" in man
