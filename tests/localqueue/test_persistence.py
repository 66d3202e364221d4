"""A queue on a database file keeps everything across a restart, and its own signing client too: task
credentials issued before the restart still reclaim after it."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import taskcluster

from tests.support.localqueue import MakeLocalQueue
from tests.support.tasks import task_definition

QUEUE_ID = "tcw-test/worker"


def test_restart_keeps_tasks_claims_workers_and_credentials(
    make_local_queue: MakeLocalQueue, tmp_path: Path
) -> None:
    db = str(tmp_path / "queue.sqlite3")
    first = make_local_queue(db=db)
    queue = taskcluster.Queue(first.client_options())
    task_id, waiting = taskcluster.slugId(), taskcluster.slugId()
    queue.createTask(task_id, task_definition(QUEUE_ID))
    queue.createTask(waiting, task_definition(QUEUE_ID, dependencies=[task_id]))
    claim = queue.claimWork(QUEUE_ID, {"workerGroup": "g", "workerId": "w", "tasks": 1})["tasks"][0]
    root = first.root_credentials
    first.stop()

    assert first.secrets is not None
    credentials_file = first.secrets.directory / "root-credentials.json"
    assert json.loads(credentials_file.read_text()) == root
    assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.secrets.directory.stat().st_mode) == 0o700
    assert sorted(path.name for path in tmp_path.iterdir()) == ["queue.sqlite3", "queue.sqlite3.blobs"]

    second = make_local_queue(db=db)
    assert second.root_credentials == root
    queue = taskcluster.Queue(second.client_options())
    assert queue.status(task_id)["status"]["runs"][0]["state"] == "running"
    assert queue.status(waiting)["status"]["state"] == "unscheduled"
    assert queue.getWorker("tcw-test", "worker", "g", "w")["recentTasks"] == [{"taskId": task_id, "runId": 0}]
    as_task: Any = taskcluster.Queue(second.client_options(claim["credentials"]))
    as_task.reclaimTask(task_id, "0")
    as_task.reportCompleted(task_id, "0")
    assert queue.status(waiting)["status"]["state"] == "pending"
    assert (tmp_path / "queue.sqlite3.blobs").is_dir()


def test_database_is_migrated_once_and_uses_wal(tmp_path: Path) -> None:
    from tcw.localqueue.storage import schema

    path = str(tmp_path / "q.sqlite3")
    for _ in range(2):
        db = schema.open_db(path)
        assert schema.schema_version(db) == len(schema.MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()


def test_a_new_database_file_is_private(tmp_path: Path) -> None:
    from tcw.localqueue.storage import database, schema

    path = tmp_path / "q.sqlite3"
    db = schema.open_db(str(path))
    database.set_meta(db, "probe", "x")  # a write, so the -wal file exists too
    for file in (path, tmp_path / "q.sqlite3-wal"):
        assert file.stat().st_mode & 0o777 == 0o600, file
    db.close()


def test_clients_file_replaces_the_root_client(make_local_queue: MakeLocalQueue, tmp_path: Path) -> None:
    clients = tmp_path / "clients.yml"
    clients.write_text("- clientId: ci/creator\n  accessToken: secret-token\n  scopes: ['queue:*']\n")
    local = make_local_queue(clients_file=str(clients))
    assert local.root_credentials is None
    creator: Any = taskcluster.Queue(
        local.client_options({"clientId": "ci/creator", "accessToken": "secret-token"})
    )
    creator.createTask(taskcluster.slugId(), task_definition(QUEUE_ID))
