"""The task proxy against the local deployment, called as tasks call it: curl and the official client
given the proxy URL as root URL, with a real claimed run's credentials."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
import requests
import taskcluster

from tcw.engine.taskproxy.server import TaskProxy
from tests.support.localqueue import api_failure, from_now
from tests.taskproxy.conftest import ClaimedRun


async def curl(*args: str, user: int | None = None) -> tuple[int, dict[str, str], bytes]:
    """``curl -s -i args``: the status, the headers (lower-case names) and the body."""
    process = await asyncio.create_subprocess_exec(
        "curl", "-s", "-i", *args, stdout=asyncio.subprocess.PIPE, user=user
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out
    head, _, body = out.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
    return int(status_line.split()[1]), headers, body


async def in_thread(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The sync official client, off the event loop the proxy serves on."""
    return await asyncio.to_thread(call, *args, **kwargs)


async def test_a_task_reads_its_secret_with_curl(run: ClaimedRun) -> None:
    status, headers, body = await curl(f"{run.proxy.url}/api/secrets/v1/secret/project/x")
    assert status == 200, body
    assert json.loads(body)["secret"] == {"name": "project/x"}
    assert headers["content-type"].startswith("application/json")
    assert headers["x-taskcluster-proxy-temp-clientid"] == run.credentials["clientId"]
    assert json.loads(headers["x-taskcluster-authorized-scopes"]) == [
        "secrets:get:project/x",
        f"queue:create-artifact:{run.task_id}/{run.run_id}",
    ]
    assert f"queue:reclaim-task:{run.task_id}/{run.run_id}" in json.loads(
        headers["x-taskcluster-proxy-temp-scopes"]
    )
    assert headers["x-taskcluster-endpoint"] == f"{run.queue.root_url}/api/secrets/v1/secret/project/x"


async def test_the_legacy_route_reads_it_too(run: ClaimedRun) -> None:
    status, _, body = await curl(f"{run.proxy.url}/secrets/v1/secret/project/x")
    assert status == 200 and json.loads(body)["secret"] == {"name": "project/x"}


async def test_the_official_client_given_the_proxy_as_root_url(run: ClaimedRun) -> None:
    secrets = taskcluster.Secrets({"rootUrl": run.proxy.url})
    assert (await in_thread(secrets.get, "project/x"))["secret"] == {"name": "project/x"}


async def test_another_secret_is_refused_with_the_services_own_403(run: ClaimedRun) -> None:
    status, _, body = await curl(f"{run.proxy.url}/api/secrets/v1/secret/project/y")
    assert status == 403
    error = json.loads(body)
    assert error["code"] == "InsufficientScopes" and "secrets:get:project/y" in error["message"]
    assert set(error) == {"code", "message", "requestInfo"}  # the service's body, passed through
    failure = await in_thread(api_failure, taskcluster.Secrets({"rootUrl": run.proxy.url}).get, "project/y")
    assert failure.status_code == 403


async def test_the_task_cannot_reclaim_or_resolve_its_own_run(run: ClaimedRun) -> None:
    """The claim's credentials hold queue:reclaim-task and queue:resolve-task; the proxy's
    authorizedScopes leave them out."""
    queue = taskcluster.Queue({"rootUrl": run.proxy.url})
    for method in ("reclaimTask", "reportCompleted", "reportFailed"):
        failure = await in_thread(api_failure, getattr(queue, method), run.task_id, str(run.run_id))
        assert failure.status_code == 403, method
        assert failure.body["code"] == "InsufficientScopes", method
    status = taskcluster.Queue(run.queue.client_options()).status(run.task_id)["status"]
    assert status["state"] == "running"


async def test_the_task_creates_an_artifact_of_its_own_run(run: ClaimedRun) -> None:
    queue = taskcluster.Queue({"rootUrl": run.proxy.url})
    body = {"storageType": "reference", "url": "https://example.com/", "contentType": "text/html"}
    body["expires"] = from_now(hours=2)
    await in_thread(queue.createArtifact, run.task_id, str(run.run_id), "public/ref", body)
    root = taskcluster.Queue(run.queue.client_options())
    assert root.artifactInfo(run.task_id, str(run.run_id), "public/ref")["storageType"] == "reference"


async def test_each_request_is_signed_with_the_credentials_of_that_moment(run: ClaimedRun) -> None:
    old = dict(run.credentials)
    await in_thread(run.reclaim)
    assert run.credentials["accessToken"] != old["accessToken"]
    status, headers, _ = await curl(f"{run.proxy.url}/api/secrets/v1/secret/project/x")
    assert status == 200
    assert headers["x-taskcluster-proxy-temp-clientid"] == run.credentials["clientId"]
    run.credentials = {**run.credentials, "accessToken": "not-the-token"}  # the next swap is a bad one
    status, _, body = await curl(f"{run.proxy.url}/api/secrets/v1/secret/project/x")
    assert status == 401 and json.loads(body)["code"] == "AuthenticationFailed"


async def test_requests_are_refused_once_the_run_ended(run: ClaimedRun) -> None:
    run.proxy.end("run ended (completed)")
    status, _, body = await curl(f"{run.proxy.url}/api/secrets/v1/secret/project/x")
    assert status == 410
    assert json.loads(body) == {
        "code": "TaskRunEnded",
        "message": f"tcw task proxy for {run.task_id}/{run.run_id}: run ended (completed)",
    }


async def test_bewit_answers_a_signed_url_for_an_hour(run: ClaimedRun) -> None:
    target = f"{run.queue.root_url}/api/secrets/v1/secret/project/x"
    status, headers, _ = await curl("-X", "POST", "--data-binary", target, f"{run.proxy.url}/bewit")
    assert status == 303
    signed = headers["location"]
    assert signed.startswith(target + "?bewit=")
    fetched = await in_thread(requests.get, signed, timeout=30)
    assert fetched.status_code == 200 and fetched.json()["secret"] == {"name": "project/x"}
    status, _, _ = await curl(
        "-X", "POST", "--data-binary", "https://example.com/x", f"{run.proxy.url}/bewit"
    )
    assert status == 400  # only the deployment's own URLs are signed


async def test_other_hosts_and_paths_are_not_proxied(run: ClaimedRun) -> None:
    port = run.proxy.url.rsplit(":", 1)[1]
    status, _, body = await curl("-H", f"Host: evil.example:{port}", f"{run.proxy.url}/api/secrets/v1/ping")
    assert status == 403 and json.loads(body)["code"] == "ProxyForbidden"
    status, _, _ = await curl(f"{run.proxy.url}/example.com/v1/anything")
    assert status == 404
    status, _, _ = await curl(f"{run.proxy.url}/")
    assert status == 404


async def test_a_user_not_allowed_is_refused(run: ClaimedRun) -> None:
    """The connecting socket's owner (from /proc/net/tcp) must be an allowed user."""
    if not await asyncio.to_thread(os.path.exists, "/proc/net/tcp"):
        pytest.skip("this OS has no /proc/net/tcp to tell users apart")
    other = TaskProxy(
        root_url=run.queue.root_url,
        credentials=run.current,
        authorized_scopes=["secrets:get:project/x"],
        allowed_uids=frozenset({os.geteuid() + 1}),
    )
    await other.start()
    try:
        status, _, body = await curl(f"{other.url}/api/secrets/v1/secret/project/x")
    finally:
        await other.close()
    assert status == 403
    assert (
        json.loads(body)["message"] == f"tcw task proxy: connections from uid {os.geteuid()} are not allowed"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as another user")
async def test_another_local_users_process_is_refused(run: ClaimedRun) -> None:
    status, _, body = await curl(f"{run.proxy.url}/api/secrets/v1/secret/project/x", user=65534)
    assert status == 403 and json.loads(body)["code"] == "ProxyForbidden"
    status, _, _ = await curl(f"{run.proxy.url}/api/secrets/v1/secret/project/x")
    assert status == 200  # the run's own user still gets through


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as another user")
async def test_each_connection_is_judged_by_its_own_owner(run: ClaimedRun) -> None:
    """The proxy asks the kernel about every connection it accepts: that the last one was the run's own
    user's (same address, same proxy, moments before) lets nobody else in."""
    url = f"{run.proxy.url}/api/secrets/v1/secret/project/x"
    for user, expected in ((None, 200), (65534, 403), (None, 200), (65534, 403)):
        status, _, _ = await curl(url, user=user)
        assert status == expected, user


async def test_set_bodies_stream_through(secrets_queue: Any) -> None:
    """A body goes through unread and unhashed: a 1 MiB secret set through the proxy reads back whole."""
    from tests.taskproxy.conftest import claim_run

    claimed = claim_run(secrets_queue, ["secrets:set:project/big", "secrets:get:project/big"])
    proxy = TaskProxy(
        root_url=secrets_queue.root_url,
        credentials=claimed.current,
        authorized_scopes=["secrets:set:project/big", "secrets:get:project/big"],
    )
    await proxy.start()
    try:
        secrets = taskcluster.Secrets({"rootUrl": proxy.url})
        value = {"blob": "x" * (1 << 20)}
        await in_thread(secrets.set, "project/big", {"secret": value, "expires": from_now(hours=1)})
        assert (await in_thread(secrets.get, "project/big"))["secret"] == value
    finally:
        await proxy.close()
