"""The engine's one door to the queue: the official ``taskcluster.aio`` client, with its errors as ours.

Two kinds of caller share one aiohttp session: the worker itself (its own credentials, for ``claimWork``)
and each run (that run's temporary credentials, swapped in by every reclaim). Everything the engine needs to
decide is in the exception class: ``TransientQueueError`` is worth retrying, ``RunGone`` means the run is
over and must be dropped, ``QueueRefused`` is any other refusal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
import taskcluster
import taskcluster.aio
import taskcluster.exceptions

from tcw.client_failures import ClientFailure, read_failure
from tcw.engine.claim import Claim, Lease
from tcw.errors import QueueUnavailable
from tcw.executors.api import Resolution, State

log = logging.getLogger(__name__)

T = TypeVar("T")

# Longer than the queue's 20 s claimWork long-poll plus latency, so an empty answer is never a timeout.
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=75, sock_connect=10)
CLAIM_WORK_MAX_TASKS = 32


class TransientQueueError(QueueUnavailable):
    """A 5xx, a dropped connection or a timeout that the client's own retries did not get past."""


class QueueRefused(QueueUnavailable):
    """The queue answered with a 4xx."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    def with_claim_hint(self, task_queue_id: str) -> QueueRefused:
        """This refusal of ``claimWork`` with what to check: the worker's credentials or its scopes."""
        if self.status == 401:
            hint = "check the worker's credentials (TASKCLUSTER_CLIENT_ID/ACCESS_TOKEN)"
        elif self.status == 403:
            hint = (
                f"the worker's client needs the scopes queue:claim-work:{task_queue_id} and "
                "queue:worker-id:<workerGroup>/<workerId>"
            )
        else:
            return QueueRefused(self.message, self.status)
        return QueueRefused(f"{self.message}\n{hint}", self.status)


class RunGone(QueueRefused):
    """A run-scoped call was refused because the run is over (cancelled, resolved, expired, unknown)."""


RUN_OVER = frozenset({401, 403, 404, 409})
"""For a run's reclaim and report: 404/409 mean the run is over; 401/403 that its credentials lapsed."""
CREDENTIALS_LAPSED = frozenset({401, 403, 404})
"""For createArtifact, whose 409 says the artifact exists with other properties, not that the run ended."""


async def translate(what: str, operation: Awaitable[T], *, gone: frozenset[int] = frozenset()) -> T:
    """Await one client call and turn the client's exceptions into ours; ``gone``: statuses meaning the
    run is over."""
    try:
        return await operation
    except taskcluster.exceptions.TaskclusterAuthFailure as error:
        raise _refusal(what, 401, read_failure(error), gone) from error
    # aiohttp's error: the async client re-raises the last 5xx itself once its retries run out.
    except (taskcluster.exceptions.TaskclusterRestFailure, aiohttp.ClientResponseError) as error:
        failure = read_failure(error)
        status = failure.status or 0
        if status >= 500:
            raise TransientQueueError(f"{what}: the queue answered {status}") from error
        raise _refusal(what, status, failure, gone) from error
    except (taskcluster.exceptions.TaskclusterConnectionError, aiohttp.ClientError, TimeoutError) as error:
        raise TransientQueueError(f"{what}: cannot reach the queue ({type(error).__name__})") from error


def _refusal(what: str, status: int, failure: ClientFailure, gone: frozenset[int]) -> QueueRefused:
    text = f"{what}: the queue answered {status}: {failure.first_line}"
    if status in gone:
        return RunGone(text, status)
    return QueueRefused(text, status)


class QueuePort:
    """The worker's calls, with its own credentials, over the shared session."""

    def __init__(
        self, session: aiohttp.ClientSession, root_url: str, credentials: Mapping[str, str] | None
    ) -> None:
        self.session = session
        self.root_url = root_url
        options: dict[str, Any] = {"rootUrl": root_url}
        if credentials:
            options["credentials"] = dict(credentials)  # the client encodes the values in place
        self._queue = taskcluster.aio.Queue(options, session=session)

    async def claim_work(
        self, task_queue_id: str, worker_group: str, worker_id: str, count: int
    ) -> list[Claim]:
        body = {"workerGroup": worker_group, "workerId": worker_id, "tasks": min(count, CLAIM_WORK_MAX_TASKS)}
        answer = await translate("claimWork", self._queue.claimWork(task_queue_id, body))
        return [Claim.from_claim_work(entry) for entry in answer.get("tasks", [])]

    def for_run(self, claim: Claim) -> RunPort:
        return RunPort(self.session, self.root_url, claim)


class RunPort:
    """The calls one run makes, always with that run's current temporary credentials."""

    def __init__(self, session: aiohttp.ClientSession, root_url: str, claim: Claim) -> None:
        self.session = session
        self.root_url = root_url
        self.claim = claim
        self._client_lease: Lease | None = None
        self._client: Any = None

    def _queue(self) -> Any:
        lease = self.claim.lease
        if lease is not self._client_lease:
            options = {"rootUrl": self.root_url, "credentials": dict(lease.credentials)}
            self._client = taskcluster.aio.Queue(options, session=self.session)
            self._client_lease = lease
        return self._client

    def object_service(self, credentials: Mapping[str, str]) -> Any:
        """An object-service client with the upload credentials ``createArtifact`` handed out."""
        options = {"rootUrl": self.root_url, "credentials": dict(credentials)}
        return taskcluster.aio.Object(options, session=self.session)

    async def reclaim(self) -> Lease:
        claim = self.claim
        answer = await translate(
            "reclaimTask", self._queue().reclaimTask(claim.task_id, str(claim.run_id)), gone=RUN_OVER
        )
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
        await translate(f"report {resolution}", call, gone=RUN_OVER)

    async def create_artifact(self, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        task_id, run_id = self.claim.task_id, str(self.claim.run_id)
        call = self._queue().createArtifact(task_id, run_id, name, dict(body))
        return await translate(f"createArtifact {name}", call, gone=CREDENTIALS_LAPSED)

    async def finish_artifact(self, name: str, upload_id: str) -> None:
        task_id, run_id = self.claim.task_id, str(self.claim.run_id)
        call = self._queue().finishArtifact(task_id, run_id, name, {"uploadId": upload_id})
        await translate(f"finishArtifact {name}", call, gone=CREDENTIALS_LAPSED)


@asynccontextmanager
async def open_queue(root_url: str, credentials: Mapping[str, str] | None) -> AsyncIterator[QueuePort]:
    """The worker's port and its one HTTP session, closed on the way out."""
    connector = aiohttp.TCPConnector(limit=64)
    async with taskcluster.aio.createSession(connector=connector, timeout=REQUEST_TIMEOUT) as session:
        yield QueuePort(session, root_url, credentials)
