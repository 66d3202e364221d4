"""What an executor is given and what it must do.

An executor is an async callable taking a ``TaskContext``. It returns to resolve the run ``completed`` or
raises a ``tcw.engine.outcome.TaskOutcome`` (``TaskFailed``, ``MalformedPayload``, ...) to resolve it
otherwise. The engine owns the claim: it keeps it alive, swaps credentials, uploads the task log, and sets
``cancelled`` when the run is over (reclaim answered 409, shutdown, maxRunTime); an executor must stop its
work promptly once ``cancelled`` is set. A purpose-specific worker is one such function:

    async def sign(ctx: TaskContext) -> None:
        ctx.log.info("signing %s", ctx.payload["file"])
        await ctx.artifacts.upload("public/signed.bin", ctx.work_dir / "signed.bin")
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


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
        """A file (or bytes) as an ``object`` artifact (``s3`` when the worker is configured so)."""

    async def link(self, name: str, target: str, *, expires: str | None = None) -> None:
        """A ``link`` artifact pointing at another artifact of this task."""

    async def reference(
        self, name: str, url: str, *, content_type: str | None = None, expires: str | None = None
    ) -> None:
        """A ``reference`` artifact: a redirect to a URL."""

    async def error(self, name: str, reason: str, message: str, *, expires: str | None = None) -> None:
        """An ``error`` artifact (reason e.g. ``file-missing-on-worker``) standing in for a missing one."""


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

    @property
    def payload(self) -> Mapping[str, Any]:
        return self.task.get("payload", {})  # type: ignore[no-any-return]

    @property
    def upload_artifact(self) -> Callable[..., Awaitable[None]]:
        """Shorthand for ``artifacts.upload``."""
        return self.artifacts.upload


Executor = Callable[[TaskContext], Awaitable[None]]
