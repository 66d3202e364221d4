"""Helpers for the first-hour tests: a new user's commands, run for real against a local queue."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import taskcluster

from tcw import tasks

QUEUE_ID = "first-hour/shell"


def user_env(credentials: Mapping[str, str] | None, root_url: str | None = None) -> dict[str, str]:
    """What a user exports after `tcw queue serve`: no registry, no tcw settings."""
    env: dict[str, str] = {}
    if credentials:
        env["TASKCLUSTER_CLIENT_ID"] = credentials["clientId"]
        env["TASKCLUSTER_ACCESS_TOKEN"] = credentials["accessToken"]
    if root_url:
        env["TASKCLUSTER_ROOT_URL"] = root_url
    return env


def definition(payload: Mapping[str, Any], *, retries: int = 0, queue_id: str = QUEUE_ID) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "taskQueueId": queue_id,
        "retries": retries,
        "deadline": (now + timedelta(hours=1)).isoformat(),
        "payload": dict(payload),
    }


def new_task(queue: Any, payload: Mapping[str, Any], **options: Any) -> str:
    return tasks.create_task(queue, definition(payload, **options))


@pytest.fixture
def queue(local_queue: Any) -> Any:
    """The sync official client with the local queue's root credentials."""
    return taskcluster.Queue(local_queue.client_options())
