"""Fixtures for engine tests: the official client on the local queue, and worker configs pointing at it.
The helpers they build on are in tests/support (tasks.py, worker.py)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.worker import MakeConfig, make_worker_config


@pytest.fixture
def queue(local_queue: LocalQueue) -> Any:
    """The sync official client with the local queue's root credentials."""
    return taskcluster.Queue(local_queue.client_options())


@pytest.fixture
def worker_config(tmp_path: Path) -> MakeConfig:
    """``worker_config(local_queue, capacity=2, ...)``: `make_worker_config` with this test's tmp_path."""
    return functools.partial(make_worker_config, tmp_path)
