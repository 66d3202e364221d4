"""Bodies no strict JSON parser would take, or nested past any sane depth, get the real service's 400
(never a 500) and are never stored; answers are always strict JSON; settings that would hang the queue
are refused."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import replace
from typing import Any

import pytest
import requests
import taskcluster

from tcw.localqueue.core import jsonio
from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import TEST_SETTINGS, assert_error_body, signed
from tests.support.tasks import task_definition


def nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep: ``{"a": {"a": ... {}}}``."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def create_raw(local_queue: LocalQueue, task_id: str, text: str | bytes) -> requests.Response:
    raw = text.encode() if isinstance(text, str) else text
    response: requests.Response = signed(
        local_queue, "PUT", f"/api/queue/v1/task/{task_id}", raw, "application/json"
    )
    return response


def task_text_with_payload(payload_text: str) -> str:
    """A createTask body as text, its payload given as text (which Python could not always dump)."""
    body = task_definition(payload="PAYLOAD")
    return json.dumps(body).replace('"PAYLOAD"', payload_text)


def status_code(local_queue: LocalQueue, task_id: str) -> int:
    return int(signed(local_queue, "GET", f"/api/queue/v1/task/{task_id}/status").status_code)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        task_text_with_payload('{"a":' * 1000 + "{}" + "}" * 1000),
        task_text_with_payload(json.dumps(nested(jsonio.MAX_DEPTH))),
    ],
    ids=["brackets-100000-deep", "payload-1000-deep", "one-level-past-the-limit"],
)
def test_a_body_nested_too_deep_is_400_malformed_payload(local_queue: LocalQueue, text: str) -> None:
    task_id = taskcluster.slugId()
    body = assert_error_body(create_raw(local_queue, task_id, text), 400, "MalformedPayload")
    assert "nested deeper than" in body["message"]
    assert status_code(local_queue, task_id) == 404
    assert requests.get(f"{local_queue.root_url}/api/queue/v1/ping", timeout=10).status_code == 200


def test_a_body_nested_to_the_limit_is_stored_echoed_and_read_back(
    local_queue: LocalQueue, queue_client: Any
) -> None:
    payload = nested(jsonio.MAX_DEPTH - 1)  # the body itself is one more level
    task_id = taskcluster.slugId()
    assert create_raw(local_queue, task_id, task_text_with_payload(json.dumps(payload))).status_code == 200
    assert queue_client.task(task_id)["payload"] == payload
    assert queue_client.listTaskGroup(task_id)["tasks"][0]["task"]["payload"] == payload
    claimed = queue_client.claimWork("tcw-test/worker", {"workerGroup": "g", "workerId": "w", "tasks": 1})
    assert claimed["tasks"][0]["task"]["payload"] == payload
    refused = {**task_definition(payload=payload), "unexpected": True}
    answer = create_raw(local_queue, taskcluster.slugId(), json.dumps(refused))
    assert assert_error_body(answer, 400, "InputValidationError")["requestInfo"]["payload"] == refused


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_400_and_never_stored(local_queue: LocalQueue, constant: str) -> None:
    task_id = taskcluster.slugId()
    answer = create_raw(local_queue, task_id, task_text_with_payload('{"x": ' + constant + "}"))
    assert_error_body(answer, 400, "MalformedPayload")
    assert status_code(local_queue, task_id) == 404


@pytest.mark.parametrize("text", ["3", '"text"', "null", "true"])
def test_a_body_that_is_not_an_object_or_array_is_malformed(local_queue: LocalQueue, text: str) -> None:
    assert_error_body(create_raw(local_queue, taskcluster.slugId(), text), 400, "MalformedPayload")


def test_integral_numbers_read_as_javascript_reads_them(local_queue: LocalQueue) -> None:
    task_id = taskcluster.slugId()
    text = json.dumps(task_definition(retries=3.0, payload={"ratio": 0.5, "count": 2.0}))
    assert '"retries": 3.0' in text
    assert create_raw(local_queue, task_id, text).status_code == 200
    stored = signed(local_queue, "GET", f"/api/queue/v1/task/{task_id}").text
    assert '"retries":3,' in stored and '"payload":{"ratio":0.5,"count":2}' in stored


def test_answers_are_strict_json() -> None:
    with pytest.raises(ValueError):
        jsonio.dump({"x": math.nan})
    assert jsonio.dump({"x": [1, 0.5]}) == b'{"x":[1,0.5]}'


@pytest.mark.parametrize(
    "ext_json", ["[" * 1200 + "]" * 1200, '{"certificate": NaN}'], ids=["nested-1200-deep", "nan"]
)
def test_a_hawk_ext_no_strict_parser_takes_is_401(local_queue: LocalQueue, ext_json: str) -> None:
    ext = base64.b64encode(ext_json.encode()).decode()
    answer = signed(local_queue, "GET", "/api/queue/v1/ping", ext=ext)
    assert assert_error_body(answer, 401, "AuthenticationFailed")["message"].startswith("Failed to parse ext")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("claim_work_wait", math.inf),
        ("claim_work_wait", math.nan),
        ("claim_work_wait", -1.0),
        ("claim_timeout", -0.5),
        ("claim_timeout", math.inf),
        ("resolver_interval", 0.0),
        ("resolver_interval", -math.inf),
        ("resolver_interval", "1"),
    ],
)
def test_settings_that_would_hang_the_queue_are_refused(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"LocalQueueSettings.{name} must be a finite number of seconds"):
        LocalQueue(replace(TEST_SETTINGS, **{name: value}))


def test_zero_waits_are_allowed(make_local_queue: Any) -> None:
    local = make_local_queue(claim_work_wait=0, claim_timeout=0)
    queue = taskcluster.Queue(local.client_options())
    assert queue.claimWork("tcw-test/worker", {"workerGroup": "g", "workerId": "w", "tasks": 1}) == {
        "tasks": []
    }


def test_a_route_argument_ending_in_a_newline_is_400(local_queue: LocalQueue) -> None:
    """The real service's patterns are JavaScript's, where ``$`` does not match before a final newline."""
    task_id = taskcluster.slugId()
    response = signed(local_queue, "GET", f"/api/queue/v1/task/{task_id}%0A/status")
    assert_error_body(response, 400, "InvalidRequestArguments")
