"""Helpers for the attacks on the worker: another local user, processes that escape, traps in files.

Creating users needs root (CI runs the suite as root); tests that need one skip with the reason otherwise.
Every user made here has a name unique to this test session (helpers' suites may run side by side) and is
removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

MakeUser = Callable[[str], pwd.struct_passwd]


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create another user (the suite runs as root in CI)")


@pytest.fixture(scope="session")
def make_user() -> Iterator[MakeUser]:
    """``make_user("evil")`` -> a real local user (no home, no login), removed after the session."""
    made: list[str] = []

    def make(role: str) -> pwd.struct_passwd:
        needs_root()
        name = f"tcw{role[:8]}{os.getpid()}"
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        made.append(name)
        return pwd.getpwnam(name)

    yield make
    for name in made:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def as_user(user: pwd.struct_passwd, command: str) -> None:
    """Run a shell command as ``user`` (the other local user of the attacks)."""
    subprocess.run(
        [
            "setpriv",
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--clear-groups",
            "sh",
            "-c",
            command,
        ],
        check=True,
    )


def artifact(client: Any, task_id: str, name: str, run_id: int = 0) -> requests.Response:
    return requests.get(client.buildSignedUrl("getArtifact", task_id, str(run_id), name), timeout=10)


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


MakeHostDir = Callable[[int], Path]


@pytest.fixture
def host_dir() -> Iterator[MakeHostDir]:
    """``host_dir(0o1777)``: a fresh directory under /tmp with that mode. pytest's tmp_path is 0700, so
    other users could not reach anything in it; here only the modes under test protect."""
    made: list[Path] = []

    def make(mode: int) -> Path:
        path = Path(tempfile.mkdtemp(prefix="tcw-host-", dir="/tmp"))
        path.chmod(mode)
        made.append(path)
        return path

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pid_file(tmp_path: Path) -> Iterator[Path]:
    """Where an escaping writer writes its pid; whatever is still running at teardown is killed."""
    path = tmp_path / "writer.pid"
    yield path
    if path.exists():
        for line in path.read_text().split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line), signal.SIGKILL)


def escaping_writer(pid_file: Path, out: Path) -> str:
    """A shell command whose grandchild leaves the task's session (setsid), double-forked so that its
    parent is gone, and writes to ``out`` every 100 ms."""
    loop = f"echo $$ > {pid_file}; while :; do date +%s%N >> {out}; sleep 0.1; done"
    return f"(setsid sh -c '{loop}' > /dev/null 2>&1 &); while [ ! -s {pid_file} ]; do sleep 0.02; done"
