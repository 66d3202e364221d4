"""``make_run``: a real TaskContext per call (tests/support/task_runs.py), its log closed at teardown."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.task_runs import MakeRun, Run, close_logger, new_run

_numbers = itertools.count()


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    made: list[Run] = []

    def make(payload: Mapping[str, Any], **task: Any) -> Run:
        run = new_run(tmp_path, next(_numbers), payload, **task)
        made.append(run)
        return run

    yield make
    for run in made:
        close_logger(run.ctx.log)
