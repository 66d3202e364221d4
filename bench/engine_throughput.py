"""Throughput of `tcw run` at capacity 1 and 8 beside scriptworker, on the same local queue.

N no-op tasks (`true`, plus the task log artifact) per worker; capacity 8 runs twice, with tcw's default
`object` artifacts and with `s3` ones as scriptworker uses. For each: tasks/s from the first claim to
the last resolution (worker start-up excluded), and the per-task overhead, claim to resolution minus what
running `true` itself takes, p50/p95. scriptworker (PyPI) runs from its own virtualenv
(.venv-bench-scriptworker, created here on first use: it pins aiohttp differently), chain of trust off,
task_script `["true"]`, stopped after exactly N tasks by a launcher that counts its claims.

Targets on a 2-core machine: capacity 1 at least 1.5x scriptworker's tasks/s, capacity 8 at least 4x.
Usage: .venv/bin/python bench/engine_throughput.py [N] [ROUNDS]   (default 200 tasks, 3 rounds; medians
are compared, since a shared 2-core machine makes single runs vary by a factor of two)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import taskcluster
import yaml

from tcw.config import LocalQueueSettings
from tcw.localqueue.server import LocalQueue
from tcw.taskcluster_client import parse_time
from tcw.tasks import create_task

REPO = Path(__file__).resolve().parents[1]
SCRIPTWORKER_VENV = REPO / ".venv-bench-scriptworker"
PROVISIONER = "tcw-bench"

SCRIPTWORKER_LAUNCHER = """
import os, signal, sys
import scriptworker.worker as worker

wanted = int(os.environ["BENCH_TASKS"])
claimed = 0
original = worker.claim_work

async def counting_claim_work(context):
    global claimed
    answer = await original(context)
    claimed += len((answer or {}).get("tasks", []))
    if claimed >= wanted:
        os.kill(os.getpid(), signal.SIGUSR1)  # finish this task, then exit
    return answer

worker.claim_work = counting_claim_work
sys.argv = ["scriptworker", sys.argv[1]]
worker.main()
"""


@dataclass(frozen=True)
class Figures:
    label: str
    tasks: int
    tasks_per_second: float
    overhead_p50_ms: float
    overhead_p95_ms: float
    states: dict[str, int]

    def line(self) -> str:
        return (
            f"{self.label:22s} {self.tasks_per_second:7.1f} tasks/s   per-task overhead"
            f" p50 {self.overhead_p50_ms:6.1f} ms  p95 {self.overhead_p95_ms:6.1f} ms   {self.states}"
        )


def create_tasks(queue: Any, worker_type: str, count: int) -> list[str]:
    now = datetime.now(UTC)
    task_ids = []
    for _ in range(count):
        task_id = create_task(
            queue,
            {
                "taskQueueId": f"{PROVISIONER}/{worker_type}",
                "schedulerId": "tcw-bench",
                "projectId": "tcw-bench",
                "created": now.isoformat(),
                "deadline": (now + timedelta(hours=1)).isoformat(),
                "expires": (now + timedelta(days=1)).isoformat(),
                "retries": 0,
                "payload": {"command": [["true"]], "maxRunTime": 60},
                "metadata": {
                    "name": "no-op",
                    "description": "bench",
                    "owner": "b@example.com",
                    "source": "https://x.test/",
                },
            },
        )
        task_ids.append(task_id)
    return task_ids


def true_runtime() -> float:
    """What running `true` costs by itself (median of 50), subtracted from claim-to-resolution."""
    samples = []
    for _ in range(50):
        started = time.perf_counter()
        subprocess.run(["true"], check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(label: str, queue: Any, task_ids: list[str], run_itself: float) -> Figures:
    started, resolved, states = [], [], {}
    for task_id in task_ids:
        run = queue.status(task_id)["status"]["runs"][-1]
        state = run["state"] + (f"/{run['reasonResolved']}" if run["state"] == "exception" else "")
        states[state] = states.get(state, 0) + 1
        if "resolved" in run and "started" in run:
            started.append(parse_time(run["started"]))
            resolved.append(parse_time(run["resolved"]))
    span = (max(resolved) - min(started)).total_seconds()
    overheads = sorted(
        ((r - s).total_seconds() - run_itself) * 1000 for s, r in zip(started, resolved, strict=True)
    )
    p95 = overheads[min(len(overheads) - 1, int(0.95 * len(overheads)))]
    return Figures(label, len(resolved), len(resolved) / span, statistics.median(overheads), p95, states)


def run_tcw(
    local: LocalQueue, worker_type: str, capacity: int, count: int, work: Path, storage: str = "object"
) -> None:
    assert local.root_credentials is not None
    env = _clean_env()
    env["TCW_WORKER_ARTIFACT_STORAGE"] = storage
    env["TASKCLUSTER_CLIENT_ID"] = local.root_credentials["clientId"]
    env["TASKCLUSTER_ACCESS_TOKEN"] = local.root_credentials["accessToken"]
    env["TCW_REGISTRY_SCHEMA_URLS"] = json.dumps({f"{PROVISIONER}/*": "shell"})
    command = [sys.executable, "-m", "tcw", "-q", "--root-url", local.root_url, "run"]
    command += ["--task-queue", f"{PROVISIONER}/{worker_type}", "--capacity", str(capacity)]
    command += ["--max-tasks", str(count), "--work-root", str(work / worker_type)]
    subprocess.run(command, env=env, check=True, timeout=600)


def ensure_scriptworker() -> Path:
    python = SCRIPTWORKER_VENV / "bin" / "python"
    if not python.exists():
        print("creating .venv-bench-scriptworker with scriptworker from PyPI ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(SCRIPTWORKER_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "scriptworker"]
        subprocess.run(pip, check=True)
    return python


def run_scriptworker(local: LocalQueue, worker_type: str, count: int, work: Path) -> None:
    assert local.root_credentials is not None
    python = ensure_scriptworker()
    base = work / "scriptworker"
    artifact_dir = base / "artifacts"
    config = {
        "taskcluster_root_url": local.root_url,
        "provisioner_id": PROVISIONER,
        "worker_type": worker_type,
        "worker_group": "bench",
        "worker_id": "scriptworker",
        "credentials": dict(local.root_credentials),
        "task_script": ["true"],
        "work_dir": str(base / "work"),
        "artifact_dir": str(artifact_dir),
        "task_log_dir": str(artifact_dir / "public" / "logs"),
        "log_dir": str(base / "logs"),
        "ed25519_private_key_path": str(base / "unused.key"),
        "sign_chain_of_trust": False,
        "verify_chain_of_trust": False,
        "poll_interval": 1,
    }
    base.mkdir(parents=True)
    config_path = base / "scriptworker.yaml"
    config_path.write_text(yaml.safe_dump(config))
    launcher = base / "launch.py"
    launcher.write_text(SCRIPTWORKER_LAUNCHER)
    env = {**_clean_env(), "BENCH_TASKS": str(count)}
    with (base / "stdout.log").open("wb") as out:
        subprocess.run(
            [str(python), str(launcher), str(config_path)],
            env=env,
            stdout=out,
            stderr=out,
            check=True,
            timeout=900,
        )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TASKCLUSTER_", "TCW_"))}


Runner = Callable[[LocalQueue, Path], None]


def runners(count: int) -> list[tuple[str, str, Runner]]:
    return [
        ("tcw run --capacity 1", "tcw-one", lambda local, work: run_tcw(local, "tcw-one", 1, count, work)),
        (
            "tcw run --capacity 8",
            "tcw-eight",
            lambda local, work: run_tcw(local, "tcw-eight", 8, count, work),
        ),
        # scriptworker uploads s3 artifacts (createArtifact + PUT); object (the default) takes 2 more calls.
        (
            "  same, s3 artifacts",
            "tcw-s3",
            lambda local, work: run_tcw(local, "tcw-s3", 8, count, work, "s3"),
        ),
        (
            "scriptworker",
            "scriptworker",
            lambda local, work: run_scriptworker(local, "scriptworker", count, work),
        ),
    ]


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    run_itself = true_runtime()
    alone = f"`true` takes {run_itself * 1000:.1f} ms by itself (subtracted)"
    print(f"{count} no-op tasks per worker, {rounds} rounds; {alone}")
    settings = LocalQueueSettings(db=":memory:", port=0, claim_work_wait=2.0, resolver_interval=1.0)
    rates: dict[str, list[float]] = {}
    with LocalQueue(settings) as local, tempfile.TemporaryDirectory(prefix="tcw-bench-") as work:
        queue = taskcluster.Queue(local.client_options())
        for round_number in range(rounds):
            print(f"round {round_number + 1}", flush=True)
            for label, worker_type, run in runners(count):
                task_ids = create_tasks(queue, worker_type, count)
                run(local, Path(work) / f"round-{round_number}")
                figures = measure(label, queue, task_ids, run_itself)
                rates.setdefault(worker_type, []).append(figures.tasks_per_second)
                print("  " + figures.line(), flush=True)
    median = {worker_type: statistics.median(values) for worker_type, values in rates.items()}
    baseline = median["scriptworker"]
    print(f"medians over {rounds} rounds (tasks/s): " + ", ".join(f"{k} {v:.1f}" for k, v in median.items()))
    print(f"capacity 1 vs scriptworker: {median['tcw-one'] / baseline:.2f}x (target >= 1.5x)")
    print(f"capacity 8 vs scriptworker: {median['tcw-eight'] / baseline:.2f}x (target >= 4x)")
    print(f"capacity 8, s3 artifacts as scriptworker uploads them: {median['tcw-s3'] / baseline:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
