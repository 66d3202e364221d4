"""Membership of a worker pool without worker-runner (``tcw run --worker-pool P/W``): register with
worker-manager with a static worker's secret, reregister before the credentials expire, ask
``shouldWorkerTerminate`` now and then, report fatal errors, and remove the worker when it stops for
good. The credentials and the secrets live in memory only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tcw.config import Config, WorkerSettings
from tcw.engine.daemon import ExecutorLoader, open_worker, prepare, serve_worker
from tcw.engine.identity import default_worker_id
from tcw.engine.isolation import protect_worker_secrets
from tcw.engine.queue_port import REQUEST_TIMEOUT
from tcw.engine.worker import RunRecord, Worker
from tcw.errors import ConfigError, QueueUnavailable, TcwError, UsageError
from tcw.taskcluster_client import aio_session, aio_worker_manager, parse_time, translate

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

LONG_SETBACK = 30 * 60.0  # seconds before expiry worker-runner renews long-lived credentials
WAIT_AT_LEAST = 5 * 60.0  # ...but it never renews sooner than this after getting them
MIN_SETBACK = 30.0  # ...and never later than this before they expire


def renew_delay(until_expiry: float) -> float:
    """Seconds to wait before reregistering, for credentials expiring in ``until_expiry`` seconds:
    worker-runner's ``renewBeforeExpire`` (tools/worker-runner/registration), so a pool behaves the same
    whichever of the two registered its workers."""
    renew = until_expiry - LONG_SETBACK
    if renew < WAIT_AT_LEAST:
        renew = WAIT_AT_LEAST
        if renew > until_expiry - MIN_SETBACK:
            renew = max(until_expiry - MIN_SETBACK, 0.0)
    return renew


class PoolMembership:
    """This worker's registration in its pool, for as long as it serves.

    ``register`` trades the static secret for the worker's credentials; ``keep_registered`` reregisters
    before each expiry and hands the new credentials to ``use_credentials`` (the worker's queue port);
    ``watch_termination`` asks worker-manager every ``terminate_check_interval`` seconds whether to stop.
    The single-use reregistration secret and the credentials stay in this object only.
    """

    def __init__(
        self, session: aiohttp.ClientSession, root_url: str, settings: WorkerSettings, worker_id: str
    ) -> None:
        if not settings.worker_pool or not settings.static_secret:
            raise UsageError(
                "--worker-pool needs the static worker's secret: set TCW_WORKER_STATIC_SECRET "
                "(worker.static_secret)"
            )
        self.session = session
        self.root_url = root_url
        self.settings = settings
        self.worker_pool_id = settings.worker_pool
        self.worker_group = settings.worker_group
        self.worker_id = worker_id
        self._credentials: dict[str, str] | None = None
        self._secret: str | None = None
        self._expires = 0.0  # wall-clock time the credentials expire

    @property
    def _ids(self) -> dict[str, str]:
        return {
            "workerPoolId": self.worker_pool_id,
            "workerGroup": self.worker_group,
            "workerId": self.worker_id,
        }

    def _manager(self) -> Any:
        options: dict[str, Any] = {"rootUrl": self.root_url}
        if self._credentials:
            options["credentials"] = self._credentials
        return aio_worker_manager(options, self.session)

    def _take(self, answer: Mapping[str, Any]) -> dict[str, str]:
        credentials = {key: str(answer["credentials"][key]) for key in ("clientId", "accessToken")}
        if answer["credentials"].get("certificate"):
            credentials["certificate"] = str(answer["credentials"]["certificate"])
        self._credentials = credentials
        self._secret = str(answer["secret"])
        self._expires = parse_time(str(answer["expires"])).timestamp()
        return credentials

    async def register(self) -> dict[str, str]:
        """registerWorker with the static secret; the worker's credentials."""
        body = {
            **self._ids,
            "providerId": self.settings.provider_id,
            "workerIdentityProof": {"staticSecret": self.settings.static_secret},
        }
        answer = await translate("registerWorker", self._manager().registerWorker(body))
        credentials = self._take(answer)
        log.info(
            "registered with worker-manager as %s/%s in %s, credentials until %s",
            self.worker_group,
            self.worker_id,
            self.worker_pool_id,
            answer["expires"],
        )
        return credentials

    async def reregister(self) -> dict[str, str]:
        body = {**self._ids, "secret": self._secret}
        answer = await translate("reregisterWorker", self._manager().reregisterWorker(body))
        log.info("reregistered with worker-manager, credentials until %s", answer["expires"])
        return self._take(answer)

    async def keep_registered(self, use_credentials: Callable[[Mapping[str, str]], None]) -> None:
        """Reregister before every expiry, forever; raises when a reregistration fails (worker-runner
        then stops the worker gracefully too: the credentials are about to lapse)."""
        while True:
            await sleep_until(time.time() + renew_delay(self._expires - time.time()))
            use_credentials(await self.reregister())

    async def watch_termination(self) -> str:
        """Return worker-manager's reason once it says this worker should terminate; a failed question is
        logged and asked again at the next interval."""
        while True:
            await asyncio.sleep(self.settings.terminate_check_interval)
            try:
                answer = await translate(
                    "shouldWorkerTerminate",
                    self._manager().shouldWorkerTerminate(
                        self.worker_pool_id, self.worker_group, self.worker_id
                    ),
                )
            except QueueUnavailable as error:
                log.warning("cannot ask worker-manager whether to terminate: %s", error.message)
                continue
            if answer.get("terminate"):
                return str(answer.get("reason") or "worker-manager says so")

    async def report_error(self, kind: str, title: str, description: str) -> None:
        """reportWorkerError, for an error that stops the worker; public, so never a secret in it."""
        body = {
            "workerGroup": self.worker_group,
            "workerId": self.worker_id,
            "kind": kind,
            "title": title,
            "description": description,
            "extra": {},
        }
        try:
            await translate("reportWorkerError", self._manager().reportWorkerError(self.worker_pool_id, body))
        except QueueUnavailable as error:
            log.warning("cannot report the error to worker-manager: %s", error.message)

    async def remove(self) -> None:
        """removeWorker: this worker is gone for good and may not register again."""
        try:
            await translate(
                "removeWorker",
                self._manager().removeWorker(self.worker_pool_id, self.worker_group, self.worker_id),
            )
        except QueueUnavailable as error:
            log.warning("cannot remove the worker from worker-manager: %s", error.message)
            return
        log.info("removed from worker pool %s", self.worker_pool_id)


async def sleep_until(moment: float) -> None:
    """Sleep until a wall-clock time (like worker-runner, so a host that slept through it wakes on time),
    checking the clock at least once a minute."""
    while (left := moment - time.time()) > 0:  # noqa: ASYNC110  (the wall clock has no event to await)
        await asyncio.sleep(min(left, 60.0))


async def serve_in_pool(config: Config, load_executor: ExecutorLoader) -> list[RunRecord]:
    """Register, serve the pool's queue with the registered credentials (renewed as they near expiry),
    stop when worker-manager says so, and leave the pool when stopping for good: told to, idle for
    ``idle_timeout`` or done with ``max_tasks``. A stop signal leaves the worker registered, so that the
    same host (a restarted pod) can register again. The worker is set up after registering, so that an
    error in its set-up (no payload schema for the queue, an executor that does not load) reaches the
    pool's error list, where the pool's administrators look."""
    if not config.root_url:
        raise UsageError("root_url: not set (use --root-url or TASKCLUSTER_ROOT_URL)")
    worker_id = config.worker.worker_id or default_worker_id()
    async with aio_session(timeout=REQUEST_TIMEOUT) as session:
        membership = PoolMembership(session, config.root_url, config.worker, worker_id)
        credentials = await membership.register()
        try:
            setup = prepare(config, load_executor)
            async with open_worker(config, setup, credentials) as worker:
                records, told = await _serve_as_member(worker, membership)
        except TcwError as error:
            kind = "config-error" if isinstance(error, ConfigError | UsageError) else "worker-error"
            await membership.report_error(kind, "tcw stopped on an error", error.message)
            raise
        if told or not worker.stopping:
            await membership.remove()
        return records


async def _serve_as_member(worker: Worker, membership: PoolMembership) -> tuple[list[RunRecord], bool]:
    """The worker's records, and whether worker-manager told it to terminate."""
    serving = asyncio.create_task(serve_worker(worker))
    renewing = asyncio.create_task(membership.keep_registered(worker.port.use_credentials))
    watching = asyncio.create_task(membership.watch_termination())
    helpers = {renewing, watching}
    told = False
    try:
        while not serving.done():
            done, _ = await asyncio.wait({serving, *helpers}, return_when=asyncio.FIRST_COMPLETED)
            helpers -= done
            if watching in done:
                told = True
                log.info(
                    "worker-manager says to terminate (%s): finishing the running tasks", watching.result()
                )
                worker.drain(finish_tasks=True)
            if renewing in done and not renewing.cancelled():
                log.error(
                    "cannot reregister (%s): stopping before the credentials lapse", renewing.exception()
                )
                worker.drain(finish_tasks=False)
        return serving.result(), told
    finally:
        for helper in (serving, renewing, watching):
            helper.cancel()
        await asyncio.gather(serving, renewing, watching, return_exceptions=True)


def run_in_pool(config: Config, load_executor: ExecutorLoader) -> list[RunRecord]:
    """`tcw run --worker-pool P/W`."""
    protect_worker_secrets()
    return asyncio.run(serve_in_pool(config, load_executor))
