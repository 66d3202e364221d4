"""Hawk authentication over real HTTP: the official client signs, a tiny aiohttp app calls ``authenticate``.

The app answers ``{clientId, scopes, path}`` or the real 401 body, so each test sees exactly what the local
queue will see, without depending on the queue itself.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import mohawk
import pytest
import requests
import taskcluster
from aiohttp import web
from taskcluster.exceptions import TaskclusterAuthFailure

from tcw.localqueue.auth.clients import Client, ClientStore, issue_task_credentials
from tcw.localqueue.auth.hawk import authenticate
from tcw.localqueue.core.errors import AuthenticationFailed
from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import api_failure, from_now
from tests.support.tasks import task_definition

ROOT = Client("root", "root-token-0123456789abcdefghijklmnopqrstuv", ("*",))
WORKER = Client("worker/one", "worker-token-0123456789abcdefghijklmnopqrs", ("queue:claim-work:p/*", "x:y"))
ANONYMOUS_SCOPES = ("assume:anonymous",)  # what every caller holds while the anonymous role has no scopes


@dataclass
class EchoServer:
    """What a request authenticated as; ``clock_offset`` shifts the server's clock to test skew."""

    root_url: str = ""
    clients: ClientStore = field(default_factory=lambda: ClientStore((ROOT, WORKER)))
    clock_offset: float = 0.0

    def queue(self, credentials: dict[str, Any] | None = None, **options: Any) -> Any:
        config: dict[str, Any] = {"rootUrl": self.root_url, "maxRetries": 0, **options}
        if credentials is not None:
            config["credentials"] = dict(credentials)  # the client encodes the values in place
        return taskcluster.Queue(config)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            caller = authenticate(
                self.clients,
                method=request.method,
                resource=request.raw_path,
                host=request.url.host or "",
                port=request.url.port or 80,
                authorization=request.headers.get("Authorization"),
                content_type=request.headers.get("Content-Type", ""),
                body=body,
                now=time.time() + self.clock_offset,
            )
        except AuthenticationFailed as error:
            answer = {"code": error.code, "message": error.message, "requestInfo": {}}
            return web.json_response(answer, status=error.status)
        return web.json_response(
            {"clientId": caller.client_id, "scopes": list(caller.scopes), "path": request.raw_path}
        )


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(app)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    server.root_url = f"http://127.0.0.1:{port}"
    yield server
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def creds(client: Client, **extra: Any) -> dict[str, Any]:
    return {"clientId": client.client_id, "accessToken": client.access_token, **extra}


def temporary(
    issuer: Client, *, start: datetime, expiry: datetime, scopes: list[str], name: str | None
) -> Any:
    return taskcluster.createTemporaryCredentials(
        issuer.client_id, issuer.access_token, start, expiry, scopes, name=name
    )


def auth_failure(call: Any, *args: Any) -> str:
    failure = api_failure(call, *args)
    assert isinstance(failure, TaskclusterAuthFailure)
    assert (failure.status_code, failure.body["code"]) == (401, "AuthenticationFailed")
    return str(failure.body["message"])


NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """Certificates here are built around NOW: take it as each test starts, not at import, or the tests
    on a boundary (4 versus 6 minutes past expiry) drift with how long the suite has been running."""
    global NOW
    NOW = datetime.now(UTC)


def test_permanent_credentials_get_their_scopes_plus_anonymous(echo: EchoServer) -> None:
    answer = echo.queue(creds(WORKER)).ping()
    assert answer["clientId"] == "worker/one"
    assert answer["scopes"][:2] == ["queue:claim-work:p/*", "x:y"]
    assert set(ANONYMOUS_SCOPES) <= set(answer["scopes"])


def test_no_credentials_is_anonymous(echo: EchoServer) -> None:
    answer = echo.queue().task("abc")
    assert answer == {"clientId": "anonymous", "scopes": list(ANONYMOUS_SCOPES), "path": answer["path"]}


def test_wrong_token_is_bad_mac(echo: EchoServer) -> None:
    wrong = {"clientId": ROOT.client_id, "accessToken": "not-the-token"}
    assert auth_failure(echo.queue(wrong).ping) == "Unauthorized: Bad mac"


def test_unknown_client(echo: EchoServer) -> None:
    stranger = {"clientId": "nobody", "accessToken": "whatever"}
    assert auth_failure(echo.queue(stranger).ping) == "Client with clientId 'nobody' not found"


def test_bodiless_post_and_json_body_verify_their_payload_hash(echo: EchoServer) -> None:
    queue = echo.queue(creds(ROOT))
    assert queue.reportCompleted("abc", "0")["clientId"] == "root"
    assert queue.reportException("abc", "0", {"reason": "worker-shutdown"})["clientId"] == "root"


def test_percent_encoded_artifact_name_is_signed_as_sent(echo: EchoServer) -> None:
    answer = echo.queue(creds(ROOT)).createArtifact(
        "abc", "0", "public/logs/live log.txt", {"storageType": "s3", "contentType": "text/plain"}
    )
    assert answer["clientId"] == "root"
    assert answer["path"].endswith("/artifacts/public%2Flogs%2Flive%20log.txt")


def test_tampered_body_is_refused_with_the_payload_hash_message(echo: EchoServer) -> None:
    url = f"{echo.root_url}/api/queue/v1/task/abc/runs/0/exception"
    signed = mohawk.Sender(
        {"id": ROOT.client_id, "key": ROOT.access_token, "algorithm": "sha256"},
        url,
        "POST",
        content='{"reason":"worker-shutdown"}',
        content_type="application/json",
    )
    response = requests.post(
        url,
        data='{"reason":"malformed-payload"}',
        headers={"Authorization": signed.request_header, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["message"].startswith("Invalid payload hash: ")


@pytest.mark.parametrize(("offset", "accepted"), [(14 * 60, True), (-14 * 60, True), (16 * 60, False)])
def test_clock_skew_of_fifteen_minutes(echo: EchoServer, offset: float, accepted: bool) -> None:
    echo.clock_offset = offset
    queue = echo.queue(creds(ROOT))
    if accepted:
        assert queue.ping()["clientId"] == "root"
    else:
        assert auth_failure(queue.ping) == "Unauthorized: Stale timestamp"


def test_named_certificate_gives_its_scopes_under_its_name(echo: EchoServer) -> None:
    issued = temporary(
        ROOT, start=NOW, expiry=NOW + timedelta(hours=1), scopes=["a:b", "c:*"], name="me/temp"
    )
    answer = echo.queue(issued).ping()
    assert answer["clientId"] == "me/temp"
    assert answer["scopes"][:2] == ["a:b", "c:*"]
    assert "*" not in answer["scopes"]


def test_unnamed_certificate_keeps_the_issuer_name(echo: EchoServer) -> None:
    issued = temporary(WORKER, start=NOW, expiry=NOW + timedelta(hours=1), scopes=["x:y"], name=None)
    answer = echo.queue(issued).ping()
    assert answer["clientId"] == "worker/one"
    assert answer["scopes"][0] == "x:y"
    assert "queue:claim-work:p/*" not in answer["scopes"]


def test_task_credentials_from_issue_task_credentials_authenticate(echo: EchoServer) -> None:
    issued = issue_task_credentials(
        ROOT,
        task_id="T1",
        run_id=0,
        worker_group="g",
        worker_id="w",
        taken_until=NOW + timedelta(minutes=20),
        task_scopes=["secrets:get:x"],
    )
    answer = echo.queue(issued).reclaimTask("T1", "0")
    assert answer["clientId"] == issued["clientId"]
    assert answer["scopes"][:4] == [
        "queue:reclaim-task:T1/0",
        "queue:resolve-task:T1/0",
        "queue:create-artifact:T1/0",
        "secrets:get:x",
    ]


def test_expired_certificate_is_refused_after_five_minutes_of_grace(echo: EchoServer) -> None:
    recent = temporary(
        ROOT, start=NOW - timedelta(hours=1), expiry=NOW - timedelta(minutes=4), scopes=[], name="t"
    )
    assert echo.queue(recent).ping()["clientId"] == "t"
    expired = temporary(
        ROOT, start=NOW - timedelta(hours=1), expiry=NOW - timedelta(minutes=6), scopes=[], name="t"
    )
    assert auth_failure(echo.queue(expired).ping) == "ext.certificate.expiry < now"


def test_a_certificate_seen_before_still_expires(echo: EchoServer) -> None:
    issued = temporary(ROOT, start=NOW, expiry=NOW + timedelta(minutes=5), scopes=[], name="t")
    queue = echo.queue(issued)
    assert queue.ping()["clientId"] == "t"
    echo.clock_offset = 12 * 60  # past the 5 min of grace, within the 15 min of Hawk skew
    assert auth_failure(queue.ping) == "ext.certificate.expiry < now"


def test_a_replaced_client_is_verified_with_its_new_token(echo: EchoServer) -> None:
    assert echo.queue(creds(WORKER)).ping()["clientId"] == "worker/one"
    replaced = Client(WORKER.client_id, "worker-token-replaced-0123456789abcdefghij", ("z:z",))
    echo.clients.add(replaced)
    assert auth_failure(echo.queue(creds(WORKER)).ping) == "Unauthorized: Bad mac"
    assert echo.queue(creds(replaced)).ping()["scopes"][0] == "z:z"


def test_certificate_that_starts_in_the_future_is_refused(echo: EchoServer) -> None:
    later = temporary(
        ROOT, start=NOW + timedelta(minutes=10), expiry=NOW + timedelta(hours=1), scopes=[], name="t"
    )
    assert auth_failure(echo.queue(later).ping) == "ext.certificate.start > now"


def test_certificate_from_an_unknown_issuer_is_refused(echo: EchoServer) -> None:
    ghost = Client("ghost", "ghost-token", ("*",))
    issued = temporary(ghost, start=NOW, expiry=NOW + timedelta(hours=1), scopes=["a"], name="t")
    assert auth_failure(echo.queue(issued).ping) == "Client with clientId 'ghost' not found"


def test_certificate_beyond_the_issuer_scopes_is_refused(echo: EchoServer) -> None:
    issued = temporary(WORKER, start=NOW, expiry=NOW + timedelta(hours=1), scopes=["queue:*"], name=None)
    message = auth_failure(echo.queue(issued).ping)
    assert message.startswith("ext.certificate issuer `worker/one` doesn't satisfy all certificate scopes")


def test_named_certificate_needs_create_client_scope(echo: EchoServer) -> None:
    issued = temporary(WORKER, start=NOW, expiry=NOW + timedelta(hours=1), scopes=["x:y"], name="other")
    message = auth_failure(echo.queue(issued).ping)
    assert "doesn't have `auth:create-client:other`" in message


def test_tampered_certificate_scopes_break_the_signature(echo: EchoServer) -> None:
    issued = temporary(ROOT, start=NOW, expiry=NOW + timedelta(hours=1), scopes=["a:b"], name="t")
    certificate = json.loads(issued["certificate"])
    certificate["scopes"] = ["*"]
    tampered = {**issued, "certificate": json.dumps(certificate)}
    message = auth_failure(echo.queue(tampered).ping)
    assert message == "ext.certificate.signature is not valid, or wrong clientId provided"


def test_certificate_used_under_another_name_is_refused(echo: EchoServer) -> None:
    issued = temporary(ROOT, start=NOW, expiry=NOW + timedelta(hours=1), scopes=["a:b"], name="t")
    renamed = {**issued, "clientId": "someone-else"}
    message = auth_failure(echo.queue(renamed).ping)
    assert message == "ext.certificate.signature is not valid, or wrong clientId provided"


def test_authorized_scopes_narrow_the_caller(echo: EchoServer) -> None:
    answer = echo.queue(creds(ROOT), authorizedScopes=["queue:get-task:x"]).ping()
    assert answer["clientId"] == "root"
    assert answer["scopes"] == ["queue:get-task:x", *ANONYMOUS_SCOPES]


def test_empty_authorized_scopes_leave_only_anonymous(echo: EchoServer) -> None:
    answer = echo.queue(creds(ROOT), authorizedScopes=[]).ping()
    assert answer["scopes"] == list(ANONYMOUS_SCOPES)


def test_authorized_scopes_narrow_temporary_credentials(echo: EchoServer) -> None:
    issued = temporary(ROOT, start=NOW, expiry=NOW + timedelta(hours=1), scopes=["a:*"], name="t")
    answer = echo.queue(issued, authorizedScopes=["a:b"]).ping()
    assert answer["scopes"][0] == "a:b"
    assert "a:*" not in answer["scopes"]


def test_authorized_scopes_cannot_escalate(echo: EchoServer) -> None:
    message = auth_failure(echo.queue(creds(WORKER), authorizedScopes=["queue:create-task:*"]).ping)
    assert message.startswith("Supplied credentials do not satisfy authorizedScopes")
    assert "queue:create-task:*" in message


def test_signed_url_bewit(echo: EchoServer) -> None:
    url = echo.queue(creds(WORKER)).buildSignedUrl("getLatestArtifact", "abc", "private/log.txt")
    answer = requests.get(url, timeout=10).json()
    assert answer["clientId"] == "worker/one"
    assert "%2F" in answer["path"]


def test_signed_url_with_temporary_credentials(echo: EchoServer) -> None:
    issued = temporary(
        ROOT, start=NOW, expiry=NOW + timedelta(hours=1), scopes=["queue:get-artifact:*"], name="t"
    )
    url = echo.queue(issued).buildSignedUrl("task", "abc")
    assert requests.get(url, timeout=10).json()["scopes"][0] == "queue:get-artifact:*"


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda url: url.replace("/task/abc", "/task/abd"), "Unauthorized: Bad mac"),
        (lambda url: url + "&x=1", "Unauthorized: Bad mac"),
    ],
)
def test_signed_url_tampered(echo: EchoServer, mangle: Any, message: str) -> None:
    url = echo.queue(creds(ROOT)).buildSignedUrl("task", "abc")
    response = requests.get(mangle(url), timeout=10)
    assert (response.status_code, response.json()["message"]) == (401, message)


def test_signed_url_expired_or_misused(echo: EchoServer) -> None:
    expired = echo.queue(creds(ROOT)).buildSignedUrl("task", "abc", expiration=-60)
    response = requests.get(expired, timeout=10)
    assert (response.status_code, response.json()["message"]) == (401, "Unauthorized: Access expired")
    fresh = echo.queue(creds(ROOT)).buildSignedUrl("task", "abc")
    assert requests.post(fresh, timeout=10).json()["message"] == "Unauthorized: Invalid method"


def test_garbage_authorization_header(echo: EchoServer) -> None:
    response = requests.get(
        f"{echo.root_url}/api/queue/v1/ping", headers={"Authorization": "Hawk x"}, timeout=10
    )
    assert (response.status_code, response.json()["message"]) == (401, "Bad Request: Bad header format")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ('Bearer id="root"', "Bad Request: Bad header format"),
        ('Hawk id="root", ts="1", nonce="n", mac="m", colour="red"', "Bad Request: Bad header format"),
        ('Hawk id="root", id="root", ts="1", nonce="n", mac="m"', "Bad Request: Bad header format"),
        ('Hawk ts="1", nonce="n", mac="m"', "Bad Request: Missing attributes"),
        ('Hawk id="root", ts="1", nonce="", mac="m"', "Bad Request: Missing attributes"),
        ('Hawk id="nobody", ts="1", nonce="n", mac="m"', "Client with clientId 'nobody' not found"),
    ],
)
def test_malformed_headers_fail_in_the_auth_services_order(
    echo: EchoServer, header: str, message: str
) -> None:
    response = requests.get(
        f"{echo.root_url}/api/queue/v1/ping", headers={"Authorization": header}, timeout=10
    )
    assert (response.status_code, response.json()["message"]) == (401, message)


def test_signed_non_numeric_timestamp(echo: EchoServer) -> None:
    url = f"{echo.root_url}/api/queue/v1/ping"
    credentials = {"id": ROOT.client_id, "key": ROOT.access_token, "algorithm": "sha256"}
    signed = mohawk.Sender(credentials, url, "GET", always_hash_content=False, _timestamp="soon")
    response = requests.get(url, headers={"Authorization": signed.request_header}, timeout=10)
    assert (response.status_code, response.json()["message"]) == (401, "Bad Request: Invalid timestamp")


async def test_async_client_is_accepted(echo: EchoServer) -> None:
    import taskcluster.aio

    async with taskcluster.aio.createSession() as session:
        queue = taskcluster.aio.Queue(
            {"rootUrl": echo.root_url, "credentials": creds(ROOT), "maxRetries": 0}, session=session
        )
        answer = await queue.reportException("abc", "0", {"reason": "worker-shutdown"})
    assert answer["clientId"] == "root"


# -- end to end, against the local queue


def claimed_task(service: LocalQueue, task_scopes: list[str]) -> tuple[str, dict[str, str]]:
    """Create a task and claim it as worker g/w; return its taskId and the run's temporary credentials."""
    queue = taskcluster.Queue({**service.client_options(), "maxRetries": 0})
    task_id = taskcluster.slugId()
    queue.createTask(task_id, task_definition("tcw-auth/test", scopes=task_scopes))
    claim = queue.claimWork("tcw-auth/test", {"workerGroup": "g", "workerId": "w", "tasks": 1})
    assert [claimed["status"]["taskId"] for claimed in claim["tasks"]] == [task_id]
    return task_id, claim["tasks"][0]["credentials"]


def refusal(call: Any, *args: Any) -> tuple[int, str, str]:
    failure = api_failure(call, *args)
    return failure.status_code, failure.body["code"], failure.body["message"]


def as_client(service: LocalQueue, credentials: dict[str, str], **options: Any) -> Any:
    return taskcluster.Queue({**service.client_options(credentials), "maxRetries": 0, **options})


ERROR_ARTIFACT = {"storageType": "error", "reason": "file-missing-on-worker", "message": "nothing here"}


def error_artifact() -> dict[str, str]:
    return {**ERROR_ARTIFACT, "expires": from_now(days=1)}


def test_task_credentials_act_on_their_own_run_only(local_queue: LocalQueue) -> None:
    other_task, _ = claimed_task(local_queue, [])
    task_id, credentials = claimed_task(local_queue, ["secrets:get:x"])
    assert credentials["clientId"].startswith(f"task-client/{task_id}/0/on/g/w/until/")
    as_task = as_client(local_queue, credentials)
    as_task.reclaimTask(task_id, "0")
    as_task.createArtifact(task_id, "0", "public/missing.txt", error_artifact())
    created = refusal(as_task.createArtifact, other_task, "0", "public/missing.txt", error_artifact())
    assert created[:2] == (403, "InsufficientScopes")
    status, code, message = refusal(as_task.reclaimTask, other_task, "0")
    assert (status, code) == (403, "InsufficientScopes")
    assert f"queue:reclaim-task:{other_task}/0" in message
    assert refusal(as_task.reportCompleted, other_task, "0")[:2] == (403, "InsufficientScopes")
    assert as_task.reportCompleted(task_id, "0")["status"]["state"] == "completed"


def test_reclaimed_credentials_work_too(local_queue: LocalQueue) -> None:
    task_id, credentials = claimed_task(local_queue, [])
    fresh = as_client(local_queue, credentials).reclaimTask(task_id, "0")["credentials"]
    assert fresh["accessToken"] != credentials["accessToken"]
    assert as_client(local_queue, fresh).reportFailed(task_id, "0")["status"]["state"] == "failed"


def test_task_credentials_restricted_to_task_scopes_cannot_resolve(local_queue: LocalQueue) -> None:
    """What a proxy does for task code: authorizedScopes = task.scopes drops the run's worker scopes."""
    task_id, credentials = claimed_task(local_queue, ["secrets:get:x"])
    proxied = as_client(local_queue, credentials, authorizedScopes=["secrets:get:x"])
    status, code, message = refusal(proxied.reportCompleted, task_id, "0")
    assert (status, code) == (403, "InsufficientScopes")
    assert f"queue:resolve-task:{task_id}/0" in message


def test_task_credentials_cannot_create_tasks(local_queue: LocalQueue) -> None:
    _, credentials = claimed_task(local_queue, [])
    status, code, message = refusal(
        as_client(local_queue, credentials).createTask, taskcluster.slugId(), task_definition("tcw-auth/test")
    )
    assert (status, code) == (403, "InsufficientScopes")
    assert "does not have sufficient scopes" in message


def test_missing_scope_for_a_permanent_client(local_queue: LocalQueue) -> None:
    worker = local_queue.add_client("worker/limited", ["queue:claim-work:tcw-auth/test"])
    claim = refusal(
        as_client(local_queue, worker).claimWork,
        "tcw-auth/test",
        {"workerGroup": "g", "workerId": "w", "tasks": 1},
    )
    assert claim[:2] == (403, "InsufficientScopes")
    assert "queue:worker-id:g/w" in claim[2]


def test_wrong_token_gets_the_real_401_body(local_queue: LocalQueue) -> None:
    wrong = {**(local_queue.root_credentials or {}), "accessToken": "not-the-token"}
    status, code, message = refusal(as_client(local_queue, wrong).reportCompleted, "abc", "0")
    assert (status, code) == (401, "AuthenticationFailed")
    assert message.startswith("Unauthorized: Bad mac")


def test_signed_url_reads_a_private_artifact(local_queue: LocalQueue) -> None:
    task_id, credentials = claimed_task(local_queue, [])
    as_client(local_queue, credentials).createArtifact(task_id, "0", "private/missing.txt", error_artifact())
    reader = local_queue.add_client("reader", ["queue:get-artifact:private/*"])
    url = as_client(local_queue, reader).buildSignedUrl("getArtifact", task_id, "0", "private/missing.txt")
    signed = requests.get(url, timeout=10, allow_redirects=False)
    assert (signed.status_code, signed.json()["reason"]) == (424, "file-missing-on-worker")
    unsigned = requests.get(url.split("?")[0], timeout=10, allow_redirects=False)
    assert (unsigned.status_code, unsigned.json()["code"]) == (403, "InsufficientScopes")
