"""Keeping every process of a run inside the run: cgroups, the subreaper, the task user, parent death.

A process that calls ``setsid`` or ``setpgid`` leaves its task's process group, so ``killpg`` misses it.
Two ways to still end it, chosen once per worker (``worker.containment``):

- ``cgroup`` (Linux with a writable cgroup v2 hierarchy, found through /proc/self/mountinfo): every run
  gets its own cgroup below ``tcw-<worker pid>-<n>`` in the worker's, its processes are in it from their
  first instruction, and the run ends with ``cgroup.kill``, which reaches every member however it forked.
  A guard process forked at start holds a pipe to the worker; when the worker dies, even by SIGKILL, the
  pipe closes and the guard kills every run's cgroup. A child inherits the cgroup of the process forking
  it, so the worker steps into the run's cgroup for the fork and straight back out (spawns are serialised
  for that): a ``preexec_fn`` writing to ``cgroup.procs`` would do it too, but a ``preexec_fn`` turns
  ``vfork`` into ``fork``, ten times slower for a worker-sized process. With a task user the child must
  run code before ``exec`` anyway, and joins the cgroup itself.
- ``subreaper`` (elsewhere on Linux): the worker is a child subreaper, so an orphaned task process becomes
  the worker's child instead of init's, and at the end of each run the worker kills (and reaps) every
  such process that left its task's session. It cannot tell whose an orphan was: at capacity > 1 an
  orphan of a task still running dies at the end of another run.

With ``worker.task_user`` every task process runs as that user (supplementary groups, group and user set
in the child, as root). Where the child runs code before ``exec`` (a task user, the subreaper) it also gets
``PR_SET_PDEATHSIG`` (SIGKILL when the worker dies); in cgroup mode the guard does that job.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import itertools
import logging
import os
import pwd
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tcw.config import WorkerSettings
from tcw.engine.workroot import Owner
from tcw.errors import UsageError
from tcw.executors.api import TaskSandbox

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_workers = itertools.count()  # several workers may share a process (tests, an embedding program)
_KILL_WAIT = 5.0  # seconds to wait for KILLed processes to be gone
_POLL = 0.02


class Mechanism(StrEnum):
    CGROUP = "cgroup"
    SUBREAPER = "subreaper"
    PROCESS_GROUP = "process-group"  # not Linux: only the task's process group is killed


@dataclass(frozen=True)
class TaskUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @property
    def owner(self) -> Owner:
        return Owner(self.uid, self.gid)

    @classmethod
    def lookup(cls, name: str) -> TaskUser:
        try:
            entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        except (KeyError, OverflowError) as error:
            raise UsageError(f"worker.task_user: no such user {name!r}") from error
        if entry.pw_uid == 0:
            raise UsageError("worker.task_user: must not be root (uid 0)")
        groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def cgroup2_mount() -> tuple[Path, frozenset[str]] | None:
    """This process's own cgroup v2 directory and the hierarchy's mount options, or None without a cgroup
    v2 mount (never assumes where)."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
        own = Path("/proc/self/cgroup").read_text()
    except OSError:
        return None
    return parse_cgroup2_mount(mountinfo, own)


def parse_cgroup2_mount(mountinfo: str, own: str) -> tuple[Path, frozenset[str]] | None:
    path = next((line[3:] for line in own.splitlines() if line.startswith("0::")), None)
    if path is None:
        return None
    for line in mountinfo.splitlines():
        fields, _, rest = line.partition(" - ")
        fs_type, _, source_and_options = rest.partition(" ")
        if fs_type != "cgroup2":
            continue
        parts = fields.split()
        root, mount_point = parts[3], parts[4]
        if path == root or path.startswith(root.rstrip("/") + "/"):
            relative = path[len(root.rstrip("/")) :].lstrip("/")
            options = source_and_options.partition(" ")[2].split(",")
            return Path(mount_point) / relative, frozenset(options)
    return None


# The cgroup files are read and written with bare os calls: once per run each, where a text file object
# costs more than the system call.


def _kill_cgroup(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory / "cgroup.kill", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"1")
        finally:
            os.close(fd)


def _cgroup_empty(directory: Path) -> bool:
    """No process left in the cgroup or any below it."""
    try:
        fd = os.open(directory / "cgroup.events", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return b"populated 0" in os.read(fd, 4096)
        finally:
            os.close(fd)
    except OSError:
        return True


def _remove_cgroup(directory: Path) -> None:
    """Remove a (killed) cgroup and those below it, deepest first; what is still busy stays. Plain os
    calls only: the guard runs this in a forked child."""
    with contextlib.suppress(OSError):
        os.rmdir(directory)
        return  # no cgroup below it: the common case, without a walk
    for parent, children, _ in os.walk(directory, topdown=False):
        for child in children:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(parent, child))
    with contextlib.suppress(OSError):
        os.rmdir(directory)


class WorkerSandbox:
    """The worker's half: the containment chosen, the cgroup parent and its guard, the task user."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.task_user = TaskUser.lookup(settings.task_user) if settings.task_user else None
        _check_user(self.task_user, settings.allow_root_tasks)
        self._cgroups: Path | None = None
        self._home: int | None = None  # the worker's own cgroup.procs, to step back out after a fork
        self._spawning: asyncio.Lock | None = None
        self._guard: tuple[int, int] | None = None  # (pid, write end of its pipe)
        self._leaders_read, self._leaders_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._leaders: set[int] = set()
        self._runs = 0
        self._mount_options: frozenset[str] = frozenset()
        self.containment = self._choose(settings.containment)

    def _choose(self, wanted: str) -> Mechanism:
        if not sys.platform.startswith("linux"):
            return Mechanism.PROCESS_GROUP
        if wanted in ("auto", "cgroup"):
            problem = self._set_up_cgroups()
            if problem is None:
                return Mechanism.CGROUP
            if wanted == "cgroup":
                raise UsageError(f"worker.containment cgroup: {problem}")
            log.info("no cgroup for tasks (%s): using the subreaper", problem)
        if _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            log.warning("cannot become a child subreaper (errno %d)", ctypes.get_errno())
            return Mechanism.PROCESS_GROUP
        return Mechanism.SUBREAPER

    def _set_up_cgroups(self) -> str | None:
        """Make ``tcw-<pid>-<n>`` in the worker's cgroup and fork its guard; the reason when it cannot."""
        mount = cgroup2_mount()
        if mount is None:
            return "no cgroup v2 hierarchy mounted"
        base, self._mount_options = mount
        directory = base / f"tcw-{os.getpid()}-{next(_workers)}"
        try:
            directory.mkdir(exist_ok=True)
            probe = directory / "probe"
            probe.mkdir(exist_ok=True)
            usable = (probe / "cgroup.kill").exists() and os.access(probe / "cgroup.procs", os.W_OK)
            self._home = _can_step_in_and_out(probe, base) if usable else None
            probe.rmdir()
        except OSError as error:
            _remove_cgroup(directory)
            return f"cannot create cgroups in {base} ({error.strerror or error})"
        if not usable:
            _remove_cgroup(directory)
            return f"cgroups in {base} have no writable cgroup.procs and cgroup.kill"
        self._cgroups = directory
        self._guard = _fork_guard(directory)
        return None

    @contextlib.asynccontextmanager
    async def inside(self, procs: int) -> AsyncIterator[None]:
        """The worker in the cgroup behind ``procs`` for the duration of one fork, then home again."""
        if self._spawning is None:
            self._spawning = asyncio.Lock()
        async with self._spawning:
            os.write(procs, b"0")
            try:
                yield
            finally:
                _step_home(self._home)

    def describe(self) -> str:
        where = f" under {self._cgroups}" if self._cgroups else ""
        user = (
            f", tasks run as {self.task_user.name}" if self.task_user else ", tasks run as the worker's user"
        )
        return f"task processes contained by {self.containment}{where}{user}{self._migration_hint()}"

    def _migration_hint(self) -> str:
        """Moving a process between cgroups waits for an RCU grace period unless the hierarchy is mounted
        with favordynmods (Linux >= 6.0): milliseconds per task start on a busy host, measured here."""
        if self._home is None or "favordynmods" in self._mount_options:
            return ""
        return (
            "; cgroup2 is mounted without favordynmods, so each task start may wait milliseconds for the "
            "kernel (mount -o remount,favordynmods on a worker host; README: What protects what)"
        )

    def for_run(self, name: str) -> RunSandbox:
        self._runs += 1
        cgroup = None
        if self._cgroups is not None:
            cgroup = self._cgroups / f"{name}-{self._runs}"
            cgroup.mkdir()
        return RunSandbox(self, cgroup)

    def close(self) -> None:
        """After the last run: end the guard (which removes the cgroups) and wait for it."""
        if self._guard is not None:
            pid, pipe = self._guard
            self._guard = None
            os.close(pipe)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        for fd in (self._leaders_read, self._leaders_write, self._home):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.containment is Mechanism.SUBREAPER:  # the process may go on without a worker in it
            _libc().prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

    # -- the subreaper's bookkeeping ---------------------------------------------------------------

    def _known_leaders(self) -> set[int]:
        """Pids of the task processes the worker started (each wrote its pid to the pipe at birth)."""
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self._leaders_read, 4096):
                self._leaders.update(int(pid) for pid in chunk.split())
        self._leaders = {pid for pid in self._leaders if _parent_of(pid) == os.getpid()}
        return self._leaders

    def inherited(self) -> list[int]:
        """Children of the worker it did not start: orphans of task processes that left their session."""
        worker, session, guard = os.getpid(), os.getsid(0), self._guard[0] if self._guard else None
        leaders = self._known_leaders()
        found = []
        for pid in _pids():
            if pid in leaders or pid == guard or _parent_of(pid) != worker:
                continue
            with contextlib.suppress(OSError):
                if os.getsid(pid) != session and os.getsid(pid) not in leaders:
                    found.append(pid)
        return found


class RunSandbox(TaskSandbox):
    """One run's half: its cgroup (if any) and the child set-up of its processes."""

    def __init__(self, worker: WorkerSandbox, cgroup: Path | None) -> None:
        self.worker = worker
        self.cgroup = cgroup
        # Opened once, by the worker: the child joins the cgroup through it before it is the task user.
        self._procs = os.open(cgroup / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) if cgroup else None

    @contextlib.asynccontextmanager
    async def starting(self) -> AsyncIterator[Callable[[], None] | None]:
        setup = self._child_setup()
        if setup is None and self._procs is not None:
            async with self.worker.inside(self._procs):
                yield None
        else:
            yield setup

    def _child_setup(self) -> Callable[[], None] | None:
        """The ``preexec_fn``, when the child has something to do before ``exec`` (module docstring)."""
        worker = self.worker
        user = worker.task_user
        subreaper = worker.containment is Mechanism.SUBREAPER
        if user is None and not subreaper and (self._procs is None or worker._home is not None):
            return None
        procs = self._procs
        leaders = worker._leaders_write if subreaper else None
        parent = os.getpid()
        libc = _libc() if sys.platform.startswith("linux") else None

        def in_child() -> None:  # after fork, before exec: os calls only
            if procs is not None:
                os.write(procs, b"0")
            if leaders is not None:
                with contextlib.suppress(OSError):  # a full pipe: this one is then taken for an orphan
                    os.write(leaders, f"{os.getpid()}\n".encode())
            if user is not None:
                os.setgroups(list(user.groups))
                os.setgid(user.gid)
                os.setuid(user.uid)
            if libc is not None:  # after the user change, which would clear it
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                if os.getppid() != parent:  # the worker died before the signal was armed
                    os._exit(137)

        return in_child

    async def kill_all(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _KILL_WAIT
        if self.cgroup is not None:
            _kill_cgroup(self.cgroup)
            while not _cgroup_empty(self.cgroup) and loop.time() < deadline:  # noqa: ASYNC110  (no event to await)
                await asyncio.sleep(_POLL)
            return
        if self.worker.containment is not Mechanism.SUBREAPER:
            return
        orphans = self.worker.inherited()
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        while orphans and loop.time() < deadline:
            orphans = [pid for pid in orphans if not _reaped(pid)]
            if orphans:
                await asyncio.sleep(_POLL)

    async def close(self) -> None:
        """The run is over: nothing of it survives, and its cgroup goes."""
        await self.kill_all()
        if self._procs is not None:
            os.close(self._procs)
            self._procs = None
        if self.cgroup is not None:
            _remove_cgroup(self.cgroup)


def _can_step_in_and_out(probe: Path, home: Path) -> int | None:
    """The worker's own ``cgroup.procs`` opened, if it can move into ``probe`` and back; else None (the
    children then join their cgroup themselves, at the price of a ``fork``)."""
    fd = os.open(home / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
    try:
        (probe / "cgroup.procs").write_text("0")
    except OSError:
        os.close(fd)
        return None
    _step_home(fd)
    return fd


def _step_home(home: int | None) -> None:
    """Back to the worker's own cgroup; staying in a run's would get the worker killed with it."""
    if home is None:
        return
    try:
        os.write(home, b"0")
    except OSError as error:
        log.critical("cannot move the worker back to its own cgroup: %s", error)
        os._exit(70)  # better than killing itself with the run's cgroup, half-way through reports


def _check_user(task_user: TaskUser | None, allow_root: bool) -> None:
    if task_user is not None and os.geteuid() != 0:
        raise UsageError(f"worker.task_user {task_user.name}: the worker must run as root to switch users")
    if task_user is None and os.geteuid() == 0 and not allow_root:
        raise UsageError(
            "refusing to run tasks as root: set worker.task_user to the user tasks run as (the production "
            "setting), or worker.allow_root_tasks to run them as root anyway"
        )


def _pids() -> Iterator[int]:
    with os.scandir("/proc") as entries:
        for entry in entries:
            if entry.name.isdigit():
                yield int(entry.name)


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2 :].split()[1])


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


def _fork_guard(cgroups: Path) -> tuple[int, int]:
    """A child that outlives a SIGKILLed worker just long enough to kill its tasks' cgroups.

    It forks without exec (no interpreter start per worker) and then only waits on a pipe whose other end
    the worker holds: the kernel closes that end however the worker ends.
    """
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the guard: no Python machinery beyond os calls
        try:
            os.setsid()  # out of the terminal's signals, which must not take the guard before the worker
            os.closerange(0, read_end)
            os.closerange(read_end + 1, 1 << 16)
            while os.read(read_end, 1):
                pass
            _kill_cgroup(cgroups)
            for _ in range(int(_KILL_WAIT / _POLL)):
                if _cgroup_empty(cgroups):
                    break
                time.sleep(_POLL)
            _remove_cgroup(cgroups)
        finally:
            os._exit(0)
    os.close(read_end)
    return pid, write_end
