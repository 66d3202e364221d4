"""Reading what a task left behind: its artifacts, their bytes, and its log (also while it runs).

`tcw task log|artifacts|download` and `claim-once`'s log tail read through here, given the client options
(``Config.client_options()``); calls and downloads go through ``tcw.taskcluster_client`` (the official
client's download helpers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from tcw.errors import QueueUnavailable, UsageError
from tcw.executors.api import LIVE_LOG_NAME, LOG_NAME
from tcw.taskcluster_client import download_artifact, sync_call, sync_queue
from tcw.tasks import task_status

Options = Mapping[str, Any]  # the client options: rootUrl and credentials
UNRESOLVED = ("unscheduled", "pending", "running")
LIVE_LOG_TIMEOUT = 30.0  # seconds without a byte before a live-log stream is read again from where it was


def pick_run(status: dict[str, Any], run_id: int | None) -> dict[str, Any]:
    """The run asked for, else the task's latest; ``UsageError`` when there is none."""
    runs = status["runs"]
    if not runs:
        raise UsageError(f"task {status['taskId']} has no runs yet (it is {status['state']})")
    if run_id is None:
        return runs[-1]  # type: ignore[no-any-return]
    for run in runs:
        if run["runId"] == run_id:
            return run  # type: ignore[no-any-return]
    raise UsageError(f"task {status['taskId']} has no run {run_id} (its runs: 0..{len(runs) - 1})")


def list_artifacts(options: Options, task_id: str, run_id: int | None) -> tuple[int, list[dict[str, Any]]]:
    """The run (latest by default) and every one of its artifacts, all pages."""
    queue = sync_queue(options)
    run = pick_run(task_status(queue, task_id), run_id)
    listed: list[dict[str, Any]] = []
    query: dict[str, str] = {}
    with sync_call(f"list the artifacts of task {task_id} run {run['runId']}", queue):
        while True:
            page = queue.listArtifacts(task_id, str(run["runId"]), query=query)
            listed.extend(page.get("artifacts", []))
            if not page.get("continuationToken"):
                break
            query = {"continuationToken": page["continuationToken"]}
    return int(run["runId"]), listed


def download(options: Options, task_id: str, run_id: int | None, name: str, file: BinaryIO | None) -> bytes:
    """The artifact's bytes into ``file`` (or returned when None), whatever its storage type."""
    run = pick_run(task_status(sync_queue(options), task_id), run_id)
    return download_artifact(options, task_id, int(run["runId"]), name, file)


def read_artifact_text(options: Options, task_id: str, run_id: int, name: str) -> str:
    return download_artifact(options, task_id, run_id, name, None).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class FollowedRun:
    run_id: int
    state: str


def follow_log(
    options: Options,
    task_id: str,
    run_id: int | None,
    write: Callable[[bytes], None],
    *,
    poll: float = 1.0,
) -> FollowedRun:
    """Write the run's log as it grows until the run resolves, then the rest of its backing log.

    While the run is unresolved its live log (``public/logs/live.log``, a reference to a streaming
    server) is read as it arrives; with no live log yet, the status is polled every ``poll`` s. The live
    log and the backing log hold the same bytes, so each byte is written once whichever it came from.
    """
    queue = sync_queue(options)
    written = 0
    while True:
        status = task_status(queue, task_id)
        run = _run_to_follow(status, run_id)
        if run is not None and run["state"] not in UNRESOLVED:
            rest = download_artifact(options, task_id, run["runId"], LOG_NAME, None)
            write(rest[written:])
            return FollowedRun(int(run["runId"]), str(run["state"]))
        if run is not None and run["state"] == "running":
            streamed = _stream_live_log(queue, task_id, int(run["runId"]), written, write)
            written += streamed
            if streamed:
                continue
        time.sleep(poll)


def _run_to_follow(status: dict[str, Any], run_id: int | None) -> dict[str, Any] | None:
    """The run asked for (None while it does not exist yet), else the latest one."""
    runs = status["runs"]
    if run_id is None:
        return runs[-1] if runs else None
    return next((run for run in runs if run["runId"] == run_id), None)


def _stream_live_log(queue: Any, task_id: str, run_id: int, skip: int, write: Callable[[bytes], None]) -> int:
    """Stream the live log from its start, writing what comes after the first ``skip`` bytes; returns
    how many new bytes were written (0 when there is no live log, or nothing new)."""
    import requests

    try:
        with sync_call(f"find the live log of task {task_id} run {run_id}"):
            where = queue.artifact(task_id, str(run_id), LIVE_LOG_NAME)
    except (QueueUnavailable, UsageError):  # none yet (404), or not readable: poll instead
        return 0
    url = where.get("url")
    if where.get("storageType") not in ("reference", "s3") or not url:
        return 0
    seen = written = 0
    try:
        with requests.get(url, stream=True, timeout=(10, LIVE_LOG_TIMEOUT)) as response:
            if response.status_code != 200:
                return 0
            for chunk in response.iter_content(chunk_size=None):
                new = chunk[max(0, skip - seen) :]
                seen += len(chunk)
                if new:
                    write(new)
                    written += len(new)
    except requests.RequestException:
        pass  # the stream broke off: the caller reads the status and goes on from what was written
    return written
