"""The inputs that once got HTTP 500 from the local queue (issue 10, item 11) get the real service's 4xx:
dates at the edges of the calendar, non-ASCII and huge numbers in the query, and a Host header whose port is
no number. Each case here failed with a 500 before it was fixed."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import mohawk
import pytest
import requests
import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import MakeLocalQueue, assert_error_body, signed
from tests.support.tasks import task_definition

EARLY = "0001-01-01T00:00:00+01:00"  # in UTC, the last hour of year 0
WORKERS = "/api/queue/v1/provisioners/tcw-test/worker-types/worker"
LATE = "9999-12-31T23:59:59-01:00"  # in UTC, the first hour of year 10000


def create(local_queue: LocalQueue, **overrides: Any) -> requests.Response:
    body = json.dumps(task_definition(**overrides)).encode()
    path = f"/api/queue/v1/task/{taskcluster.slugId()}"
    response: requests.Response = signed(local_queue, "PUT", path, body, "application/json")
    return response


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"created": EARLY}, "`created` cannot be in the past"),
        ({"created": LATE}, "`created` cannot be in the future"),
        ({"deadline": EARLY}, "`deadline` cannot be later than `created`"),
        ({"deadline": LATE}, "`deadline` cannot be more than 5 days"),
        ({"deadline": "9999-06-01T00:00:00Z"}, "`deadline` cannot be more than 5 days"),
        ({"expires": EARLY}, "`expires` cannot be before `deadline`"),
    ],
    ids=[
        "created-early",
        "created-late",
        "deadline-early",
        "deadline-late",
        "deadline-9999",
        "expires-early",
    ],
)
def test_create_task_with_dates_at_the_calendar_edges_is_400(
    local_queue: LocalQueue, overrides: dict[str, str], message: str
) -> None:
    body = assert_error_body(create(local_queue, **overrides), 400, "InputError")
    assert message in body["message"]


def test_an_expiry_past_the_end_of_the_calendar_is_kept_as_its_last_instant(
    local_queue: LocalQueue, queue_client: Any
) -> None:
    answer = create(local_queue, expires=LATE)
    assert answer.status_code == 200, answer.text
    assert queue_client.task(answer.json()["status"]["taskId"])["expires"] == "9999-12-31T23:59:59.999Z"


def test_other_dates_at_the_calendar_edges_are_never_a_500(
    local_queue: LocalQueue, queue_client: Any
) -> None:
    task_id = taskcluster.slugId()
    queue_client.createTask(task_id, task_definition())
    queue_client.claimWork("tcw-test/worker", {"workerGroup": "g", "workerId": "w", "tasks": 1})
    for edge in (LATE, EARLY):  # a worker declared to expire in year 1 is gone: the late one first
        artifact = {
            "storageType": "error",
            "reason": "file-missing-on-worker",
            "message": "m",
            "expires": edge,
        }
        path = f"/api/queue/v1/task/{task_id}/runs/0/artifacts/public/x{edge[:4]}"
        answer = signed(local_queue, "POST", path, json.dumps(artifact).encode(), "application/json")
        assert answer.status_code in (200, 400), answer.text
        quarantine = json.dumps({"quarantineUntil": edge}).encode()
        answer = signed(local_queue, "PUT", f"{WORKERS}/workers/g/w", quarantine, "application/json")
        assert answer.status_code == 200, answer.text
        declared = json.dumps({"expires": edge}).encode()
        answer = signed(local_queue, "PUT", f"{WORKERS}/g/w", declared, "application/json")
        assert answer.status_code in (200, 404), answer.text  # 404: declared to expire in year 1
        upload = {
            "projectId": "p",
            "uploadId": taskcluster.slugId(),
            "expires": edge,
            "proposedUploadMethods": {},
        }
        path = f"/api/object/v1/upload/edge-{edge[:4]}"
        answer = signed(local_queue, "PUT", path, json.dumps(upload).encode(), "application/json")
        assert answer.status_code in (200, 400), answer.text
    assert queue_client.status(task_id)["status"]["state"] == "running"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"limit": "١٢"}, "InvalidRequestArguments"),  # Arabic-Indic digits: Python's isdigit() says yes
        ({"limit": "²"}, "InvalidRequestArguments"),
        ({"continuationToken": "9" * 5000}, "InputError"),
        ({"continuationToken": "9" * 30}, "InputError"),
    ],
    ids=["limit-arabic-digits", "limit-superscript", "token-5000-digits", "token-30-digits"],
)
@pytest.mark.parametrize("path", ["/api/queue/v1/provisioners", "/api/queue/v1/task-queues"])
def test_bad_paging_arguments_are_400_with_or_without_credentials(
    local_queue: LocalQueue,
    make_local_queue: MakeLocalQueue,
    tmp_path: Path,
    query: dict[str, str],
    code: str,
    path: str,
) -> None:
    signed_path = path + "?" + "&".join(f"{k}={quote(v)}" for k, v in query.items())
    assert_error_body(signed(local_queue, "GET", signed_path), 400, code)
    clients = tmp_path / "clients.yml"  # a deployment whose anonymous role may list: no credentials needed
    clients.write_text("- roleId: anonymous\n  scopes: [queue:list-provisioners, queue:list-task-queues]\n")
    public = make_local_queue(clients_file=str(clients))
    assert_error_body(requests.get(public.root_url + path, params=query, timeout=30), 400, code)


def test_a_limit_of_5000_digits_is_a_full_page_as_the_real_service_reads_it(queue_client: Any) -> None:
    """The real service's parseInt makes it Infinity, then min(Infinity, 1000): a page of 1000."""
    queue_client.createTask(taskcluster.slugId(), task_definition())
    listed = queue_client.listTaskQueues(query={"limit": "9" * 5000})
    assert [queue["taskQueueId"] for queue in listed["taskQueues"]] == ["tcw-test/worker"]


@pytest.mark.parametrize("host", ["127.0.0.1:abc", "127.0.0.1:²", "127.0.0.1:99999999999", "[::1", ""])
def test_a_signed_request_with_a_host_port_that_is_no_number_is_400(
    local_queue: LocalQueue, host: str
) -> None:
    credentials = local_queue.root_credentials
    assert credentials is not None
    sender = mohawk.Sender(
        {"id": credentials["clientId"], "key": credentials["accessToken"], "algorithm": "sha256"},
        url="http://127.0.0.1:80/api/queue/v1/provisioners",
        method="GET",
        content=b"",
        content_type="",
    )
    address, port = local_queue.root_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((address, int(port)), timeout=30) as connection:
        request = (
            f"GET /api/queue/v1/provisioners HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {sender.request_header}\r\nConnection: close\r\n\r\n"
        )
        connection.sendall(request.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert json.loads(body)["message"] == "Invalid Host header"
