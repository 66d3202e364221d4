"""What a worker has done, for Prometheus (``/metrics``), ``/healthz`` and ``tcw status``.

Each ``Worker`` has its own ``WorkerMetrics`` with its own registry (never prometheus_client's global one),
so several workers in one process (tests, embedding programs) keep their figures apart. The worker reports
events (a claimWork answer, a run's end, each queue call through ``QueuePort.observe``); everything here is
a cheap in-memory update, so the figures are kept whether or not anything serves them.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tcw.errors import TcwError
from tcw.executors.api import Resolution

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

RUN_SECONDS_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)
CALL_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)
PROGRESS_CALLS = frozenset({"claimWork", "reclaimTask"})
NOT_REPORTED = "not-reported"  # the state label of a run that was over at the queue before its report
"""Calls whose answer shows the worker's loop is moving (``/healthz``)."""


@dataclass(frozen=True)
class LastError:
    at: float  # time.time()
    message: str


@dataclass
class Histogram:
    """Observations counted into ``bounds`` (each an upper bound, inclusive), as Prometheus keeps them."""

    bounds: tuple[float, ...]
    counts: list[int] = field(init=False)  # per bucket, not cumulative; the last one past every bound
    total: float = 0.0
    created: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value


class WorkerMetrics:
    """The figures as plain numbers; the Prometheus registry that serves them is made when first read
    (``registry``, ``exposition``), so that a worker serving no ``/metrics`` never imports
    prometheus_client."""

    def __init__(self, capacity: int, in_use: Callable[[], int]) -> None:
        self.capacity = capacity
        self.in_use = in_use
        self.started = time.time()
        self.last_progress = time.monotonic()  # starting counts: /healthz is 200 for a window after it
        self.claimed = 0
        self.last_error: LastError | None = None
        self.claim_work_calls = 0
        self.empty_polls = 0
        self.reclaims = 0
        self.reclaim_failures = 0
        self.last_contact = 0.0
        self.resolved: dict[tuple[str, str], tuple[float, int]] = {}  # (state, reason) -> (created, count)
        self.run_seconds = Histogram(RUN_SECONDS_BUCKETS)
        self.call_seconds: dict[str, Histogram] = {}  # by method
        self._registry: CollectorRegistry | None = None

    def claim_answered(self, claims: int) -> None:
        if claims:
            self.claimed += claims
        else:
            self.empty_polls += 1

    def run_ended(self, resolution: Resolution, reported: bool, seconds: float) -> None:
        state, reason = (
            (str(resolution.state), str(resolution.reason or "")) if reported else (NOT_REPORTED, "")
        )
        created, count = self.resolved.get((state, reason), (time.time(), 0))
        self.resolved[state, reason] = (created, count + 1)
        self.run_seconds.observe(seconds)

    def queue_call(self, method: str, seconds: float, error: BaseException | None) -> None:
        """``QueuePort``'s observer: every call the worker and its runs make, answered or failed."""
        histogram = self.call_seconds.get(method)
        if histogram is None:
            histogram = self.call_seconds[method] = Histogram(CALL_SECONDS_BUCKETS)
        histogram.observe(seconds)
        if method == "claimWork":
            self.claim_work_calls += 1
        if error is None:
            self.last_contact = time.time()
            if method == "reclaimTask":
                self.reclaims += 1
            if method in PROGRESS_CALLS:
                self.last_progress = time.monotonic()
            return
        if method == "reclaimTask":
            self.reclaim_failures += 1
        message = error.message if isinstance(error, TcwError) else f"{type(error).__name__}: {error}"
        self.last_error = LastError(time.time(), f"{method}: {message}")

    @property
    def resolutions(self) -> Tally[str]:
        """Runs ended, as `tcw status` shows them: ``completed``, ``exception/claim-expired``, ``not
        reported``."""
        shown: Tally[str] = Tally()
        for (state, reason), (_, count) in self.resolved.items():
            if state == NOT_REPORTED:
                shown["not reported"] += count
            else:
                shown[f"{state}/{reason}" if reason else state] += count
        return shown

    @property
    def registry(self) -> CollectorRegistry:
        """This worker's own registry (never prometheus_client's global one)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            self._registry = CollectorRegistry(auto_describe=True)
            self._registry.register(_Collector(self))
        return self._registry

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _Collector:
    """The figures of one ``WorkerMetrics`` as Prometheus metric families, read at each scrape."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        m, created = self.metrics, self.metrics.started
        yield _counter("tcw_tasks_claimed", "Tasks claimed.", m.claimed, created)
        resolved = CounterMetricFamily(
            "tcw_tasks_resolved",
            "Runs ended, by the state and reason reported (state 'not-reported' when the run was over at "
            "the queue first).",
            labels=["state", "reason"],
        )
        for (state, reason), (since, count) in m.resolved.items():
            resolved.add_metric([state, reason], float(count), created=since)
        yield resolved
        yield _histogram("tcw_run_duration_seconds", "Claim to report of each run.", {(): m.run_seconds})
        yield _counter("tcw_reclaims", "reclaimTask calls answered.", m.reclaims, created)
        yield _counter("tcw_reclaim_failures", "reclaimTask calls that failed.", m.reclaim_failures, created)
        yield _counter("tcw_claim_work_calls", "claimWork calls made.", m.claim_work_calls, created)
        yield _counter("tcw_claim_work_empty", "claimWork answers with no task.", m.empty_polls, created)
        yield _histogram(
            "tcw_queue_call_duration_seconds",
            "Latency of the worker's Taskcluster calls, by method (failed calls included).",
            {(method,): histogram for method, histogram in m.call_seconds.items()},
            ["method"],
        )
        yield GaugeMetricFamily("tcw_capacity", "Tasks this worker runs at once at most.", value=m.capacity)
        yield GaugeMetricFamily("tcw_capacity_in_use", "Tasks running now.", value=m.in_use())
        yield GaugeMetricFamily(
            "tcw_last_queue_contact_timestamp_seconds",
            "Unix time of the last Taskcluster call answered successfully.",
            value=m.last_contact,
        )


def _counter(name: str, documentation: str, value: float, created: float) -> Metric:
    from prometheus_client.core import CounterMetricFamily

    family = CounterMetricFamily(name, documentation)
    family.add_metric([], float(value), created=created)
    return family


def _histogram(
    name: str, documentation: str, children: dict[tuple[str, ...], Histogram], labels: list[str] | None = None
) -> Metric:
    from prometheus_client.core import HistogramMetricFamily
    from prometheus_client.utils import floatToGoString

    family = HistogramMetricFamily(name, documentation, labels=labels)
    for values, histogram in children.items():
        bounds = [floatToGoString(bound) for bound in histogram.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        cumulative = [float(sum(histogram.counts[: i + 1])) for i in range(len(histogram.counts))]
        family.add_metric(list(values), list(zip(bounds, cumulative, strict=True)), histogram.total)
        family.add_sample(f"{name}_created", dict(zip(labels or [], values, strict=True)), histogram.created)
    return family
