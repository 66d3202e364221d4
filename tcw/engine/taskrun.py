"""One claimed run on this worker: its directories, task log, cancellation, and its executor supervised.

The ``TaskRun`` is the only mutable state of a run. Two things can end it early, and both only set
``cancelled``: the claim being lost (``lose``: reclaim answered 409/404, nothing is reported) and the worker
shutting down (``shut_down``: reported ``exception/worker-shutdown``). The executor kills its process tree
when ``cancelled`` is set; if it does not return within ``KILL_GRACE`` its coroutine is cancelled too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path

from tcw.engine.artifacts import RunArtifacts
from tcw.engine.claim import Claim
from tcw.engine.queue_port import RunPort
from tcw.engine.sandbox import RunSandbox, WorkerSandbox
from tcw.engine.task_access import RunAccess
from tcw.engine.tasklog import TaskLog
from tcw.engine.workroot import WorkRoot
from tcw.executors.api import Executor, TaskContext, WorkerShutdown

log = logging.getLogger(__name__)

KILL_GRACE = 2.0


class TaskRun:
    def __init__(
        self,
        claim: Claim,
        port: RunPort,
        work_root: WorkRoot,
        artifacts: RunArtifacts,
        sandbox: WorkerSandbox,
        access: RunAccess | None = None,
    ) -> None:
        self.claim = claim
        self.port = port
        self.artifacts = artifacts
        self.access = access or RunAccess(claim, port.root_url)
        # The log is in the work root's logs/ directory, which a task user cannot write (workroot.py).
        self.work_root = work_root
        self.worker_sandbox = sandbox
        self.sandbox: RunSandbox | None = None
        self.name = f"task_{claim.task_id}_{claim.run_id}"
        self.work_dir = work_root.path / self.name
        self.log_path = work_root.logs / f"{self.name}.log"
        self.cancelled = asyncio.Event()
        self.lost: str | None = None

    def lose(self, why: str) -> None:
        """The run is over at the queue: stop the task and report nothing."""
        if self.lost is None:
            self.lost = why
            log.warning("run is over, stopping the task: %s", why, extra=self.claim.log_fields)
        self.cancelled.set()

    def shut_down(self) -> None:
        """The worker is stopping: stop the task; it is reported ``exception/worker-shutdown``."""
        self.cancelled.set()

    def prepare(self) -> TaskLog:
        fd, identity = self.work_root.create_log(f"{self.name}.log")
        self.artifacts.own_files.add(identity)
        return TaskLog(fd, self.log_path, f"{self.claim.task_id}.{self.claim.run_id}")

    def context(self, task_log: TaskLog) -> TaskContext:
        user = self.worker_sandbox.task_user
        self.work_root.create_task_dir(self.name, user.owner if user else None)
        self.artifacts.roots.append(self.work_dir)
        self.sandbox = self.worker_sandbox.for_run(self.name)
        return TaskContext(
            task_id=self.claim.task_id,
            run_id=self.claim.run_id,
            task=self.claim.task,
            work_dir=self.work_dir,
            log=task_log.logger,
            log_path=self.log_path,
            cancelled=self.cancelled,
            root_url=self.port.root_url,
            credentials=self._credentials,
            artifacts=self.artifacts,
            sandbox=self.sandbox,
            taskcluster=self.access,
        )

    async def end_processes(self) -> None:
        """Kill whatever the task left running, however it left its process group (sandbox.py)."""
        if self.sandbox is not None:
            await self.sandbox.close()

    def _credentials(self) -> Mapping[str, str]:
        return dict(self.claim.credentials())

    async def supervise(self, executor: Executor, ctx: TaskContext) -> None:
        """Run the executor until it ends, or until ``cancelled`` and a short grace to kill its tree."""

        async def execute() -> None:
            await executor(ctx)

        job = asyncio.create_task(execute())
        stop = asyncio.create_task(self.cancelled.wait())
        try:
            await asyncio.wait({job, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not job.done():
                await asyncio.wait({job}, timeout=KILL_GRACE)
            if not job.done():
                log.warning("executor ignored cancellation; cancelling it", extra=self.claim.log_fields)
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
                raise WorkerShutdown("the task was stopped")
            if job.cancelled():
                raise WorkerShutdown("the task was stopped")
            job.result()
        finally:
            stop.cancel()
            if not job.done():
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await job
            await self.access.close()

    def existing_files(self) -> tuple[Path | None, Path | None]:
        """The work directory and the task log, each None unless it exists (for ``keep_workdir``)."""
        return (
            self.work_dir if self.work_dir.is_dir() else None,
            self.log_path if self.log_path.is_file() else None,
        )

    def remove_files(self) -> None:
        self.work_root.remove(self.name)
        self.work_root.remove(f"{self.name}.log", log=True)
