"""The adapter reads the official client's failures one way, for every kind it raises, and keeps the
client's Hawk library from formatting debug strings nobody sees."""

from __future__ import annotations

import logging
import pprint
from collections.abc import Callable

import aiohttp
import mohawk
import multidict
import pytest
import taskcluster.exceptions as tc
import yarl

from tcw.taskcluster_client import defer_mohawk_debug_formatting, read_failure


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


def signed_and_verified() -> None:
    """A request with a payload, signed and verified by mohawk as the client and the deployment do."""
    credentials = {"id": "tester", "key": "secret-key", "algorithm": "sha256"}
    url, body = "http://127.0.0.1:1/api/queue/v1/task/x", b'{"payload": "' + b"x" * 4096 + b'"}'
    sender = mohawk.Sender(dict(credentials), url, "POST", content=body, content_type="application/json")
    mohawk.Receiver(
        lambda _: dict(credentials),
        sender.request_header,
        url,
        "POST",
        content=body,
        content_type="application/json",
        seen_nonce=lambda *_: False,
    )


@pytest.fixture
def pformat_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What ``pprint.pformat`` was asked to format, from now on."""
    calls: list[object] = []
    real: Callable[[object], str] = pprint.pformat

    def counted(value: object) -> str:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(pprint, "pformat", counted)
    return calls


def test_mohawk_formats_no_debug_string_while_debug_logging_is_off(
    pformat_calls: list[object], caplog: pytest.LogCaptureFixture
) -> None:
    defer_mohawk_debug_formatting()
    with caplog.at_level(logging.INFO, logger="mohawk"):
        signed_and_verified()
    assert pformat_calls == []


def test_mohawk_debug_logging_still_says_all_it_said(
    pformat_calls: list[object], caplog: pytest.LogCaptureFixture
) -> None:
    defer_mohawk_debug_formatting()
    with caplog.at_level(logging.DEBUG, logger="mohawk"):
        signed_and_verified()
    hashed = [
        record.getMessage() for record in caplog.records if "calculating payload hash" in record.message
    ]
    assert hashed and "x" * 50 in hashed[0]  # the payload, pprinted as mohawk always did
    assert any(isinstance(value, dict) and "resource" in value for value in pformat_calls)  # the URL parts
