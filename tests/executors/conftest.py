"""A real TaskContext for executor tests: a temp work dir, a task log file, and a publisher that records.

The publisher is our own interface (the engine's object talks to the queue), so a recording stand-in is no
mock of anything external; processes, files and signals are all real.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tcw.executors.api import TaskContext

SCRIPTS = Path(__file__).parent / "scripts"
PYTHON = sys.executable
_names = itertools.count()


def script(name: str, *args: object) -> list[str]:
    """An argv running one of the helper scripts with this interpreter."""
    return [PYTHON, str(SCRIPTS / name), *map(str, args)]


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
        data = source if isinstance(source, bytes) else source.read_bytes()
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


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    loggers: list[logging.Logger] = []

    def make(payload: Mapping[str, Any], **task: Any) -> Run:
        number = next(_names)
        work_dir = tmp_path / f"work{number}"
        work_dir.mkdir()
        log_path = tmp_path / f"live_backing{number}.log"
        handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
        formatter = logging.Formatter("[tcw %(asctime)s] %(message)s", "%Y-%m-%dT%H:%M:%SZ")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        logger = logging.getLogger(f"tests.executors.task{number}")
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        loggers.append(logger)
        publisher = RecordingPublisher()
        definition = {"taskGroupId": "group-id-0000000000001", "payload": payload, **task}
        ctx = TaskContext(
            task_id="task-id-00000000000001",
            run_id=2,
            task=definition,
            work_dir=work_dir,
            log=logger,
            log_path=log_path,
            cancelled=asyncio.Event(),
            root_url="http://127.0.0.1:1",
            credentials=lambda: {"clientId": "task-client", "accessToken": "task-token"},
            artifacts=publisher,
        )
        return Run(ctx, publisher)

    yield make
    for logger in loggers:
        for handler in logger.handlers:
            handler.close()
        logger.handlers = []


def process_state(pid: int) -> str | None:
    """The /proc state letter of ``pid`` (R, S, Z...), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rfind(")") + 2 :].split()[0]


def is_running(pid: int) -> bool:
    return process_state(pid) not in (None, "Z", "X")


def our_zombies() -> list[int]:
    """Children of this test process that exited but were never reaped."""
    zombies = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            zombies.append(int(entry))
    return zombies


async def wait_for_pids(path: Path, count: int, timeout: float = 10.0) -> list[int]:
    """The pids the helper scripts wrote to ``path``, once ``count`` of them are there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if path.exists():
            pids = [int(line) for line in path.read_text().split()]
            if len(pids) >= count:
                return pids
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} did not get {count} pids in {timeout} s")
