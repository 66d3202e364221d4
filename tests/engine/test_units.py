"""The engine's pure parts: reclaim scheduling, identity, credential scrubbing, error translation."""

from __future__ import annotations

import json

import pytest
import taskcluster.exceptions

from tcw.engine.claim import Claim
from tcw.engine.identity import sanitise_id
from tcw.engine.isolation import scrub_worker_credentials
from tcw.engine.keepalive import reclaim_delay
from tcw.engine.queue_port import RUN_OVER
from tcw.engine.retry import backoff_delay
from tcw.errors import QueueRefused, RunGone, TcwError, TransientQueueError
from tcw.taskcluster_client import translate


@pytest.mark.parametrize(
    ("seconds_left", "low", "high"),
    [(1200, 1020, 1020), (300, 200, 200), (3, 2, 2), (0, 0, 0), (-5, 0, 0)],
)
def test_reclaim_leaves_a_third_of_the_claim_at_most_three_minutes(
    seconds_left: float, low: float, high: float
) -> None:
    assert low <= reclaim_delay(seconds_left) <= high


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("build-01.example.com", "build-01"),
        ("WEIRD host!", "WEIRD-host"),
        ("x" * 50, "x" * 38),
        ("...", "tcw-worker"),
    ],
)
def test_worker_ids_match_the_queue_pattern(host: str, expected: str) -> None:
    assert sanitise_id(host) == expected


def test_scrub_removes_only_the_worker_credentials() -> None:
    environ = {
        "TASKCLUSTER_ACCESS_TOKEN": "secret",
        "TASKCLUSTER_CLIENT_ID": "me",
        "TASKCLUSTER_CERTIFICATE": "{}",
        "TCW_CREDENTIALS_ACCESS_TOKEN": "secret",
        "TASKCLUSTER_ROOT_URL": "https://tc.example.com",
        "PATH": "/bin",
    }
    scrub_worker_credentials(environ)
    assert environ == {"TASKCLUSTER_ROOT_URL": "https://tc.example.com", "PATH": "/bin"}


def test_a_claim_swaps_its_lease_as_a_whole() -> None:
    entry = {
        "status": {"taskId": "abc"},
        "runId": 2,
        "task": {"metadata": {"name": "n"}, "expires": "2030-01-01T00:00:00.000Z"},
        "takenUntil": "2026-11-29T06:00:05.653Z",
        "credentials": {"clientId": "task-client/abc/2", "accessToken": "t", "certificate": "{}"},
    }
    claim = Claim.from_claim_work(entry)
    first = claim.lease
    assert (claim.task_id, claim.run_id, claim.name) == ("abc", 2, "n")
    assert claim.taken_until.microsecond == 653000 and claim.taken_until.tzinfo is not None
    claim.renew(first.from_response({"takenUntil": "2026-11-29T06:20:05Z", "credentials": {"clientId": "x"}}))
    assert claim.credentials() == {"clientId": "x"} and claim.taken_until > first.taken_until


def test_the_claim_is_timed_by_the_queue_clock_not_the_worker_one() -> None:
    """The certificate says the claim lasts 20 minutes; a worker clock years off must not think it lapsed."""
    certificate = {"start": 1_000_000, "expiry": 1_000_000 + 1_200_000}
    entry = {
        "status": {"taskId": "abc"},
        "runId": 0,
        "task": {},
        "takenUntil": "2000-01-01T00:20:00.000Z",
        "credentials": {"clientId": "c", "accessToken": "t", "certificate": json.dumps(certificate)},
    }
    assert 1199 < Claim.from_claim_work(entry).seconds_left() <= 1200


def rest_failure(status: int) -> taskcluster.exceptions.TaskclusterRestFailure:
    return taskcluster.exceptions.TaskclusterRestFailure(
        "refused", status_code=status, body={}, superExc=None
    )


async def fail_with(error: BaseException) -> None:
    raise error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (rest_failure(409), RunGone),
        (rest_failure(404), RunGone),
        (rest_failure(400), QueueRefused),
        (rest_failure(503), TransientQueueError),
        (
            taskcluster.exceptions.TaskclusterAuthFailure("bad", status_code=401, body={}, superExc=None),
            RunGone,
        ),
        (taskcluster.exceptions.TaskclusterConnectionError("down", superExc=None), TransientQueueError),
        (TimeoutError(), TransientQueueError),
    ],
)
async def test_client_errors_become_ours(error: BaseException, expected: type[TcwError]) -> None:
    with pytest.raises(expected) as raised:
        await translate("reclaimTask", fail_with(error), gone=RUN_OVER)
    assert type(raised.value) is expected and "reclaimTask" in raised.value.message


async def test_a_conflict_outside_a_run_call_is_a_refusal_not_the_end_of_the_run() -> None:
    with pytest.raises(QueueRefused) as raised:
        await translate("createArtifact x", fail_with(rest_failure(409)))
    assert not isinstance(raised.value, RunGone) and raised.value.status == 409


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    assert 0.375 <= backoff_delay(0, 0.5, 8) <= 0.625
    assert 6 <= backoff_delay(10, 0.5, 8) <= 10
