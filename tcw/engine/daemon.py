"""The two ways to run the engine: `tcw run` (a daemon) and `tcw claim-once` (one task, for debugging).

``serve`` and ``serve_one`` are the coroutines; ``run_daemon`` and ``run_claim_once`` the process entry
points around them, which also remove the worker's own credentials from the environment any child
process would inherit. All build the same ``Worker``: executor and payload check chosen before the first
claim (so a bad config fails at once, not per task), one HTTP session for the worker's calls.

The payload check is the payload-schema registry entry of the worker's queue, else the schema its executor
declares (``tcw.engine.payload``). A queue with neither makes the worker refuse to start (``UsageError``,
saying how to map the queue to a schema) unless ``worker.accept_any_payload`` (``--accept-any-payload``)
is set.

The executor is the first found of (``tcw.engine.executor_choice.choose_executor``); the caller loads the
chosen name (``tcw.executors.loader.resolve_executor``), so the engine never imports a concrete executor:

1. the config's per-queue ``worker.executors`` mapping (``{"proj-*/signing": "signer"}``);
2. the ``executor`` of the queue's registry entry (``"proj-*/signing": {schema: s.json, executor: signer}``
   in a registry directory's index; ``shell`` for queues mapped to the built-in ``shell`` schema);
3. ``worker.executor`` (``--executor``, ``TCW_WORKER_EXECUTOR``), default ``shell``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from tcw.config import Config, WorkerSettings
from tcw.engine.children import children_watched_by_pidfd
from tcw.engine.claim import Claim
from tcw.engine.isolation import protect_worker_secrets
from tcw.engine.operator import operator_surface
from tcw.engine.queue_port import QueuePort, open_queue
from tcw.engine.retry import backoff_delay
from tcw.engine.shutdown import stop_on_signals
from tcw.engine.worker import PayloadCheck, RunRecord, Worker
from tcw.errors import QueueRefused, QueueUnavailable, TransientQueueError, UsageError
from tcw.executors.api import Executor

log = logging.getLogger(__name__)

DEFAULT_EXECUTOR = WorkerSettings().executor

ExecutorLoader = Callable[[str, Config], Executor]
"""Turns an executor name (``shell``, an entry point, ``module:function``) into an executor; built-in
executors take their settings from the config (the shell executor's mounts)."""


def check_work_root(worker: Worker) -> None:
    """Refuse to start with a work root tasks cannot use (every claimed task would fail on it) or one
    that is not the worker's alone (workroot.py); say how task processes are contained."""
    path = worker.root.path
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UsageError(f"work root {path}: not a writable directory ({error.strerror or error})") from error
    log.info("%s; work root %s", worker.sandbox.describe(), path)


@dataclass(frozen=True)
class WorkerSetup:
    executor: Executor
    payload_check: PayloadCheck | None


def prepare(config: Config, load_executor: ExecutorLoader) -> WorkerSetup:
    """Choose the executor and payload check for the worker's queue (see the module docstring for the
    order); raises ``UsageError`` early."""
    from tcw.engine.payload import payload_check, queue_schema

    queue = config.worker.task_queue_id
    if not queue:
        raise UsageError("no task queue: give --task-queue P/W (or --provisioner-id and --worker-type)")
    chosen = queue_schema(config, queue, lambda spec: load_executor(spec, config))
    choice, entry = chosen.choice, chosen.entry
    log.info("task queue %s: executor %s, from %s", queue, choice.spec, choice.origin)
    if entry is not None:
        log.info("task queue %s: payloads checked against %s", queue, entry.describe())
    if config.worker.executor not in (choice.spec, DEFAULT_EXECUTOR):  # a configured one set aside
        log.warning(
            "worker.executor %s is not used for %s: %s names %s (map the queue in worker.executors to "
            "override that)",
            config.worker.executor,
            queue,
            choice.origin,
            choice.spec,
        )
    return WorkerSetup(chosen.executor, payload_check(entry) if entry is not None else None)


@contextlib.asynccontextmanager
async def open_worker(
    config: Config,
    setup: WorkerSetup,
    credentials: Mapping[str, str] | None = None,
    *,
    one_ping: bool = False,
) -> AsyncIterator[Worker]:
    """The worker, calling as ``credentials`` (default: the config's), once its queue answered
    (``reach_deployment``: for up to ``worker.startup_timeout`` seconds, or with ``one_ping`` a single
    ping, for one-off commands)."""
    if not config.root_url:
        raise UsageError("root_url: not set (use --root-url or TASKCLUSTER_ROOT_URL)")
    async with open_queue(config.root_url, credentials or config.credentials.for_client()) as port:
        timeout = None if one_ping else config.worker.startup_timeout
        worker = Worker(config, port, setup.executor, setup.payload_check)
        try:
            with stop_on_signals(worker.request_stop, worker.drain), children_watched_by_pidfd():
                check_work_root(worker)
                await worker.unless_stopped(reach_deployment(port, timeout))  # a signal ends the wait
                async with operator_surface(worker, config.worker):
                    yield worker
        finally:
            await worker.close()


async def reach_deployment(
    port: QueuePort,
    timeout: float | None,  # noqa: ASYNC109  (None means one ping; running out is exit 5, said once)
) -> None:
    """Ping the queue before the first claim, for up to ``timeout`` s (None: one ping, with the client's
    own retries): a wrong or unreachable root URL is one error at start (exit 5), not a worker retrying
    forever in silence. Once started, the worker rides out outages as before."""
    deadline = time.monotonic() + (timeout or 0.0)
    attempt = 0
    while True:
        try:
            bound = None if timeout is None else max(0.1, deadline - time.monotonic())
            await asyncio.wait_for(port.ping(), timeout=bound)
            return
        except QueueRefused as error:  # it answers, but not as a queue should
            raise QueueUnavailable(f"{port.root_url}: {error.message}") from error
        except (TransientQueueError, TimeoutError) as error:
            if time.monotonic() >= deadline:
                reason = error.message if isinstance(error, TransientQueueError) else "no answer"
                within = f" within {timeout:g} s" if timeout is not None else ""
                raise QueueUnavailable(
                    f"cannot reach the queue at {port.root_url}{within} ({reason}); check "
                    "--root-url / TASKCLUSTER_ROOT_URL (worker.startup_timeout sets how long to try)"
                ) from error
            if attempt == 0:
                log.warning("cannot reach the queue at %s yet: trying for up to %g s", port.root_url, timeout)
            attempt += 1
            await asyncio.sleep(min(backoff_delay(attempt, 0.5, 5.0), max(0.0, deadline - time.monotonic())))


async def serve(config: Config, setup: WorkerSetup) -> list[RunRecord]:
    """Claim and run tasks until stopped (signals, ``max_tasks``, ``idle_timeout``)."""
    async with open_worker(config, setup) as worker:
        return await serve_worker(worker)


async def serve_worker(worker: Worker) -> list[RunRecord]:
    """An opened worker's life as a daemon, between its first and last log lines."""
    log.info(
        "worker %s/%s serving %s with capacity %d",
        worker.settings.worker_group,
        worker.worker_id,
        worker.task_queue_id,
        worker.settings.capacity,
    )
    records = await worker.run_forever()
    log.info("worker stopped: %s", summarise(records))
    return records


def summarise(records: list[RunRecord]) -> str:
    """``3 runs: 2 completed, 1 failed`` for the last log line of a worker."""
    counts = Counter(str(r.resolution) if r.reported else "not reported" for r in records)
    details = ", ".join(f"{count} {what}" for what, count in sorted(counts.items()))
    return f"{len(records)} run{'s' if len(records) != 1 else ''}" + (f": {details}" if details else "")


def run_daemon(config: Config, setup: WorkerSetup) -> list[RunRecord]:
    """`tcw run`: the daemon, until a stop signal, ``max_tasks`` or ``idle_timeout``."""
    protect_worker_secrets()
    return asyncio.run(serve(config, setup))


@dataclass(frozen=True)
class ClaimOnceResult:
    claim: Claim | None  # None: nothing to claim within the wait
    record: RunRecord | None  # None: claimed but not run (released, or the run was not started)


async def serve_one(
    config: Config,
    setup: WorkerSetup,
    *,
    wait: float,
    run: bool = True,
    named: tuple[str, int] | None = None,
    on_claimed: Callable[[Claim], None] = lambda claim: None,
) -> ClaimOnceResult:
    """Claim at most one task within ``wait`` seconds (or exactly the ``named`` pending run: taskId,
    runId); run and report it, or release it at once. An unreachable queue is an answer at once (one
    ping), as for every one-off command."""
    async with open_worker(config, setup, one_ping=True) as worker:
        claims = [await worker.claim_task(*named)] if named else await worker.claim_within(wait, count=1)
        if not claims:
            return ClaimOnceResult(None, None)
        claim = claims[0]
        on_claimed(claim)
        if not run:
            await worker.release(claim)
            return ClaimOnceResult(claim, worker.records[-1])
        return ClaimOnceResult(claim, await worker.run_claimed(claim))


def run_claim_once(
    config: Config,
    setup: WorkerSetup,
    *,
    wait: float,
    run: bool = True,
    named: tuple[str, int] | None = None,
    on_claimed: Callable[[Claim], None] = lambda claim: None,
) -> ClaimOnceResult:
    """`tcw claim-once`."""
    protect_worker_secrets()
    return asyncio.run(serve_one(config, setup, wait=wait, run=run, named=named, on_claimed=on_claimed))
