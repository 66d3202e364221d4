"""Per-worker statistics and flags: which workers behave worse than the rest of their pool.

No fixed failure threshold works across pools (a test-suite pool fails a fifth of its runs by design, a
build pool almost never), so the main verdict compares each worker with the rest of its own pool and
corrects for the number of workers tested. Hard signals no healthy worker shows often (claims left to
expire, exceptions that a retry on another worker cured, durations far from the pool's) are flagged on
their own. Every flag says why in words and carries the figures behind it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from tcw.errors import UsageError
from tcw.inspect import stats
from tcw.inspect.runs import WORKER_FAULT_REASONS, Run, WorkerInfo, WorkerKey
from tcw.inspect.stats import BoxSummary, Correction, RateTest

Figure = int | float | str | None
INTERVAL_CONFIDENCE = 0.95  # of the bad-rate intervals drawn and reported beside each worker's rate


class FlagKind(StrEnum):
    BAD_RATE = "bad-rate"
    CLAIM_EXPIRED = "repeated-claim-expired"
    COMPLETED_ELSEWHERE = "completed-elsewhere"
    DURATION = "duration-outlier"


@dataclass(frozen=True)
class Thresholds:
    """How sure the analysis must be before it flags a worker."""

    test: RateTest = RateTest.FISHER
    correction: Correction = Correction.HOLM
    alpha: float = 0.01  # family-wise (Holm) or false-discovery (BH) level
    min_runs: int = 5  # fewer resolved runs than this: no rate test, no duration verdict
    repeated_claim_expired: int = 2
    completed_elsewhere: int = 2
    duration_factor: float = 4.0  # median this many times longer or shorter than the rest of the pool
    duration_min_difference: float = 60.0  # seconds; a 50 ms vs 5 ms median is not a signal


@dataclass(frozen=True)
class Flag:
    kind: FlagKind
    reason: str
    figures: Mapping[str, Figure]


@dataclass(frozen=True)
class WorkerStats:
    key: WorkerKey
    runs: int
    completed: int
    failed: int
    exception: int
    unresolved: int
    bad: int
    reasons: Mapping[str, int]
    median_duration: float | None
    p95_duration: float | None
    first_seen: datetime | None
    last_seen: datetime | None
    info: WorkerInfo = field(default_factory=WorkerInfo)
    durations: BoxSummary | None = None  # the distribution behind median_duration, for box plots
    p_value: float | None = None
    adjusted_p_value: float | None = None
    flags: tuple[Flag, ...] = ()

    @property
    def resolved(self) -> int:
        return self.completed + self.failed + self.exception

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.resolved if self.resolved else None

    @property
    def exception_rate(self) -> float | None:
        return self.exception / self.resolved if self.resolved else None

    @property
    def bad_rate(self) -> float | None:
        return self.bad / self.resolved if self.resolved else None

    @property
    def bad_rate_interval(self) -> tuple[float, float] | None:
        """How far the true bad rate may lie from ``bad_rate`` given this few runs (Wilson, 95 %)."""
        return stats.wilson_interval(self.bad, self.resolved, INTERVAL_CONFIDENCE)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def suspicion(self) -> tuple[int, float, float]:
        """Sort key, most suspicious first: more flags, then a smaller p-value, then a higher bad rate."""
        p = self.adjusted_p_value if self.adjusted_p_value is not None else 1.0
        return (-len(self.flags), p, -(self.bad_rate or 0.0))


@dataclass(frozen=True)
class PoolStats:
    task_queue_id: str
    workers: int
    runs: int
    resolved: int
    bad: int
    median_duration: float | None
    p95_duration: float | None

    @property
    def bad_rate(self) -> float | None:
        return self.bad / self.resolved if self.resolved else None


@dataclass(frozen=True)
class Analysis:
    workers: tuple[WorkerStats, ...]  # most suspicious first
    pools: tuple[PoolStats, ...]
    thresholds: Thresholds

    @property
    def flagged(self) -> tuple[WorkerStats, ...]:
        return tuple(w for w in self.workers if w.flagged)


def analyse(
    runs: Iterable[Run],
    infos: Mapping[WorkerKey, WorkerInfo] | None = None,
    thresholds: Thresholds | None = None,
) -> Analysis:
    """Group runs by worker, test each worker against the rest of its pool, and flag the outliers."""
    thresholds = thresholds or Thresholds()
    infos = infos or {}
    all_runs = list(runs)
    by_worker = _group_by_worker(all_runs)
    base = {key: _base_stats(key, worker_runs, infos.get(key)) for key, worker_runs in by_worker.items()}
    pools = _pool_stats(base.values(), by_worker)
    p_values = _rate_tests(base, thresholds)
    adjusted = dict(zip(p_values, stats.adjust(list(p_values.values()), thresholds.correction), strict=True))
    elsewhere = _completed_elsewhere(all_runs)
    durations = _durations_by_pool(by_worker)
    workers = []
    for key, worker in base.items():
        tested = replace(worker, p_value=p_values.get(key), adjusted_p_value=adjusted.get(key))
        flags = _flags(tested, base, elsewhere.get(key, 0), durations, by_worker[key], thresholds)
        workers.append(replace(tested, flags=tuple(flags)))
    workers.sort(key=lambda w: (w.suspicion(), w.key))
    return Analysis(tuple(workers), tuple(pools), thresholds)


def _group_by_worker(runs: Iterable[Run]) -> dict[WorkerKey, list[Run]]:
    grouped: dict[WorkerKey, list[Run]] = defaultdict(list)
    for run in runs:
        grouped[run.worker].append(run)
    return dict(grouped)


def _base_stats(key: WorkerKey, runs: Sequence[Run], info: WorkerInfo | None) -> WorkerStats:
    states = Counter(run.state for run in runs)
    reasons = Counter(run.reason_resolved for run in runs if run.reason_resolved)
    durations = [d for d in (run.duration for run in runs) if d is not None]
    seen = [t for run in runs for t in (run.started, run.resolved) if t is not None]
    return WorkerStats(
        key=key,
        runs=len(runs),
        completed=states["completed"],
        failed=states["failed"],
        exception=states["exception"],
        unresolved=sum(1 for run in runs if not run.is_resolved),
        bad=sum(1 for run in runs if run.is_bad),
        reasons=dict(sorted(reasons.items())),
        median_duration=stats.median(durations),
        p95_duration=stats.quantile(durations, 0.95),
        first_seen=min(seen, default=None),
        last_seen=max(seen, default=None),
        info=info or WorkerInfo(),
        durations=stats.box_summary(durations),
    )


def _pool_stats(workers: Iterable[WorkerStats], by_worker: Mapping[WorkerKey, list[Run]]) -> list[PoolStats]:
    members: dict[str, list[WorkerStats]] = defaultdict(list)
    for worker in workers:
        members[worker.key.task_queue_id].append(worker)
    pools = []
    for pool_id, pool_workers in sorted(members.items()):
        durations = [
            d for w in pool_workers for d in (run.duration for run in by_worker[w.key]) if d is not None
        ]
        pools.append(
            PoolStats(
                task_queue_id=pool_id,
                workers=len(pool_workers),
                runs=sum(w.runs for w in pool_workers),
                resolved=sum(w.resolved for w in pool_workers),
                bad=sum(w.bad for w in pool_workers),
                median_duration=stats.median(durations),
                p95_duration=stats.quantile(durations, 0.95),
            )
        )
    return pools


def _pool_totals(base: Mapping[WorkerKey, WorkerStats]) -> dict[str, tuple[int, int]]:
    """(bad, resolved) per pool."""
    totals: dict[str, tuple[int, int]] = {}
    for worker in base.values():
        bad, resolved = totals.get(worker.key.task_queue_id, (0, 0))
        totals[worker.key.task_queue_id] = (bad + worker.bad, resolved + worker.resolved)
    return totals


def _rate_tests(base: Mapping[WorkerKey, WorkerStats], thresholds: Thresholds) -> dict[WorkerKey, float]:
    """One-sided p-value per worker with enough runs and a pool to compare with."""
    totals = _pool_totals(base)
    p_values: dict[WorkerKey, float] = {}
    for key, worker in sorted(base.items()):
        pool_bad, pool_resolved = totals[key.task_queue_id]
        rest_bad, rest_resolved = pool_bad - worker.bad, pool_resolved - worker.resolved
        if worker.resolved < thresholds.min_runs or rest_resolved == 0:
            continue
        if thresholds.test is RateTest.FISHER:
            p = stats.fisher_greater(
                worker.bad, worker.resolved - worker.bad, rest_bad, rest_resolved - rest_bad
            )
        else:
            # A rest-of-pool rate of 0 would make any single bad run "impossible"; add half a run.
            rest_rate = (rest_bad + 0.5) / (rest_resolved + 1)
            p = stats.binomial_sf(worker.bad, worker.resolved, rest_rate)
        p_values[key] = p
    return p_values


def _completed_elsewhere(runs: Iterable[Run]) -> Counter[WorkerKey]:
    """Per worker: runs that ended in a worker-fault exception and later completed on another worker."""
    by_task: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_task[run.task_id].append(run)
    counts: Counter[WorkerKey] = Counter()
    for task_runs in by_task.values():
        completions = [(r.run_id, r.worker) for r in task_runs if r.state == "completed"]
        for run in task_runs:
            if run.state != "exception" or run.reason_resolved not in WORKER_FAULT_REASONS:
                continue
            if any(run_id > run.run_id and worker != run.worker for run_id, worker in completions):
                counts[run.worker] += 1
    return counts


def _durations_by_pool(by_worker: Mapping[WorkerKey, list[Run]]) -> dict[str, list[tuple[WorkerKey, float]]]:
    pools: dict[str, list[tuple[WorkerKey, float]]] = defaultdict(list)
    for key, runs in by_worker.items():
        pools[key.task_queue_id].extend((key, d) for d in (run.duration for run in runs) if d is not None)
    return pools


def _flags(
    worker: WorkerStats,
    base: Mapping[WorkerKey, WorkerStats],
    completed_elsewhere: int,
    durations: Mapping[str, list[tuple[WorkerKey, float]]],
    runs: Sequence[Run],
    thresholds: Thresholds,
) -> list[Flag]:
    candidates = [
        _bad_rate_flag(worker, base, thresholds),
        _claim_expired_flag(worker, thresholds),
        _completed_elsewhere_flag(completed_elsewhere, thresholds),
        _duration_flag(worker, runs, durations.get(worker.key.task_queue_id, []), thresholds),
    ]
    return [flag for flag in candidates if flag is not None]


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def _bad_rate_flag(
    worker: WorkerStats, base: Mapping[WorkerKey, WorkerStats], thresholds: Thresholds
) -> Flag | None:
    if worker.adjusted_p_value is None or worker.adjusted_p_value >= thresholds.alpha:
        return None
    rest = [w for k, w in base.items() if k.task_queue_id == worker.key.task_queue_id and k != worker.key]
    rest_bad, rest_resolved = sum(w.bad for w in rest), sum(w.resolved for w in rest)
    reason = (
        f"{worker.bad} of {worker.resolved} runs bad ({_percent(worker.bad, worker.resolved)}: failed or "
        f"worker-fault exception) vs {rest_bad} of {rest_resolved} ({_percent(rest_bad, rest_resolved)}) "
        f"on the rest of the pool; {thresholds.test} p={worker.p_value:.2g}, "
        f"{thresholds.correction}-adjusted {worker.adjusted_p_value:.2g} < {thresholds.alpha:g}"
    )
    figures: dict[str, Figure] = {
        "bad": worker.bad,
        "resolved": worker.resolved,
        "poolRestBad": rest_bad,
        "poolRestResolved": rest_resolved,
        "pValue": worker.p_value,
        "adjustedPValue": worker.adjusted_p_value,
        "alpha": thresholds.alpha,
    }
    return Flag(FlagKind.BAD_RATE, reason, figures)


def _claim_expired_flag(worker: WorkerStats, thresholds: Thresholds) -> Flag | None:
    count = worker.reasons.get("claim-expired", 0)
    if count < thresholds.repeated_claim_expired:
        return None
    reason = (
        f"{count} runs ended claim-expired: the worker stopped reclaiming (hung, died, or lost claimWork "
        "replies) and the queue took the tasks back"
    )
    figures: dict[str, Figure] = {
        "claimExpired": count,
        "resolved": worker.resolved,
        "threshold": thresholds.repeated_claim_expired,
    }
    return Flag(FlagKind.CLAIM_EXPIRED, reason, figures)


def _completed_elsewhere_flag(count: int, thresholds: Thresholds) -> Flag | None:
    if count < thresholds.completed_elsewhere:
        return None
    reason = f"{count} runs ended in an exception here and then completed on a retry on another worker"
    figures: dict[str, Figure] = {"completedElsewhere": count, "threshold": thresholds.completed_elsewhere}
    return Flag(FlagKind.COMPLETED_ELSEWHERE, reason, figures)


def _duration_flag(
    worker: WorkerStats,
    runs: Sequence[Run],
    pool_durations: Sequence[tuple[WorkerKey, float]],
    thresholds: Thresholds,
) -> Flag | None:
    own = [d for d in (run.duration for run in runs) if d is not None]
    rest = [d for key, d in pool_durations if key != worker.key]
    if len(own) < thresholds.min_runs or len(rest) < thresholds.min_runs:
        return None
    own_median, rest_median, spread = stats.median(own), stats.median(rest), stats.scaled_mad(rest)
    assert own_median is not None and rest_median is not None and spread is not None
    difference = abs(own_median - rest_median)
    factor = thresholds.duration_factor
    far = own_median >= factor * rest_median or own_median * factor <= rest_median
    if not far or difference < thresholds.duration_min_difference or difference <= 3 * spread:
        return None
    direction = "longer" if own_median > rest_median else "shorter"
    reason = (
        f"median run {own_median:.0f}s vs {rest_median:.0f}s on the rest of the pool ({direction}, "
        f"beyond {factor:g}x and 3 robust standard deviations of {spread:.0f}s)"
    )
    figures: dict[str, Figure] = {
        "medianDuration": own_median,
        "poolRestMedianDuration": rest_median,
        "poolRestScaledMad": spread,
        "factor": factor,
    }
    return Flag(FlagKind.DURATION, reason, figures)


@dataclass(frozen=True)
class WorkerDetail:
    """The drill-down into one worker: its statistics and every run of it, newest first."""

    stats: WorkerStats
    runs: tuple[Run, ...]


def worker_detail(analysis: Analysis, runs: Iterable[Run], name: str) -> WorkerDetail:
    """The worker called ``workerGroup/workerId`` and its runs; a UsageError if the runs never name it."""
    matches = [worker for worker in analysis.workers if worker.key.name == name]
    if not matches:
        raise UsageError(f"no run of worker {name} among the {len(analysis.workers)} workers collected")
    if len(matches) > 1:
        pools = ", ".join(worker.key.task_queue_id for worker in matches)
        raise UsageError(f"worker {name} ran in several pools ({pools}); select one with --task-queue")
    found = matches[0]
    own = [run for run in runs if run.worker == found.key]
    epoch = datetime.min.replace(tzinfo=UTC)
    own.sort(key=lambda run: (run.started or epoch, run.task_id, run.run_id), reverse=True)
    return WorkerDetail(found, tuple(own))
