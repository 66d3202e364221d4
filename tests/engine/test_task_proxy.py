"""Tasks calling Taskcluster with their own scopes, run by the real worker on the local deployment: shell
tasks through ``$TASKCLUSTER_PROXY_URL`` (curl and the official client), a Python handler through its
context, and the scriptworker-style credentials descriptor, across reclaims of short claims."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import taskcluster

from tcw import tasks
from tcw.executors.api import TaskContext
from tests.support.localqueue import MakeLocalQueue, from_now
from tests.support.tasks import TASK_QUEUE, last_run, shell, task_definition
from tests.support.worker import MakeConfig, run_worker

PYTHON = shlex.quote(sys.executable)
SCOPES = ["secrets:get:project/x"]

# What the task runs: each line's result lands in a file of its work directory, which the test reads.
CURL = 'curl -s -o {out} -w "%{{http_code}}" {method} "$TASKCLUSTER_PROXY_URL/api/{path}" > {out}.status'
CLIENT_SCRIPT = """
import json, os, sys, taskcluster
root = os.environ["TASKCLUSTER_PROXY_URL"]
task_id, run_id = os.environ["TASK_ID"], os.environ["RUN_ID"]
secret = taskcluster.Secrets({"rootUrl": root}).get("project/x")["secret"]
artifact = {"storageType": "reference", "url": "https://example.com/", "contentType": "text/html",
            "expires": sys.argv[1]}
taskcluster.Queue({"rootUrl": root}).createArtifact(task_id, run_id, "public/from-task", artifact)
json.dump({"secret": secret}, open("client.json", "w"))
"""


def with_secrets(local: Any) -> Any:
    secrets = taskcluster.Secrets(local.client_options())
    for name in ("project/x", "project/y"):
        secrets.set(name, {"secret": {"name": name}, "expires": from_now(hours=1)})
    return taskcluster.Queue(local.client_options())


def create_scoped_task(queue: Any, payload: dict[str, Any]) -> str:
    definition = task_definition(TASK_QUEUE, payload=payload, scopes=SCOPES)
    return tasks.create_task(queue, definition)


def read(work_dir: Path | None, name: str) -> str:
    assert work_dir is not None
    return (work_dir / name).read_text()


async def test_a_shell_task_uses_its_scopes_and_only_them(
    make_local_queue: MakeLocalQueue, worker_config: MakeConfig, tmp_path: Path
) -> None:
    local = make_local_queue()
    queue = with_secrets(local)
    (tmp_path / "client.py").write_text(CLIENT_SCRIPT)
    commands = [
        CURL.format(out="x.json", method="", path="secrets/v1/secret/project/x"),
        CURL.format(out="y.json", method="", path="secrets/v1/secret/project/y"),
        CURL.format(out="reclaim.json", method="-X POST", path="queue/v1/task/$TASK_ID/runs/$RUN_ID/reclaim"),
        CURL.format(out="done.json", method="-X POST", path="queue/v1/task/$TASK_ID/runs/$RUN_ID/completed"),
        f"{PYTHON} {tmp_path / 'client.py'} {from_now(hours=2)}",
    ]
    task_id = create_scoped_task(queue, shell(*commands, features={"taskclusterProxy": True}))
    config = worker_config(local, max_tasks=1, keep_workdir=True)
    [record] = await run_worker(config)
    work_dir = record.work_dir
    assert last_run(queue, task_id) == "completed"
    assert read(work_dir, "x.json.status") == "200"
    assert json.loads(read(work_dir, "x.json"))["secret"] == {"name": "project/x"}
    assert read(work_dir, "y.json.status") == "403"
    assert json.loads(read(work_dir, "y.json"))["code"] == "InsufficientScopes"  # the service's own body
    for refused in ("reclaim.json", "done.json"):
        assert read(work_dir, f"{refused}.status") == "403", read(work_dir, refused)
    assert json.loads(read(work_dir, "client.json")) == {"secret": {"name": "project/x"}}
    assert queue.artifactInfo(task_id, "0", "public/from-task")["storageType"] == "reference"


async def test_without_the_feature_a_task_gets_no_proxy(
    make_local_queue: MakeLocalQueue, worker_config: MakeConfig
) -> None:
    local = make_local_queue()
    queue = with_secrets(local)
    task_id = create_scoped_task(queue, shell('test -z "${TASKCLUSTER_PROXY_URL+set}"'))
    [record] = await run_worker(worker_config(local, max_tasks=1))
    assert last_run(queue, task_id) == "completed", record
    on_by_default = create_scoped_task(queue, shell('test -n "$TASKCLUSTER_PROXY_URL"'))
    await run_worker(worker_config(local, max_tasks=1, taskcluster_proxy=True))
    assert last_run(queue, on_by_default) == "completed"


FD_SCRIPT = """
import json, os
fd = int(os.environ["TASKCLUSTER_CREDENTIALS_FD"])
os.lseek(fd, 0, os.SEEK_SET)
print(json.loads(os.read(fd, 65536))["clientId"])
"""


async def test_a_long_task_under_short_claims_keeps_working_across_reclaims(
    make_local_queue: MakeLocalQueue, worker_config: MakeConfig, tmp_path: Path
) -> None:
    """Over about 3 s under 2 s claims (reclaimed every 1.33 s): the proxy signs with each reclaim's
    credentials, and the descriptor holds the current ones."""
    local = make_local_queue(claim_timeout=2)
    queue = with_secrets(local)
    (tmp_path / "fd.py").write_text(FD_SCRIPT)
    header = "x-taskcluster-proxy-temp-clientid"
    loop = (
        "for i in $(seq 12); do "
        f'curl -s -D - -o /dev/null "$TASKCLUSTER_PROXY_URL/api/secrets/v1/secret/project/x" | tr -d "\\r" '
        f"| grep -i -e '^HTTP' -e '^{header}' >> calls.txt; "
        f"{PYTHON} {tmp_path / 'fd.py'} >> fd.txt; sleep 0.2; done"
    )
    task_id = create_scoped_task(queue, shell(loop, features={"taskclusterProxy": True}))
    config = worker_config(local, max_tasks=1, keep_workdir=True, task_credentials_fd=True)
    [record] = await run_worker(config)
    assert last_run(queue, task_id) == "completed"
    calls = read(record.work_dir, "calls.txt").splitlines()
    statuses = [line.split()[1] for line in calls if line.startswith("HTTP")]
    assert statuses == ["200"] * 12
    signed_as = {line.split(": ", 1)[1] for line in calls if line.lower().startswith(header)}
    from_fd = read(record.work_dir, "fd.txt").split()
    assert len(from_fd) == 12 and len(set(from_fd)) >= 2, from_fd  # the descriptor was rewritten
    assert len(signed_as) >= 2 and signed_as <= set(from_fd)  # the proxy followed the same reclaims
    assert all(client.startswith(f"task-client/{task_id}/0/") for client in from_fd)


async def test_a_handler_uses_its_scopes_through_its_context(
    make_local_queue: MakeLocalQueue, worker_config: MakeConfig
) -> None:
    local = make_local_queue(claim_timeout=2)
    queue = with_secrets(local)
    seen: dict[str, Any] = {}

    async def handler(ctx: TaskContext) -> None:
        assert ctx.taskcluster is not None
        secrets = ctx.taskcluster.client("secrets")
        first = ctx.credentials()["clientId"]
        seen["before"] = await asyncio.to_thread(secrets.get, "project/x")
        while ctx.credentials()["clientId"] == first:  # noqa: ASYNC110  (until the engine has reclaimed)
            await asyncio.sleep(0.1)
        seen["signed_as"] = secrets.options["credentials"]["clientId"]
        seen["now"] = ctx.credentials()["clientId"]
        seen["after"] = await asyncio.to_thread(secrets.get, "project/x")
        aio_queue = ctx.taskcluster.aio_client("queue")
        for call in (aio_queue.reclaimTask, aio_queue.reportCompleted):
            try:
                await call(ctx.task_id, str(ctx.run_id))
            except taskcluster.exceptions.TaskclusterRestFailure as error:
                seen.setdefault("refused", []).append(error.status_code)
        try:
            await ctx.taskcluster.aio_client("secrets").get("project/y")
        except taskcluster.exceptions.TaskclusterRestFailure as error:
            seen["other secret"] = error.status_code
        url = seen["url"] = await ctx.taskcluster.proxy_url()
        seen["via proxy"] = await asyncio.to_thread(taskcluster.Secrets({"rootUrl": url}).get, "project/x")

    task_id = create_scoped_task(queue, {"anything": True})
    await run_worker(worker_config(local, max_tasks=1), executor=handler)
    assert last_run(queue, task_id) == "completed"
    assert seen["before"]["secret"] == seen["after"]["secret"] == {"name": "project/x"}
    assert seen["signed_as"] == seen["now"]  # the client handed out got the new credentials
    assert seen["refused"] == [403, 403]
    assert seen["other secret"] == 403
    assert seen["via proxy"]["secret"] == {"name": "project/x"}
    with pytest.raises(requests.ConnectionError):  # the run is over: its proxy is gone
        await asyncio.to_thread(requests.get, f"{seen['url']}/api/secrets/v1/secret/project/x", timeout=30)
