"""Live logs: public/logs/live.log streams a running task's log through the queue's redirect, then links
to the backing log; readers that stall neither grow the worker's memory nor stay connected."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tcw.engine.daemon import open_worker
from tcw.engine.status import status_path
from tcw.executors.api import LIVE_LOG_NAME, LOG_NAME
from tests.support.cli import tcw_process
from tests.support.tasks import TASK_QUEUE, create_task, last_run, shell
from tests.support.waiting import wait_for
from tests.support.worker import MakeConfig, prepare_worker, run_worker, worker_env

LOCAL = {"live_log_port": 0, "listen_address": "127.0.0.1"}


def wait_for_live_log(queue: Any, task_id: str, timeout: float = 30) -> dict[str, Any]:
    """live.log's artifact info once the worker has published it."""

    def published() -> dict[str, Any] | None:
        names = {a["name"]: a for a in queue.listArtifacts(task_id, 0)["artifacts"]}
        return names.get(LIVE_LOG_NAME)

    return wait_for(published, timeout)  # type: ignore[no-any-return]


def live_log_location(queue: Any, task_id: str) -> str:
    """Where the queue's redirect for live.log points (the worker's URL while the run runs)."""
    wait_for_live_log(queue, task_id)
    url = queue.buildSignedUrl("getArtifact", task_id, 0, LIVE_LOG_NAME)
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    assert answer.headers["x-taskcluster-artifact-storage-type"] == "reference"
    return str(answer.headers["Location"])


def follow(queue: Any, task_id: str) -> tuple[bytes, list[str]]:
    """Read live.log as a browser or `tcw task log --follow` does: a GET following the queue's redirect,
    streamed. Returns the body and the run's state each time a chunk arrived."""
    info = wait_for_live_log(queue, task_id)
    assert info["storageType"] == "reference"
    assert info["contentType"] == "text/plain; charset=utf-8"
    url = queue.buildSignedUrl("getArtifact", task_id, 0, LIVE_LOG_NAME)
    body, states = b"", []
    with requests.get(url, stream=True, timeout=30) as response:
        assert response.status_code == 200
        assert [r.status_code for r in response.history] == [303]
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Expose-Headers"] == "Transfer-Encoding"
        assert response.headers["Transfer-Encoding"] == "chunked"
        for chunk in response.iter_content(chunk_size=None):
            body += chunk
            states.append(queue.status(task_id)["status"]["runs"][0]["state"])
    return body, states


async def test_live_log_streams_lines_while_the_task_runs_then_links_to_the_full_log(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    config = worker_config(local_queue, max_tasks=1, **LOCAL)
    task_id = create_task(queue, shell("for i in 1 2 3 4 5 6; do echo line $i; sleep 0.4; done"))
    worker = asyncio.create_task(run_worker(config))
    streamed, states = await asyncio.to_thread(follow, queue, task_id)
    [record] = await worker
    assert str(record.resolution) == "completed"

    lines = streamed.decode().splitlines()
    assert [line for line in lines if line.startswith("line ")] == [f"line {i}" for i in range(1, 7)]
    assert lines[-1].endswith("resolution: completed")  # the stream ends with the run's last line
    assert states[0] == "running" and states.count("running") >= 3  # lines came while it ran

    info = queue.artifactInfo(task_id, 0, LIVE_LOG_NAME)
    assert info["storageType"] == "link"
    url = queue.buildSignedUrl("getArtifact", task_id, 0, LIVE_LOG_NAME)
    after = await asyncio.to_thread(requests.get, url, timeout=10)
    assert after.status_code == 200
    assert after.content == streamed  # the link reads the backing log: the same bytes, whole
    backing = queue.buildSignedUrl("getArtifact", task_id, 0, LOG_NAME)
    assert after.content == (await asyncio.to_thread(requests.get, backing, timeout=10)).content


async def test_a_reader_that_stalls_is_dropped_and_unknown_tokens_and_crowds_are_refused(
    local_queue: Any, queue: Any, worker_config: MakeConfig, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    command = f"while [ ! -e {go} ]; do sleep 0.05; done; head -c 33554432 /dev/zero | tr '\\0' x; sleep 30"
    task_id = create_task(queue, shell(command, max_run_time=60))
    config = worker_config(local_queue, max_tasks=1, **LOCAL)
    async with open_worker(config, prepare_worker(config)) as worker:
        worker.live_logs.stall_timeout = 0.5
        loop = asyncio.create_task(worker.run_forever())
        location = await asyncio.to_thread(live_log_location, queue, task_id)
        parts = urlsplit(location)
        assert parts.hostname == "127.0.0.1"
        forged = location.rsplit("/", 1)[0] + "/not-the-token"
        refused = await asyncio.to_thread(requests.get, forged, timeout=10)
        assert refused.status_code == 404 and refused.headers["Access-Control-Allow-Origin"] == "*"

        worker.live_logs.max_readers = 1
        stuck = stalled_reader(parts.hostname or "", parts.port or 80, parts.path)
        await asyncio.to_thread(wait_for, lambda: worker.live_logs.readers() == 1, 30)
        crowded = await asyncio.to_thread(requests.get, location, timeout=10)
        assert crowded.status_code == 503 and crowded.headers["Retry-After"]
        go.touch()
        await asyncio.to_thread(wait_for, lambda: worker.live_logs.dropped == 1, 30)
        assert drained_until_closed(stuck) < 33554432  # cut off, not served to the end
        worker.request_stop(immediate=True)
        await loop


def stalled_reader(host: str, port: int, path: str) -> socket.socket:
    """A GET of ``path`` whose reader then takes nothing: a small receive buffer, never read."""
    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.connect((host, port))
    reader.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return reader


def drained_until_closed(reader: socket.socket) -> int:
    """Bytes left to read once the server closed the connection."""
    reader.settimeout(30)
    total = 0
    with reader:
        while chunk := reader.recv(1 << 20):
            total += len(chunk)
    return total


def resident_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def test_a_reader_that_never_reads_does_not_grow_the_workers_memory(
    local_queue: Any, queue: Any, tmp_path: Path
) -> None:
    go, work = tmp_path / "go", tmp_path / "work"
    size = 96 * 1024 * 1024  # far more than the kernel's socket buffers can hold for the stuck reader
    command = f"while [ ! -e {go} ]; do sleep 0.05; done; head -c {size} /dev/zero | tr '\\0' x"
    task_id = create_task(queue, shell(command, max_run_time=120))
    args = ["--root-url", local_queue.root_url, "run", "--task-queue", TASK_QUEUE, "--max-tasks", "1"]
    args += ["--work-root", str(work), "--live-log-port", "0"]
    env = {**worker_env(local_queue.root_credentials), "TCW_WORKER_LISTEN_ADDRESS": "127.0.0.1"}
    worker = tcw_process(args, env=env, stderr=subprocess.PIPE)
    try:
        parts = urlsplit(live_log_location(queue, task_id))
        stuck = stalled_reader(parts.hostname or "", parts.port or 80, parts.path)
        time.sleep(0.5)  # the reader's request is being served
        before = resident_mb(worker.pid, "VmRSS")
        go.touch()
        wait_for(lambda: last_run(queue, task_id) != "running", timeout=120)
        peak = resident_mb(worker.pid, "VmHWM")
        assert last_run(queue, task_id) == "completed"
        # Buffering what the stuck reader does not take would cost ~96 MB; a bounded copy costs nothing.
        assert peak - before < 24, f"RSS {before:.1f} MB before, peak {peak:.1f} MB"
        stuck.close()
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr.decode()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert not status_path(work, worker.pid).exists()  # removed when the worker stopped
