"""A fresh in-memory local queue (``tcw.localqueue``) served from a child process, so that its CPU work
neither shares the benchmark's interpreter nor hides from a CPU meter (its PID is known)."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ServedQueue:
    options: dict[str, Any]  # rootUrl and the root client's credentials
    pid: int


def _serve(conn: Connection, settings: dict[str, Any]) -> None:
    sys.path.insert(0, str(REPO))
    from tcw.config import LocalQueueSettings
    from tcw.localqueue.server import LocalQueue

    queue = LocalQueue(LocalQueueSettings(port=0, db=":memory:", **settings))
    queue.serve_forever(on_ready=lambda served: conn.send(served.client_options()))


@contextmanager
def queue_process(**settings: Any) -> Iterator[ServedQueue]:
    """Serves until the block ends; ``settings`` are ``LocalQueueSettings`` fields (claim_work_wait, ...)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, settings), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the local queue did not start")
        assert process.pid is not None
        yield ServedQueue(parent.recv(), process.pid)
    finally:
        process.terminate()
        process.join(10)
