"""§3: a task's log and artifacts, seen from tcw: `tcw task log|artifacts|download`, claim-once's log tail."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.first_hour.conftest import QUEUE_ID, new_task, user_env
from tests.fixtures.cli import tcw_process
from tests.fixtures.queue import wait_for

HANDLER = """
from tcw.executors.api import TaskContext

async def publish(ctx: TaskContext) -> None:
    ctx.log.info("publishing")
    await ctx.artifacts.upload("public/object.txt", b"object bytes\\n", content_type="text/plain")
    await ctx.artifacts.reference("public/ref.json", ctx.root_url + "/api/queue/v1/ping")
    await ctx.artifacts.error("public/missing.bin", "file-missing-on-worker", "it was never made")
"""


def test_artifacts_of_every_type_listed_and_downloaded(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    (tmp_path / "publish.py").write_text(HANDLER)
    env = {
        **user_env(local_queue.root_credentials, local_queue.root_url),
        "TCW_WORKER_ARTIFACT_STORAGE": "s3",
    }
    task_id = new_task(queue, {})
    claim = ["tcw", "claim-once", "--task-queue", QUEUE_ID, "--wait", "2", "--accept-any-payload"]
    ran = run_cli([*claim, "--executor", f"{tmp_path / 'publish.py'}:publish"], env=env)
    assert "publishing" in ran.stdout and "resolution: completed" in ran.stdout  # the log's tail

    listed = run_cli(["tcw", "task", "artifacts", task_id], env=env).stdout.splitlines()
    assert listed[0].split("\t") == ["name", "type", "size", "content type", "expires"]
    rows = {line.split("\t")[0]: line.split("\t") for line in listed[1:]}
    assert rows["public/object.txt"][1] == "s3" and rows["public/object.txt"][3] == "text/plain"
    assert rows["public/ref.json"][1] == "reference" and rows["public/missing.bin"][1] == "error"
    document = json.loads(run_cli(["tcw", "task", "artifacts", task_id, "--format", "json"], env=env).stdout)
    assert document["runId"] == 0 and {a["name"] for a in document["artifacts"]} == set(rows)

    download = ["tcw", "task", "download", task_id]
    assert run_cli([*download, "public/object.txt", "-o", "-"], env=env).stdout == "object bytes\n"
    assert (
        json.loads(run_cli([*download, "public/ref.json", "-o", "-"], env=env).stdout) == {"alive": True}
        or "alive" in run_cli([*download, "public/ref.json", "-o", "-"], env=env).stdout
    )
    target = tmp_path / "out.txt"
    run_cli([*download, "public/object.txt", "-o", str(target)], env=env)
    assert target.read_text() == "object bytes\n"
    failed = run_cli([*download, "public/missing.bin", "-o", str(tmp_path / "m.bin")], exit_code=1, env=env)
    assert "file-missing-on-worker" in failed.stderr and "it was never made" in failed.stderr
    assert not (tmp_path / "m.bin").exists() and not list(tmp_path.glob(".m.bin*"))

    log = run_cli(["tcw", "task", "log", task_id], env=env).stdout
    assert "publishing" in log and log.rstrip().endswith("resolution: completed")
    bad_run = run_cli(["tcw", "task", "log", task_id, "--run", "3"], exit_code=2, env=env)
    assert "has no run 3" in bad_run.stderr


def test_object_artifacts_download_through_the_object_service(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    env = user_env(local_queue.root_credentials, local_queue.root_url)
    task_id = new_task(
        queue,
        {
            "command": [["sh", "-c", "echo made > f.txt"]],
            "maxRunTime": 10,
            "artifacts": [{"type": "file", "path": "f.txt", "name": "public/f.txt"}],
        },
    )
    ran = run_cli(["tcw", "claim-once", "--task-queue", QUEUE_ID, "--wait", "2", "--show-log"], env=env)
    assert f"task {task_id} run 0" in ran.stdout  # --show-log: the log's first line too
    assert (
        run_cli(["tcw", "task", "download", task_id, "public/f.txt", "-o", "-"], env=env).stdout == "made\n"
    )


def test_task_log_follow_prints_a_running_task_s_log_until_it_resolves(
    local_queue: Any, queue: Any, tmp_path: Path
) -> None:
    env = user_env(local_queue.root_credentials, local_queue.root_url)
    marker = tmp_path / "started"
    task_id = new_task(
        queue,
        {"command": [["sh", "-c", f"echo first; touch {marker}; sleep 1; echo second"]], "maxRunTime": 30},
    )
    follower = tcw_process(
        ["task", "log", task_id, "--follow"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    worker = tcw_process(
        ["claim-once", "--task-queue", QUEUE_ID, "--wait", "5", "--work-root", str(tmp_path / "w")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(marker.exists, timeout=30)
    assert follower.poll() is None  # the run is still going: the follower waits with it
    out, err = follower.communicate(timeout=60)
    assert worker.wait(timeout=60) == 0
    assert follower.returncode == 0, err.decode()
    text = out.decode()
    assert text.count("first\n") == 1 and text.count("second\n") == 1
    assert text.rstrip().endswith("resolution: completed")


def test_a_gzip_encoded_s3_artifact_downloads_decoded(
    local_queue: Any, queue: Any, run_cli: Any, tmp_path: Path
) -> None:
    """As a worker uploading its log gzip-compressed does (generic-worker): Content-Encoding: gzip."""
    import gzip
    from datetime import UTC, datetime, timedelta

    import requests

    env = user_env(local_queue.root_credentials, local_queue.root_url)
    task_id = new_task(queue, {})
    claimed = queue.claimWork(QUEUE_ID, {"workerGroup": "g", "workerId": "w", "tasks": 1})["tasks"][0]
    import taskcluster

    run_queue = taskcluster.Queue({"rootUrl": local_queue.root_url, "credentials": claimed["credentials"]})
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"storageType": "s3", "contentType": "text/plain", "expires": expires}
    answer = run_queue.createArtifact(task_id, "0", "public/zipped.txt", body)
    put = requests.put(
        answer["putUrl"],
        data=gzip.compress(b"unzipped text\n"),
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
        timeout=10,
    )
    assert put.status_code == 200, put.text
    run_queue.reportCompleted(task_id, "0")
    got = run_cli(["tcw", "task", "download", task_id, "public/zipped.txt", "-o", "-"], env=env).stdout
    assert got == "unzipped text\n"
