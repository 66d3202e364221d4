"""A real TaskContext for executor tests: a temp work dir, a task log file, and a publisher that records.

The publisher is our own interface (the engine's object talks to the queue), so a recording stand-in is no
mock of anything external; processes, files and signals are all real. The ``make_run`` fixture
(tests/executors/conftest.py) makes them with `new_run` and closes their logs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcw.executors.api import TaskContext


@dataclass(frozen=True)
class Upload:
    data: bytes
    content_type: str | None
    expires: str | None


@dataclass
class RecordingPublisher:
    """Keeps a copy of every artifact it is given, by name."""

    uploads: dict[str, Upload] = field(default_factory=dict)
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    async def upload(
        self,
        name: str,
        source: Path | bytes,
        *,
        content_type: str | None = None,
        expires: str | None = None,
    ) -> None:
        data = source if isinstance(source, bytes) else await asyncio.to_thread(source.read_bytes)
        self.uploads[name] = Upload(data, content_type, expires)

    async def link(self, name: str, target: str, *, expires: str | None = None) -> None:
        self.links[name] = target

    async def reference(
        self, name: str, url: str, *, content_type: str | None = None, expires: str | None = None
    ) -> None:
        self.links[name] = url

    async def error(self, name: str, reason: str, message: str, *, expires: str | None = None) -> None:
        self.errors[name] = (reason, message)


@dataclass
class Run:
    """One task run's context and what it left behind."""

    ctx: TaskContext
    publisher: RecordingPublisher

    @property
    def work_dir(self) -> Path:
        return self.ctx.work_dir

    def log_lines(self) -> list[str]:
        return self.ctx.log_path.read_text(errors="replace").splitlines()


MakeRun = Callable[..., Run]


def task_logger(name: str, log_path: Path) -> logging.Logger:
    """A task log like the engine's: one file, UTC stamps, not propagated to the test's logging."""
    handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
    formatter = logging.Formatter("[tcw %(asctime)s] %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def close_logger(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        handler.close()
    logger.handlers = []


def new_run(directory: Path, number: int, payload: Mapping[str, Any], **task: Any) -> Run:
    """Run number ``number`` of a task with this payload (other keywords: task definition fields), its work
    dir and log under ``directory``."""
    work_dir = directory / f"work{number}"
    work_dir.mkdir()
    log_path = directory / f"live_backing{number}.log"
    publisher = RecordingPublisher()
    ctx = TaskContext(
        task_id="task-id-00000000000001",
        run_id=2,
        task={"taskGroupId": "group-id-0000000000001", "payload": payload, **task},
        work_dir=work_dir,
        log=task_logger(f"tests.executors.task{number}", log_path),
        log_path=log_path,
        cancelled=asyncio.Event(),
        root_url="http://127.0.0.1:1",
        credentials=lambda: {"clientId": "task-client", "accessToken": "task-token"},
        artifacts=publisher,
    )
    return Run(ctx, publisher)
