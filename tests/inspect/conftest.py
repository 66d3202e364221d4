"""The seeded pool shared by the inspect tests that talk to a queue (test_inspect_queue, test_html_report)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest
import slugid
import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.inspect_pool import Seeded, seed_mixed_pool
from tests.support.localqueue import TEST_SETTINGS


@pytest.fixture(scope="package")
def mixed_pool() -> Iterator[Seeded]:
    """Seeded once for the package (no test changes it); claims expire after 3 s (room for a busy
    machine): about 4 s of seeding."""
    queue = LocalQueue(replace(TEST_SETTINGS, claim_timeout=3, resolver_interval=0.1)).start()
    try:
        group = slugid.nice()
        asyncio.run(seed_mixed_pool(queue, group))
        statuses = taskcluster.Queue(queue.client_options()).listTaskGroup(group)["tasks"]
        yield Seeded(queue, group, frozenset(t["status"]["taskId"] for t in statuses))
    finally:
        queue.stop()
