"""What a worker has done, for Prometheus (``/metrics``), ``/healthz`` and ``tcw status``.

Each ``Worker`` has its own ``WorkerMetrics`` with its own registry (never prometheus_client's global one),
so several workers in one process (tests, embedding programs) keep their figures apart. The worker reports
events (a claimWork answer, a run's end, each queue call through ``QueuePort.observe``); everything here is
a cheap in-memory update, so the figures are kept whether or not anything serves them.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tcw.errors import TcwError
from tcw.executors.api import Resolution

RUN_SECONDS_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)
CALL_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)
PROGRESS_CALLS = frozenset({"claimWork", "reclaimTask"})
"""Calls whose answer shows the worker's loop is moving (``/healthz``)."""


@dataclass(frozen=True)
class LastError:
    at: float  # time.time()
    message: str


class WorkerMetrics:
    def __init__(self, capacity: int, in_use: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.tasks_claimed = Counter("tcw_tasks_claimed", "Tasks claimed.", registry=r)
        self.tasks_resolved = Counter(
            "tcw_tasks_resolved",
            "Runs ended, by the state and reason reported (state 'not-reported' when the run was over at "
            "the queue first).",
            ["state", "reason"],
            registry=r,
        )
        self.run_seconds = Histogram(
            "tcw_run_duration_seconds",
            "Claim to report of each run.",
            buckets=RUN_SECONDS_BUCKETS,
            registry=r,
        )
        self.reclaims = Counter("tcw_reclaims", "reclaimTask calls answered.", registry=r)
        self.reclaim_failures = Counter("tcw_reclaim_failures", "reclaimTask calls that failed.", registry=r)
        self.claim_work_calls = Counter("tcw_claim_work_calls", "claimWork calls made.", registry=r)
        self.empty_polls = Counter("tcw_claim_work_empty", "claimWork answers with no task.", registry=r)
        self.call_seconds = Histogram(
            "tcw_queue_call_duration_seconds",
            "Latency of the worker's Taskcluster calls, by method (failed calls included).",
            ["method"],
            buckets=CALL_SECONDS_BUCKETS,
            registry=r,
        )
        Gauge("tcw_capacity", "Tasks this worker runs at once at most.", registry=r).set(capacity)
        Gauge("tcw_capacity_in_use", "Tasks running now.", registry=r).set_function(in_use)
        self.last_contact = Gauge(
            "tcw_last_queue_contact_timestamp_seconds",
            "Unix time of the last Taskcluster call answered successfully.",
            registry=r,
        )
        self.started = time.time()
        self.last_progress = time.monotonic()  # starting counts: /healthz is 200 for a window after it
        self.claimed = 0
        self.resolutions: Tally[str] = Tally()
        self.last_error: LastError | None = None

    def claim_answered(self, claims: int) -> None:
        if claims:
            self.tasks_claimed.inc(claims)
            self.claimed += claims
        else:
            self.empty_polls.inc()

    def run_ended(self, resolution: Resolution, reported: bool, seconds: float) -> None:
        state, reason = (
            (str(resolution.state), str(resolution.reason or "")) if reported else ("not-reported", "")
        )
        self.tasks_resolved.labels(state, reason).inc()
        self.run_seconds.observe(seconds)
        self.resolutions[str(resolution) if reported else "not reported"] += 1

    def queue_call(self, method: str, seconds: float, error: BaseException | None) -> None:
        """``QueuePort``'s observer: every call the worker and its runs make, answered or failed."""
        self.call_seconds.labels(method).observe(seconds)
        if method == "claimWork":
            self.claim_work_calls.inc()
        if error is None:
            self.last_contact.set_to_current_time()
            if method == "reclaimTask":
                self.reclaims.inc()
            if method in PROGRESS_CALLS:
                self.last_progress = time.monotonic()
            return
        if method == "reclaimTask":
            self.reclaim_failures.inc()
        message = error.message if isinstance(error, TcwError) else f"{type(error).__name__}: {error}"
        self.last_error = LastError(time.time(), f"{method}: {message}")

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format."""
        return generate_latest(self.registry)
