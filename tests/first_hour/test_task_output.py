"""§3: a task's log and artifacts, seen from tcw: `tcw task log|artifacts|download`, claim-once's log tail."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.first_hour.conftest import QUEUE_ID, new_task, user_env
from tests.support.cli import tcw_process
from tests.support.waiting import wait_for

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


class SlowLiveLog:
    """A live-log server as a worker runs one: a chunked GET that sends the log as it grows and ends when
    the run does. Here it sends ``first`` at once, then waits for ``more`` before sending the rest."""

    def __init__(self, first: bytes, rest: bytes) -> None:
        import threading

        self.first, self.rest = first, rest
        self.more = threading.Event()

    def serve(self) -> Any:
        import http.server
        import threading

        live = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in (live.first, live.rest):
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.flush()
                    live.more.wait(30)
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def test_task_log_follow_streams_the_live_log_while_the_run_goes_on(
    local_queue: Any, queue: Any, tmp_path: Path
) -> None:
    """The live log as a `reference` artifact to a streaming server (as generic-worker's livelog is): its
    bytes are printed as they come, and the backing log adds only what the stream had not shown."""
    from datetime import UTC, datetime, timedelta

    import requests
    import taskcluster

    env = user_env(local_queue.root_credentials, local_queue.root_url)
    task_id = new_task(queue, {})
    claimed = queue.claimWork(QUEUE_ID, {"workerGroup": "g", "workerId": "w", "tasks": 1})["tasks"][0]
    run_queue = taskcluster.Queue({"rootUrl": local_queue.root_url, "credentials": claimed["credentials"]})
    live = SlowLiveLog(b"line one\n", b"line two\n")
    server = live.serve()
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    url = f"http://127.0.0.1:{server.server_address[1]}/log"
    reference = {"storageType": "reference", "url": url, "contentType": "text/plain", "expires": expires}
    run_queue.createArtifact(task_id, "0", "public/logs/live.log", reference)

    follower = tcw_process(
        ["task", "log", task_id, "-f"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert follower.stdout is not None
    assert follower.stdout.readline() == b"line one\n"  # shown while the run is still running
    assert queue.status(task_id)["status"]["state"] == "running"

    backing = {"storageType": "s3", "contentType": "text/plain", "expires": expires}
    put_url = run_queue.createArtifact(task_id, "0", "public/logs/live_backing.log", backing)["putUrl"]
    whole = b"line one\nline two\nline three\n"
    requests.put(put_url, data=whole, headers={"Content-Type": "text/plain"}, timeout=10).raise_for_status()
    run_queue.reportFailed(task_id, "0")
    live.more.set()
    out, err = follower.communicate(timeout=60)
    server.shutdown()
    server.server_close()
    assert follower.returncode == 1, err.decode()  # the run failed
    assert b"line one\n" + out == whole
