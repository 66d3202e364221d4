"""CPU seconds of server processes on this machine, each with its descendants (postgres backends, nginx
workers), and what ``start-upstream.sh`` records about the deployment it runs (its RUNNING.txt)."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of the process and of the children it has reaped)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        found[int(entry)] = (int(fields[1]), (utime + stime + cutime + cstime) / TICK)
    return found


def tree_cpu(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process together with its living descendants; a child that has
    exited counts in its parent's reaped-children time, so nothing is counted twice."""
    processes = _processes()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (parent, _) in processes.items():
        children[parent].append(pid)
    totals = {}
    for name, root in roots.items():
        total, stack = 0.0, [root]
        while stack:
            pid = stack.pop()
            if pid in processes:
                total += processes[pid][1]
                stack.extend(children[pid])
        totals[name] = total
    return totals


@dataclass
class CpuMeter:
    """CPU seconds the named process trees spend between ``start()`` and ``stop()``."""

    roots: dict[str, int]
    before: dict[str, float] = field(default_factory=dict, init=False)

    def start(self) -> None:
        self.before = tree_cpu(self.roots)

    def stop(self) -> dict[str, float]:
        after = tree_cpu(self.roots)
        return {name: after[name] - self.before[name] for name in after if name in self.before}


@dataclass(frozen=True)
class LocalDeployment:
    """The processes of a deployment running on this machine, and the access logs that count its requests."""

    pids: dict[str, int]
    logs: tuple[Path, ...]


def read_running(path: Path) -> LocalDeployment:
    """Parses start-upstream.sh's RUNNING.txt: the ``PIDs:`` list, the nginx access log (every call through
    the root URL, the services' calls to each other included) and moto's log (the S3 requests)."""
    text = path.read_text()
    pids = {name: int(pid) for name, pid in re.findall(r"^  (\S+) (\d+)\b", text.split("PIDs:", 1)[-1], re.M)}
    logs = []
    if found := re.search(r"^logs: (\S+)/<proc>\.log\s+nginx: (\S+)", text, re.M):
        logs = [Path(found.group(2)), Path(found.group(1)) / "moto.log"]
    return LocalDeployment(pids, tuple(log for log in logs if log.is_file()))
