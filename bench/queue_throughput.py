"""Local queue throughput: createTask -> claimWork -> reportCompleted through the official sync client.

Starts `tcw queue serve` (in-memory database) as its own process, then runs the loop with one client and
with N concurrent client processes, and prints calls/s and p50/p99 latency per call.

    .venv/bin/python bench/queue_throughput.py [--iterations 400] [--clients 4] [--db FILE]

Targets (issue 2): one client p50 <= 3 ms; 4 clients >= 600 calls/s with p99 < 20 ms.

The official sync client opens a new TCP connection for every call (its ``_makeHttpRequest`` does not pass
its session on to requests, as of taskcluster 113), so each measured call includes a connection set-up and
close on both sides: about 0.23 ms of the queue's CPU per call on the machine this was measured on.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CALLS = ("createTask", "claimWork", "reportCompleted")


def start_queue(db: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """`tcw queue serve` on a free port; returns the process and client options read from its output."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tcw", "-q", "queue", "serve", "--port", "0", "--db", db],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner = ""
    while "Press Ctrl" not in banner:
        line = process.stdout.readline()
        if not line:
            raise SystemExit("tcw queue serve exited before it was ready")
        banner += line
    if "TASKCLUSTER_ACCESS_TOKEN" not in banner:  # a database file: its secrets are read by `queue env`
        env = [sys.executable, "-m", "tcw", "queue", "env", "--db", db]
        banner = subprocess.run(env, capture_output=True, text=True, check=True).stdout
    found = dict(re.findall(r"export (TASKCLUSTER_\w+)=(\S+)", banner))
    options = {
        "rootUrl": found["TASKCLUSTER_ROOT_URL"],
        "credentials": {
            "clientId": found["TASKCLUSTER_CLIENT_ID"],
            "accessToken": found["TASKCLUSTER_ACCESS_TOKEN"],
        },
    }
    return process, options


def task_body(task_queue_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "taskQueueId": task_queue_id,
        "created": now.isoformat(),
        "deadline": (now + timedelta(hours=1)).isoformat(),
        "payload": {},
        "metadata": {
            "name": "bench",
            "description": "bench",
            "owner": "b@example.com",
            "source": "https://x",
        },
    }


def run_loop(options: dict[str, Any], iterations: int, worker: int) -> dict[str, list[float]]:
    """The measured loop; returns the latencies (seconds) of each call kind."""
    import taskcluster

    queue = taskcluster.Queue(options)
    task_queue_id = f"bench/worker-{worker}"
    claim_body = {"workerGroup": "bench", "workerId": f"w{worker}", "tasks": 1}
    times: dict[str, list[float]] = {name: [] for name in CALLS}
    for _ in range(iterations):
        task_id = taskcluster.slugId()
        body = task_body(task_queue_id)
        started = time.perf_counter()
        queue.createTask(task_id, body)
        claimed_at = time.perf_counter()
        claim = queue.claimWork(task_queue_id, claim_body)["tasks"][0]
        claim_done = time.perf_counter()
        as_task = taskcluster.Queue({**options, "credentials": claim["credentials"]})
        reported_at = time.perf_counter()
        as_task.reportCompleted(task_id, str(claim["runId"]))
        ended = time.perf_counter()
        times["createTask"].append(claimed_at - started)
        times["claimWork"].append(claim_done - claimed_at)
        times["reportCompleted"].append(ended - reported_at)
    return times


def _worker_main(args: tuple[dict[str, Any], int, int, Any]) -> tuple[dict[str, list[float]], float]:
    options, iterations, worker, barrier = args
    run_loop(options, 20, worker + 100)  # warm-up: connections, imports
    barrier.wait()
    started = time.perf_counter()
    times = run_loop(options, iterations, worker)
    return times, time.perf_counter() - started


def server_cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) the queue process has used, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(label: str, times: list[dict[str, list[float]]], wall: float, server_cpu: float | None) -> None:
    merged = {name: [t for part in times for t in part[name]] for name in CALLS}
    every = [t for values in merged.values() for t in values]
    print(f"{label}: {len(every)} calls in {wall:.2f} s = {len(every) / wall:.0f} calls/s")
    if server_cpu is not None:
        print(f"  queue server CPU {server_cpu / len(every) * 1000:.2f} ms per call")
    for name, values in [*merged.items(), ("all calls", every)]:
        print(
            f"  {name:16} p50 {statistics.median(values) * 1000:6.2f} ms"
            f"   p99 {percentile(values, 0.99) * 1000:6.2f} ms"
        )


def _used(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=400, help="loops per client")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--db", default=":memory:", help="queue database (default :memory:)")
    args = parser.parse_args()
    process, options = start_queue(args.db)
    try:
        run_loop(options, 30, 99)  # warm-up
        cpu_before = server_cpu_seconds(process.pid)
        started = time.perf_counter()
        single = run_loop(options, args.iterations, 0)
        wall = time.perf_counter() - started
        report("1 client", [single], wall, _used(cpu_before, server_cpu_seconds(process.pid)))
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            barrier = manager.Barrier(args.clients + 1)
            with context.Pool(args.clients) as pool:
                jobs = [(options, args.iterations, worker + 1, barrier) for worker in range(args.clients)]
                pending = pool.map_async(_worker_main, jobs)
                barrier.wait()
                cpu_before = server_cpu_seconds(process.pid)
                started = time.perf_counter()
                results = pending.get()
                wall = time.perf_counter() - started
                cpu_used = _used(cpu_before, server_cpu_seconds(process.pid))
        report(f"{args.clients} clients", [times for times, _ in results], wall, cpu_used)
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
