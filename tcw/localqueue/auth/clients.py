"""The local queue's permanent clients: who may sign requests, with which access token and scopes.

A deployment keeps clients in its auth service; the local queue reads them from a YAML file
(``--clients FILE``) or, without one, makes a single root client whose generated credentials are kept in
its private secrets directory (keystore.py) so that a restarted queue accepts the same credentials. The
queue also mints temporary clients (task runs, object uploads and downloads) with the official client's
``createTemporaryCredentials``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tcw.config_values import bounded, read_yaml_file
from tcw.errors import ConfigError
from tcw.localqueue.auth.scopes import valid_scopes

ROOT_CLIENT_ID = "root"
ANONYMOUS_ROLE_SCOPE = "assume:anonymous"
UPLOAD_CREDENTIALS_LIFETIME = timedelta(hours=24)
DOWNLOAD_CREDENTIALS_LIFETIME = timedelta(hours=1)
WORKER_CREDENTIALS_BACKDATE = timedelta(minutes=15)

# What a public deployment grants its anonymous role for unauthenticated read-only access, as Taskcluster's
# deployment manual lists it (docs/manual/deploying/anonymous-role), for the services served here.
PUBLIC_READ_SCOPES = (
    "queue:get-artifact:public/*",
    "queue:get-provisioner:*",
    "queue:get-task:*",
    "queue:get-worker-type:*",
    "queue:get-worker:*",
    "queue:list-artifacts:*",
    "queue:list-dependent-tasks:*",
    "queue:list-provisioners",
    "queue:list-task-group:*",
    "queue:list-worker-types:*",
    "queue:list-workers:*",
    "queue:pending-count:*",
    "queue:status:*",
    "secrets:list-secrets",
    "worker-manager:get-worker-pool:*",
    "worker-manager:get-worker:*",
    "worker-manager:list-providers",
    "worker-manager:list-worker-pool-errors:*",
    "worker-manager:list-worker-pools",
    "worker-manager:list-workers:*",
    "worker-manager:should-worker-terminate:*",
)

# Taskcluster's clientId pattern (auth service, schemas/constants.yml).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9!@/:.+|_-]+$")
_ENTRY_KEYS = ("clientId", "accessToken", "scopes")


@dataclass(frozen=True)
class Client:
    client_id: str
    access_token: str = field(repr=False)
    scopes: tuple[str, ...]


class ClientStore:
    """Clients by id; ``get`` answers None for an unknown id, as the auth service's loader would 404.
    ``anonymous_scopes``: what every caller holds, credentials or none: ``assume:anonymous`` and the
    scopes of the anonymous role (none unless the clients file gives it some, as upstream)."""

    def __init__(self, clients: tuple[Client, ...] = (), anonymous_role: tuple[str, ...] = ()) -> None:
        self._clients: dict[str, Client] = {}
        # credentials.load_credentials remembers its resolutions here: per store, so per queue
        self.resolved: dict[tuple[str, str | None], Any] = {}
        self.anonymous_scopes: tuple[str, ...] = ()
        self.set_anonymous_role(anonymous_role)
        for client in clients:
            self.add(client)

    def set_anonymous_role(self, scopes: tuple[str, ...]) -> None:
        """Give the anonymous role these scopes (every caller's resolution is made afresh)."""
        self.anonymous_scopes = tuple(dict.fromkeys((ANONYMOUS_ROLE_SCOPE, *scopes)))
        self.resolved.clear()

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def add(self, client: Client) -> None:
        self._clients[client.client_id] = client

    def __iter__(self) -> Iterator[Client]:
        return iter(self._clients.values())

    def __len__(self) -> int:
        return len(self._clients)

    @classmethod
    def from_file(cls, path: Path) -> ClientStore:
        """Load a YAML list of ``{clientId, accessToken, scopes}``, and optionally ``{roleId: anonymous,
        scopes}`` for the scopes every caller holds; every problem is reported at once."""
        document = read_yaml_file(path, "clients file")
        if not isinstance(document, list):
            raise ConfigError([f"{path}: must be a list of clients ({{clientId, accessToken, scopes}})"])
        problems: list[str] = []
        clients: list[Client] = []
        anonymous: tuple[str, ...] = ()
        seen: set[str] = set()
        for index, entry in enumerate(document):
            is_role = isinstance(entry, dict) and "roleId" in entry
            entry_problems = _role_problems(entry) if is_role else _entry_problems(entry)
            client_id = entry.get("clientId") if isinstance(entry, dict) else None
            if isinstance(client_id, str) and client_id in seen:
                entry_problems.append(f"clientId {client_id!r} appears more than once")
            problems.extend(f"{path}: clients[{index}]: {problem}" for problem in entry_problems)
            if entry_problems:
                continue
            if is_role:
                anonymous = tuple(entry["scopes"])
            else:
                seen.add(entry["clientId"])
                clients.append(Client(entry["clientId"], entry["accessToken"], tuple(entry["scopes"])))
        if problems:
            raise ConfigError(problems)
        return cls(tuple(clients), anonymous)


def generate_access_token() -> str:
    """44 URL-safe characters, the length and alphabet of a Taskcluster access token."""
    return secrets.token_urlsafe(33)


def _role_problems(entry: dict[str, Any]) -> list[str]:
    problems = [f"unknown key {bounded(key)}" for key in entry if key not in ("roleId", "scopes")]
    if entry.get("roleId") != "anonymous":
        problems.append("roleId must be anonymous (the only role the local queue has)")
    if not valid_scopes(entry.get("scopes")):
        problems.append("scopes must be a list of strings of printable ASCII characters")
    return problems


def _entry_problems(entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return ["must be a mapping with clientId, accessToken and scopes"]
    problems = [f"unknown key {bounded(key)}" for key in entry if key not in _ENTRY_KEYS]
    problems += [f"missing {key}" for key in _ENTRY_KEYS if key not in entry]
    client_id, token, scopes = (entry.get(key) for key in _ENTRY_KEYS)
    if "clientId" in entry and not (isinstance(client_id, str) and _CLIENT_ID.match(client_id)):
        problems.append(f"clientId {bounded(client_id)} must match {_CLIENT_ID.pattern}")
    if "accessToken" in entry and not (isinstance(token, str) and token):
        problems.append("accessToken must be a non-empty string")
    if "scopes" in entry and not valid_scopes(scopes):
        problems.append("scopes must be a list of strings of printable ASCII characters")
    return problems


# -- temporary clients: the credentials the queue issues -------------------------------------------


def issue_task_credentials(
    issuer: Client,
    *,
    task_id: str,
    run_id: int,
    worker_group: str,
    worker_id: str,
    taken_until: datetime,
    task_scopes: Sequence[str],
    now: datetime | None = None,
) -> dict[str, str]:
    """The credentials each claim and reclaim returns: valid until ``takenUntil`` for this run only."""
    until = int(taken_until.timestamp())
    scopes = [
        f"queue:reclaim-task:{task_id}/{run_id}",
        f"queue:resolve-task:{task_id}/{run_id}",
        f"queue:create-artifact:{task_id}/{run_id}",
        *task_scopes,
    ]
    name = f"task-client/{task_id}/{run_id}/on/{worker_group}/{worker_id}/until/{until}"
    return _temporary_credentials(issuer, name, _utc(now), taken_until, scopes)


def issue_upload_credentials(
    issuer: Client,
    *,
    task_id: str,
    run_id: int,
    worker_group: str,
    worker_id: str,
    project_id: str,
    object_name: str,
    expires: datetime,
    now: datetime | None = None,
) -> dict[str, str]:
    """What createArtifact returns for an ``object`` artifact: upload that one object, for at most 24 h."""
    start = _utc(now)
    expiry = min(expires, start + UPLOAD_CREDENTIALS_LIFETIME)
    name = f"artifact-upload/{task_id}/{run_id}/on/{worker_group}/{worker_id}"
    return _temporary_credentials(issuer, name, start, expiry, [f"object:upload:{project_id}:{object_name}"])


def issue_download_credentials(
    issuer: Client,
    *,
    task_id: str,
    run_id: int,
    artifact_name: str,
    object_name: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """What the ``artifact`` (content) method returns for an ``object`` artifact: download it for 1 h."""
    start = _utc(now)
    name = f"artifact-download/{task_id}/{run_id}/{artifact_name}"
    return _temporary_credentials(
        issuer, name, start, start + DOWNLOAD_CREDENTIALS_LIFETIME, [f"object:download:{object_name}"]
    )


def issue_worker_credentials(
    issuer: Client,
    *,
    provider_id: str,
    worker_pool_id: str,
    worker_group: str,
    worker_id: str,
    expires: datetime,
    now: datetime | None = None,
) -> dict[str, str]:
    """What registerWorker and reregisterWorker return: the worker's own credentials until ``expires``,
    with the scopes worker-manager grants (services/worker-manager/src/util.js createCredentials); they
    start 15 minutes back, as there, to absorb clock skew."""
    pool, worker = worker_pool_id, f"{worker_group}/{worker_id}"
    scopes = [
        f"assume:worker-type:{pool}",
        f"assume:worker-pool:{pool}",
        f"assume:worker-id:{worker}",
        f"queue:worker-id:{worker}",
        f"secrets:get:worker-type:{pool}",
        f"secrets:get:worker-pool:{pool}",
        f"queue:claim-work:{pool}",
        f"worker-manager:remove-worker:{pool}/{worker}",
        f"worker-manager:reregister-worker:{pool}/{worker}",
        f"worker-manager:should-worker-terminate:{pool}/{worker}",
    ]
    name = f"worker/{provider_id}/{pool}/{worker}"
    return _temporary_credentials(issuer, name, _utc(now) - WORKER_CREDENTIALS_BACKDATE, expires, scopes)


def _temporary_credentials(
    issuer: Client, name: str, start: datetime, expiry: datetime, scopes: list[str]
) -> dict[str, str]:
    import taskcluster  # here, so that importing the local queue's modules stays light for the CLI

    made = taskcluster.createTemporaryCredentials(
        issuer.client_id, issuer.access_token, start, expiry, scopes, name=name
    )
    return {
        "clientId": _text(made["clientId"]),
        "accessToken": _text(made["accessToken"]),
        "certificate": _text(made["certificate"]),
    }


def _utc(moment: datetime | None) -> datetime:
    return datetime.now(UTC) if moment is None else moment


def _text(value: str | bytes) -> str:
    """createTemporaryCredentials answers bytes for some fields and str for others."""
    return value.decode() if isinstance(value, bytes) else value
