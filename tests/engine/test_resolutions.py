"""Each way a run can end, through the real loop, the shell executor and the local queue over HTTP."""

from __future__ import annotations

from typing import Any

from tcw.executors.api import TaskFailed
from tests.support.tasks import create_task, last_run, runs, shell
from tests.support.worker import MakeConfig, run_worker


def artifact_text(queue: Any, task_id: str, run_id: int, name: str) -> str:
    url = queue.buildSignedUrl("getArtifact", task_id, str(run_id), name)
    import requests

    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response.text


async def test_completed_failed_intermittent_and_malformed(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    passing = create_task(queue, shell(["echo", "hello $TASK_ID"], 'echo "run $RUN_ID"'))
    failing = create_task(queue, shell("echo oops >&2; exit 3"))
    intermittent = create_task(queue, shell("exit 7", onExitStatus={"retry": [7]}), retries=1)
    malformed = create_task(queue, {"command": 42})

    records = await run_worker(worker_config(local_queue, capacity=4, max_tasks=5))

    assert last_run(queue, passing) == "completed"
    assert last_run(queue, failing) == "failed"
    assert runs(queue, intermittent)[0]["reasonResolved"] == "intermittent-task"
    assert runs(queue, intermittent)[1]["reasonCreated"] == "task-retry"
    assert last_run(queue, malformed) == "exception/malformed-payload"
    assert len(records) == 5 and all(record.reported for record in records)

    log = artifact_text(queue, passing, 0, "public/logs/live_backing.log")
    assert f"hello {passing}" not in log  # argv commands are not run through a shell
    assert "hello $TASK_ID" in log and "run 0" in log
    assert "oops" in artifact_text(queue, failing, 0, "public/logs/live_backing.log")
    malformed_log = artifact_text(queue, malformed, 0, "public/logs/live.log")
    assert "maxRunTime" in malformed_log and "invalid" in malformed_log.lower()
    names = {a["name"]: a for a in queue.listArtifacts(failing, "0")["artifacts"]}
    assert names["public/logs/live_backing.log"]["contentType"] == "text/plain"
    assert names["public/logs/live.log"]["storageType"] == "link"


async def test_max_run_time_kills_the_task_and_fails_with_the_reason_last(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    task_id = create_task(queue, shell("echo started; sleep 30", max_run_time=1))
    records = await run_worker(worker_config(local_queue, max_tasks=1))
    assert last_run(queue, task_id) == "failed"
    assert records[0].duration < 10
    log = artifact_text(queue, task_id, 0, "public/logs/live_backing.log").strip().splitlines()
    assert "started" in "\n".join(log)
    assert "resolution: failed: maxRunTime exceeded" in log[-1]


async def test_an_unexpected_error_is_internal_error_and_the_worker_goes_on(
    local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    broken = create_task(queue, {"explode": True})
    fine = create_task(queue, {"explode": False})
    failed = create_task(queue, {"fail": True})

    async def handler(ctx: Any) -> None:
        if ctx.payload.get("explode"):
            raise ZeroDivisionError("a bug in the handler")
        if ctx.payload.get("fail"):
            raise TaskFailed("the handler says the task failed")

    records = await run_worker(worker_config(local_queue, max_tasks=3), handler)
    assert last_run(queue, broken) == "exception/internal-error"
    assert last_run(queue, fine) == "completed"
    assert last_run(queue, failed) == "failed"
    assert "ZeroDivisionError" in artifact_text(queue, broken, 0, "public/logs/live_backing.log")
    assert len(records) == 3
