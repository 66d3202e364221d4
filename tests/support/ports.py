"""Ports for tests that choose one now and serve (or find nothing) on it later.

A port taken with ``bind(0)`` and let go is free only until some other server binding port 0 is given it,
and with three pytest workers starting local queues, one was (a demo's queue, served again seconds later,
found its port taken and its paste commands talked to another test's queue). Ports below the kernel's
ephemeral range are never handed out for port 0, so one chosen there and found free stays free unless a
test names it itself.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10000


def unused_port() -> int:
    """A port nothing listens on, below the ephemeral range (module docstring)."""
    below = _ephemeral_start()
    for port in random.sample(range(LOWEST, below), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {LOWEST} and {below}")


def _ephemeral_start() -> int:
    try:
        start = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default start; elsewhere a guess that is at least not port 0's usual range
    return start if start > LOWEST + 1000 else 32768
