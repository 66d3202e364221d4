"""Task proxy overhead: a task-side loop of ``secrets.get`` through the proxy vs signed directly.

The local deployment runs in a child process (bench/benchkit/localqueue.py), a task with scope
``secrets:get:bench/x`` is claimed, and its run's proxy runs in this process on an event loop of its own
thread, as in a worker. The task side is a child process too: the official sync client calling
``secrets.get`` in a loop, either with the proxy as root URL (no credentials) or straight at the deployment
signed with the run's credentials and the same ``authorizedScopes``. Rounds alternate the two, so both see
the same machine; every figure comes from this one run.

    .venv/bin/python bench/proxy_overhead.py [--calls 200] [--rounds 16]

Targets (issue 12): p50 overhead under 1 ms; proxied throughput at least 80% of direct.

Besides the figures over all calls it prints the load average before and after (a proxied call passes
through three processes, a direct one through two, so on a busy 2-core machine every hop waits for a core
and load widens the gap), the median over rounds of each round's throughput ratio (a round is short, so
load drifting between rounds hits both of its modes alike), and the CPU this process (the proxy) spends per
proxied call: the proxy's own cost, though a loaded machine inflates it too.

The official sync client opens a new TCP connection for every call, so a proxied call also pays the
proxy's accept and its peer check (one sock_diag question per connection, see peers.py); the proxy's own
connections to the deployment are kept alive (one aiohttp pool).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from benchkit.localqueue import queue_process

TASK_QUEUE = "tcw-bench/proxy"
SECRET = "bench/x"

# The task's side: N calls, each timed; prints the latencies (seconds) and the wall time as JSON.
TASK_LOOP = """
import json, sys, time, taskcluster
options, calls = json.loads(sys.argv[1]), int(sys.argv[2])
secrets = taskcluster.Secrets(options)
secrets.get("bench/x")  # warm up: imports, first connection
latencies = []
started = time.perf_counter()
for _ in range(calls):
    before = time.perf_counter()
    secrets.get("bench/x")
    latencies.append(time.perf_counter() - before)
print(json.dumps({"latencies": latencies, "wall": time.perf_counter() - started}))
"""


def claimed_run(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A claimed run of a task allowed to read the secret: its definition and its credentials."""
    from tcw import taskcluster_client, tasks

    now = datetime.now(UTC)
    secrets = taskcluster_client.sync_client("secrets", options)
    secrets.set(SECRET, {"secret": {"token": "t"}, "expires": (now + timedelta(hours=1)).isoformat()})
    queue = taskcluster_client.sync_queue(options)
    definition = {"taskQueueId": TASK_QUEUE, "scopes": [f"secrets:get:{SECRET}"]}
    tasks.create_task(queue, definition)
    claim = queue.claimWork(TASK_QUEUE, {"workerGroup": "bench", "workerId": "bench", "tasks": 1})["tasks"][0]
    return claim, claim["credentials"]


class ProxyThread:
    """The run's proxy on its own event loop, as a worker runs it beside its other work."""

    def __init__(self, root_url: str, credentials: dict[str, str], scopes: list[str]) -> None:
        from tcw.engine.taskproxy.server import TaskProxy

        self.proxy = TaskProxy(root_url=root_url, credentials=lambda: credentials, authorized_scopes=scopes)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(30)

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def task_loop(options: dict[str, Any], calls: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", TASK_LOOP, json.dumps(options), str(calls)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def cpu_seconds() -> float:
    """This process's CPU time, the proxy's thread included (children are counted apart)."""
    times = os.times()
    return times.user + times.system


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def summary(results: list[dict[str, Any]]) -> dict[str, float]:
    latencies = sorted(value for result in results for value in result["latencies"])
    calls = len(latencies)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(calls - 1, int(calls * 0.99))] * 1000,
        "calls_per_s": calls / sum(result["wall"] for result in results),
    }


def main() -> None:
    from tcw.engine.taskproxy.signing import task_authorized_scopes

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200, help="secrets.get calls per round and mode")
    parser.add_argument("--rounds", type=int, default=16, help="rounds, each running both modes in turn")
    args = parser.parse_args()
    load_before = load()

    with queue_process() as served:
        root_url = served.options["rootUrl"]
        claim, credentials = claimed_run(served.options)
        scopes = task_authorized_scopes(claim["task"], claim["status"]["taskId"], claim["runId"])
        with ProxyThread(root_url, credentials, scopes) as proxy_url:
            direct_options = {"rootUrl": root_url, "credentials": credentials, "authorizedScopes": scopes}
            modes = {"direct": direct_options, "proxy": {"rootUrl": proxy_url}}
            results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
            cpu = dict.fromkeys(modes, 0.0)
            for _ in range(args.rounds):
                for mode, options in modes.items():
                    before = cpu_seconds()
                    results[mode].append(task_loop(options, args.calls))
                    cpu[mode] += cpu_seconds() - before

    figures = {mode: summary(found) for mode, found in results.items()}
    round_ratios = [
        summary([proxied])["calls_per_s"] / summary([direct])["calls_per_s"]
        for direct, proxied in zip(results["direct"], results["proxy"], strict=True)
    ]
    proxy_cpu_ms = (cpu["proxy"] - cpu["direct"]) / (args.rounds * args.calls) * 1000
    print(f"secrets.get from a task process, {args.rounds} rounds x {args.calls} calls per mode")
    print(f"load average before: {load_before}; after: {load()}")
    print(f"{'mode':8} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>9}")
    for mode, figure in figures.items():
        print(f"{mode:8} {figure['p50_ms']:8.3f} {figure['p99_ms']:8.3f} {figure['calls_per_s']:9.0f}")
    overhead = figures["proxy"]["p50_ms"] - figures["direct"]["p50_ms"]
    ratio = figures["proxy"]["calls_per_s"] / figures["direct"]["calls_per_s"]
    print(f"p50 overhead: {overhead:.3f} ms (target < 1 ms)")
    print(f"throughput through the proxy: {ratio:.0%} of direct (target >= 80%)")
    low, median, high = min(round_ratios), statistics.median(round_ratios), max(round_ratios)
    print(f"  per round: median {median:.0%} (min {low:.0%}, max {high:.0%})")
    print(
        f"proxy CPU per proxied call: {proxy_cpu_ms:.3f} ms (this process, less its share in direct rounds)"
    )


if __name__ == "__main__":
    main()
