"""The least a worker can do per task, for the ceiling of a deployment on this machine.

It makes the Taskcluster calls ``tcw run`` makes per no-op task (claim, the task log as an s3 artifact and
the ``public/logs/live.log`` link to it beside each other, then ``completed``) through the same official
client and one kept-alive session, with the same claim-ahead: a claim for every free slot, at most
``capacity`` runs whose commands still run and at most two runs per slot in flight. With
BENCH_RUN_COMMANDS=1 it also runs each task's commands as asyncio subprocesses, their output in the log file
it uploads; without, it runs nothing and uploads a log of about the same size. No sandbox, no payload
check, no live log, no reclaim, no retry: any failure fails the whole run.

Where the deployment shares the machine with the worker, as the upstream services do here, the first is
what the deployment can give any worker making those calls, the second what it can give one that also
runs the commands; the gap from there to tcw's figure is tcw's own work.

Run by ``bench/engine_throughput.py`` (kinds ``calls8``, ``min8``) as a script, with TASKCLUSTER_ROOT_URL,
TASKCLUSTER_CLIENT_ID, TASKCLUSTER_ACCESS_TOKEN (TASKCLUSTER_CERTIFICATE), BENCH_TASK_QUEUE, BENCH_TASKS,
BENCH_CAPACITY and BENCH_RUN_COMMANDS in the environment, and a scratch directory as its argument.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import taskcluster.aio

LOG = b"[minimal worker] a no-op task's log, about as long as tcw's for `true`.\n" * 5


RUNNING: set[str] = set()  # task ids whose commands have not ended: what capacity limits
FREED = asyncio.Event()  # a slot's commands ended


async def run_commands(payload: dict[str, Any], log: Path) -> bytes:
    """The payload's commands in order, their output in ``log``; its content."""
    with log.open("wb") as output:
        for argv in payload["command"]:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=asyncio.subprocess.STDOUT
            )
            if await process.wait() != 0:
                raise SystemExit(f"{argv} exited {process.returncode}")
    return read_and_remove(log)


def read_and_remove(log: Path) -> bytes:
    """A small log, read on the loop as tcw reads one."""
    content = log.read_bytes()
    log.unlink()
    return content


async def run_task(root_url: str, session: Any, claim: dict[str, Any], scratch: Path | None) -> None:
    status = claim["status"]
    task_id, run_id = status["taskId"], claim["runId"]
    try:
        content = LOG if scratch is None else await run_commands(claim["task"]["payload"], scratch / task_id)
    finally:
        RUNNING.discard(task_id)
        FREED.set()
    queue = taskcluster.aio.Queue({"rootUrl": root_url, "credentials": claim["credentials"]}, session=session)
    expires = claim["task"]["expires"]  # as tcw does: the task's own
    body = {"storageType": "s3", "expires": expires, "contentType": "text/plain"}
    body["contentLength"] = len(content)
    link = {"storageType": "link", "expires": expires, "artifact": "public/logs/live_backing.log"}

    async def upload() -> None:
        reply = await queue.createArtifact(task_id, run_id, "public/logs/live_backing.log", body)
        headers = {"Content-Type": "text/plain", "Content-Length": str(len(content))}
        async with session.put(reply["putUrl"], data=content, headers=headers) as response:
            response.raise_for_status()

    # beside each other, as tcw makes them
    await asyncio.gather(upload(), queue.createArtifact(task_id, run_id, "public/logs/live.log", link))
    await queue.reportCompleted(task_id, run_id)


def still_running(jobs: set[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
    """The jobs not done; one that failed raises here, so that the run fails rather than hangs."""
    for job in jobs:
        if job.done():
            job.result()
    return {job for job in jobs if not job.done()}


async def main(scratch: Path) -> None:
    root_url = os.environ["TASKCLUSTER_ROOT_URL"]
    credentials = {
        "clientId": os.environ["TASKCLUSTER_CLIENT_ID"],
        "accessToken": os.environ["TASKCLUSTER_ACCESS_TOKEN"],
    }
    if os.environ.get("TASKCLUSTER_CERTIFICATE"):
        credentials["certificate"] = os.environ["TASKCLUSTER_CERTIFICATE"]
    task_queue = os.environ["BENCH_TASK_QUEUE"]
    wanted, capacity = int(os.environ["BENCH_TASKS"]), int(os.environ["BENCH_CAPACITY"])
    commands_in = scratch if os.environ.get("BENCH_RUN_COMMANDS") == "1" else None
    async with taskcluster.aio.createSession() as session:
        queue = taskcluster.aio.Queue({"rootUrl": root_url, "credentials": credentials}, session=session)
        active: set[asyncio.Task[None]] = set()
        claimed = 0
        while claimed < wanted:
            active = still_running(active)
            free = min(capacity - len(RUNNING), 2 * capacity - len(active), wanted - claimed)
            if free <= 0:
                FREED.clear()
                freed = asyncio.ensure_future(FREED.wait())
                await asyncio.wait({*active, freed}, return_when=asyncio.FIRST_COMPLETED)
                freed.cancel()
                continue
            answer = await queue.claimWork(
                task_queue, {"tasks": free, "workerGroup": "bench", "workerId": "minimal"}
            )
            for claim in answer["tasks"]:
                RUNNING.add(claim["status"]["taskId"])
                active.add(asyncio.create_task(run_task(root_url, session, claim, commands_in)))
            claimed += len(answer["tasks"])
        for job in asyncio.as_completed(active):
            await job


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
