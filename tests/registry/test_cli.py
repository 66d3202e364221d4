"""`tcw validate-payload` and `tcw schemas`: inputs, outputs, exit codes, live tasks from the local queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tcw.localqueue.server import LocalQueue
from tests.support.cli import RunCli
from tests.support.schemas import DATA, write_json


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """local/* runs the shell schema; proj/linux has a small schema of its own."""
    root = tmp_path / "registry"
    write_json(root / "proj" / "linux.json", {"type": "object", "required": ["n"], "title": "small"})
    (root / "index.yaml").write_text("'local/*': shell\n", encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def schema_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


# A handler that declares no payload schema: a queue without a registry entry then has no schema at all.
NO_DECLARED_SCHEMA = {"TCW_WORKER_EXECUTOR": "examples.handler:greet"}


def test_a_valid_payload_exits_0(run_cli: RunCli) -> None:
    result = run_cli(["tcw", "validate-payload", "--schema", "shell", str(DATA / "shell.valid.json")])
    assert (
        result.stdout
        == f"{DATA / 'shell.valid.json'}: valid (shell)\n1 document: 1 valid, 0 invalid, 0 not checked\n"
    )


def test_an_invalid_payload_exits_1_and_lists_every_problem(run_cli: RunCli) -> None:
    path = str(DATA / "shell.invalid.json")
    result = run_cli(
        [
            "tcw",
            "validate-payload",
            "--task-queue",
            "local/x",
            "--registry",
            str(DATA.parent / "missing"),
            path,
        ],
        exit_code=2,
    )
    assert "registry directory does not exist" in result.stderr
    result = run_cli(["tcw", "validate-payload", "--schema", "shell", path], exit_code=1)
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: invalid"
    assert lines[1].startswith("Payload is invalid against schema shell (tcw shell payload")
    assert lines[1].endswith("8 problems:")
    assert "  - payload.maxRunTime: 86401 is greater than the maximum of 86400 [maximum]" in lines
    assert lines[-1] == "1 document: 0 valid, 1 invalid, 0 not checked"


def test_each_document_of_a_multi_document_file_is_named_in_text(run_cli: RunCli, registry_dir: Path) -> None:
    tasks = str(DATA / "tasks.yaml")
    args = ["tcw", "validate-payload", "--registry", str(registry_dir), tasks]
    result = run_cli(args, exit_code=2, env=NO_DECLARED_SCHEMA)
    labels = [line.split(",")[0] for line in result.stdout.splitlines() if line.startswith(tasks)]
    assert labels == [f"{tasks} (document {n})" for n in (1, 2, 3)]


def test_multi_document_yaml_with_tasks_choosing_their_schema(run_cli: RunCli, registry_dir: Path) -> None:
    result = run_cli(
        [
            "tcw",
            "validate-payload",
            "--registry",
            str(registry_dir),
            "--format",
            "json",
            str(DATA / "tasks.yaml"),
        ],
        exit_code=2,  # the third task's queue has no schema, nor has its executor
        env=NO_DECLARED_SCHEMA,
    )
    report = json.loads(result.stdout)
    assert report["counts"] == {"documents": 3, "valid": 1, "invalid": 1, "error": 1}
    assert report["valid"] is False
    first, second, third = report["results"]
    assert (first["document"], first["kind"], first["taskQueueId"], first["status"]) == (
        1,
        "task",
        "local/shell",
        "valid",
    )
    assert first["schema"]["key"] == "local/*"
    assert first["schema"]["executor"] == "shell"
    assert second["problems"] == [
        {"path": "payload.command[0]", "rule": "type", "message": "5 is not of type 'array'"},
        {"path": "payload.maxRunTime", "rule": "minimum", "message": "0 is less than the minimum of 1"},
    ]
    assert third["status"] == "error"
    assert third["schema"] is None
    assert third["error"].startswith("no payload schema for task queue elsewhere/linux (registry keys known:")
    assert set(first) == {
        "source",
        "document",
        "taskId",
        "kind",
        "taskQueueId",
        "status",
        "schema",
        "problems",
        "error",
    }


def test_stdin_and_task_queue_for_bare_payloads(run_cli: RunCli, registry_dir: Path) -> None:
    payload = json.dumps({"command": ["true"], "maxRunTime": 5})
    result = run_cli(
        ["tcw", "validate-payload", "--registry", str(registry_dir), "--task-queue", "local/any", "-"],
        input=payload,
    )
    assert result.stdout.startswith("<stdin>, task queue local/any: valid (local/*)\n")
    yaml_docs = "command: [true]\nmaxRunTime: 5\n---\n{}\n"
    result = run_cli(
        ["tcw", "validate-payload", "--registry", str(registry_dir), "--task-queue", "proj/linux", "-"],
        input=yaml_docs,
        exit_code=1,
    )
    assert "<stdin> (document 2), task queue proj/linux: invalid" in result.stdout
    assert "  - payload: 'n' is a required property [required]" in result.stdout


def test_a_bare_payload_without_a_queue_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli(["tcw", "validate-payload", str(DATA / "shell.valid.json")], exit_code=2)
    assert (
        "a bare payload: name its task queue with --task-queue P/W, or a schema with --schema"
        in result.stdout
    )


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("{oops", "bad.json", "error: not valid JSON: Expecting property name enclosed in double quotes"),
        ("a: [\n", "bad.yaml", "error: not valid YAML at line 2"),
        ("", "empty.yaml", "error: holds no document"),
    ],
)
def test_unparsable_files_exit_2_without_stopping_the_others(
    run_cli: RunCli, tmp_path: Path, content: str, name: str, message: str
) -> None:
    bad = tmp_path / name
    bad.write_text(content, encoding="utf-8")
    good = str(DATA / "shell.valid.json")
    result = run_cli(["tcw", "validate-payload", "--schema", "shell", str(bad), good], exit_code=2)
    assert f"{bad}: {message}" in result.stdout
    assert f"{good}: valid (shell)" in result.stdout


def test_usage_errors_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    assert "nothing to check" in run_cli(["tcw", "validate-payload"], exit_code=2).stderr
    missing = tmp_path / "missing.json"
    assert (
        f"{missing}: error: cannot read: No such file or directory"
        in run_cli(["tcw", "validate-payload", "--schema", "shell", str(missing)], exit_code=2).stdout
    )
    result = run_cli(
        ["tcw", "validate-payload", "--schema", "nosuch", str(DATA / "shell.valid.json")], exit_code=2
    )
    assert "no payload schema for 'nosuch'" in result.stdout


def test_schema_from_a_file_or_url(run_cli: RunCli, tmp_path: Path) -> None:
    schema = write_json(tmp_path / "s.json", {"type": "object", "required": ["x"]})
    result = run_cli(
        ["tcw", "validate-payload", "--schema", str(schema), str(DATA / "shell.valid.json")], exit_code=1
    )
    assert "  - payload: 'x' is a required property [required]" in result.stdout
    result = run_cli(
        ["tcw", "validate-payload", "--schema", schema.as_uri(), str(DATA / "shell.valid.json")], exit_code=1
    )
    assert "  - payload: 'x' is a required property [required]" in result.stdout
    broken = write_json(tmp_path / "broken.json", {"type": 5})
    result = run_cli(
        ["tcw", "validate-payload", "--schema", str(broken), str(DATA / "shell.valid.json")], exit_code=2
    )
    assert "not a valid JSON schema" in result.stderr


def test_schemas_list_and_show(run_cli: RunCli, registry_dir: Path) -> None:
    listing = run_cli(["tcw", "schemas", "list", "--registry", str(registry_dir)]).stdout.splitlines()
    assert listing[0].split() == ["KEY", "EXECUTOR", "TITLE", "SOURCE"]
    assert [line.split()[0] for line in listing[1:]] == ["local/*", "proj/linux", "shell"]
    as_json = json.loads(
        run_cli(["tcw", "schemas", "list", "--registry", str(registry_dir), "--format", "json"]).stdout
    )
    assert {entry["key"]: entry["executor"] for entry in as_json} == {
        "local/*": "shell",
        "proj/linux": None,
        "shell": "shell",
    }
    shown = run_cli(["tcw", "schemas", "show", "local/anything", "--registry", str(registry_dir)]).stdout
    assert shown.startswith("# key: local/*\n# source: index ")
    assert '"title": "tcw shell payload"' in shown
    shown_json = json.loads(run_cli(["tcw", "schemas", "show", "shell", "--format", "json"]).stdout)
    assert shown_json["schema"]["required"] == ["command", "maxRunTime"]
    result = run_cli(["tcw", "schemas", "show", "shel"], exit_code=2)
    assert result.stderr.startswith(
        "Error: no payload schema for 'shel' in the registry (nearest known keys: shell)"
    )


def test_a_tie_in_the_registry_is_a_config_error(run_cli: RunCli, registry_dir: Path) -> None:
    (registry_dir / "index.yaml").write_text("'local/*': shell\n'*/shell': shell\n", encoding="utf-8")
    result = run_cli(["tcw", "schemas", "list", "--registry", str(registry_dir)], exit_code=2)
    assert "Error: registry keys */shell and local/* tie" in result.stderr


def test_live_tasks_by_id(run_cli: RunCli, local_queue: Any, registry_dir: Path) -> None:
    import taskcluster

    from tests.support.tasks import task_definition

    queue = taskcluster.Queue(local_queue.client_options())
    good, bad = taskcluster.slugId(), taskcluster.slugId()
    queue.createTask(good, task_definition("local/shell", payload={"command": ["true"], "maxRunTime": 5}))
    queue.createTask(bad, task_definition("local/shell", payload={"command": "true"}))
    missing = taskcluster.slugId()
    result = run_cli(
        [
            "tcw",
            "--root-url",
            local_queue.root_url,
            "validate-payload",
            "--registry",
            str(registry_dir),
            "--format",
            "json",
            "--task-id",
            good,
            "--task-id",
            bad,
            "--task-id",
            missing,
        ],
        exit_code=2,
        env=credentials_env(local_queue),  # reading a task needs queue:get-task, as on a real deployment
    )
    results = json.loads(result.stdout)["results"]
    assert [(r["taskId"], r["status"]) for r in results] == [
        (good, "valid"),
        (bad, "invalid"),
        (missing, "error"),
    ]
    assert results[1]["problems"] == [
        {"path": "payload", "rule": "required", "message": "'maxRunTime' is a required property"},
        {"path": "payload.command", "rule": "type", "message": "'true' is not of type 'array'"},
    ]
    assert results[2]["error"] == "cannot fetch: no such task"
    result = run_cli(
        [
            "tcw",
            "--root-url",
            local_queue.root_url,
            "validate-payload",
            "--registry",
            str(registry_dir),
            "--task-id",
            good,
        ],
        env=credentials_env(local_queue),
    )
    assert result.stdout.startswith(f"task {good}, task queue local/shell: valid (local/*)")


def test_completion_and_help_come_from_the_registry(run_cli: RunCli) -> None:
    import click

    from tcw.cli.validate_payload import complete_registry_keys, validate_payload

    with click.Context(validate_payload) as ctx:
        items = complete_registry_keys(ctx, validate_payload.params[0], "sh")
    assert [item.value for item in items] == ["shell"]
    assert (
        "Built-in schemas (for --schema, or an index file): shell."
        in run_cli(["tcw", "validate-payload", "--help"]).stdout
    )


def credentials_env(local_queue: LocalQueue) -> dict[str, str]:
    credentials = local_queue.root_credentials
    assert credentials is not None
    return {
        "TASKCLUSTER_CLIENT_ID": credentials["clientId"],
        "TASKCLUSTER_ACCESS_TOKEN": credentials["accessToken"],
    }
