"""The worker: claim work, run each claimed task, keep its claim alive, report it, stop when asked.

Public methods follow the protocol in order. ``run_once`` does one claim/run/report cycle; ``run_forever``
repeats it with up to ``capacity`` runs at a time until stopped, ``max_tasks`` or ``idle_timeout``. Nothing
here prints or exits: results come back as ``RunRecord`` values and log records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tcw.config import Config, WorkerSettings
from tcw.engine.artifacts import RunArtifacts
from tcw.engine.claim import Claim
from tcw.engine.diskguard import RETRY_SECONDS, DiskGuard
from tcw.engine.identity import default_worker_id
from tcw.engine.keepalive import keep_alive
from tcw.engine.livelog import LiveLogs, LiveRun
from tcw.engine.metrics import LastError, WorkerMetrics
from tcw.engine.outcome import resolve
from tcw.engine.progress import log_progress
from tcw.engine.queue_port import QueuePort
from tcw.engine.retry import backoff_delay
from tcw.engine.sandbox import WorkerSandbox
from tcw.engine.task_access import RunAccess
from tcw.engine.tasklog import TaskLog
from tcw.engine.taskrun import TaskRun
from tcw.engine.workroot import WorkRoot
from tcw.errors import QueueRefused, RunGone, TransientQueueError, UsageError
from tcw.executors.api import (
    LOG_NAME,
    Executor,
    MalformedPayload,
    Reason,
    Resolution,
    State,
    TaskOutcome,
    WorkerShutdown,
    before_claim_hook,
)

log = logging.getLogger(__name__)

PayloadCheck = Callable[[Mapping[str, Any]], str | None]
"""Returns the rendered problems of a payload this worker must not run, or None when it may run."""

WORKER_SHUTDOWN = Resolution(State.EXCEPTION, Reason.WORKER_SHUTDOWN)
REACHABLE_TIMEOUT = 10.0  # seconds a ping may take to prove the queue is there
RECORDS_KEPT = 10_000  # the most recent runs; a daemon must not grow with every task it ever ran
REMOVAL_BATCH_SECONDS = 0.25  # runs ending this close together have their files removed in one thread hop

T = TypeVar("T")
RunKey = tuple[str, int]
"""(taskId, runId): a retry of a task is another run, which may be active beside the old one's clean-up."""


@dataclass(frozen=True)
class RunRecord:
    """How one run ended on this worker. ``reported`` is False when the run was over at the queue.

    ``work_dir`` and ``log_file`` are set when the run's files were kept (``keep_workdir``) and exist.
    """

    task_id: str
    run_id: int
    resolution: Resolution
    reported: bool
    duration: float
    work_dir: Path | None = None
    log_file: Path | None = None


@dataclass
class ActiveRun:
    """A run between its claim and its record: what ``request_stop`` reaches and capacity counts.

    A run is ``finishing`` once its task's processes are gone and only its log upload and report are left:
    it no longer takes a slot, so the next task is claimed and started while those calls are in flight."""

    run: TaskRun
    job: asyncio.Task[RunRecord] | None = None  # None when awaited directly (``run_once``, claim-once)
    started_at: float = field(default_factory=time.time)
    finishing: bool = False


def work_root_of(settings: WorkerSettings) -> Path:
    """Where the worker keeps its runs' files and its status file."""
    return settings.work_root_path


class Worker:
    def __init__(
        self,
        config: Config,
        port: QueuePort,
        executor: Executor,
        payload_check: PayloadCheck | None = None,
    ) -> None:
        settings = config.worker
        if not settings.task_queue_id:
            raise UsageError("no task queue: give --task-queue P/W (or --provisioner-id and --worker-type)")
        self.settings = settings
        self.task_queue_id = settings.task_queue_id
        self.worker_id = settings.worker_id or default_worker_id()
        self.port = port
        self.executor = executor
        self.payload_check = payload_check
        self.work_root = work_root_of(settings)
        self._root: WorkRoot | None = None
        self._sandbox: WorkerSandbox | None = None
        self.records: deque[RunRecord] = deque(maxlen=RECORDS_KEPT)
        self._active: dict[RunKey, ActiveRun] = {}
        self._cleanups: set[asyncio.Task[None]] = set()
        self._removals: list[TaskRun] = []  # ended runs whose files the next batch removes
        self._removal_batch: asyncio.TimerHandle | None = None
        self._claimed = 0
        self._stopping = asyncio.Event()
        self._draining = False  # stopped claiming by ``drain``, letting the running tasks finish
        self._slot_freed = asyncio.Event()
        self._last_active = time.monotonic()
        self._empty_polls = 0
        self._failed_polls = 0
        self._stop_requested = False
        self.metrics = WorkerMetrics(settings.capacity, self._running)
        port.observe = self.metrics.queue_call
        self.live_logs = LiveLogs()  # served once ``tcw.engine.operator`` gives it a base URL
        self.disk_guard = DiskGuard(self.work_root, settings.min_free_disk_mb)

    # -- 1. claim ------------------------------------------------------------------------------------

    async def claim_work(self, count: int) -> list[Claim]:
        """One ``claimWork`` long-poll for up to ``count`` tasks. Raises ``TransientQueueError``, or
        ``QueueRefused`` (saying what to check when this worker never claimed anything); the loops that
        call it decide whether to back off and try again."""
        polled = time.monotonic()
        try:
            claims = await self.port.claim_work(
                self.task_queue_id, self.settings.worker_group, self.worker_id, count
            )
        except QueueRefused as error:
            if self._claimed == 0:  # refused from the start: credentials or scopes, not a passing fault
                raise with_claim_hint(error, self.task_queue_id) from error
            raise
        self._claimed += len(claims)
        self.metrics.claim_answered(len(claims))
        waited = round(time.monotonic() - polled, 3)  # how long the long-poll took to bring work
        for claim in claims:
            fields = {**claim.log_fields, "takenUntil": claim.taken_until.isoformat(), "duration": waited}
            log.info("claimed %s", claim.name or "task", extra=fields)
        return claims

    async def claim_task(self, task_id: str, run_id: int) -> Claim:
        """Claim one named pending run (``claimTask``); raises as ``claim_work`` does."""
        claim = await self.port.claim_task(task_id, run_id, self.settings.worker_group, self.worker_id)
        self._claimed += 1
        log.info("claimed %s", claim.name or "task", extra=claim.log_fields)
        return claim

    async def _before_claim(self) -> None:
        """The executor's preparation between tasks (freeing disk); a failure never stops claiming."""
        hook = before_claim_hook(self.executor)
        if hook is None:
            return
        try:
            await hook()
        except Exception as error:
            log.error("preparing for the next claim failed: %s", error, exc_info=error)

    async def claim_within(self, seconds: float, count: int = 1) -> list[Claim]:
        """Poll for up to ``seconds`` (or until asked to stop); a poll still waiting then is abandoned.
        Unlike the daemon, which backs off and tries again, a poll that fails raises."""
        deadline = time.monotonic() + seconds
        answered = False
        while (left := deadline - time.monotonic()) > 0 and not self.stopping:
            await self._before_claim()
            claims = await self._unless_stopped(self._claim_pausing_when_empty(count), timeout=left)
            answered = answered or claims is not None
            if claims:
                return claims
        if not answered and not self.stopping:
            await self._check_reachable()  # "nothing to claim" only from a queue that answers
        return []

    async def _check_reachable(self) -> None:
        """A long-poll abandoned at the deadline may have been retrying a queue that is down."""
        try:
            await asyncio.wait_for(self.port.ping(), timeout=REACHABLE_TIMEOUT)
        except TimeoutError as error:
            raise TransientQueueError(f"the queue did not answer within {REACHABLE_TIMEOUT:g} s") from error

    async def _claim_pausing_when_empty(self, count: int) -> list[Claim]:
        """``claim_work``, then a short back-off when it brought nothing, so no caller spins."""
        claims = await self.claim_work(count)
        if claims:
            self._empty_polls = 0
            return claims
        self._empty_polls += 1
        await asyncio.sleep(backoff_delay(self._empty_polls, 0.05, 2.0))
        return []

    async def _claim_or_back_off(self, count: int) -> list[Claim]:
        """The daemon's claim: a failed poll is logged and backed off, unless it is a refusal before the
        first claim (wrong credentials or scopes, which no retry fixes). The disk guard goes first, after
        the executor's preparation (which may free disk)."""
        await self._before_claim()
        if (shortfall := self.disk_guard.shortfall()) is not None:
            self.metrics.last_error = LastError(time.time(), shortfall)
            await asyncio.sleep(RETRY_SECONDS)
            return []
        try:
            claims = await self._claim_pausing_when_empty(count)
        except QueueRefused as error:
            if self._claimed == 0:
                raise
            log.error("claimWork refused: %s", error.message)
        except TransientQueueError as error:
            log.warning("claimWork failed: %s", error.message)
        else:
            self._failed_polls = 0
            return claims
        self._failed_polls += 1
        await asyncio.sleep(backoff_delay(self._failed_polls, 0.5, 30.0))
        return []

    async def unless_stopped(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or None when the worker is asked to stop first (``work`` is cancelled)."""
        return await self._unless_stopped(work)

    async def _unless_stopped(
        self,
        work: Awaitable[T],
        timeout: float | None = None,  # noqa: ASYNC109 - running out of time is an outcome (None), like a stop
        until: Awaitable[None] | None = None,
    ) -> T | None:
        """``work``'s result, or None when the worker is asked to stop (or ``timeout`` passes, or ``until``
        is done) first, in which case ``work`` is cancelled."""
        job = asyncio.ensure_future(work)
        enders: list[asyncio.Future[Any]] = [asyncio.create_task(self._stopping.wait())]
        if until is not None:
            enders.append(asyncio.ensure_future(until))
        try:
            await asyncio.wait({job, *enders}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for ender in enders:
                ender.cancel()
            if not job.done():
                job.cancel()
        if not job.done() or job.cancelled():
            with contextlib.suppress(asyncio.CancelledError):
                await job
            return None
        return job.result()

    # -- 2. run --------------------------------------------------------------------------------------

    async def run_claimed(self, claim: Claim) -> RunRecord:
        """Run one claimed task to its end and report it; never raises for a task's sake."""
        return await self._run_to_end(self._admit(claim))

    def _admit(self, claim: Claim) -> ActiveRun:
        active = ActiveRun(self._new_run(claim))
        self._active[(claim.task_id, claim.run_id)] = active
        return active

    async def _run_to_end(self, active: ActiveRun) -> RunRecord:
        started = time.monotonic()
        run = active.run
        claim = run.claim
        keeper = asyncio.create_task(self.keep_alive(run))
        progress = asyncio.create_task(log_progress(claim, run.log_path, self.settings.progress_interval))
        try:
            try:
                resolution = await self._execute(run)
            except Exception as error:  # a bug in the engine itself: the run still gets an answer
                log.error("the worker failed running the task", exc_info=error, extra=claim.log_fields)
                resolution = resolve(error)
            reported = False
            if run.lost is None:
                reported = await self.report(run, resolution)
        finally:
            keeper.cancel()
            progress.cancel()
            del self._active[(claim.task_id, claim.run_id)]
            if not self.settings.keep_workdir:
                self._remove_in_background(run)
        kept = run.existing_files() if self.settings.keep_workdir else (None, None)
        elapsed = time.monotonic() - started
        record = RunRecord(claim.task_id, claim.run_id, resolution, reported, elapsed, *kept)
        self.metrics.run_ended(resolution, reported, elapsed)
        self._log_end(record, run)
        self.records.append(record)
        return record

    def _remove_in_background(self, run: TaskRun) -> None:
        """Remove the run's files off the loop and off the run's critical path: rmdir can take
        milliseconds (filesystems mounted with ``discard``), time in which the next task can be claimed.
        The runs that end within ``REMOVAL_BATCH_SECONDS`` share one hop to a thread, which costs a worker
        running many short tasks more CPU than removing their files does."""
        self._removals.append(run)
        if self._removal_batch is None:
            loop = asyncio.get_running_loop()
            self._removal_batch = loop.call_later(REMOVAL_BATCH_SECONDS, self._remove_batch)

    def _remove_batch(self) -> None:
        self._removal_batch = None
        runs, self._removals = self._removals, []
        job = asyncio.create_task(asyncio.to_thread(_remove_files_of, runs))
        self._cleanups.add(job)
        job.add_done_callback(self._cleanups.discard)

    async def close(self) -> None:
        """Remove what ended runs left and wait for background clean-ups; call before the event loop
        ends."""
        if self._removal_batch is not None:
            self._removal_batch.cancel()
            self._remove_batch()
        await asyncio.gather(*self._cleanups, return_exceptions=True)
        if self._root is not None:
            self._root.close()
        if self._sandbox is not None:
            self._sandbox.close()

    @property
    def sandbox(self) -> WorkerSandbox:
        """How task processes are contained and whom they run as; set up on first use."""
        if self._sandbox is None:
            self._sandbox = WorkerSandbox(self.settings)
        return self._sandbox

    @property
    def root(self) -> WorkRoot:
        """The checked, private work root (``WorkRootError`` when it cannot be used safely)."""
        if self._root is None:
            user = self.sandbox.task_user
            self._root = WorkRoot(self.work_root, user.gid if user else None)
        return self._root

    def _new_run(self, claim: Claim) -> TaskRun:
        port = self.port.for_run(claim)
        access = RunAccess(
            claim,
            port.root_url,
            proxy_by_default=self.settings.taskcluster_proxy,
            credentials_fd=self.settings.task_credentials_fd,
            task_uid=self.sandbox.task_user.uid if self.sandbox.task_user else None,
        )
        artifacts = RunArtifacts(port, self.settings.artifact_storage)
        return TaskRun(claim, port, self.root, artifacts, self.sandbox, access)

    async def _execute(self, run: TaskRun) -> Resolution:
        """Run the task and publish its log; the resolution to report (unless the run was lost)."""
        try:
            task_log = run.prepare()
        except OSError as error:
            log.error("cannot create the run directory: %s", error, extra=run.claim.log_fields)
            return resolve(error)
        with task_log, self.live_logs.start(run) as live:
            ending = await self._run_task(run, task_log)
            self._task_ended(run)
            resolution = resolve(ending)
            if run.lost is not None:
                return resolution
            # The last line of the log says how the run ended and why, where people look first.
            task_log.logger.info("resolution: %s%s", resolution, f": {_describe(ending)}" if ending else "")
            live.end()
            return await self._publish_log(run, resolution, live)

    async def _run_task(self, run: TaskRun, task_log: TaskLog) -> BaseException | None:
        """What the run ended with: None when it completed, else the exception that sets its resolution."""
        claim = run.claim
        task_log.logger.info(
            "task %s run %s on %s/%s", claim.task_id, claim.run_id, self.settings.worker_group, self.worker_id
        )
        try:
            self._check_payload(claim)
            try:
                await run.supervise(self.executor, run.context(task_log))
            finally:
                await run.end_processes()  # before the log is uploaded: nothing of the task writes to it
        except RunGone as error:
            run.lose(error.message)
            return error
        except (Exception, WorkerShutdown) as error:  # one task's failure never stops the worker
            if not isinstance(error, TaskOutcome | WorkerShutdown):  # a bug: its traceback is worth having
                log.error("task raised unexpectedly", exc_info=error, extra=claim.log_fields)
            return error
        return None

    def _task_ended(self, run: TaskRun) -> None:
        """The task's processes are gone: its slot may take the next task while the log and the report go
        out (claim ahead), so a worker never waits on claimWork with those calls as its only work."""
        active = self._active.get((run.claim.task_id, run.claim.run_id))
        if active is not None:
            active.finishing = True
            self._slot_freed.set()

    def _running(self) -> int:
        """Runs whose task is still running: what capacity limits."""
        return sum(1 for active in self._active.values() if not active.finishing)

    def _check_payload(self, claim: Claim) -> None:
        if self.payload_check is None:
            return
        problems = self.payload_check(claim.task.get("payload", {}))
        if problems:
            raise MalformedPayload(f"the payload does not match this worker's schema:\n{problems.rstrip()}")

    async def _publish_log(self, run: TaskRun, resolution: Resolution, live: LiveRun) -> Resolution:
        """Upload the task log (and the live.log link); a final failure is ``resource-unavailable``."""
        try:
            await asyncio.gather(
                run.artifacts.upload(LOG_NAME, run.log_path, content_type="text/plain"),
                live.link(),
            )
        except RunGone as error:
            run.lose(error.message)
        except Exception as error:
            log.error("cannot upload the task log: %s", error, extra=run.claim.log_fields)
            if resolution.state is not State.EXCEPTION:
                return resolve(error)
        return resolution

    # -- 3. keep alive -------------------------------------------------------------------------------

    async def keep_alive(self, run: TaskRun) -> None:
        await keep_alive(run.claim, run.port, run.lose)

    # -- 4. report -----------------------------------------------------------------------------------

    async def report(self, run: TaskRun, resolution: Resolution) -> bool:
        """Report once; 5xx and connection errors are retried until it lands or the claim expired."""
        attempt = 0
        while True:
            try:
                await run.port.report(resolution)
                return True
            except RunGone as error:
                log.warning("report dropped, the run is over: %s", error.message, extra=run.claim.log_fields)
                return False
            except QueueRefused as error:
                log.error("report refused: %s", error.message, extra=run.claim.log_fields)
                return False
            except TransientQueueError as error:
                left = run.claim.seconds_left()
                if left <= 0:
                    log.error(
                        "report abandoned, the claim expired: %s", error.message, extra=run.claim.log_fields
                    )
                    return False
                log.warning("report failed, retrying: %s", error.message, extra=run.claim.log_fields)
                await asyncio.sleep(min(backoff_delay(attempt, 0.5, 15.0), left))
                attempt += 1

    async def release(self, claim: Claim) -> bool:
        """Give a claimed task back at once (``exception/worker-shutdown``), so the queue retries it."""
        run = self._new_run(claim)
        reported = await self.report(run, WORKER_SHUTDOWN)
        self.records.append(RunRecord(claim.task_id, claim.run_id, WORKER_SHUTDOWN, reported, 0.0))
        return reported

    def _log_end(self, record: RunRecord, run: TaskRun) -> None:
        fields = {"taskId": record.task_id, "runId": record.run_id, "duration": round(record.duration, 3)}
        if record.work_dir is not None:
            fields["workDir"] = str(record.work_dir)
        if record.reported:
            log.info("resolved %s", record.resolution, extra=fields)
        else:
            log.warning("not reported (%s)", run.lost or "the report did not land", extra=fields)

    # -- 5. stop -------------------------------------------------------------------------------------

    def request_stop(self, *, immediate: bool = False) -> None:
        """First call: stop claiming, let runs finish within the grace; a second (or immediate) call: now."""
        running = self._running()  # a run already reporting keeps its resolution: not counted
        if immediate or self._stop_requested:
            log.warning("stopping now: %d running task(s) will be reported worker-shutdown", running)
            self._shut_down_runs()
            self._stopping.set()
            return
        self._stop_requested = True
        self._stopping.set()
        grace = self.settings.shutdown_grace
        if running:
            log.warning(
                "stopping: no new claims; %d running task(s) have %.0f s to finish, then are stopped and "
                "reported exception/worker-shutdown (the queue retries them). A second Ctrl-C (or SIGTERM) "
                "stops them now",
                running,
                grace,
            )
        else:
            log.info("stopping: no new claims, no task running")
        asyncio.get_running_loop().call_later(grace, self._shut_down_runs)

    def _shut_down_runs(self) -> None:
        for active in list(self._active.values()):
            active.run.shut_down()

    def drain(self, *, finish_tasks: bool = True) -> None:
        """Claim nothing more (SIGUSR1; worker-runner's graceful-termination). ``finish_tasks``: running
        tasks finish however long they take, then ``run_forever`` returns (exit 0); otherwise they stop now
        and are reported worker-shutdown. A stop signal afterwards still means what it means: finish within
        the grace, then shut down."""
        if not finish_tasks:
            self.request_stop(immediate=True)
            return
        if not self._stopping.is_set():
            log.info(
                "draining: no new claims; %d running task(s) may finish however long they take",
                self._running(),
            )
            self._draining = True
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def draining(self) -> bool:
        return self._draining and not self._stop_requested

    def active_runs(self) -> list[ActiveRun]:
        return list(self._active.values())

    # -- loops ---------------------------------------------------------------------------------------

    async def run_once(self) -> list[RunRecord]:
        """One cycle: claim up to capacity (one long-poll), run what came, report it."""
        claims = await self._claim_or_back_off(self.settings.capacity)
        return list(await asyncio.gather(*(self.run_claimed(claim) for claim in claims)))

    async def run_forever(self) -> list[RunRecord]:
        """Claim and run until stopped, ``max_tasks`` claimed, or idle for ``idle_timeout``."""
        while not self._done_claiming():
            free = self._free_slots()
            if free == 0:
                await self._wait_for_slot()
                continue
            for claim in await self._claim_unless_stopped(free):
                self._start(claim)
        jobs = [active.job for active in self._active.values() if active.job is not None]
        await asyncio.gather(*jobs, return_exceptions=True)
        return list(self.records)

    def _free_slots(self) -> int:
        """Slots without a running task, while at most one run per slot is still finishing: a queue slow to
        take logs and reports holds claims back instead of piling up finished runs."""
        capacity = self.settings.capacity
        free = min(capacity - self._running(), 2 * capacity - len(self._active))
        if self.settings.max_tasks is not None:
            free = min(free, self.settings.max_tasks - self._claimed)
        return max(0, free)

    def _done_claiming(self) -> bool:
        if self._stopping.is_set():
            return True
        if self.settings.max_tasks is not None and self._claimed >= self.settings.max_tasks:
            return True
        idle = self.settings.idle_timeout
        if idle is not None and not self._active and time.monotonic() - self._last_active >= idle:
            log.info("idle for %.0f s: stopping", idle)
            return True
        return False

    async def _wait_for_slot(self) -> None:
        self._slot_freed.clear()
        await self._unless_stopped(self._slot_freed.wait())

    async def _claim_unless_stopped(self, free: int) -> list[Claim]:
        """A claim poll abandoned when the worker is asked to stop or its idle time runs out, which may
        start during the poll: it goes out while the last runs still report (claim ahead)."""
        idle = self.settings.idle_timeout
        until = None if idle is None else self._idle_for(idle)
        return await self._unless_stopped(self._claim_or_back_off(free), until=until) or []

    async def _idle_for(self, idle: float) -> None:
        """Return once no run has been active for ``idle`` seconds. Only the loop starts runs, never during
        a poll, so once the active ones have ended (their reports landed) only the clock is left."""
        while jobs := [active.job for active in self._active.values() if active.job is not None]:
            await asyncio.wait(jobs)
        await asyncio.sleep(max(0.0, idle - (time.monotonic() - self._last_active)))

    def _start(self, claim: Claim) -> None:
        self._last_active = time.monotonic()
        active = self._admit(claim)
        active.job = asyncio.create_task(self._run_to_end(active))
        active.job.add_done_callback(lambda job: self._finished(claim, job))

    def _finished(self, claim: Claim, job: asyncio.Task[RunRecord]) -> None:
        if not job.cancelled() and job.exception() is not None:
            log.error(
                "run %s/%s ended with an error in the worker",
                claim.task_id,
                claim.run_id,
                exc_info=job.exception(),
            )
        self._last_active = time.monotonic()
        self._slot_freed.set()


def _remove_files_of(runs: list[TaskRun]) -> None:
    """Each run's files, whatever another's removal raised (in a thread: nothing of the loop's)."""
    for run in runs:
        try:
            run.remove_files()
        except OSError as error:
            log.warning("cannot remove the files of a run: %s", error, extra=run.claim.log_fields)


def with_claim_hint(error: QueueRefused, task_queue_id: str) -> QueueRefused:
    """A refusal of ``claimWork`` with what to check: the worker's credentials or its scopes."""
    if error.status == 401:
        hint = "check the worker's credentials (TASKCLUSTER_CLIENT_ID/ACCESS_TOKEN)"
    elif error.status == 403:
        hint = (
            f"the worker's client needs the scopes queue:claim-work:{task_queue_id} and "
            "queue:worker-id:<workerGroup>/<workerId>"
        )
    else:
        return QueueRefused(error.message, error.status)
    return QueueRefused(f"{error.message}\n{hint}", error.status)


def _describe(ending: BaseException) -> str:
    if isinstance(ending, TaskOutcome | WorkerShutdown):
        return str(ending) or type(ending).__name__
    return f"internal error: {type(ending).__name__}: {ending}"
