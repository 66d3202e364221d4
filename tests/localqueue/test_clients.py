"""The clients file, the generated root credentials, and the temporary credentials the queue issues."""

from __future__ import annotations

import functools
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tcw.errors import ConfigError, UsageError
from tcw.localqueue.auth.clients import (
    Client,
    ClientStore,
    issue_download_credentials,
    issue_task_credentials,
    issue_upload_credentials,
)
from tcw.localqueue.auth.keystore import DeploymentSecrets

ROOT = Client("root", "secret-root-token", ("*",))


def test_clients_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "clients.yml"
    path.write_text(
        "- clientId: worker/one\n  accessToken: tok1\n  scopes: ['queue:claim-work:p/*']\n"
        "- clientId: admin\n  accessToken: tok2\n  scopes: ['*']\n"
    )
    store = ClientStore.from_file(path)
    assert store.get("worker/one") == Client("worker/one", "tok1", ("queue:claim-work:p/*",))
    assert store.get("admin") == Client("admin", "tok2", ("*",))
    assert store.get("nobody") is None
    assert len(store) == 2


def test_clients_file_reports_every_problem_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "clients.yml"
    path.write_text(
        "- clientId: 'bad id'\n  accessToken: t\n  scopes: []\n"
        "- clientId: ok\n  scopes: 'queue:*'\n  colour: blue\n"
        "- just a string\n"
        "- clientId: dup\n  accessToken: t\n  scopes: []\n"
        "- clientId: dup\n  accessToken: t\n  scopes: []\n"
    )
    with pytest.raises(ConfigError) as error:
        ClientStore.from_file(path)
    assert error.value.problems == (
        f"{path}: clients[0]: clientId 'bad id' must match ^[A-Za-z0-9!@/:.+|_-]+$",
        f"{path}: clients[1]: unknown key 'colour'",
        f"{path}: clients[1]: missing accessToken",
        f"{path}: clients[1]: scopes must be a list of strings of printable ASCII characters",
        f"{path}: clients[2]: must be a mapping with clientId, accessToken and scopes",
        f"{path}: clients[4]: clientId 'dup' appears more than once",
    )


@pytest.mark.parametrize(
    ("content", "problem"), [("{a: [", "not valid YAML"), ("clientId: x\n", "must be a list of clients")]
)
def test_clients_file_that_is_not_a_list(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "clients.yml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=problem):
        ClientStore.from_file(path)


def test_missing_clients_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read clients file"):
        ClientStore.from_file(tmp_path / "absent.yml")


def test_root_credentials_are_written_private_and_reused(tmp_path: Path) -> None:
    store = DeploymentSecrets.open(tmp_path / "secrets", "abc123")
    root, created = store.root_client()
    assert created and root.scopes == ("*",) and len(root.access_token) == 44
    path = store.directory / "root-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"clientId": root.client_id, "accessToken": root.access_token}
    assert root.access_token not in repr(root)
    assert DeploymentSecrets.open(tmp_path / "secrets", "abc123").root_client() == (root, False)


def test_broken_root_credentials_file(tmp_path: Path) -> None:
    store = DeploymentSecrets.open(tmp_path / "secrets", "abc123")
    path = store.directory / "root-credentials.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write('{"clientId": "root"}')
    with pytest.raises(UsageError, match="clientId and accessToken"):
        store.root_client()


def test_a_secrets_directory_open_to_others_or_a_symlinked_secret_is_refused(tmp_path: Path) -> None:
    store = DeploymentSecrets.open(tmp_path / "secrets", "abc123")
    (store.directory / "issuer-token").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="cannot"):
        store.issuer_token()
    (tmp_path / "secrets").chmod(0o755)
    with pytest.raises(UsageError, match="open to other users"):
        DeploymentSecrets.open(tmp_path / "secrets", "abc123")


def certificate(credentials: dict[str, str]) -> dict[str, object]:
    content: dict[str, object] = json.loads(credentials["certificate"])
    return content


def test_task_credentials_shape() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    taken_until = now + timedelta(minutes=20, microseconds=500)
    issued = issue_task_credentials(
        ROOT,
        task_id="T",
        run_id=2,
        worker_group="wg",
        worker_id="wid",
        taken_until=taken_until,
        task_scopes=["secrets:get:a"],
        now=now,
    )
    assert issued["clientId"] == f"task-client/T/2/on/wg/wid/until/{int(taken_until.timestamp())}"
    assert isinstance(issued["accessToken"], str)
    cert = certificate(issued)
    assert cert["issuer"] == "root"
    assert cert["scopes"] == [
        "queue:reclaim-task:T/2",
        "queue:resolve-task:T/2",
        "queue:create-artifact:T/2",
        "secrets:get:a",
    ]
    assert cert["start"] == int(now.timestamp()) * 1000
    assert cert["expiry"] == int(taken_until.timestamp()) * 1000


def test_upload_credentials_last_a_day_at_most() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    upload = functools.partial(
        issue_upload_credentials,
        ROOT,
        task_id="T",
        run_id=0,
        worker_group="g",
        worker_id="w",
        project_id="proj",
        object_name="t/T/0/x",
        now=now,
    )
    far = upload(expires=now + timedelta(days=9))
    near = upload(expires=now + timedelta(hours=2))
    assert far["clientId"] == "artifact-upload/T/0/on/g/w"
    assert certificate(far)["scopes"] == ["object:upload:proj:t/T/0/x"]
    assert certificate(far)["expiry"] == int((now + timedelta(hours=24)).timestamp()) * 1000
    assert certificate(near)["expiry"] == int((now + timedelta(hours=2)).timestamp()) * 1000


def test_download_credentials() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    issued = issue_download_credentials(
        ROOT, task_id="T", run_id=1, artifact_name="public/a.txt", object_name="t/T/1/public/a.txt", now=now
    )
    assert issued["clientId"] == "artifact-download/T/1/public/a.txt"
    assert certificate(issued)["scopes"] == ["object:download:t/T/1/public/a.txt"]
    assert certificate(issued)["expiry"] == int((now + timedelta(hours=1)).timestamp()) * 1000
