"""One local deployment for the web view's tests, seeded through the official client as workers leave
tasks: a completed run with a public log and a private artifact, a failed run, a hostile task whose every
field is markup, a running run with a live log, and a quarantined worker.

It serves with ``public_read`` (the anonymous role holds a public deployment's read scopes), as
`tcw queue serve --public-read` does; tests that narrow the role restore it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests
import slugid
import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import TEST_SETTINGS, from_now
from tests.support.tasks import task_definition

TASK_QUEUE = "ui-test/web"
SECRET = "TOP-SECRET-CONTENT-0f3a"
LOG_TEXT = "step 1 done\n<script>alert('log')</script>\nall done\n"
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Site:
    queue: LocalQueue
    group_id: str
    completed: str  # taskId: run 0 completed by ui/w1, public log, private artifact
    failed: str  # run 0 failed on ui/w1
    hostile: str  # metadata and payload are markup; run 0 completed on ui/w2 with a hostile log
    running: str  # run 0 running on ui/w3, with a live log reference

    @property
    def url(self) -> str:
        return self.queue.root_url

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET as a browser would: no credentials."""
        return requests.get(self.url + path, timeout=30, **kwargs)


class FakeWorker:
    """A worker played with the official client: claim one task, upload, resolve."""

    def __init__(self, queue: LocalQueue, worker_id: str) -> None:
        self.root = queue.root_url
        self.queue = taskcluster.Queue(queue.client_options())
        self.worker_id = worker_id

    def claim(self) -> tuple[str, Any]:
        claims = self.queue.claimWork(
            TASK_QUEUE, {"workerGroup": "ui", "workerId": self.worker_id, "tasks": 1}
        )
        (claim,) = claims["tasks"]
        task_queue = taskcluster.Queue({"rootUrl": self.root, "credentials": claim["credentials"]})
        return claim["status"]["taskId"], task_queue

    @staticmethod
    def upload(task_queue: Any, task_id: str, name: str, data: str) -> None:
        put = task_queue.createArtifact(
            task_id, 0, name, {"storageType": "s3", "contentType": "text/plain", "expires": from_now(days=1)}
        )
        answer = requests.put(
            put["putUrl"], data=data.encode(), headers={"Content-Type": "text/plain"}, timeout=30
        )
        answer.raise_for_status()


def create(queue: LocalQueue, group_id: str, name: str, **fields: Any) -> str:
    task_id: str = slugid.nice()
    definition = task_definition(TASK_QUEUE, name=name, taskGroupId=group_id, **fields)
    taskcluster.Queue(queue.client_options()).createTask(task_id, definition)
    return task_id


def seed(queue: LocalQueue) -> Site:
    group_id = slugid.nice()
    w1, w2, w3 = (FakeWorker(queue, name) for name in ("w1", "w2", "w3"))

    completed = create(queue, group_id, "builds the thing")
    task_id, task_queue = w1.claim()
    w1.upload(task_queue, task_id, "public/logs/live_backing.log", LOG_TEXT)
    w1.upload(task_queue, task_id, "private/secret.txt", SECRET)
    task_queue.reportCompleted(task_id, 0)

    failed = create(queue, group_id, "tests the thing")
    task_id, task_queue = w1.claim()
    task_queue.reportFailed(task_id, 0)

    hostile = create(
        queue,
        group_id,
        HOSTILE,
        payload={"command": ["</pre><script>alert('payload')</script>"]},
    )
    definition = taskcluster.Queue(queue.client_options()).task(hostile)
    assert definition["metadata"]["name"] == HOSTILE
    task_id, task_queue = w2.claim()
    w2.upload(task_queue, task_id, "public/logs/live_backing.log", HOSTILE)
    task_queue.reportCompleted(task_id, 0)

    running = create(queue, group_id, "runs for a while")
    task_id, task_queue = w3.claim()
    task_queue.createArtifact(
        task_id,
        0,
        "public/logs/live.log",
        {
            "storageType": "reference",
            "url": "http://127.0.0.1:9/log/not-served",
            "contentType": "text/plain",
            "expires": from_now(days=1),
        },
    )
    admin = taskcluster.Queue(queue.client_options())
    admin.quarantineWorker(
        "ui-test",
        "web",
        "ui",
        "w2",
        {"quarantineUntil": from_now(days=1), "quarantineInfo": "too many failures"},
    )
    return Site(queue, group_id, completed, failed, hostile, running)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    settings = replace(TEST_SETTINGS, public_read=True)
    with LocalQueue(settings) as queue:
        yield seed(queue)
