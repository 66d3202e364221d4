"""Throughput of `tcw run` at capacity 1 and 8 beside stock scriptworker, on the same queue, in the same run.

Without --root-url, on a fresh local queue (tcw's own, in a child process): quick iteration. With
--root-url, on any deployment, with the credentials of TASKCLUSTER_CLIENT_ID / TASKCLUSTER_ACCESS_TOKEN
(and TASKCLUSTER_CERTIFICATE), e.g. the real upstream services ../shared/upstream/start-upstream.sh runs:
that is the figure that counts.

Each round runs every kind of worker once, interleaved, each on a fresh task queue of N no-op tasks (`true`,
plus the task log artifact): tcw at capacity 1 and 8 with the default settings (s3 artifacts, as
scriptworker and generic-worker upload them), tcw at capacity 8 (and, with --kinds tcw1obj, 1) with object
artifacts (the object service: three calls more per artifact), and scriptworker 63.6.1 (PyPI) from its own
virtualenv (.venv-bench-scriptworker, created here on first use: it pins aiohttp differently), chain of
trust off, task_script `["true"]`, stopped after exactly N tasks by a launcher that counts its claims. The
kinds calls8 and min8 run benchkit/minimal_worker.py at capacity 8: tcw's calls per task and nothing else,
and the same calls with the commands run (`true`, its output the log), the most this deployment on this
machine gives any worker that makes those calls. tcw's bytecode is written first and used (even where
PYTHONDONTWRITEBYTECODE is set), as pip writes it at install, for tcw as for scriptworker's venv: else every
tcw start compiles tcw from source (~100 ms of CPU). Per run:

- tasks/s from the first claim to the last resolution (start-up excluded), and N / worker wall time;
- the per-task overhead, claim to resolution minus what running `true` itself takes, p50/p95;
- CPU ms per task of the worker process (its task processes included), of the server (the local queue's
  process; with --root-url the processes of --server-pids or --upstream-running, each with its descendants)
  and of the relay;
- API calls per task by name, counted by a relay in front of the root URL that passes the bytes through
  untouched (--relay-delay-ms makes it add a round trip, as a worker a network hop away sees; --direct
  skips it), and the requests the server logs (--server-logs, or from --upstream-running: nginx's access log
  also shows the calls the services make to each other, moto's log the S3 requests).

Beside each run, the same kind runs one task: that run's worker CPU is what starting and stopping a worker
costs, paid once per process, so the worker's CPU splits into "fixed X ms + Y ms/task" (Y from the N-task
run less the one-task run, over N - 1 tasks).

Then min/median/max per kind, and ratios of medians against scriptworker's in the same run. The kinds
tcw1live and tcw8live run tcw1 and tcw8 with live logs and /metrics on (`--live-log-port 0`); they are
also compared with the same kind off (issue 13: at most 5% below), e.g. --kinds tcw1,tcw1live,tcw8,tcw8live.

Usage: .venv/bin/python bench/engine_throughput.py [N] [ROUNDS] [options]   (default 200 tasks, 3 rounds;
medians are compared, since a shared 2-core machine makes single runs vary by a factor of two)
  e.g. set -a; . <(grep ^TASKCLUSTER_ /tmp/upstream/RUNNING.txt); set +a
       .venv/bin/python bench/engine_throughput.py 100 3 --root-url "$TASKCLUSTER_ROOT_URL" \\
           --upstream-running /tmp/upstream/RUNNING.txt
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import taskcluster
import yaml
from benchkit.calls import LogCounter
from benchkit.localqueue import queue_process
from benchkit.procs import CpuMeter, read_running
from benchkit.relay import Relay, Traffic

from tcw.taskcluster_client import parse_time
from tcw.tasks import create_task

REPO = Path(__file__).resolve().parents[1]
SCRIPTWORKER_VENV = REPO / ".venv-bench-scriptworker"
MINIMAL_WORKER = Path(__file__).resolve().parent / "benchkit" / "minimal_worker.py"
SCRIPTWORKER = "scriptworker==63.6.1"
PROVISIONER = "tcw-bench"
WORKER_TIMEOUT = 900.0

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
class Kind:
    key: str
    label: str
    capacity: int = 0  # 0: scriptworker
    storage: str | None = None  # worker.artifact_storage; None: tcw's default
    operator: bool = False  # live logs and /metrics on (`--live-log-port 0`), compared with the same kind off
    minimal: str | None = None  # benchkit/minimal_worker.py: "calls" (tcw's calls), "commands" (and `true`)


KINDS = {
    kind.key: kind
    for kind in (
        Kind("tcw1", "tcw run --capacity 1", 1),
        Kind("tcw1obj", "  same, object artifacts", 1, "object"),
        Kind("tcw8", "tcw run --capacity 8", 8),
        # s3 (the default, as scriptworker uploads): createArtifact + PUT; object takes 3 more calls.
        Kind("tcw8obj", "  same, object artifacts", 8, "object"),
        Kind("tcw1live", "  tcw1, live logs+metrics", 1, operator=True),
        Kind("tcw8live", "  tcw8, live logs+metrics", 8, operator=True),
        Kind("calls8", "calls only, capacity 8", 8, minimal="calls"),
        Kind("min8", "minimal worker, cap. 8", 8, minimal="commands"),
        Kind("sw", "scriptworker"),
    )
}
DEFAULT_KINDS = "tcw1,tcw8,tcw8obj,sw"
OPERATOR_TARGET = 0.95  # issue 13: live logs and metrics on cost at most 5% of the throughput with them off
TARGETS = {  # README (local queue) and issue 15 (a real deployment), ratios against scriptworker
    "local": {"tcw1": 1.5, "tcw8": 4.0},
    "deployment": {"tcw1": 1.8, "tcw8": 3.5},
    "deployment, 20 ms away": {"tcw1": 2.0},
}


@dataclass(frozen=True)
class Deployment:
    """Where the workers connect, and what the benchmark can see of the server side."""

    root_url: str  # the workers' (the relay's unless --direct)
    credentials: dict[str, str]
    server_pids: dict[str, int]
    server_logs: tuple[Path, ...]
    relay: Relay | None


@dataclass(frozen=True)
class Usage:
    wall: float
    cpu: float


@dataclass(frozen=True)
class Figures:
    kind: Kind
    tasks: int
    tasks_per_second: float
    wall_tasks_per_second: float
    overhead_p50_ms: float
    overhead_p95_ms: float
    worker_cpu_ms: float
    server_cpu_ms: dict[str, float]  # per named server process, per task
    relay_cpu_ms: float
    calls: dict[str, float]  # worker -> root URL, per task
    call_ms: dict[str, float]  # the server's time answering them, per task
    connections: int  # TCP connections the worker opened to the root URL
    server_calls: dict[str, float]  # as the server logs them, per task
    states: dict[str, int] = field(default_factory=dict)

    @property
    def server_cpu_total(self) -> float | None:
        return sum(self.server_cpu_ms.values()) if self.server_cpu_ms else None

    def line(self) -> str:
        server = "" if self.server_cpu_total is None else f" server {self.server_cpu_total:5.1f}"
        calls = ""
        if self.calls:
            answered = sum(self.call_ms.values())
            calls = f"   calls/task {sum(self.calls.values()):5.2f} answered in {answered:5.1f} ms"
            calls += f" over {self.connections} connections"
        wall = f"(wall {self.wall_tasks_per_second:6.1f})"
        return (
            f"{self.kind.label:22s} {self.tasks_per_second:7.1f} tasks/s {wall}"
            f"   overhead p50 {self.overhead_p50_ms:6.1f} ms  p95 {self.overhead_p95_ms:6.1f} ms"
            f"   CPU ms/task: worker {self.worker_cpu_ms:5.1f}{server} relay {self.relay_cpu_ms:4.1f}"
            f"{calls}   {self.states}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="?", type=int, default=200, help="no-op tasks per run")
    parser.add_argument("rounds", nargs="?", type=int, default=3, help="runs of each kind, interleaved")
    parser.add_argument("--root-url", help="a deployment to use instead of a fresh local queue")
    kinds = f"comma-separated, of {', '.join(KINDS)} (default {DEFAULT_KINDS})"
    parser.add_argument("--kinds", default=DEFAULT_KINDS, help=kinds)
    parser.add_argument("--relay-delay-ms", type=float, default=0.0, help="round trip the relay adds")
    parser.add_argument("--direct", action="store_true", help="no relay: calls are not counted")
    parser.add_argument("--server-pids", default="", help="server processes: NAME=PID,... or PID,...")
    parser.add_argument("--server-logs", default="", help="access logs with one request line per request")
    parser.add_argument("--upstream-running", type=Path, help="start-upstream.sh's RUNNING.txt: PIDs + logs")
    args = parser.parse_args()
    chosen = args.kinds.split(",")
    unknown = set(chosen) - set(KINDS)
    if unknown:
        parser.error(f"--kinds: unknown {sorted(unknown)}")
    if "sw" not in chosen and not any(KINDS[key].operator for key in chosen):
        parser.error("--kinds needs sw, the baseline (or a *live kind, measured against its kind off)")
    for key in chosen:
        if KINDS[key].operator and operator_baseline(key) not in chosen:
            parser.error(f"--kinds: {key} is measured against {operator_baseline(key)}: add it")
    if args.direct and args.relay_delay_ms:
        parser.error("--relay-delay-ms needs the relay (drop --direct)")
    return args


def server_side(args: argparse.Namespace) -> tuple[dict[str, int], tuple[Path, ...]]:
    pids: dict[str, int] = {}
    logs: tuple[Path, ...] = ()
    if args.upstream_running:
        running = read_running(args.upstream_running)
        pids, logs = running.pids, running.logs
    for item in filter(None, args.server_pids.split(",")):
        name, _, pid = item.rpartition("=")
        pids[name or pid] = int(pid)
    logs += tuple(Path(log) for log in filter(None, args.server_logs.split(",")))
    return pids, logs


def environment_credentials() -> dict[str, str]:
    names = {"clientId": "TASKCLUSTER_CLIENT_ID", "accessToken": "TASKCLUSTER_ACCESS_TOKEN"}
    credentials = {key: os.environ[name] for key, name in names.items() if os.environ.get(name)}
    if len(credentials) < 2:
        raise SystemExit("--root-url needs TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN")
    if os.environ.get("TASKCLUSTER_CERTIFICATE"):
        credentials["certificate"] = os.environ["TASKCLUSTER_CERTIFICATE"]
    return credentials


@contextmanager
def deployment(args: argparse.Namespace) -> Iterator[tuple[Deployment, dict[str, Any]]]:
    """The deployment to measure, and client options (straight to it) for creating and checking tasks."""
    pids, logs = server_side(args)
    if args.root_url:
        options = {"rootUrl": args.root_url.rstrip("/"), "credentials": environment_credentials()}
        yield _through_relay(args, options, pids, logs), options
        return
    with queue_process(claim_work_wait=2.0, resolver_interval=1.0) as served:
        yield _through_relay(args, served.options, {"local queue": served.pid, **pids}, logs), served.options


def _through_relay(
    args: argparse.Namespace, options: dict[str, Any], pids: dict[str, int], logs: tuple[Path, ...]
) -> Deployment:
    relay = None if args.direct else Relay.in_front_of(options["rootUrl"], args.relay_delay_ms / 1000)
    root_url = relay.url if relay else options["rootUrl"]
    return Deployment(root_url, dict(options["credentials"]), pids, logs, relay)


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


def run_measured(command: list[str], env: dict[str, str], log: Path) -> Usage:
    """Runs a worker to its end; its wall time and the CPU time of it and its children (the tasks)."""
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        watchdog = threading.Timer(WORKER_TIMEOUT, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[:4]}... exited {process.returncode}; its output: {log}")
    return Usage(time.perf_counter() - started, usage.ru_utime + usage.ru_stime)


def run_tcw(target: Deployment, kind: Kind, worker_type: str, count: int, work: Path) -> Usage:
    env = _clean_env()
    if kind.storage is not None:
        env["TCW_WORKER_ARTIFACT_STORAGE"] = kind.storage
    env |= credential_variables(target)
    env["TCW_REGISTRY_SCHEMA_URLS"] = json.dumps({f"{PROVISIONER}/*": "shell"})
    env["TCW_WORKER_ALLOW_ROOT_TASKS"] = "true"  # the bench's own no-op tasks, also when it runs as root
    command = [sys.executable, "-m", "tcw", "-q", "--root-url", target.root_url, "run"]
    command += ["--task-queue", f"{PROVISIONER}/{worker_type}", "--capacity", str(kind.capacity)]
    if kind.operator:  # /metrics and /healthz are served beside the live logs
        env["TCW_WORKER_LISTEN_ADDRESS"] = "127.0.0.1"
        command += ["--live-log-port", "0"]
    command += ["--max-tasks", str(count), "--work-root", str(work / "work")]
    work.mkdir(parents=True)
    return run_measured(command, env, work / "tcw.log")


def credential_variables(target: Deployment) -> dict[str, str]:
    env = {
        "TASKCLUSTER_CLIENT_ID": target.credentials["clientId"],
        "TASKCLUSTER_ACCESS_TOKEN": target.credentials["accessToken"],
    }
    if "certificate" in target.credentials:
        env["TASKCLUSTER_CERTIFICATE"] = target.credentials["certificate"]
    return env


def run_minimal(target: Deployment, kind: Kind, worker_type: str, count: int, work: Path) -> Usage:
    env = {
        **_clean_env(),
        **credential_variables(target),
        "TASKCLUSTER_ROOT_URL": target.root_url,
        "BENCH_TASK_QUEUE": f"{PROVISIONER}/{worker_type}",
        "BENCH_TASKS": str(count),
        "BENCH_CAPACITY": str(kind.capacity),
        "BENCH_RUN_COMMANDS": "1" if kind.minimal == "commands" else "0",
    }
    work.mkdir(parents=True)
    return run_measured([sys.executable, str(MINIMAL_WORKER), str(work)], env, work / "minimal.log")


def ensure_scriptworker() -> Path:
    python = SCRIPTWORKER_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating .venv-bench-scriptworker with {SCRIPTWORKER} from PyPI ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(SCRIPTWORKER_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SCRIPTWORKER]
        subprocess.run(pip, check=True)
    return python


def scriptworker_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('scriptworker'))"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def run_scriptworker(target: Deployment, worker_type: str, count: int, work: Path) -> Usage:
    python = ensure_scriptworker()
    artifact_dir = work / "artifacts"
    config = {
        "taskcluster_root_url": target.root_url,
        "provisioner_id": PROVISIONER,
        "worker_type": worker_type,
        "worker_group": "bench",
        "worker_id": "scriptworker",
        "credentials": target.credentials,
        "task_script": ["true"],
        "work_dir": str(work / "work"),
        "artifact_dir": str(artifact_dir),
        "task_log_dir": str(artifact_dir / "public" / "logs"),
        "log_dir": str(work / "logs"),
        "ed25519_private_key_path": str(work / "unused.key"),
        "sign_chain_of_trust": False,
        "verify_chain_of_trust": False,
        "poll_interval": 1,
    }
    work.mkdir(parents=True)
    config_path = work / "scriptworker.yaml"
    config_path.write_text(yaml.safe_dump(config))
    launcher = work / "launch.py"
    launcher.write_text(SCRIPTWORKER_LAUNCHER)
    env = {**_clean_env(), "BENCH_TASKS": str(count)}
    return run_measured([str(python), str(launcher), str(config_path)], env, work / "stdout.log")


def _clean_env() -> dict[str, str]:
    # Without PYTHONDONTWRITEBYTECODE, which would make every tcw start compile tcw from source where
    # scriptworker's venv has the bytecode pip wrote at install (as a pip-installed tcw has its own).
    skipped = ("TASKCLUSTER_", "TCW_", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items() if not k.startswith(skipped)}


def compile_tcw() -> None:
    """tcw's bytecode, written before the first run as pip writes it at install (not timed)."""
    import compileall

    import tcw

    compileall.compile_dir(Path(tcw.__file__).parent, quiet=1)


@dataclass
class Meters:
    """What a run costs beside its own wall and CPU time: server CPU, relay CPU, calls counted."""

    target: Deployment
    server: CpuMeter = field(init=False)
    logs: list[LogCounter] = field(init=False)
    own_cpu: float = field(default=0.0, init=False)
    relayed: Traffic = field(default_factory=Traffic, init=False)

    def __post_init__(self) -> None:
        self.server = CpuMeter(self.target.server_pids)
        self.logs = [LogCounter(path) for path in self.target.server_logs]

    def start(self) -> None:
        self.relayed = self.target.relay.traffic() if self.target.relay else Traffic()
        for log in self.logs:
            log.start()
        self.server.start()
        self.own_cpu = time.process_time()  # the bench process only relays while a worker runs

    def stop(self) -> tuple[dict[str, float], float, Traffic, Counter[str]]:
        relay_cpu = time.process_time() - self.own_cpu
        server = self.server.stop()
        logged: Counter[str] = Counter()
        for log in self.logs:
            logged += log.stop()
        relayed = self.target.relay.traffic() - self.relayed if self.target.relay else Traffic()
        return server, relay_cpu, relayed, logged


def run_once(kind: Kind, queue: Any, meters: Meters, count: int, work: Path, run_itself: float) -> Figures:
    worker_type = f"{kind.key}-{uuid.uuid4().hex[:10]}"  # a fresh task queue per run
    task_ids = create_tasks(queue, worker_type, count)
    meters.start()
    if kind.minimal:
        usage = run_minimal(meters.target, kind, worker_type, count, work / worker_type)
    elif kind.capacity:
        usage = run_tcw(meters.target, kind, worker_type, count, work / worker_type)
    else:
        usage = run_scriptworker(meters.target, worker_type, count, work / worker_type)
    server, relay_cpu, relayed, logged = meters.stop()
    return measure(kind, queue, task_ids, run_itself, usage, server, relay_cpu, relayed, logged)


def measure(
    kind: Kind,
    queue: Any,
    task_ids: list[str],
    run_itself: float,
    usage: Usage,
    server: dict[str, float],
    relay_cpu: float,
    relayed: Traffic,
    logged: Counter[str],
) -> Figures:
    started, resolved, states = [], [], Counter[str]()
    for task_id in task_ids:
        run = queue.status(task_id)["status"]["runs"][-1]
        state = run["state"] + (f"/{run['reasonResolved']}" if run["state"] == "exception" else "")
        states[state] += 1
        if "resolved" in run and "started" in run:
            started.append(parse_time(run["started"]))
            resolved.append(parse_time(run["resolved"]))
    span = (max(resolved) - min(started)).total_seconds()
    overheads = sorted(
        ((r - s).total_seconds() - run_itself) * 1000 for s, r in zip(started, resolved, strict=True)
    )
    p95 = overheads[min(len(overheads) - 1, int(0.95 * len(overheads)))]
    n = len(task_ids)

    def per_task(values: dict[str, float] | Counter[str], scale: float = 1.0) -> dict[str, float]:
        return {name: value * scale / n for name, value in values.items() if value}

    return Figures(
        kind,
        len(resolved),
        len(resolved) / span,
        n / usage.wall,
        statistics.median(overheads),
        p95,
        usage.cpu * 1000 / n,
        per_task(server, 1000),
        relay_cpu * 1000 / n,
        per_task(relayed.calls),
        per_task(relayed.seconds, 1000),
        relayed.connections,
        per_task(logged),
        dict(states),
    )


def startup_cpu_ms(kind: Kind, queue: Any, meters: Meters, work: Path, run_itself: float) -> float:
    """The worker's CPU for a run of one task: its start-up and shut-down (and the one task)."""
    return run_once(kind, queue, meters, 1, work, run_itself).worker_cpu_ms


def cpu_split(runs: list[Figures], startups: list[float], tasks: int) -> str:
    """``fixed X ms + Y ms/task`` (medians), each N-task run against the one-task run of its round."""
    per_task = [
        (f.worker_cpu_ms * tasks - fixed) / (tasks - 1) for f, fixed in zip(runs, startups, strict=True)
    ]
    return f"fixed {statistics.median(startups):5.0f} ms + {statistics.median(per_task):5.2f} ms/task"


def spread(values: list[float]) -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def median_by_name(rows: list[dict[str, float]]) -> dict[str, float]:
    names = sorted({name for row in rows for name in row})
    return {name: statistics.median(row.get(name, 0.0) for row in rows) for name in names}


def report(
    results: dict[str, list[Figures]], targets: dict[str, float], startups: dict[str, list[float]], tasks: int
) -> None:
    rounds = len(next(iter(results.values())))
    print(f"\nover {rounds} rounds, min / median / max:")
    columns = ("tasks/s", "wall tasks/s", "worker CPU ms/task", "server CPU ms/task", "calls/task")
    print(f"  {'':22s} " + "".join(f"{column:>22s}" for column in columns))
    for runs in results.values():
        server = [f.server_cpu_total for f in runs if f.server_cpu_total is not None]
        cells = (
            spread([f.tasks_per_second for f in runs]),
            spread([f.wall_tasks_per_second for f in runs]),
            spread([f.worker_cpu_ms for f in runs]),
            spread(server) if server else "-",
            spread([sum(f.calls.values()) for f in runs]) if runs[0].calls else "-",
        )
        print(f"  {runs[0].kind.label:22s} " + "".join(f"{cell:>22s}" for cell in cells))
    if tasks > 1:
        print("worker CPU: fixed (a one-task run) + per task, medians:")
        for key, runs in results.items():
            print(f"  {runs[0].kind.label:22s} {cpu_split(runs, startups[key], tasks)}")
    report_ratios(results, targets)
    report_breakdowns(results)


def report_ratios(results: dict[str, list[Figures]], targets: dict[str, float]) -> None:
    if "sw" in results:
        print("ratios of medians against scriptworker, same run (tasks/s; wall):")
        for key, runs in results.items():
            if key != "sw":
                print(
                    f"  {runs[0].kind.label:22s} {ratios(runs, results['sw'])}{target_note(targets.get(key))}"
                )
    floors = [key for key in results if KINDS[key].minimal]
    if floors and "tcw8" in results:
        print("tcw run --capacity 8 against the minimal worker, same run (tasks/s; wall):")
        for key in floors:
            print(f"  {KINDS[key].label:22s} {ratios(results['tcw8'], results[key])}")
    operator_kinds = [key for key in results if KINDS[key].operator]
    if operator_kinds:
        print("live logs + metrics on, against the same kind off, same run (tasks/s; wall):")
        for key in operator_kinds:
            off = operator_baseline(key)
            print(
                f"  {key:>10s} / {off:<8s} {ratios(results[key], results[off])}{target_note(OPERATOR_TARGET)}"
            )


def operator_baseline(key: str) -> str:
    """The kind a ``*live`` kind is compared with: ``tcw8live`` -> ``tcw8``."""
    return key.removesuffix("live")


def ratios(runs: list[Figures], baseline: list[Figures]) -> str:
    """Medians of tasks/s (first claim to last resolution) and wall tasks/s, as ratios to the baseline's."""
    span = statistics.median(f.tasks_per_second for f in runs) / statistics.median(
        f.tasks_per_second for f in baseline
    )
    wall = statistics.median(f.wall_tasks_per_second for f in runs) / statistics.median(
        f.wall_tasks_per_second for f in baseline
    )
    return f"{span:5.2f}x; wall {wall:5.2f}x"


def target_note(target: float | None) -> str:
    return f"   (target >= {target:g}x)" if target is not None else ""


def report_breakdowns(results: dict[str, list[Figures]]) -> None:
    sections: tuple[tuple[str, Callable[[Figures], dict[str, float]], str], ...] = (
        ("API calls per task, worker -> root URL (median)", lambda f: f.calls, "{:.2f}"),
        ("ms per task the server took to answer them (median)", lambda f: f.call_ms, "{:.1f}"),
        (
            "requests per task the server logged (median; internal calls included)",
            lambda f: f.server_calls,
            "{:.2f}",
        ),
        ("server CPU ms per task by process (median)", lambda f: f.server_cpu_ms, "{:.1f}"),
    )
    for title, pick, number in sections:
        if not any(pick(f) for runs in results.values() for f in runs):
            continue
        print(title + ":")
        for runs in results.values():
            medians = median_by_name([pick(f) for f in runs])
            ranked = sorted(medians.items(), key=lambda item: -item[1])
            cells = ", ".join(f"{name} {number.format(value)}" for name, value in ranked if value >= 0.005)
            print(f"  {runs[0].kind.label.strip():22s} {cells}")


def main() -> int:
    args = parse_args()
    kinds = [KINDS[key] for key in args.kinds.split(",")]
    run_itself = true_runtime()
    compile_tcw()
    sw_version = scriptworker_version(ensure_scriptworker()) if "sw" in args.kinds.split(",") else "not run"
    with deployment(args) as (target, options), tempfile.TemporaryDirectory(prefix="tcw-bench-") as work:
        where = f"{options['rootUrl']}" if args.root_url else "a fresh local queue"
        route = "directly" if target.relay is None else f"through a relay adding {args.relay_delay_ms:g} ms"
        print(
            f"{args.tasks} no-op tasks per worker, {args.rounds} rounds, on {where}, {route}; scriptworker "
            f"{sw_version}; `true` takes {run_itself * 1000:.1f} ms by itself (subtracted); load {loadavg()}"
        )
        if target.server_pids:
            print("server processes: " + ", ".join(f"{k} {v}" for k, v in target.server_pids.items()))
        queue = taskcluster.Queue(options)
        meters = Meters(target)
        results: dict[str, list[Figures]] = {}
        startups: dict[str, list[float]] = {}
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}   load {loadavg()}", flush=True)
            for kind in kinds:
                figures = run_once(kind, queue, meters, args.tasks, Path(work), run_itself)
                results.setdefault(kind.key, []).append(figures)
                print("  " + figures.line(), flush=True)
                if args.tasks > 1:
                    fixed = startup_cpu_ms(kind, queue, meters, Path(work), run_itself)
                    startups.setdefault(kind.key, []).append(fixed)
                    print(f"  {kind.label:22s} one-task run: worker CPU {fixed:5.0f} ms", flush=True)
        print(f"load at the end {loadavg()}")
    report(results, TARGETS.get(target_set(args), {}), startups, args.tasks)
    return 0


def target_set(args: argparse.Namespace) -> str:
    if not args.root_url:
        return "local"
    return {0.0: "deployment", 20.0: "deployment, 20 ms away"}.get(args.relay_delay_ms, "")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    sys.exit(main())
