"""The adapter reads the official client's failures one way, for every kind it raises."""

from __future__ import annotations

import aiohttp
import multidict
import taskcluster.exceptions as tc
import yarl

from tcw.taskcluster_client import read_failure


def test_a_refusal_keeps_every_reason_and_drops_the_request_details() -> None:
    body = {
        "code": "InputValidationError",
        "message": "Schema validation error:\nretries\npriority\n---\n* x",
    }
    failure = read_failure(tc.TaskclusterRestFailure(body["message"], None, status_code=400, body=body))
    assert (failure.status, failure.message) == (400, "Schema validation error:\nretries\npriority")
    assert failure.first_line == "Schema validation error:"


def test_auth_failures_connection_errors_and_aiohttp_errors() -> None:
    auth = read_failure(tc.TaskclusterAuthFailure("Bad mac", status_code=401, body={"message": "Bad mac"}))
    assert (auth.status, auth.message) == (401, "Bad mac")
    down = read_failure(tc.TaskclusterConnectionError("Failed to establish connection", None))
    assert (down.status, down.message) == (None, "Failed to establish connection")
    url = yarl.URL("http://x/")
    info = aiohttp.RequestInfo(url, "GET", multidict.CIMultiDictProxy(multidict.CIMultiDict()), url)
    gateway = read_failure(aiohttp.ClientResponseError(info, (), status=502, message="Bad Gateway"))
    assert (gateway.status, gateway.message) == (502, "Bad Gateway")
    assert read_failure(TimeoutError()).message == "TimeoutError"
