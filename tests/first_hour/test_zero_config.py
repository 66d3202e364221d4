"""§1: `tcw run --task-queue P/W` runs shell payloads with no configuration at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.first_hour.conftest import QUEUE_ID, new_task, user_env


def test_tcw_run_checks_an_unmapped_queue_against_the_shell_executor_s_schema(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    env = user_env(local_queue.root_credentials, local_queue.root_url)
    good = new_task(queue, {"command": [["sh", "-c", "echo hi from $TASK_ID"]], "maxRunTime": 30})
    bad = new_task(queue, {"command": [["true"]]})  # no maxRunTime: the shell schema refuses it
    run = ["tcw", "run", "--task-queue", QUEUE_ID, "--max-tasks", "2", "--work-root", str(tmp_path)]
    run_cli(run, env=env)
    assert queue.status(good)["status"]["runs"][-1]["state"] == "completed"
    bad_run = queue.status(bad)["status"]["runs"][-1]
    assert (bad_run["state"], bad_run["reasonResolved"]) == ("exception", "malformed-payload")


def test_validate_payload_gives_the_worker_s_verdict_on_an_unmapped_queue(
    run_cli: Any, tmp_path: Path
) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"command": [["true"]]}))
    (tmp_path / "good.json").write_text(json.dumps({"command": [["true"]], "maxRunTime": 5}))
    validate = ["tcw", "validate-payload", "--task-queue", QUEUE_ID]
    run_cli([*validate, str(tmp_path / "good.json")], exit_code=0)
    said = run_cli([*validate, str(tmp_path / "bad.json")], exit_code=1).stdout
    assert "maxRunTime" in said

    no_schema = {"TCW_WORKER_EXECUTOR": "examples/handler.py:greet"}  # a handler declaring none
    refused = run_cli([*validate, str(tmp_path / "good.json")], exit_code=2, env=no_schema).stdout
    assert f"no payload schema for task queue {QUEUE_ID}" in refused
    worker = run_cli(
        ["tcw", "--root-url", "http://127.0.0.1:9", "run", "--task-queue", QUEUE_ID],
        exit_code=2,
        env=no_schema,
    )
    assert f"no payload schema for task queue {QUEUE_ID}" in worker.stderr


def test_a_handler_may_declare_its_payload_schema(run_cli: Any, tmp_path: Path) -> None:
    handler = tmp_path / "declared.py"
    handler.write_text(
        f"async def greet(ctx):\n    pass\n\ngreet.payload_schema = {str(tmp_path / 'schema.json')!r}\n"
    )
    (tmp_path / "schema.json").write_text(json.dumps({"type": "object", "required": ["name"]}))
    (tmp_path / "p.json").write_text(json.dumps({"nom": "x"}))
    env = {"TCW_WORKER_EXECUTOR": f"{handler}:greet"}
    said = run_cli(
        ["tcw", "validate-payload", "--task-queue", QUEUE_ID, str(tmp_path / "p.json")], exit_code=1, env=env
    )
    assert "name" in said.stdout
