"""The executor contract: everything a handler (an executor) sees and may raise. Public plugin API.

An executor is an async callable taking a ``TaskContext``. It returns to resolve the run ``completed`` or
raises one of the ``TaskOutcome`` exceptions below (``TaskFailed``, ``MalformedPayload``, ...) to resolve it
otherwise; each carries its resolution, so the engine never guesses. Anything else raised is a bug and
resolves ``exception/internal-error``. The engine owns the claim: it keeps it alive, swaps credentials,
uploads the task log, and sets ``cancelled`` when the run is over (reclaim answered 409, shutdown,
maxRunTime); an executor must stop its work promptly once ``cancelled`` is set. docs/plugin-api.md says
what a handler may rely on and what it must not do. A purpose-specific worker is one such function:

    async def sign(ctx: TaskContext) -> None:
        ctx.log.info("signing %s", ctx.payload["file"])
        await ctx.artifacts.upload("public/signed.bin", ctx.work_dir / "signed.bin")

The engine depends on this module and never on a concrete executor; executors depend on this module and
never on the engine. Keep it small: every name here is a promise to plugin authors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from tcw.errors import TcwError

LOG_NAME = "public/logs/live_backing.log"
"""The task log artifact the engine uploads at the end of every run; executors must not create it."""
LIVE_LOG_NAME = "public/logs/live.log"
"""The name Taskcluster's UI opens: while the run runs, a reference to the worker's live log (when it serves
live logs), then a link to ``LOG_NAME``; reserved like it."""
RESERVED_ARTIFACT_NAMES = frozenset({LOG_NAME, LIVE_LOG_NAME})


class Reason(StrEnum):
    """The ``reportException`` reasons a worker may send (the queue rejects all others)."""

    WORKER_SHUTDOWN = "worker-shutdown"
    MALFORMED_PAYLOAD = "malformed-payload"
    RESOURCE_UNAVAILABLE = "resource-unavailable"
    INTERNAL_ERROR = "internal-error"
    INTERMITTENT_TASK = "intermittent-task"


class State(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    EXCEPTION = "exception"


@dataclass(frozen=True)
class Resolution:
    """What the engine reports for a run: a state, and a reason when the state is ``exception``."""

    state: State
    reason: Reason | None = None

    def __str__(self) -> str:
        return f"{self.state}/{self.reason}" if self.reason else str(self.state)


COMPLETED = Resolution(State.COMPLETED)
FAILED = Resolution(State.FAILED)


class TaskOutcome(TcwError):
    """Raised by an executor to end a run with a given resolution; the message goes to the task log."""

    resolution: Resolution = Resolution(State.EXCEPTION, Reason.INTERNAL_ERROR)


class TaskFailed(TaskOutcome):
    """The task's own code ran and failed (non-zero exit, maxRunTime exceeded, missing artifact)."""

    resolution = FAILED


class MalformedPayload(TaskOutcome):
    """The payload cannot be run by this worker; another run would fail the same way."""

    resolution = Resolution(State.EXCEPTION, Reason.MALFORMED_PAYLOAD)


class ResourceUnavailable(TaskOutcome):
    """Something the task needs exists but could not be reached after retries."""

    resolution = Resolution(State.EXCEPTION, Reason.RESOURCE_UNAVAILABLE)


class IntermittentTask(TaskOutcome):
    """The task asked to be retried (e.g. an exit code listed in ``onExitStatus.retry``)."""

    resolution = Resolution(State.EXCEPTION, Reason.INTERMITTENT_TASK)


class InternalError(TaskOutcome):
    """The worker itself is broken for this task."""

    resolution = Resolution(State.EXCEPTION, Reason.INTERNAL_ERROR)


class WorkerShutdown(BaseException):
    """The worker is stopping: the run is reported ``exception/worker-shutdown`` so the queue retries it.

    A ``BaseException`` so that a handler's ``except Exception`` cannot swallow it.
    """

    resolution = Resolution(State.EXCEPTION, Reason.WORKER_SHUTDOWN)


class ArtifactPublisher(Protocol):
    """Creates this run's artifacts with the run's current credentials.

    ``expires`` defaults to the task's. Transient failures are retried; one that still fails raises
    ``ResourceUnavailable``, so an artifact is never silently missing.
    """

    async def upload(
        self,
        name: str,
        source: Path | bytes,
        *,
        content_type: str | None = None,
        expires: str | None = None,
    ) -> None:
        """A file (or bytes) as an ``s3`` artifact (``object`` when the worker is configured so)."""

    async def link(self, name: str, target: str, *, expires: str | None = None) -> None:
        """A ``link`` artifact pointing at another artifact of this task."""

    async def reference(
        self, name: str, url: str, *, content_type: str | None = None, expires: str | None = None
    ) -> None:
        """A ``reference`` artifact: a redirect to a URL."""

    async def error(self, name: str, reason: str, message: str, *, expires: str | None = None) -> None:
        """An ``error`` artifact (reason e.g. ``file-missing-on-worker``) standing in for a missing one."""


class TaskSandbox(Protocol):
    """Where the run's processes are kept, so that none outlives the run or escapes the task's user.

    An executor starts each process of the run inside ``async with ctx.sandbox.starting() as preexec:``,
    passing ``preexec`` as the process's ``preexec_fn`` (None: pass none, or pass nothing): the process
    then is in the run's cgroup, runs as the task user, and dies with the worker. Once its own processes
    are stopped it calls ``kill_all()``, which ends whatever left their process group.
    """

    def starting(self) -> AbstractAsyncContextManager[Callable[[], None] | None]:
        """Around starting one process: yields the ``preexec_fn`` it must get (or None)."""

    async def kill_all(self) -> None:
        """KILL every process of the run still running (``setsid`` and ``setpgid`` included) and wait
        until they are gone."""


class _NoSandbox:
    """For contexts made outside the engine (tests, tools): processes are only what they are."""

    @contextlib.asynccontextmanager
    async def starting(self) -> AsyncIterator[Callable[[], None] | None]:
        yield None

    async def kill_all(self) -> None:
        return None


NO_SANDBOX: TaskSandbox = _NoSandbox()


class TaskclusterAccess(Protocol):
    """Taskcluster on the task's behalf: the run's temporary credentials restricted (``authorizedScopes``)
    to the task's ``scopes`` plus creating this run's artifacts, so a handler or its subprocesses cannot
    reclaim or resolve the run. After each reclaim the new credentials are used for every later call.
    """

    authorized_scopes: tuple[str, ...]
    proxy_by_default: bool
    """The worker's choice for shell tasks whose payload does not set ``features.taskclusterProxy``."""

    def client(self, service: str) -> Any:
        """The official sync client of ``service`` (``"secrets"`` -> ``taskcluster.Secrets``), signing as
        the task; run it in a thread from an ``async def`` handler."""

    def aio_client(self, service: str, session: Any = None) -> Any:
        """The official aio client of ``service``, signing as the task."""

    async def proxy_url(self) -> str:
        """This run's taskcluster-proxy (started on first use, stopped with the run), for processes the
        handler starts: give them ``TASKCLUSTER_PROXY_URL``."""

    def credentials_fd(self) -> int | None:
        """A file descriptor holding the claim's own credentials as JSON, rewritten after each reclaim,
        for scriptworker-style scripts (``TASKCLUSTER_CREDENTIALS_FD``); None unless the worker opted in."""


@dataclass(frozen=True)
class TaskContext:
    task_id: str
    run_id: int
    task: Mapping[str, Any]  # the full task definition
    work_dir: Path  # fresh for this run, removed afterwards unless kept for debugging
    log: logging.Logger  # lines go to the task log (public/logs/live_backing.log)
    log_path: Path  # the task log file itself, for executors that stream process output into it
    cancelled: asyncio.Event
    root_url: str
    credentials: Callable[[], Mapping[str, str]]  # the run's current temporary credentials
    artifacts: ArtifactPublisher
    sandbox: TaskSandbox = NO_SANDBOX  # where the run's processes go (cgroup, task user)
    taskcluster: TaskclusterAccess | None = None  # None only in contexts made without an engine

    @property
    def payload(self) -> Mapping[str, Any]:
        return self.task.get("payload", {})  # type: ignore[no-any-return]

    @property
    def upload_artifact(self) -> Callable[..., Awaitable[None]]:
        """Shorthand for ``artifacts.upload``."""
        return self.artifacts.upload


Executor = Callable[[TaskContext], Awaitable[None]]

PAYLOAD_SCHEMA_ATTRIBUTE = "payload_schema"
"""An executor may declare the payload schema its tasks must match by carrying this attribute: a named
schema (``shell``), a schema file or a URL. A queue with no registry entry is checked against it."""


def declared_payload_schema(executor: object) -> str | None:
    """The payload schema ``executor`` declares (``payload_schema = "shell"``), or None."""
    declared = getattr(executor, PAYLOAD_SCHEMA_ATTRIBUTE, None)
    return declared if isinstance(declared, str) and declared.strip() else None


def before_claim_hook(executor: Executor) -> Callable[[], Awaitable[None]] | None:
    """An executor's optional ``async before_claim()``: the engine awaits it before each claimWork poll,
    for work that must happen between tasks (the shell executor frees disk for its caches there). What it
    raises is logged and the poll goes ahead."""
    hook = getattr(executor, "before_claim", None)
    return hook if callable(hook) else None
