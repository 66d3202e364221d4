"""The HTTP layer: routing on raw paths, percent-encoded slashes, bodiless POSTs, the error body, bad input
answered with the real service's 4xx (never a 500), TCP_NODELAY, and the async client."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
import requests
import taskcluster
import taskcluster.aio

from tcw.localqueue.http.routes import service_routes
from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import assert_error_body, signed, workers_seen
from tests.support.tasks import task_definition
from tests.support.waiting import wait_for

QUEUE_ID = "tcw-test/worker"


def test_unknown_route_is_404_json(local_queue: LocalQueue) -> None:
    for path in ("/api/queue/v1/no/such/thing", "/nothing", "/api/object/v1/nothing"):
        assert_error_body(requests.get(local_queue.root_url + path, timeout=10), 404, "ResourceNotFound")


def test_official_method_not_served_is_404_naming_it(local_queue: LocalQueue) -> None:
    # taskQueueCountsBatch is newer than the official references this queue is checked against.
    response = requests.post(f"{local_queue.root_url}/api/queue/v1/task-queues/counts", timeout=10)
    assert "taskQueueCountsBatch" in assert_error_body(response, 404, "ResourceNotFound")["message"]


def test_unknown_task_is_404_with_method_and_params(local_queue: LocalQueue) -> None:
    task_id = taskcluster.slugId()
    response = signed(local_queue, "GET", f"/api/queue/v1/task/{task_id}/status")
    body = assert_error_body(response, 404, "ResourceNotFound")
    assert body["requestInfo"]["method"] == "status"
    assert body["requestInfo"]["params"] == {"taskId": task_id}


def test_bad_route_argument_is_400(local_queue: LocalQueue) -> None:
    response = signed(local_queue, "GET", "/api/queue/v1/task/not-a-slug/status")
    assert_error_body(response, 400, "InvalidRequestArguments")


def test_malformed_json_is_400(local_queue: LocalQueue) -> None:
    path = f"/api/queue/v1/task/{taskcluster.slugId()}"
    response = signed(local_queue, "PUT", path, b"{not json", "application/json")
    assert_error_body(response, 400, "MalformedPayload")


def test_body_breaking_the_schema_is_400_listing_every_problem(local_queue: LocalQueue) -> None:
    body = task_definition(priority="normal", retries=99, unknown=1)
    del body["payload"]
    path = f"/api/queue/v1/task/{taskcluster.slugId()}"
    response = signed(local_queue, "PUT", path, json.dumps(body).encode(), "application/json")
    message = assert_error_body(response, 400, "InputValidationError")["message"]
    for part in ("priority", "retries", "unknown", "payload"):
        assert part in message


def test_bad_dates_are_400(queue_client: Any) -> None:
    for overrides in ({"deadline": "tomorrow"}, {"created": "2026-13-45T00:00:00Z"}):
        with pytest.raises(taskcluster.exceptions.TaskclusterRestFailure) as caught:
            queue_client.createTask(taskcluster.slugId(), task_definition(**overrides))
        assert caught.value.status_code == 400
    far = task_definition(deadline="2999-01-01T00:00:00.000Z")
    with pytest.raises(taskcluster.exceptions.TaskclusterRestFailure) as caught:
        queue_client.createTask(taskcluster.slugId(), far)
    assert caught.value.body["code"] == "InputError"


def test_dates_with_offset_and_microseconds_are_accepted(queue_client: Any) -> None:
    task_id = taskcluster.slugId()
    body = task_definition()
    body["deadline"] = body["deadline"].replace("+00:00", "Z")
    queue_client.createTask(task_id, body)
    assert queue_client.task(task_id)["deadline"].endswith("Z")


def test_oversized_body_is_413(local_queue: LocalQueue) -> None:
    path = f"/api/queue/v1/task/{taskcluster.slugId()}"
    huge = b'{"payload": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    response = requests.put(
        local_queue.root_url + path, data=huge, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert_error_body(response, 413, "PayloadTooLarge")


def test_bodiless_posts_are_normal(queue_client: Any, local_queue: LocalQueue) -> None:
    task_id = taskcluster.slugId()
    queue_client.createTask(task_id, task_definition())
    claim = queue_client.claimWork(QUEUE_ID, {"workerGroup": "g", "workerId": "w", "tasks": 1})["tasks"][0]
    creds = claim["credentials"]
    path = f"/api/queue/v1/task/{task_id}/runs/0"
    response = signed(local_queue, "POST", f"{path}/reclaim", credentials=creds)
    assert response.status_code == 200, response.text
    response = signed(local_queue, "POST", f"{path}/completed", credentials=creds)
    assert response.status_code == 200 and response.json()["status"]["state"] == "completed"


def test_percent_encoded_task_queue_id(local_queue: LocalQueue, queue_client: Any) -> None:
    raw = signed(local_queue, "GET", "/api/queue/v1/task-queues/p%2Fw/counts")
    assert raw.json()["taskQueueId"] == "p/w"
    queue_client.createTask(taskcluster.slugId(), task_definition("p/w"))
    assert queue_client.pendingTasks("p/w")["pendingTasks"] == 1


def test_route_matching_decodes_segments_and_lets_names_take_slashes() -> None:
    routes = service_routes("queue")
    found = routes.match("GET", "/task/abc/runs/0/artifacts/public%2Flogs%2Flive.log")
    assert found is not None and found[0].name == "getArtifact"
    assert found[1] == {"taskId": "abc", "runId": "0", "name": "public/logs/live.log"}
    loose = routes.match("GET", "/task/abc/runs/0/artifacts/public/logs/live.log")
    assert loose is not None and loose[1]["name"] == "public/logs/live.log"
    listed = routes.match("GET", "/task/abc/runs/0/artifacts")
    assert listed is not None and listed[0].name == "listArtifacts"
    quarantine = routes.match("PUT", "/provisioners/p/worker-types/w/workers/g/i")
    declare = routes.match("PUT", "/provisioners/p/worker-types/w/g/i")
    assert quarantine is not None and quarantine[0].name == "quarantineWorker"
    assert declare is not None and declare[0].name == "declareWorker"
    assert routes.match("GET", "/task/a/b/c/d/e/f/g") is None


def test_server_sets_tcp_nodelay(local_queue: LocalQueue) -> None:
    """Small answers come back without a delayed-ACK stall (~40 ms with Nagle on)."""
    with requests.Session() as session:
        session.get(local_queue.root_url + "/api/queue/v1/ping", timeout=10)
        started = time.perf_counter()
        for _ in range(20):
            session.get(local_queue.root_url + "/api/queue/v1/ping", timeout=10)
        assert (time.perf_counter() - started) / 20 < 0.03
    host, port = local_queue.root_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as client:
        client.sendall(b"GET /api/queue/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(100).startswith(b"HTTP/1.1 200")


async def test_async_client_works(local_queue: LocalQueue) -> None:
    async with taskcluster.aio.createSession() as session:
        queue = taskcluster.aio.Queue(local_queue.client_options(), session=session)
        task_id = taskcluster.slugId()
        await queue.createTask(task_id, task_definition())
        claims = await queue.claimWork(QUEUE_ID, {"workerGroup": "g", "workerId": "w", "tasks": 1})
        creds = claims["tasks"][0]["credentials"]
        as_task = taskcluster.aio.Queue(local_queue.client_options(creds), session=session)
        await as_task.reclaimTask(task_id, "0")
        done = await as_task.reportCompleted(task_id, "0")
        assert done["status"]["state"] == "completed"


def test_service_metadata_endpoints(local_queue: LocalQueue) -> None:
    for service in ("queue", "object"):
        for route in ("ping", "__lbheartbeat__", "__heartbeat__", "__version__"):
            response = requests.get(f"{local_queue.root_url}/api/{service}/v1/{route}", timeout=10)
            assert response.status_code == 200 and isinstance(response.json(), dict)


def test_claim_work_stops_when_the_client_goes_away(make_local_queue: Any) -> None:
    """A long poll whose caller disconnected must not claim (and so lose) a task created afterwards."""
    import mohawk

    local = make_local_queue(claim_work_wait=10)
    creds = local.root_credentials
    assert creds is not None
    path = "/api/queue/v1/claim-work/tcw-test%2Fworker"
    body = json.dumps({"workerGroup": "g", "workerId": "gone", "tasks": 1}).encode()
    sender = mohawk.Sender(
        {"id": creds["clientId"], "key": creds["accessToken"], "algorithm": "sha256"},
        ext=taskcluster.Queue(local.client_options()).makeHawkExt(),
        url=local.root_url + path,
        method="POST",
        content=body,
        content_type="application/json",
    )
    host, port = local.root_url.removeprefix("http://").split(":")
    queue = taskcluster.Queue(local.client_options())
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nAuthorization: {sender.request_header}\r\n\r\n".encode()
            + body
        )
        wait_for(lambda: workers_seen(queue, "tcw-test/worker"))  # the poll is waiting; closing hangs up
    time.sleep(0.2)  # the queue's noticing a hang-up has no signal to wait for
    task_id = taskcluster.slugId()
    queue.createTask(task_id, task_definition())
    time.sleep(0.3)  # what is tested is that nothing happens: give a wrong claim the time it would take
    assert queue.status(task_id)["status"]["state"] == "pending"


def test_add_client_gives_working_credentials_with_its_scopes(local_queue: LocalQueue) -> None:
    reader = local_queue.add_client("tcw-test/reader", ["queue:get-task:*"])
    queue = taskcluster.Queue({**local_queue.client_options(reader), "maxRetries": 0})
    assert queue.ping()["alive"] is True
    with pytest.raises(taskcluster.exceptions.TaskclusterRestFailure) as caught:
        queue.createTask(taskcluster.slugId(), task_definition())
    assert caught.value.status_code == 403


def test_stopping_answers_waiting_long_polls_at_once(make_local_queue: Any) -> None:
    import threading

    local = make_local_queue(claim_work_wait=10)
    queue = taskcluster.Queue({**local.client_options(), "maxRetries": 0})
    answers: list[Any] = []
    body = {"workerGroup": "g", "workerId": "w", "tasks": 1}
    poll = threading.Thread(target=lambda: answers.append(queue.claimWork("tcw-test/worker", body)))
    poll.start()
    observer = taskcluster.Queue(local.client_options())  # not the polling thread's client
    wait_for(lambda: workers_seen(observer, "tcw-test/worker"))  # the poll is waiting
    started = time.monotonic()
    local.stop()
    poll.join(5)
    assert answers == [{"tasks": []}]
    assert time.monotonic() - started < 1
