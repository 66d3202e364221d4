"""The shell executor on real processes: results, log lines, environment."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from tcw.executors.api import IntermittentTask, MalformedPayload, TaskFailed
from tcw.executors.shell import ShellExecutor
from tests.support.processes import our_zombies, script
from tests.support.task_runs import MakeRun

shell = ShellExecutor(grace=0.5)


async def test_success_streams_output_and_logs_each_command(make_run: MakeRun) -> None:
    run = make_run({"command": [script("exit_code.py", 0), ["true"]], "maxRunTime": 30})

    await shell(run.ctx)

    lines = run.log_lines()
    assert re.match(r"^\[tcw \S+\] Executing command 0: \S+python\S* \S+exit_code\.py 0$", lines[0])
    assert sorted(lines[1:3]) == ["hello from stderr", "hello from stdout"]
    assert re.search(r"\] Command 0: exit code 0 after \d+\.\d+ s$", lines[3])
    assert lines[4].endswith("] Executing command 1: true")
    assert re.search(r"\] Command 1: exit code 0 after", lines[5])
    assert len(lines) == 6
    assert our_zombies() == []


async def test_non_zero_exit_fails_and_stops_the_remaining_commands(make_run: MakeRun) -> None:
    run = make_run({"command": [script("exit_code.py", 3), ["touch", "never"]], "maxRunTime": 30})

    with pytest.raises(TaskFailed, match="command 0 ended with exit code 3"):
        await shell(run.ctx)

    assert not (run.work_dir / "never").exists()
    assert "] Command 0: exit code 3 after" in run.log_lines()[-1]


async def test_retry_exit_code_is_intermittent(make_run: MakeRun) -> None:
    run = make_run(
        {"command": [script("exit_code.py", 3)], "maxRunTime": 30, "onExitStatus": {"retry": [3, 4]}}
    )

    with pytest.raises(IntermittentTask, match=r"onExitStatus\.retry"):
        await shell(run.ctx)


async def test_exit_code_not_listed_for_retry_still_fails(make_run: MakeRun) -> None:
    run = make_run({"command": [script("exit_code.py", 5)], "maxRunTime": 30, "onExitStatus": {"retry": [3]}})

    with pytest.raises(TaskFailed):
        await shell(run.ctx)


async def test_shell_strings_run_with_sh_in_the_work_dir(make_run: MakeRun) -> None:
    run = make_run({"command": ["echo made > out.txt && echo $HOME", "exit 7"], "maxRunTime": 30})

    with pytest.raises(TaskFailed, match="command 1 ended with exit code 7"):
        await shell(run.ctx)

    assert (run.work_dir / "out.txt").read_text() == "made\n"
    assert str(run.work_dir.resolve()) in run.log_lines()
    assert "Executing command 1: /bin/sh -c 'exit 7'" in "\n".join(run.log_lines())


async def test_a_signal_is_reported_as_such(make_run: MakeRun) -> None:
    run = make_run({"command": ["kill -SEGV $$"], "maxRunTime": 30})

    with pytest.raises(TaskFailed, match=r"killed by signal 11 \(SIGSEGV\)"):
        await shell(run.ctx)


async def test_missing_program_fails_the_task(make_run: MakeRun) -> None:
    run = make_run({"command": [["./no-such-program", "x"]], "maxRunTime": 30})

    with pytest.raises(TaskFailed, match="command 0 could not be started"):
        await shell(run.ctx)


def _with_artifacts(*artifacts: dict[str, str]) -> dict[str, object]:
    return {"command": ["touch ran"], "maxRunTime": 5, "artifacts": list(artifacts)}


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"maxRunTime": 30}, "command: must be a non-empty list"),
        ({"command": [[]], "maxRunTime": 30}, r"command\[0\]"),
        ({"command": [["a\0b"]], "maxRunTime": 30}, r"command\[0\]"),
        ({"command": [["true"]]}, "maxRunTime"),
        ({"command": [["true"]], "maxRunTime": True}, "maxRunTime"),
        ({"command": [["true"]], "maxRunTime": 5, "env": {"A": 1}}, "env.A"),
        ({"command": [["true"]], "maxRunTime": 5, "artifacts": [{"path": "x"}]}, r"artifacts\[0\]"),
        ({"command": [["true"]], "maxRunTime": 5, "onExitStatus": {"retry": ["3"]}}, "retry"),
        (
            {"command": [["true"]], "maxRunTime": 5, "features": {"taskclusterProxy": "yes"}},
            "taskclusterProxy",
        ),
        ({"command": [["true"]], "maxRunTime": 5, "features": ["taskclusterProxy"]}, "taskclusterProxy"),
        ("not an object", "command"),
        (_with_artifacts({"type": "file", "path": "a"}, {"type": "file", "path": "a"}), "a is declared more"),
        (
            _with_artifacts(
                {"type": "file", "path": "a", "name": "d"}, {"type": "directory", "path": ".", "name": "d/"}
            ),
            "d is declared more",
        ),
        (
            _with_artifacts({"type": "file", "path": "a", "name": "public/logs/live_backing.log"}),
            "public/logs/live_backing.log is the name of the task log",
        ),
    ],
)
async def test_payload_it_cannot_run_is_malformed(make_run: MakeRun, payload: object, problem: str) -> None:
    run = make_run(payload)

    with pytest.raises(MalformedPayload, match=problem):
        await shell(run.ctx)
    assert not (run.work_dir / "ran").exists()  # refused before anything ran


async def test_environment_is_built_from_scratch(make_run: MakeRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKCLUSTER_ACCESS_TOKEN", "worker-secret-token")
    monkeypatch.setenv("TASKCLUSTER_CLIENT_ID", "worker-client")
    monkeypatch.setenv("SOME_WORKER_SETTING", "worker-only")
    payload_env = {"FOO": "bar", "TASK_ID": "forged", "TASKCLUSTER_ROOT_URL": "https://evil", "LANG": "C"}
    run = make_run({"command": [script("dump_env.py")], "maxRunTime": 30, "env": payload_env})

    await ShellExecutor(path="/usr/bin:/bin")(run.ctx)

    dumped = json.loads((run.work_dir / "env.json").read_text())
    env = dumped["env"]
    assert "worker-secret-token" not in json.dumps(dumped)
    assert not {"TASKCLUSTER_ACCESS_TOKEN", "TASKCLUSTER_CLIENT_ID", "SOME_WORKER_SETTING"} & set(env)
    work_dir = str(run.work_dir.resolve())
    assert dumped["cwd"] == work_dir
    assert env["TASK_ID"] == "task-id-00000000000001"
    assert env["RUN_ID"] == "2"
    assert env["TASK_GROUP_ID"] == "group-id-0000000000001"
    assert env["TASKCLUSTER_ROOT_URL"] == "http://127.0.0.1:1"
    assert env["TASK_WORKDIR"] == work_dir
    assert env["HOME"] == work_dir
    assert env["PATH"] == "/usr/bin:/bin"
    assert env["FOO"] == "bar"
    assert env["LANG"] == "C"  # a default the payload may override
    assert (
        "Ignoring payload env TASKCLUSTER_ROOT_URL, TASK_ID: set by the worker"
        in run.ctx.log_path.read_text()
    )


async def test_an_unwritable_task_log_is_the_workers_problem_not_the_tasks(make_run: MakeRun) -> None:
    run = make_run({"command": [["true"]], "maxRunTime": 30})
    ctx = dataclasses.replace(run.ctx, log_path=run.work_dir)  # a directory cannot be appended to

    with pytest.raises(IsADirectoryError):
        await shell(ctx)
