"""Issue 10, item 4: the local queue's root credentials and issuer token are kept out of reach of other
users and of tasks run as another user. They once lived in ``<db>.root-credentials.json`` and in the
database, where anyone who could read the database (or plant a file beside it) could take the queue over.

The attacks as another user need root (to become uid 65534); the suite runs as root in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import taskcluster
from taskcluster.exceptions import TaskclusterAuthFailure, TaskclusterRestFailure

from tcw.localqueue.server import ISSUER_CLIENT_ID, LocalQueue
from tcw.localqueue.storage import database, schema
from tests.support.localqueue import MakeLocalQueue
from tests.support.tasks import task_definition

NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")


def become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory everyone may read (0755, like a project checkout or /srv), outside pytest's private tmp."""
    path = Path(tempfile.mkdtemp(prefix="tcw-shared-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def read_as_nobody(*roots: Path) -> bytes:
    """Everything another user can read under ``roots`` (each file, as that user, with cat)."""
    files = [str(path) for root in roots for path in root.rglob("*") if path.is_file()]
    result = subprocess.run(["cat", *files], preexec_fn=become_nobody, capture_output=True, check=False)
    return result.stdout


def tokens_in(data: bytes) -> set[str]:
    """Every 44-character window of every run of token characters (a token may abut other text)."""
    runs = [run.decode() for run in re.findall(rb"[A-Za-z0-9_-]{44,}", data)]
    return {run[start : start + 44] for run in runs for start in range(len(run) - 43)}


def accepted_as_issuer(local: LocalQueue, token: str) -> bool:
    """Can temporary credentials minted with ``token`` as the queue's issuer create a task?"""
    now = datetime.now(UTC)
    minted = taskcluster.createTemporaryCredentials(
        ISSUER_CLIENT_ID, token, now - timedelta(minutes=1), now + timedelta(hours=1), ["*"]
    )
    credentials = {
        key: value.decode() if isinstance(value, bytes) else value for key, value in minted.items()
    }
    queue: Any = taskcluster.Queue({**local.client_options(credentials), "maxRetries": 0})
    try:
        queue.createTask(taskcluster.slugId(), task_definition())
    except (TaskclusterAuthFailure, TaskclusterRestFailure):
        return False
    return True


def use(local: LocalQueue) -> None:
    """Create and claim a task, so that the database and its log hold everything a queue writes."""
    queue: Any = taskcluster.Queue(local.client_options())
    queue.createTask(taskcluster.slugId(), task_definition())
    queue.claimWork("tcw-test/worker", {"workerGroup": "g", "workerId": "w", "tasks": 1})


def test_no_secret_is_in_the_database_or_beside_it(make_local_queue: MakeLocalQueue, tmp_path: Path) -> None:
    local = make_local_queue(db=str(tmp_path / "queue.sqlite3"))
    use(local)
    issuer, root = local.state.issuer.access_token, local.root_credentials
    assert root is not None
    beside = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert issuer.encode() not in beside and root["accessToken"].encode() not in beside
    assert local.secrets is not None
    for path in (local.secrets.directory, local.secrets.directory.parent):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for name in ("issuer-token", "root-credentials.json"):
        assert stat.S_IMODE((local.secrets.directory / name).stat().st_mode) == 0o600, name


@as_root
def test_another_user_cannot_mint_credentials_from_a_readable_database(
    make_local_queue: MakeLocalQueue, shared_dir: Path
) -> None:
    db = shared_dir / "queue.sqlite3"
    db.touch(mode=0o644)  # made by hand, or by a tool with umask 022: others may read it
    local = make_local_queue(db=str(db))
    use(local)
    assert local.secrets is not None
    stolen = read_as_nobody(shared_dir, local.secrets.directory)
    assert stolen, "the attacker could read nothing at all: the attack did not run"
    assert not [token for token in tokens_in(stolen) if accepted_as_issuer(local, token)]
    assert accepted_as_issuer(local, local.state.issuer.access_token)  # the probe itself works


@as_root
def test_root_credentials_planted_beside_the_database_are_not_trusted(
    make_local_queue: MakeLocalQueue, shared_dir: Path
) -> None:
    shared_dir.chmod(0o1777)  # like /tmp: another user may create files in it
    planted = {"clientId": "root", "accessToken": "planted-by-another-user-0123456789abcdefghij"}
    subprocess.run(
        [
            "sh",
            "-c",
            f"umask 077; printf '%s' '{json.dumps(planted)}' > {shared_dir}/queue.root-credentials.json",
        ],
        preexec_fn=become_nobody,
        check=True,
    )
    local = make_local_queue(db=str(shared_dir / "queue.sqlite3"))
    assert local.root_credentials != planted
    queue: Any = taskcluster.Queue({**local.client_options(planted), "maxRetries": 0})
    with pytest.raises(TaskclusterAuthFailure):
        queue.createTask(taskcluster.slugId(), task_definition())


@as_root
def test_a_database_or_blob_directory_another_user_owns_is_refused(
    make_local_queue: MakeLocalQueue, shared_dir: Path
) -> None:
    db = shared_dir / "queue.sqlite3"
    db.touch(mode=0o600)
    os.chown(db, NOBODY, NOBODY)
    with pytest.raises(Exception, match="belongs to another user"):
        make_local_queue(db=str(db))
    db.unlink()
    planted = shared_dir / "queue.sqlite3.blobs"  # where the artifacts' bytes would go
    planted.mkdir(mode=0o777)
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(Exception, match="must be a directory of yours"):
        make_local_queue(db=str(db))


def test_secrets_an_older_tcw_kept_are_moved_and_still_valid(
    make_local_queue: MakeLocalQueue, tmp_path: Path
) -> None:
    """A database from before the secrets directory: its issuer token (in the database) and root
    credentials (beside it) move into the secrets directory; credentials issued before still verify."""
    path = tmp_path / "queue.sqlite3"
    db = schema.open_db(str(path))
    old_issuer = "o" * 44
    database.set_meta(db, "issuer_access_token", old_issuer)
    db.close()
    legacy = tmp_path / "queue.root-credentials.json"
    old_root = {"clientId": "root", "accessToken": "r" * 44}
    descriptor = os.open(legacy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(old_root, file)
    local = make_local_queue(db=str(path))
    assert local.root_credentials == old_root and not legacy.exists()
    assert local.state.issuer.access_token == old_issuer
    assert accepted_as_issuer(local, old_issuer)
    assert database.get_meta(local.state.db, "issuer_access_token") is None
    assert old_issuer.encode() not in b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
