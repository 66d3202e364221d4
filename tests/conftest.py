"""The fixtures every package of tests uses; the helpers behind them are in tests/support, one module per
thing they hold (cli.py, localqueue.py, references.py)."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.browser import Browser, started_browser, why_no_browser
from tests.support.cli import KEPT_VARIABLES, RunCli, invoke_cli
from tests.support.localqueue import TEST_SETTINGS, MakeLocalQueue
from tests.support.references import DEFAULT_PATH, References, SchemaCheck, load_references, references_path
from tests.support.worker import MakeConfig, make_worker_config

# CI runs the suite as root, and a worker running as root refuses to run tasks as root unless told to:
# every worker the suite starts (in-process, `tcw` processes, CliRunner) is told so here, once.
# tests/worker_hardening run tasks as a real task user, and check the refusal itself.
os.environ.setdefault("TCW_WORKER_ALLOW_ROOT_TASKS", "true")


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """``run_cli(["tcw", "task", "status", ID], exit_code=0, input=None, env=None)``: `invoke_cli` with the
    developer's own Taskcluster/tcw environment kept out."""
    for name in list(os.environ):
        if name.startswith(("TASKCLUSTER_", "TCW_")) and name not in KEPT_VARIABLES:
            monkeypatch.delenv(name)
    return invoke_cli


@pytest.fixture
def quick_client_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The official client still retries a call that gets no answer its 5 times, but its pauses start at
    10 ms instead of 100 ms (about 0.3 s in all instead of 3 s) for tests of what follows the last one.
    It reads the factor at each pause, sync and aio alike."""
    import taskcluster.utils

    monkeypatch.setattr(taskcluster.utils, "DELAY_FACTOR", 0.01)


@pytest.fixture
def make_local_queue() -> Iterator[MakeLocalQueue]:
    """``make_local_queue(claim_timeout=2, db=str(tmp_path / "q.sqlite3"))`` -> a started LocalQueue, with
    TEST_SETTINGS for the rest; every queue it made stops at teardown."""
    started: list[LocalQueue] = []

    def make(**settings: Any) -> LocalQueue:
        queue = LocalQueue(replace(TEST_SETTINGS, **settings)).start()
        started.append(queue)
        return queue

    yield make
    for queue in reversed(started):
        queue.stop()


@pytest.fixture
def local_queue(make_local_queue: MakeLocalQueue) -> LocalQueue:
    """A fresh in-memory local queue for one test: ``.root_url``, ``.root_credentials``,
    ``.client_options(credentials=None)``, ``.add_client(client_id, scopes)``."""
    return make_local_queue()


@pytest.fixture
def queue_client(local_queue: LocalQueue) -> Any:
    """The official sync ``taskcluster.Queue`` client with the local queue's root credentials."""
    return taskcluster.Queue(local_queue.client_options())


@pytest.fixture(scope="session")
def references() -> References:
    path = references_path()
    if path is None:
        pytest.skip(
            f"no official Taskcluster references at {DEFAULT_PATH} and TCW_TASKCLUSTER_REFERENCES unset"
        )
    return load_references(path)


@pytest.fixture(scope="session")
def check_schema() -> SchemaCheck:
    """``check_schema("queue", "v1/task.json#", body)``: validate against the official schema when the
    references are present, and do nothing otherwise, so behaviour tests still run on a user's clone while
    CI (which always has ../shared) checks every shape."""
    path = references_path()

    def check(service: str, schema: str, instance: Any) -> None:
        if path is not None:
            load_references(path).validate(service, schema, instance)

    return check


@pytest.fixture
def queue(local_queue: LocalQueue) -> Any:
    """The sync official client with the local queue's root credentials."""
    return taskcluster.Queue(local_queue.client_options())


@pytest.fixture
def worker_config(tmp_path: Path) -> MakeConfig:
    """``worker_config(local_queue, capacity=2, ...)``: `make_worker_config` with this test's tmp_path."""
    return functools.partial(make_worker_config, tmp_path)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test process (starting one costs a second or two): ``browser.open(url)``
    returns the page's console errors; ``browser.screenshot(name)`` keeps a PNG as a test artifact.
    Skips, with the reason, where Chromium, chromedriver or selenium is missing."""
    reason = why_no_browser()
    if reason is not None:
        pytest.skip(reason)
    with started_browser() as session:
        yield session
