"""``tcw status``: what the workers using a work root are doing, from a status file each keeps there.

Each running worker rewrites ``<work root>/worker-<pid>.status.json`` every ``INTERVAL`` seconds
(owner-only, replaced atomically, so a reader never sees half of it) and removes it when it stops; one
file per process, so a `tcw claim-once` beside a `tcw run` on the same work root clobbers nothing. A file
whose process is gone (killed without clean-up) is reported as such rather than trusted. A file needs no
port, no credentials and no new server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcw.errors import TcwError

if TYPE_CHECKING:
    from tcw.engine.worker import Worker

STATUS_GLOB = "worker-*.status.json"
INTERVAL = 2.0


def status_path(work_root: Path, pid: int | None = None) -> Path:
    """The status file of process ``pid`` (this one by default)."""
    return work_root / STATUS_GLOB.replace("*", str(os.getpid() if pid is None else pid))


def snapshot(worker: Worker, endpoints: Mapping[str, str]) -> dict[str, Any]:
    """The worker as ``tcw status`` shows it; times are Unix seconds, so a reader computes ages."""
    metrics = worker.metrics
    running = []
    for active in worker.active_runs():
        run = active.run
        try:
            log_bytes: int | None = run.log_path.stat().st_size
        except OSError:
            log_bytes = None
        running.append(
            {
                "taskId": run.claim.task_id,
                "runId": run.claim.run_id,
                "name": run.claim.name,
                "started": active.started_at,
                "logPath": str(run.log_path),
                "logBytes": log_bytes,
                "finishing": active.finishing,  # the task has ended; its log and report are going out
            }
        )
    error = metrics.last_error
    return {
        "pid": os.getpid(),
        "workerGroup": worker.settings.worker_group,
        "workerId": worker.worker_id,
        "taskQueueId": worker.task_queue_id,
        "started": metrics.started,
        "updated": time.time(),
        "state": "draining" if worker.draining else "stopping" if worker.stopping else "running",
        "capacity": worker.settings.capacity,
        "running": running,
        "claimed": metrics.claimed,
        "resolved": dict(metrics.resolutions),
        "lastError": None if error is None else {"at": error.at, "message": error.message},
        "endpoints": dict(endpoints),
    }


def write_private(path: Path, data: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``data`` as JSON, readable by its owner only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(data, file)
    os.replace(temporary, path)


@contextlib.asynccontextmanager
async def status_file(worker: Worker, endpoints: Mapping[str, str]) -> AsyncIterator[Path]:
    """Keep the work root's status file current while the block runs; remove it afterwards."""
    path = status_path(worker.work_root)

    async def keep() -> None:
        while True:
            # A full disk or a removed work root: the worker keeps working without its status.
            with contextlib.suppress(OSError):
                write_private(path, snapshot(worker, endpoints))
            await asyncio.sleep(INTERVAL)

    keeper = asyncio.create_task(keep())
    try:
        yield path
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class WorkerStatus:
    data: Mapping[str, Any]
    alive: bool  # False: the process that wrote it is gone (killed without clean-up)


def read_statuses(work_root: Path) -> list[WorkerStatus]:
    """Every status file of the work root, oldest worker first; raises when there is none."""
    found = []
    for path in sorted(work_root.glob(STATUS_GLOB)):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:  # that worker stopped while we looked
            continue
        except (OSError, ValueError) as error:
            raise TcwError(f"cannot read {path}: {error}") from error
        if not isinstance(data, dict):
            raise TcwError(f"{path}: not a status file")
        found.append(WorkerStatus(data, _alive(data.get("pid"))))
    if not found:
        raise TcwError(f"no worker is running on the work root {work_root} (no {STATUS_GLOB} there)")
    return sorted(found, key=lambda status: float(status.data.get("started") or 0))


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
