"""How `tcw inspect-runs` scales: API calls against the minimum, wall time, and what concurrency buys.

Two measurements on a local queue (``tcw.localqueue.server.LocalQueue``, in a child process so that its CPU
work does not share the interpreter with the client's: ``benchkit.localqueue``), seeded through the real API
by simulated workers (``tests/support/seeding.py``):

1. a task group of 10,000 resolved tasks: ``listTaskGroup`` calls made vs the minimum (one per 1,000-task
   page, plus one ``listWorkers`` page for the pool's quarantine state), and the wall time to collect and
   analyse;
2. a pool of 100 workers with 20 recent tasks each (``--task-queue``): ``listWorkers``, 100 ``getWorker``
   and two ``statuses`` calls (a thousand task ids each), collected at concurrency 1 and 16; prints the
   speed-up ratio, first straight to the queue, then through a relay that adds ``--latency-ms`` of round
   trip (a real deployment is a WAN away, and hiding that latency is what concurrency is for).

Run from the repository root: ``.venv/bin/python bench/inspect_scale.py [--tasks 10000] [--workers 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path
from typing import Any

from benchkit.localqueue import queue_process
from benchkit.relay import Relay

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks in the big task group")
    parser.add_argument("--group-workers", type=int, default=10, help="workers that ran the task group")
    parser.add_argument("--workers", type=int, default=100, help="workers in the --task-queue pool")
    parser.add_argument("--recent", type=int, default=20, help="recent tasks per worker")
    parser.add_argument("--seed-concurrency", type=int, default=64, help="requests in flight while seeding")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="round-trip time the relay adds")
    return parser.parse_args()


async def seed_group(options: dict[str, Any], args: argparse.Namespace, group: str) -> None:
    from tests.support.seeding import COMPLETED, FAILED, Seeder

    async with Seeder(options, "bench/group", args.seed_concurrency) as seeder:
        await seeder.create_tasks(args.tasks, group)
        share = args.tasks // args.group_workers
        extra = args.tasks - share * args.group_workers
        jobs = [
            seeder.work(
                f"dc1/g{i}", ([COMPLETED] * 9 + [FAILED]) * (share // 10) + [COMPLETED] * (share % 10)
            )
            for i in range(args.group_workers)
        ]
        jobs.append(seeder.work("dc1/g0", [COMPLETED] * extra))
        await asyncio.gather(*jobs)


async def seed_pool(options: dict[str, Any], args: argparse.Namespace, group: str) -> None:
    from tests.support.seeding import COMPLETED, Seeder

    async with Seeder(options, "bench/pool", args.seed_concurrency) as seeder:
        await seeder.create_tasks(args.workers * args.recent, group)
        await asyncio.gather(
            *(seeder.work(f"dc2/p{i}", [COMPLETED] * args.recent) for i in range(args.workers))
        )


def timed_collect(options: dict[str, Any], sources: Any, concurrency: int) -> tuple[Any, float]:
    from tcw.inspect.collect import collect

    started = time.perf_counter()
    collection = asyncio.run(collect(options, sources, concurrency=concurrency))
    return collection, time.perf_counter() - started


def bench_group(options: dict[str, Any], args: argparse.Namespace) -> None:
    import slugid

    from tcw.inspect.analyse import analyse
    from tcw.inspect.collect import Sources
    from tcw.inspect.runs import runs_of_statuses

    group = slugid.nice()
    started = time.perf_counter()
    asyncio.run(seed_group(options, args, group))
    print(f"seeded a task group of {args.tasks} tasks in {time.perf_counter() - started:.1f} s")
    collection, fetch_time = timed_collect(options, Sources(task_groups=(group,)), 16)
    started = time.perf_counter()
    analysis = analyse(runs_of_statuses(collection.statuses.values()), collection.worker_infos())
    analyse_time = time.perf_counter() - started
    # A full page always carries a continuation token, so a multiple of 1,000 costs one (empty) page more.
    minimum = args.tasks // 1000 + 1 + 1
    calls = ", ".join(f"{name} {count}" for name, count in sorted(collection.calls.items()))
    print(
        f"task group: {len(collection.statuses)} tasks, {len(analysis.workers)} workers; "
        f"{collection.total_calls} API calls ({calls}) vs minimum {minimum}; "
        f"collect {fetch_time:.2f} s + analyse {analyse_time:.2f} s = {fetch_time + analyse_time:.2f} s wall"
    )


def bench_pool(options: dict[str, Any], args: argparse.Namespace, route: str, seed: bool = True) -> None:
    import slugid

    from tcw.inspect.collect import Sources

    if seed:
        started = time.perf_counter()
        asyncio.run(seed_pool(options, args, slugid.nice()))
        print(f"seeded {args.workers} workers x {args.recent} tasks in {time.perf_counter() - started:.1f} s")
    sources = Sources(task_queues=("bench/pool",))
    times = {}
    for concurrency in (1, 16):
        collection, elapsed = timed_collect(options, sources, concurrency)
        times[concurrency] = elapsed
        # + 2: worker-manager's view of the pool (its workers and its errors), asked for every --task-queue
        minimum = 1 + args.workers + math.ceil(args.workers * args.recent / 1000) + 2
        print(
            f"task queue {route}, --concurrency {concurrency}: {len(collection.statuses)} tasks, "
            f"{collection.total_calls} API calls (minimum {minimum}) in {elapsed:.2f} s"
        )
    print(f"task queue {route}: concurrency 16 is {times[1] / times[16]:.1f}x faster than 1")


def main() -> None:
    sys.path.insert(0, str(REPO))
    args = parse_args()
    with queue_process(claim_work_wait=1.0, resolver_interval=5.0) as served:
        options = served.options
        bench_group(options, args)
        bench_pool(options, args, "straight to the queue")
        relay = Relay.in_front_of(options["rootUrl"], args.latency_ms / 1000)
        relayed = {**options, "rootUrl": relay.url}
        bench_pool(relayed, args, f"through a relay adding {args.latency_ms:g} ms round trip", seed=False)


if __name__ == "__main__":
    main()
