"""The parsed task definitions a queue keeps are bounded by their size (issue 10, item 8): many large tasks
read back through the real API leave the cache within its byte budget, keeping the most recent ones."""

from __future__ import annotations

from typing import Any

import pytest
import taskcluster

from tcw.localqueue.storage import database
from tests.support.localqueue import MakeLocalQueue
from tests.support.tasks import task_definition

BUDGET = 1024 * 1024
PAYLOAD_BYTES = 128 * 1024


def test_many_large_tasks_keep_the_cache_within_its_byte_budget(
    make_local_queue: MakeLocalQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "DEFINITIONS_MAX_BYTES", BUDGET)
    local = make_local_queue()
    queue: Any = taskcluster.Queue(local.client_options())
    task_ids = [taskcluster.slugId() for _ in range(24)]  # 24 x 128 KiB, charged twice: six times the budget
    for number, task_id in enumerate(task_ids):
        queue.createTask(task_id, task_definition(payload={"blob": chr(65 + number % 26) * PAYLOAD_BYTES}))
        assert queue.task(task_id)["payload"]["blob"][0] == chr(65 + number % 26)
    cache = local.state.db.definitions
    assert cache.cached_bytes <= BUDGET
    assert 0 < len(cache) < len(task_ids)
    # the most recently read are the ones kept, and an evicted one reads back whole from the database
    assert queue.task(task_ids[0])["payload"]["blob"] == "A" * PAYLOAD_BYTES
    assert cache.cached_bytes <= BUDGET


def test_a_definition_larger_than_the_budget_is_parsed_but_not_kept() -> None:
    cache = database.DefinitionCache(max_bytes=100)
    text = '{"payload": "' + "x" * 200 + '"}'
    assert cache.parse("a", text)["payload"] == "x" * 200
    assert len(cache) == 0 and cache.cached_bytes == 0
    assert cache.parse("b", '{"small": 1}') == {"small": 1}
    assert cache.parse("b", '{"small": 2}') == {"small": 2}  # other text, fresh parse
    assert len(cache) == 1 and cache.cached_bytes == 2 * len('{"small": 2}')
