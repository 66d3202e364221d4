"""Issue 10, item 14: where the local queue once differed from the real one (v106): reclaimTask checks
scopes before existence, ``task`` and ``status`` need their scopes (anonymous callers hold only the
deployment's anonymous role, empty unless the clients file fills it), and claimWork's top-level
``takenUntil`` is ``+00:00`` while reclaimTask and statuses say ``Z``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import taskcluster

from tcw.errors import ConfigError
from tcw.localqueue.auth.clients import ClientStore
from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import MakeLocalQueue, api_failure
from tests.support.tasks import task_definition

QUEUE_ID = "tcw-test/worker"
WORKER = {"workerGroup": "g", "workerId": "w", "tasks": 1}


def claimed(queue: Any) -> dict[str, Any]:
    task_id = taskcluster.slugId()
    queue.createTask(task_id, task_definition(QUEUE_ID))
    claim: dict[str, Any] = queue.claimWork(QUEUE_ID, WORKER)["tasks"][0]
    return claim


def test_reclaiming_a_run_the_credentials_do_not_cover_is_403_whether_or_not_it_exists(
    local_queue: LocalQueue, queue_client: Any
) -> None:
    claim = claimed(queue_client)
    task_id = claim["status"]["taskId"]
    as_run: Any = taskcluster.Queue({**local_queue.client_options(claim["credentials"]), "maxRetries": 0})
    for other_task, other_run in ((task_id, "1"), (taskcluster.slugId(), "0")):  # neither exists
        refused = api_failure(as_run.reclaimTask, other_task, other_run)
        assert (refused.status_code, refused.body["code"]) == (403, "InsufficientScopes")
    assert api_failure(queue_client.reclaimTask, task_id, "1").status_code == 404  # root: it does not exist


def test_task_and_status_need_their_scopes(local_queue: LocalQueue, queue_client: Any) -> None:
    task_id = taskcluster.slugId()
    queue_client.createTask(task_id, task_definition(QUEUE_ID))
    anonymous: Any = taskcluster.Queue({"rootUrl": local_queue.root_url, "maxRetries": 0})
    for method, scope in ((anonymous.task, "queue:get-task:"), (anonymous.status, "queue:status:")):
        refused = api_failure(method, task_id)
        assert (refused.status_code, refused.body["code"]) == (403, "InsufficientScopes")
        assert scope + task_id in refused.body["message"]
    reader = local_queue.add_client("reader", [f"queue:get-task:{task_id}", f"queue:status:{task_id}"])
    as_reader: Any = taskcluster.Queue(local_queue.client_options(reader))
    assert as_reader.task(task_id)["taskQueueId"] == QUEUE_ID
    assert as_reader.status(task_id)["status"]["taskId"] == task_id


def test_the_anonymous_role_comes_from_the_clients_file(
    make_local_queue: MakeLocalQueue, tmp_path: Path
) -> None:
    clients = tmp_path / "clients.yml"
    clients.write_text(
        "- clientId: creator\n  accessToken: creator-token\n  scopes: ['*']\n"
        "- roleId: anonymous\n  scopes: ['queue:get-task:*']\n"
    )
    local = make_local_queue(clients_file=str(clients))
    creator: Any = taskcluster.Queue(
        local.client_options({"clientId": "creator", "accessToken": "creator-token"})
    )
    task_id = taskcluster.slugId()
    creator.createTask(task_id, task_definition(QUEUE_ID))
    anonymous: Any = taskcluster.Queue({"rootUrl": local.root_url, "maxRetries": 0})
    assert anonymous.task(task_id)["taskQueueId"] == QUEUE_ID
    assert api_failure(anonymous.status, task_id).status_code == 403
    narrowed = taskcluster.Queue(
        {**creator.options, "authorizedScopes": ["queue:status:nothing"], "maxRetries": 0}
    )
    assert narrowed.task(task_id)["taskQueueId"] == QUEUE_ID  # every caller holds the role's scopes


def test_only_the_anonymous_role_can_be_given(tmp_path: Path) -> None:
    clients = tmp_path / "clients.yml"
    clients.write_text("- roleId: admins\n  scopes: ['*']\n- roleId: anonymous\n  scopes: 7\n")
    with pytest.raises(ConfigError) as refused:
        ClientStore.from_file(clients)
    assert "roleId must be anonymous" in str(refused.value) and "scopes must be a list" in str(refused.value)


def test_claims_say_taken_until_as_the_database_does_and_reclaims_as_javascript(queue_client: Any) -> None:
    claim = claimed(queue_client)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00", claim["takenUntil"])
    assert claim["status"]["runs"][0]["takenUntil"].endswith("Z")
    task_id = claim["status"]["taskId"]
    as_run: Any = taskcluster.Queue({**queue_client.options, "credentials": claim["credentials"]})
    reclaimed = as_run.reclaimTask(task_id, "0")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", reclaimed["takenUntil"])
    assert reclaimed["status"]["runs"][0]["takenUntil"] == reclaimed["takenUntil"]
