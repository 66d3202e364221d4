"""What a worker decides before its first claim: the executor for its queue and the payload schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
import slugid

from tcw.errors import UsageError
from tcw.executors.shell import ShellExecutor
from tests.executors import handlers
from tests.support.cli import RunCli
from tests.support.tasks import TASK_QUEUE, create_task, last_run, shell, task_definition
from tests.support.worker import MakeConfig, prepare_worker, worker_env

HANDLERS = "tests.executors.handlers"


def registry_directory(tmp_path: Path, index: dict[str, Any]) -> Path:
    """A registry directory holding ``any.json`` (any object) and an index.yaml (JSON is YAML too)."""
    directory = tmp_path / "registry"
    directory.mkdir()
    (directory / "any.json").write_text(json.dumps({"type": "object"}))
    (directory / "index.yaml").write_text(json.dumps(index))
    return directory


def test_the_executor_of_the_queue_s_registry_entry_runs_its_tasks(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    directory = registry_directory(
        tmp_path, {"tcw-test/*": {"schema": "any.json", "executor": "examples.handler:greet"}}
    )
    env = {**worker_env(local_queue.root_credentials, schemas={}), "TCW_REGISTRY_DIRECTORIES": str(directory)}
    listed = run_cli(["tcw", "schemas", "list"], env=env).stdout
    assert "tcw-test/*" in listed and "examples.handler:greet" in listed

    task_id = create_task(queue, {"name": "registry"})
    args = [
        "tcw",
        "--root-url",
        local_queue.root_url,
        "claim-once",
        "--task-queue",
        TASK_QUEUE,
        "--wait",
        "2",
    ]
    run_cli([*args, "--work-root", str(tmp_path / "work")], exit_code=0, env=env)
    assert last_run(queue, task_id) == "completed"
    url = queue.buildSignedUrl("getArtifact", task_id, "0", "public/greeting.txt")
    assert requests.get(url, timeout=10).text == "hello, registry\n"


def test_executor_precedence_per_queue_config_then_registry_entry_then_worker_executor(
    local_queue: Any, worker_config: MakeConfig, tmp_path: Path
) -> None:
    directory = registry_directory(
        tmp_path, {"tcw-test/*": {"schema": "any.json", "executor": f"{HANDLERS}:async_handler"}}
    )
    common: dict[str, Any] = {"schemas": {}, "directories": (str(directory),)}
    fallback = f"{HANDLERS}:Namespace.handler"

    registry_wins = worker_config(local_queue, **common, executor=fallback)
    assert prepare_worker(registry_wins).executor is handlers.async_handler

    per_queue = {"tcw-test/eng*": f"{HANDLERS}:failing_handler", "other/*": fallback}
    config_wins = worker_config(local_queue, **common, executor=fallback, executors=per_queue)
    assert getattr(prepare_worker(config_wins).executor, "__wrapped__", None) is handlers.failing_handler

    elsewhere = worker_config(local_queue, **common, executor=fallback, provisioner_id="other-prov")
    with_any_payload = worker_config(
        local_queue, **common, executor=fallback, provisioner_id="other-prov", accept_any_payload=True
    )
    with pytest.raises(UsageError):
        prepare_worker(elsewhere)  # no entry for other-prov/engine: refused, as the next test shows in detail
    assert prepare_worker(with_any_payload).executor is handlers.Namespace.handler

    mapped_to_shell = worker_config(local_queue, executor=fallback)  # TASK_QUEUE: shell (the built-in)
    assert isinstance(prepare_worker(mapped_to_shell).executor, ShellExecutor)


def test_a_queue_without_a_schema_is_refused_unless_any_payload_is_accepted(
    local_queue: Any, worker_config: MakeConfig
) -> None:
    # The shell executor declares the built-in shell schema; this handler declares none.
    with pytest.raises(UsageError) as refused:
        prepare_worker(worker_config(local_queue, schemas={}, executor="examples.handler:greet"))
    message = str(refused.value)
    assert f"no payload schema for task queue {TASK_QUEUE}" in message
    assert f'registry: {{schema_urls: {{"{TASK_QUEUE}": shell}}}}' in message
    assert f"TCW_REGISTRY_SCHEMA_URLS='{{\"{TASK_QUEUE}\": shell}}'" in message
    assert "index.yaml" in message and "--accept-any-payload" in message
    assert refused.value.exit_code == 2

    accepting = prepare_worker(
        worker_config(local_queue, schemas={}, executor="examples.handler:greet", accept_any_payload=True)
    )
    assert accepting.payload_check is None
    declared = prepare_worker(worker_config(local_queue, schemas={}))
    assert isinstance(declared.executor, ShellExecutor) and declared.payload_check is not None
    assert declared.payload_check({"command": ["true"]})  # no maxRunTime: the shell schema says no
    checked = prepare_worker(worker_config(local_queue))
    assert checked.payload_check is not None and checked.payload_check({"command": ["true"]})


def test_validate_payload_and_the_worker_agree_on_mapped_and_unmapped_queues(
    local_queue: Any, queue: Any, run_cli: RunCli, tmp_path: Path
) -> None:
    env = worker_env(local_queue.root_credentials)  # TASK_QUEUE mapped to the built-in shell schema
    worker = ["tcw", "--root-url", local_queue.root_url, "claim-once", "--wait", "2"]
    worker += ["--work-root", str(tmp_path / "work")]
    invalid, valid = shell("true", max_run_time=0), shell("true")
    (tmp_path / "invalid.json").write_text(json.dumps(invalid))
    (tmp_path / "valid.json").write_text(json.dumps(valid))

    def validate(queue_id: str, name: str, exit_code: int) -> str:
        args = ["tcw", "validate-payload", "--task-queue", queue_id, str(tmp_path / name)]
        return run_cli(args, exit_code=exit_code, env=env).stdout

    said = validate(TASK_QUEUE, "invalid.json", exit_code=1)
    assert "payload.maxRunTime" in said
    task_id = create_task(queue, invalid)
    run_cli([*worker, "--task-queue", TASK_QUEUE, "--keep-workdir"], exit_code=3, env=env)
    assert last_run(queue, task_id) == "exception/malformed-payload"
    assert "payload.maxRunTime" in (tmp_path / "work" / "logs" / f"task_{task_id}_0.log").read_text()

    validate(TASK_QUEUE, "valid.json", exit_code=0)
    task_id = create_task(queue, valid)
    run_cli([*worker, "--task-queue", TASK_QUEUE], exit_code=0, env=env)
    assert last_run(queue, task_id) == "completed"

    unmapped = "tcw-test/unmapped"  # no registry entry: the shell executor's own schema checks it
    validate(unmapped, "invalid.json", exit_code=1)
    validate(unmapped, "valid.json", exit_code=0)
    env = {**env, "TCW_WORKER_EXECUTOR": "examples.handler:greet"}  # declares no schema: none at all
    said = validate(unmapped, "valid.json", exit_code=2)
    assert f"no payload schema for task queue {unmapped}" in said
    stranded = slugid.nice()
    queue.createTask(stranded, task_definition(unmapped, payload=valid, retries=0))
    result = run_cli([*worker, "--task-queue", unmapped], exit_code=2, env=env)
    assert f"no payload schema for task queue {unmapped}" in result.stderr
    assert queue.status(stranded)["status"]["runs"][0]["state"] == "pending"  # never claimed
