"""The engine's one door to the queue: the calls it makes, over ``tcw.taskcluster_client``'s aio face.

Two kinds of caller share one aiohttp session: the worker itself (its own credentials, for ``claimWork``)
and each run (that run's temporary credentials, swapped in by every reclaim). Everything the engine needs to
decide is in the exception class (``tcw.errors``): ``TransientQueueError`` is worth retrying, ``RunGone``
means the run is over and must be dropped, ``QueueRefused`` is any other refusal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp

from tcw.engine.claim import Claim, Lease
from tcw.executors.api import Resolution, State
from tcw.taskcluster_client import aio_object, aio_queue, aio_session, translate

log = logging.getLogger(__name__)

# Longer than the queue's 20 s claimWork long-poll plus latency, so an empty answer is never a timeout.
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=75, sock_connect=10)
CLAIM_WORK_MAX_TASKS = 32

RUN_OVER = frozenset({401, 403, 404, 409})
"""For a run's reclaim and report: 404/409 mean the run is over; 401/403 that its credentials lapsed."""
CREDENTIALS_LAPSED = frozenset({401, 403, 404})
"""For createArtifact, whose 409 says the artifact exists with other properties, not that the run ended."""

T = TypeVar("T")
CallObserver = Callable[[str, float, BaseException | None], None]
"""Told of every call: its method name, its seconds, and what it failed with (None: answered)."""


def _unobserved(method: str, seconds: float, error: BaseException | None) -> None:
    pass


async def observed(observe: CallObserver, method: str, call: Awaitable[T]) -> T:
    started = time.monotonic()
    try:
        answer = await call
    except Exception as error:
        observe(method, time.monotonic() - started, error)
        raise
    observe(method, time.monotonic() - started, None)
    return answer


class QueuePort:
    """The worker's calls, with its own credentials, over the shared session."""

    def __init__(
        self, session: aiohttp.ClientSession, root_url: str, credentials: Mapping[str, str] | None
    ) -> None:
        self.session = session
        self.root_url = root_url
        options: dict[str, Any] = {"rootUrl": root_url}
        if credentials:
            options["credentials"] = credentials
        self._queue = aio_queue(options, session)
        self.observe: CallObserver = _unobserved  # the worker's metrics, once it has some

    async def claim_work(
        self, task_queue_id: str, worker_group: str, worker_id: str, count: int
    ) -> list[Claim]:
        body = {"workerGroup": worker_group, "workerId": worker_id, "tasks": min(count, CLAIM_WORK_MAX_TASKS)}
        answer = await observed(
            self.observe, "claimWork", translate("claimWork", self._queue.claimWork(task_queue_id, body))
        )
        return [Claim.from_claim_work(entry) for entry in answer.get("tasks", [])]

    async def claim_task(self, task_id: str, run_id: int, worker_group: str, worker_id: str) -> Claim:
        """Claim one named pending run (claim-once --no-run releases exactly the task it looked at)."""
        body = {"workerGroup": worker_group, "workerId": worker_id}
        answer = await translate("claimTask", self._queue.claimTask(task_id, str(run_id), body))
        return Claim.from_claim_work(answer)

    async def ping(self) -> None:
        """Whether the queue answers at all (``TransientQueueError`` when it cannot be reached)."""
        await translate("ping", self._queue.ping())

    def use_credentials(self, credentials: Mapping[str, str] | None) -> None:
        """The worker's own calls use these from the next one on (worker-runner's new credentials, a
        reregistration with worker-manager); a call already on its way finishes with the old ones."""
        options: dict[str, Any] = {"rootUrl": self.root_url}
        if credentials:
            options["credentials"] = dict(credentials)
        self._queue = aio_queue(options, self.session)

    def for_run(self, claim: Claim) -> RunPort:
        return RunPort(self.session, self.root_url, claim, self.observe)


class RunPort:
    """The calls one run makes, always with that run's current temporary credentials."""

    def __init__(
        self, session: aiohttp.ClientSession, root_url: str, claim: Claim, observe: CallObserver = _unobserved
    ) -> None:
        self.session = session
        self.root_url = root_url
        self.claim = claim
        self.observe = observe
        self._client_lease: Lease | None = None
        self._client: Any = None

    def _queue(self) -> Any:
        lease = self.claim.lease
        if lease is not self._client_lease:
            options = {"rootUrl": self.root_url, "credentials": lease.credentials}
            self._client = aio_queue(options, self.session)
            self._client_lease = lease
        return self._client

    def object_service(self, credentials: Mapping[str, str]) -> Any:
        """An object-service client with the upload credentials ``createArtifact`` handed out."""
        return aio_object({"rootUrl": self.root_url, "credentials": credentials}, self.session)

    async def reclaim(self) -> Lease:
        claim = self.claim
        call = translate(
            "reclaimTask", self._queue().reclaimTask(claim.task_id, str(claim.run_id)), gone=RUN_OVER
        )
        answer = await observed(self.observe, "reclaimTask", call)
        return Lease.from_response(answer)

    async def report(self, resolution: Resolution) -> None:
        task_id, run_id = self.claim.task_id, str(self.claim.run_id)
        queue = self._queue()
        if resolution.state is State.COMPLETED:
            call = queue.reportCompleted(task_id, run_id)
        elif resolution.state is State.FAILED:
            call = queue.reportFailed(task_id, run_id)
        else:
            call = queue.reportException(task_id, run_id, {"reason": str(resolution.reason)})
        method = f"report{str(resolution.state).capitalize()}"
        await observed(self.observe, method, translate(f"report {resolution}", call, gone=RUN_OVER))

    async def create_artifact(self, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        task_id, run_id = self.claim.task_id, str(self.claim.run_id)
        call = self._queue().createArtifact(task_id, run_id, name, dict(body))
        answer = translate(f"createArtifact {name}", call, gone=CREDENTIALS_LAPSED)
        return await observed(self.observe, "createArtifact", answer)

    async def finish_artifact(self, name: str, upload_id: str) -> None:
        task_id, run_id = self.claim.task_id, str(self.claim.run_id)
        call = self._queue().finishArtifact(task_id, run_id, name, {"uploadId": upload_id})
        await observed(
            self.observe, "finishArtifact", translate(f"finishArtifact {name}", call, gone=CREDENTIALS_LAPSED)
        )


@asynccontextmanager
async def open_queue(root_url: str, credentials: Mapping[str, str] | None) -> AsyncIterator[QueuePort]:
    """The worker's port and its one HTTP session, closed on the way out."""
    connector = aiohttp.TCPConnector(limit=64)
    async with aio_session(connector=connector, timeout=REQUEST_TIMEOUT) as session:
        yield QueuePort(session, root_url, credentials)
