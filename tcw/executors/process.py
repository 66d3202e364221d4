"""Running one command as a process tree of its own, and stopping all of it.

The command starts a new session, so its process group holds the whole tree (grandchildren included) and
one ``killpg`` reaches every member; signals meant for the worker's terminal (Ctrl-C) never reach the task
directly. Its stdout and stderr are the task log file itself, opened in append mode: output never passes
through the worker, whose memory stays flat however much the task prints.

Stopping is TERM to the group, a grace period for the tree to exit, then KILL to whatever is left; the
leader is always reaped. A tree also gets stopped when the leader exits on its own, so nothing a command
left running in the background outlives it. A process that left the group (``setsid``, ``setpgid``) is
out of ``killpg``'s reach: the run's ``TaskSandbox`` (its cgroup, or the worker as subreaper) ends it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tcw.executors.api import NO_SANDBOX, TaskSandbox

log = logging.getLogger(__name__)

DEFAULT_GRACE = 3.0  # seconds between TERM and KILL
DEFAULT_CANCEL_GRACE = 1.0  # the same when the run was cancelled (shorter than the engine's patience)
_POLL_INTERVAL = 0.05  # seconds between checks that a stopped group is gone
_KILL_SETTLE = 1.0  # seconds to let KILLed members disappear before giving up on watching them


class StartFailed(Exception):
    """The command could not be executed (missing, not executable, bad working directory)."""


class StopReason(StrEnum):
    """Why the worker, rather than the command itself, ended a process tree."""

    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ProcessExit:
    """How a process tree's leader ended: its exit code (negative: killed by that signal), and whether the
    worker stopped it."""

    returncode: int
    stopped_by: StopReason | None = None

    @property
    def signal(self) -> signal.Signals | None:
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode)
        except ValueError:
            return None

    def describe(self) -> str:
        if self.returncode >= 0:
            return f"exit code {self.returncode}"
        name = self.signal.name if self.signal else "unknown signal"
        return f"killed by signal {-self.returncode} ({name})"


class ProcessTree:
    """A started command: the leader process and the process group it leads."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pgid = process.pid  # a session leader's pid is its group id

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        output: Path,
        sandbox: TaskSandbox = NO_SANDBOX,
        pass_fds: tuple[int, ...] = (),
    ) -> ProcessTree:
        """Start ``argv`` in the run's ``sandbox``; raises ``StartFailed`` when it cannot be executed. An
        ``OSError`` about the log file is the worker's problem, not the command's, and propagates as it is."""
        # Never through a symlink: the log's directory is the worker's, but a same-user task could plant one.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(output, flags, 0o600)
        try:
            async with sandbox.starting() as preexec:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=fd,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=cwd,
                    env=dict(env),
                    start_new_session=True,
                    preexec_fn=preexec,
                    pass_fds=pass_fds,
                )
        except OSError as error:
            raise StartFailed(str(error)) from error
        finally:
            os.close(fd)  # the child has its own copy
        return cls(process)

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - an outcome (StopReason.TIMEOUT), not an error
        cancelled: asyncio.Event | None = None,
    ) -> StopReason | None:
        """Wait until the leader exits (None), ``timeout`` seconds pass, or ``cancelled`` is set."""
        exited = asyncio.ensure_future(self._process.wait())
        waiters: set[asyncio.Future[Any]] = {exited}
        stop_requested = None
        if cancelled is not None:
            stop_requested = asyncio.ensure_future(cancelled.wait())
            waiters.add(stop_requested)
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if exited in done:
            return None
        if stop_requested is not None and stop_requested in done:
            return StopReason.CANCELLED
        return StopReason.TIMEOUT

    async def stop(self, grace: float = DEFAULT_GRACE) -> None:
        """TERM the group, wait up to ``grace`` seconds for every member to exit, KILL the rest, reap."""
        if self.group_alive():
            self.send(signal.SIGTERM)
            if not await self._wait_group_gone(grace):
                log.info("process group %d outlived its %.1f s grace: killing it", self.pgid, grace)
                self.send(signal.SIGKILL)
                await self._wait_group_gone(_KILL_SETTLE)
        await self._process.wait()

    def kill(self) -> None:
        """KILL the whole group at once, without waiting (the event loop's child watcher reaps the leader)."""
        self.send(signal.SIGKILL)

    def send(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass  # the group is already gone
        except PermissionError:
            log.warning("process group %d: not allowed to send %s", self.pgid, sig.name)

    def group_alive(self) -> bool:
        """Whether any member of the group is still running (zombies waiting to be reaped do not count)."""
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _has_running_member(self.pgid)

    async def _wait_group_gone(self, timeout: float) -> bool:  # noqa: ASYNC109 - its answer is whether in time
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.group_alive():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(_POLL_INTERVAL)
        return True


def _has_running_member(pgid: int) -> bool:
    """Whether a non-zombie process belongs to group ``pgid``, read from /proc where there is one.

    Orphaned members are reparented to init or a subreaper, which may never reap them; a zombie holds its
    group id but is already dead, and waiting for it would only waste the grace period.
    """
    if not os.path.isdir("/proc/self"):
        return True  # no /proc: trust killpg's answer
    with os.scandir("/proc") as entries:
        return any(_in_group_and_running(entry.name, pgid) for entry in entries if entry.name.isdigit())


def _in_group_and_running(pid: str, pgid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            stat = stat_file.read()
    except OSError:
        return False  # exited while we looked
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'
    fields = stat[stat.rfind(b")") + 2 :].split()
    return len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X")


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    output: Path,
    timeout: float | None = None,  # noqa: ASYNC109 - maxRunTime: an outcome the caller reports, not an error
    cancelled: asyncio.Event | None = None,
    grace: float = DEFAULT_GRACE,
    cancel_grace: float = DEFAULT_CANCEL_GRACE,
    sandbox: TaskSandbox = NO_SANDBOX,
    pass_fds: tuple[int, ...] = (),
) -> ProcessExit:
    """Run ``argv`` to its end, or stop its tree at ``timeout`` or when ``cancelled`` is set.

    Whatever happens, including this coroutine being cancelled, the tree is stopped and the leader
    reaped before it returns or raises. A cancelled run gets the shorter ``cancel_grace``: its claim is
    gone or the worker is stopping, and the engine will not wait long.
    """
    tree = await ProcessTree.start(argv, cwd=cwd, env=env, output=output, sandbox=sandbox, pass_fds=pass_fds)
    stopped_by: StopReason | None = None
    stop_grace = cancel_grace  # until the wait ends normally, an exception means we were cancelled
    try:
        stopped_by = await tree.wait(timeout, cancelled)
        stop_grace = cancel_grace if stopped_by is StopReason.CANCELLED else grace
    finally:
        try:
            await tree.stop(stop_grace)
            await sandbox.kill_all()
        except asyncio.CancelledError:  # cancelled again while stopping: no more grace
            tree.kill()
            raise
    returncode = tree.returncode
    if returncode is None:
        raise RuntimeError(f"process {tree.pgid} was stopped but not reaped")
    return ProcessExit(returncode, stopped_by)
