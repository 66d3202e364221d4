"""Real processes, read from /proc: whether one still runs, and the children nobody reaped; and the helper
scripts in tests/executors/scripts, run with this interpreter."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "executors" / "scripts"
PYTHON = sys.executable


def script(name: str, *args: object) -> list[str]:
    """An argv running one of the helper scripts with this interpreter."""
    return [PYTHON, str(SCRIPTS / name), *map(str, args)]


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


async def exited(pid: int) -> None:
    """Return once ``pid`` has ended (a zombie has ended): its pidfd turns readable then, so there is no
    polling and no delay. Any process can be watched, not only our children."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(pidfd, on_readable)
    try:
        await ended
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
