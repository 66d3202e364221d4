"""Artifacts declared in a shell payload: files, directories, and the ones that cannot be published."""

from __future__ import annotations

import asyncio
import os

import pytest

from tcw.executors.api import ResourceUnavailable, TaskFailed
from tcw.executors.shell import ShellExecutor
from tests.support.task_runs import MakeRun

shell = ShellExecutor(grace=0.5)
EXPIRES = "2030-01-01T00:00:00.000Z"


async def test_file_and_directory_artifacts_are_uploaded(make_run: MakeRun) -> None:
    make_files = "mkdir -p out/sub && echo one > out/a.txt && echo two > out/sub/b.txt && echo r > report.txt"
    payload = {
        "command": [make_files],
        "maxRunTime": 30,
        "artifacts": [
            {"type": "file", "path": "report.txt", "name": "public/report.txt", "contentType": "text/plain"},
            {"type": "file", "path": "out/a.txt", "expires": EXPIRES},
            {"type": "directory", "path": "out", "name": "public/out/"},
        ],
    }
    run = make_run(payload)

    await shell(run.ctx)

    uploads = run.publisher.uploads
    assert sorted(uploads) == ["out/a.txt", "public/out/a.txt", "public/out/sub/b.txt", "public/report.txt"]
    assert uploads["public/report.txt"].data == b"r\n"
    assert uploads["public/report.txt"].content_type == "text/plain"
    assert uploads["out/a.txt"].expires == EXPIRES
    assert uploads["public/out/sub/b.txt"].data == b"two\n"
    assert run.publisher.errors == {}


async def test_artifacts_are_published_when_the_command_failed(make_run: MakeRun) -> None:
    payload = {
        "command": ["echo partial > result.txt; exit 2"],
        "maxRunTime": 30,
        "artifacts": [{"type": "file", "path": "result.txt", "name": "public/result.txt"}],
    }
    run = make_run(payload)

    with pytest.raises(TaskFailed, match="exit code 2"):
        await shell(run.ctx)

    assert run.publisher.uploads["public/result.txt"].data == b"partial\n"
    log = "\n".join(run.log_lines())
    assert log.index("Command 0: exit code 2") < log.index("Uploading artifact public/result.txt")


async def test_missing_artifact_becomes_an_error_artifact_and_fails_the_run(make_run: MakeRun) -> None:
    payload = {
        "command": [["true"]],
        "maxRunTime": 30,
        "artifacts": [
            {"type": "file", "path": "nothing.txt", "name": "public/nothing.txt", "expires": EXPIRES},
            {"type": "directory", "path": "no-dir", "name": "public/no-dir"},
        ],
    }
    run = make_run(payload)

    with pytest.raises(TaskFailed, match="artifacts could not be published"):
        await shell(run.ctx)

    assert run.publisher.errors["public/nothing.txt"][0] == "file-missing-on-worker"
    assert run.publisher.errors["public/no-dir"][0] == "file-missing-on-worker"
    log = run.ctx.log_path.read_text()
    assert "artifact public/nothing.txt: nothing.txt does not exist (file-missing-on-worker)" in log
    assert "artifact public/no-dir: no-dir does not exist (file-missing-on-worker)" in log


async def test_a_path_escaping_the_work_dir_is_refused(make_run: MakeRun) -> None:
    secret = make_run({"command": [["true"]], "maxRunTime": 30}).work_dir / "secret.txt"
    secret.write_text("the worker's own file")
    payload = {
        "command": [f"ln -s {secret} link.txt && mkdir d && ln -s {secret} d/link.txt && echo ok > d/ok.txt"],
        "maxRunTime": 30,
        "artifacts": [
            {"type": "file", "path": f"../{secret.parent.name}/secret.txt", "name": "public/dotdot"},
            {"type": "file", "path": str(secret), "name": "public/absolute"},
            {"type": "file", "path": "link.txt", "name": "public/link"},
            {"type": "directory", "path": "d", "name": "public/d"},
        ],
    }
    run = make_run(payload)

    with pytest.raises(TaskFailed, match="outside the task directory"):
        await shell(run.ctx)

    assert {name: error[0] for name, error in run.publisher.errors.items()} == {
        "public/dotdot": "invalid-resource-on-worker",
        "public/absolute": "invalid-resource-on-worker",
        "public/link": "invalid-resource-on-worker",
        "public/d/link.txt": "invalid-resource-on-worker",
    }
    assert list(run.publisher.uploads) == ["public/d/ok.txt"]
    assert all(b"worker's own" not in upload.data for upload in run.publisher.uploads.values())


async def test_an_absolute_path_inside_the_work_dir_is_fine(make_run: MakeRun) -> None:
    payload: dict[str, object] = {"command": ["echo in > inside.txt"], "maxRunTime": 30}
    run = make_run(payload)
    payload["artifacts"] = [{"type": "file", "path": str(run.work_dir / "inside.txt")}]

    await shell(run.ctx)

    assert [upload.data for upload in run.publisher.uploads.values()] == [b"in\n"]


async def test_a_directory_declared_as_file_is_refused(make_run: MakeRun) -> None:
    payload = {"command": ["mkdir sub"], "maxRunTime": 30, "artifacts": [{"type": "file", "path": "sub"}]}
    run = make_run(payload)

    with pytest.raises(TaskFailed, match="sub is no file"):
        await shell(run.ctx)

    assert run.publisher.errors["sub"][0] == "invalid-resource-on-worker"


class FailingPublisherError(Exception):
    pass


async def test_upload_failure_is_resource_unavailable_even_when_the_task_already_failed(
    make_run: MakeRun,
) -> None:
    async def unavailable(*args: object, **kwargs: object) -> None:
        raise ResourceUnavailable("object service answered 503 five times")

    artifacts = [{"type": "file", "path": "f.txt"}]
    passing = make_run({"command": ["echo > f.txt"], "maxRunTime": 30, "artifacts": artifacts})
    passing.publisher.upload = unavailable  # type: ignore[method-assign]
    failing = make_run({"command": ["echo > f.txt; exit 1"], "maxRunTime": 30, "artifacts": artifacts})
    failing.publisher.upload = unavailable  # type: ignore[method-assign]

    with pytest.raises(ResourceUnavailable, match="503"):
        await shell(passing.ctx)
    with pytest.raises(ResourceUnavailable, match="503"):
        await shell(failing.ctx)

    # Both facts are in the log: the task's failure here, the upload error as the engine's last line.
    failure = [line for line in failing.log_lines() if "exit code 1" in line]
    assert any("The task had failed before the upload error" in line for line in failure), failure
    assert not any("before the upload error" in line for line in passing.log_lines())
    assert await asyncio.to_thread(os.path.exists, failing.work_dir / "f.txt")
