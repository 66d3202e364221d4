"""`tcw inspect-runs` against the local queue over HTTP, on runs that workers left through the real API."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import math
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import slugid
import taskcluster
from aiohttp import web

from tcw.inspect.collect import Sources, collect
from tcw.inspect.report import WORKER_COLUMNS
from tcw.localqueue.server import LocalQueue
from tests.support.cli import RunCli, tcw_process
from tests.support.inspect_pool import POOL, Seeded
from tests.support.seeding import COMPLETED, FAILED, Seeder
from tests.support.statuses import R, StatusFactory, healthy_pool


def flags_of(document: dict[str, Any]) -> dict[str, set[str]]:
    return {
        f"{w['workerGroup']}/{w['workerId']}": {f["kind"] for f in w["flags"]}
        for w in document["workers"]
        if w["flagged"]
    }


def test_flags_exactly_the_failing_and_the_claim_expiring_worker(run_cli: RunCli, mixed_pool: Seeded) -> None:
    args = mixed_pool.cli("--task-group", mixed_pool.task_group_id, "--format", "json")
    document = json.loads(run_cli(args, env=mixed_pool.env()).stdout)
    assert flags_of(document) == {
        "dc1/bad": {"bad-rate"},
        "dc2/flaky": {"repeated-claim-expired", "completed-elsewhere"},
    }
    workers = {w["workerId"]: w for w in document["workers"]}
    assert (workers["bad"]["failed"], workers["bad"]["resolved"]) == (14, 20)
    assert "14 of 20 runs bad (70%" in workers["bad"]["flags"][0]["reason"]
    assert workers["flaky"]["reasons"] == {"claim-expired": 3, "completed": 12}
    figures = {f["kind"]: f["figures"] for f in workers["flaky"]["flags"]}
    assert figures["repeated-claim-expired"]["claimExpired"] == 3
    assert figures["completed-elsewhere"]["completedElsewhere"] == 3
    assert workers["w0"]["runs"] == 23 and not workers["w0"]["flagged"]
    assert document["pools"][0]["runs"] == 118 and document["pools"][0]["workers"] == 6
    assert [w["workerId"] for w in document["workers"][:2]] == ["flaky", "bad"]  # most suspicious first
    run_cli([*args, "--fail-on-flagged"], exit_code=1, env=mixed_pool.env())


def test_task_queue_source_reads_recent_tasks_and_their_statuses(run_cli: RunCli, mixed_pool: Seeded) -> None:
    args = mixed_pool.cli("--task-queue", POOL, "--since", "1h", "--format", "json")
    document = json.loads(run_cli(args, env=mixed_pool.env()).stdout)
    assert set(flags_of(document)) == {"dc1/bad", "dc2/flaky"}
    assert all(w["quarantined"] is False and w["quarantineUntil"] is None for w in document["workers"])


def test_pagination_follows_every_token_and_fetches_each_status_once(mixed_pool: Seeded) -> None:
    sources = Sources(
        task_groups=(mixed_pool.task_group_id,),
        task_queues=(POOL,),
        task_ids=tuple(sorted(mixed_pool.task_ids)[:5]),
    )
    options = mixed_pool.queue.client_options()
    collection = asyncio.run(collect(options, sources, concurrency=4, page_size=4))
    assert set(collection.statuses) == mixed_pool.task_ids
    assert collection.calls["listTaskGroup"] == math.ceil(len(mixed_pool.task_ids) / 4)  # 115 tasks: 29 pages
    assert collection.calls["listWorkers"] == 2  # 6 workers in pages of 4
    assert collection.calls["getWorker"] == 6
    assert collection.calls["statuses"] == 0  # every recent task and given id came with the task group
    assert {key.worker_id for key in collection.workers} == {"w0", "w1", "w2", "w3", "bad", "flaky"}


def test_save_then_from_file_gives_the_same_answer_offline(
    run_cli: RunCli, mixed_pool: Seeded, tmp_path: Path
) -> None:
    saved = tmp_path / "runs.json"
    online = mixed_pool.cli(
        "--task-group", mixed_pool.task_group_id, "--format", "json", "--save", str(saved)
    )
    first = json.loads(run_cli(online, env=mixed_pool.env()).stdout)
    offline = run_cli(["tcw", "inspect-runs", "--from-file", str(saved), "--format", "json"])
    second = json.loads(offline.stdout)
    assert second == first
    assert second["rootUrl"] == mixed_pool.queue.root_url


def test_csv_rows_and_worker_drill_down_links(run_cli: RunCli, mixed_pool: Seeded) -> None:
    group = mixed_pool.task_group_id
    result = run_cli(mixed_pool.cli("--task-group", group, "--format", "csv"), env=mixed_pool.env())
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == WORKER_COLUMNS and len(rows) == 6
    assert {r["workerId"] for r in rows if r["flagged"] == "true"} == {"bad", "flaky"}
    detail = run_cli(
        mixed_pool.cli("--task-group", group, "--worker", "dc2/flaky", "--format", "json"),
        env=mixed_pool.env(),
    )
    runs = json.loads(detail.stdout)["runs"]
    expired = [r for r in runs if r["reasonResolved"] == "claim-expired"]
    assert len(runs) == 15 and len(expired) == 3
    root = mixed_pool.queue.root_url
    # The Taskcluster UI's run pages, which the local deployment serves too (tests/localqueue/ui).
    assert all(r["link"] == f"{root}/tasks/{r['taskId']}/runs/{r['runId']}" for r in runs)
    table = run_cli(mixed_pool.cli("--task-group", group, "--worker", "dc2/flaky"), env=mixed_pool.env())
    assert "exception/claim-expired" in table.stdout


async def seed_small_pool(queue: LocalQueue, task_group_id: str, bad_failures: int) -> None:
    async with Seeder(queue.client_options(), POOL) as seeder:
        await seeder.create_tasks(50, task_group_id)
        await asyncio.gather(
            *(seeder.work(f"dc1/w{i}", [COMPLETED] * 9 + [FAILED]) for i in range(4)),
            seeder.work("dc1/odd", [FAILED] * bad_failures + [COMPLETED] * (10 - bad_failures)),
        )


def small_pool(queue: LocalQueue, bad_failures: int) -> Seeded:
    group = slugid.nice()
    asyncio.run(seed_small_pool(queue, group, bad_failures))
    return Seeded(queue, group, frozenset())


def test_a_healthy_pool_flags_nobody(run_cli: RunCli, local_queue: LocalQueue) -> None:
    seeded = small_pool(local_queue, bad_failures=2)
    result = run_cli(seeded.cli("--task-group", seeded.task_group_id, "--fail-on-flagged"), env=seeded.env())
    assert "No worker flagged." in result.stdout and "dc1/odd" in result.stdout


def test_quarantine_dry_run_then_for_real(run_cli: RunCli, local_queue: LocalQueue) -> None:
    seeded = small_pool(local_queue, bad_failures=10)
    queue = taskcluster.Queue(local_queue.client_options())
    base = seeded.cli("--task-group", seeded.task_group_id, "--format", "json", "--quarantine-flagged")

    dry = run_cli([*base, "--until", "7d", "--comment", "disk errors", "--dry-run"], env=seeded.env())
    assert "would quarantine dc1/odd (inspect-test/pool)" in dry.stderr
    assert "quarantineUntil" not in queue.getWorker("inspect-test", "pool", "dc1", "odd")

    done = run_cli([*base, "--until", "7d", "--comment", "disk errors", "--yes"], env=seeded.env())
    assert "quarantined dc1/odd (inspect-test/pool) until" in done.stderr
    worker = queue.getWorker("inspect-test", "pool", "dc1", "odd")
    until = datetime.fromisoformat(worker["quarantineUntil"].replace("Z", "+00:00"))
    assert abs(until - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    assert worker["quarantineDetails"][-1]["quarantineInfo"].startswith(
        "disk errors -- tcw inspect-runs: bad-rate"
    )
    assert "quarantineUntil" not in queue.getWorker("inspect-test", "pool", "dc1", "w0")

    again = run_cli([*base, "--until", "1d", "--yes"], env=seeded.env())
    assert "already quarantined" in again.stderr and "No worker to quarantine." in again.stderr
    odd = next(w for w in json.loads(again.stdout)["workers"] if w["workerId"] == "odd")
    assert odd["quarantined"] is True


def test_queue_errors_exit_5_with_one_line(run_cli: RunCli, local_queue: LocalQueue) -> None:
    seeded = Seeded(local_queue, "", frozenset())
    missing = run_cli(seeded.cli("--task-group", slugid.nice()), exit_code=5, env=seeded.env())
    assert missing.stderr.startswith("Error: queue call listTaskGroup(") and "HTTP 404" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    wrong = {"TASKCLUSTER_CLIENT_ID": "root", "TASKCLUSTER_ACCESS_TOKEN": "not-the-token"}
    refused = run_cli(seeded.cli("--task-queue", POOL), exit_code=5, env=wrong)
    assert "queue call listWorkers(inspect-test, pool) failed: HTTP 401" in refused.stderr


def test_task_ids_are_fetched_once_in_one_statuses_call(run_cli: RunCli, mixed_pool: Seeded) -> None:
    chosen = tuple(sorted(mixed_pool.task_ids)[:6])
    options = mixed_pool.queue.client_options()
    sources = Sources(task_ids=(*chosen, *chosen[:2]))  # repeated ids are fetched once
    collection = asyncio.run(collect(options, sources, concurrency=2))
    assert set(collection.statuses) == set(chosen)
    assert collection.calls["statuses"] == 1 and collection.calls["listWorkers"] == 1
    assert collection.calls["status"] == 0
    args = mixed_pool.cli("--task-id", ",".join(chosen[:3]), "--task-id", chosen[3], "--format", "json")
    document = json.loads(run_cli(args, env=mixed_pool.env()).stdout)
    assert sum(w["runs"] for w in document["workers"]) >= 4
    nobody = slugid.nice()
    unknown = run_cli(mixed_pool.cli("--task-id", f"{chosen[0]},{nobody}"), exit_code=2, env=mixed_pool.env())
    assert f"Error: the queue has no task {nobody}" in unknown.stderr


def test_recent_tasks_come_in_pages_of_statuses(mixed_pool: Seeded) -> None:
    options = mixed_pool.queue.client_options()
    collection = asyncio.run(collect(options, Sources(task_queues=(POOL,)), concurrency=8, page_size=50))
    recent = 20 * 6  # recentTasks keeps the last 20 claims of each of the 6 workers
    assert len(collection.statuses) <= recent
    assert collection.calls["statuses"] == math.ceil(recent / 50)  # ids are sent in batches of 50
    assert collection.calls["getWorker"] == 6 and collection.calls["status"] == 0


@pytest.mark.usefixtures("quick_client_retries")
def test_an_unreachable_queue_exits_5(run_cli: RunCli) -> None:
    # Nothing listens on port 9 of localhost; the client retries its 5 times, then gives up.
    result = run_cli(
        ["tcw", "--root-url", "http://127.0.0.1:9", "inspect-runs", "--task-group", "g"], exit_code=5
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: queue call listTaskGroup(g) failed: Failed to establish connection"]
    assert result.stderr.splitlines() == errors  # the client's retry warnings only under -v


def output_on_a_terminal(args: list[str], env: dict[str, str], typed: str = "", exit_code: int = 0) -> str:
    """Run tcw with stdin, stdout and stderr on a pseudo-terminal and return everything it wrote."""
    main, terminal = os.openpty()
    process = tcw_process(args, env=env, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    if typed:
        os.write(main, typed.encode())  # waits in the terminal's input buffer until the prompt reads it
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the process closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(30) == exit_code
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal_and_never_with_json(mixed_pool: Seeded) -> None:
    env = {**mixed_pool.env(), "COLUMNS": "150"}
    args = ["--root-url", mixed_pool.queue.root_url, "inspect-runs", "--task-queue", POOL]
    table = output_on_a_terminal(args, env)
    assert "fetching runs" in table and "Workers, most suspicious first" in table
    as_json = output_on_a_terminal([*args, "--format", "json"], env)
    assert "fetching runs" not in as_json and '"version": 1' in as_json


def test_a_refused_quarantine_names_the_worker_and_spares_the_others(
    run_cli: RunCli, local_queue: LocalQueue, tmp_path: Path
) -> None:
    async def known_worker() -> None:
        async with Seeder(local_queue.client_options(), POOL) as seeder:
            await seeder.create_tasks(1, slugid.nice())
            await seeder.work("dc1/odd", [COMPLETED])

    asyncio.run(known_worker())
    factory = StatusFactory(POOL)  # saved runs in which dc1/odd and dc1/ghost (never seen by the queue) fail
    statuses = healthy_pool(factory) + factory.many(12, R("dc1/odd", "failed"))
    statuses += factory.many(12, R("dc1/ghost", "failed"))
    saved = tmp_path / "runs.json"
    saved.write_text(json.dumps({"version": 1, "rootUrl": None, "statuses": statuses, "workers": []}))
    seeded = Seeded(local_queue, "", frozenset())
    args = seeded.cli("--from-file", str(saved), "--quarantine-flagged", "--until", "1d", "--yes")
    result = run_cli(args, exit_code=5, env=seeded.env())
    assert "quarantined dc1/odd (inspect-test/pool) until" in result.stderr
    assert (
        "Error: queue call quarantineWorker(inspect-test, pool, dc1, ghost) failed: HTTP 404" in result.stderr
    )
    queue = taskcluster.Queue(local_queue.client_options())
    assert "quarantineUntil" in queue.getWorker("inspect-test", "pool", "dc1", "odd")


def test_quarantine_asks_on_a_terminal(local_queue: LocalQueue) -> None:
    seeded = small_pool(local_queue, bad_failures=10)
    queue = taskcluster.Queue(local_queue.client_options())
    args = ["--root-url", local_queue.root_url, "inspect-runs", "--task-group", seeded.task_group_id]
    args += ["--quarantine-flagged", "--until", "2d"]
    declined = output_on_a_terminal(args, seeded.env(), typed="n\n")
    assert "Quarantine 1 workers? [y/N]" in declined and "Nothing quarantined." in declined
    assert "quarantineUntil" not in queue.getWorker("inspect-test", "pool", "dc1", "odd")
    accepted = output_on_a_terminal(args, seeded.env(), typed="y\n")
    assert "quarantined dc1/odd (inspect-test/pool) until" in accepted
    assert "quarantineUntil" in queue.getWorker("inspect-test", "pool", "dc1", "odd")


@contextlib.asynccontextmanager
async def queue_without_statuses(target: str) -> AsyncIterator[str]:
    """A relay to ``target`` that answers 404 to ``statuses``, like a deployment older than that endpoint."""

    async def relay(request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/tasks/status"):
            return web.json_response({"code": "ResourceNotFound", "message": "no such method"}, status=404)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"content-length"}}
        async with session.request(
            request.method, target + request.path_qs, headers=headers, data=await request.read() or None
        ) as upstream:
            body = await upstream.read()
            content_type = upstream.headers.get("Content-Type", "application/json")
            return web.Response(status=upstream.status, body=body, headers={"Content-Type": content_type})

    async with aiohttp.ClientSession(auto_decompress=False) as session:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", relay)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


async def test_a_queue_without_statuses_gets_one_status_call_per_task(mixed_pool: Seeded) -> None:
    chosen = tuple(sorted(mixed_pool.task_ids)[:4])
    async with queue_without_statuses(mixed_pool.queue.root_url) as root_url:
        options = {**mixed_pool.queue.client_options(), "rootUrl": root_url}
        collection = await collect(options, Sources(task_ids=chosen), concurrency=4)
    assert set(collection.statuses) == set(chosen)
    assert collection.calls["statuses"] == 1 and collection.calls["status"] == 4
