"""Flags on run records built by hand: who is flagged, and why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tcw.errors import UsageError
from tcw.inspect.analyse import Analysis, FlagKind, Thresholds, analyse, worker_detail
from tcw.inspect.runs import WorkerKey, runs_of_statuses
from tcw.inspect.stats import Correction, RateTest
from tests.support.statuses import POOL, T0, R, StatusFactory, healthy_pool, runs_of


def flagged(analysis: Analysis) -> dict[str, set[FlagKind]]:
    return {w.key.name: {f.kind for f in w.flags} for w in analysis.flagged}


def test_healthy_pool_with_ordinary_failures_flags_nobody() -> None:
    analysis = analyse(runs_of(healthy_pool(StatusFactory())))
    assert flagged(analysis) == {}
    assert all(w.adjusted_p_value is not None for w in analysis.workers)
    assert analysis.pools[0].bad_rate == pytest.approx(0.1)


@pytest.mark.parametrize("test", list(RateTest))
@pytest.mark.parametrize("correction", list(Correction))
def test_a_worker_failing_far_more_than_its_pool_is_flagged(test: RateTest, correction: Correction) -> None:
    factory = StatusFactory()
    statuses = healthy_pool(factory)
    statuses += factory.many(6, R("dc1/bad")) + factory.many(14, R("dc1/bad", "failed"))
    analysis = analyse(runs_of(statuses), thresholds=Thresholds(test=test, correction=correction))
    assert flagged(analysis) == {"dc1/bad": {FlagKind.BAD_RATE}}
    worst = analysis.workers[0]
    assert worst.key.name == "dc1/bad"
    assert (worst.failed, worst.resolved) == (14, 20)
    assert worst.bad_rate == pytest.approx(0.7)
    flag = worst.flags[0]
    assert "14 of 20 runs bad (70%" in flag.reason and "10 of 100 (10%)" in flag.reason
    assert flag.figures["bad"] == 14 and flag.figures["poolRestResolved"] == 100
    assert flag.figures["adjustedPValue"] is not None and float(flag.figures["adjustedPValue"]) < 0.01


def test_repeated_claim_expired_cured_elsewhere_gives_both_hard_signals() -> None:
    factory = StatusFactory()
    statuses = healthy_pool(factory)
    statuses += factory.many(15, R("dc2/flaky"))
    statuses += factory.many(3, R("dc2/flaky", "exception", "claim-expired", 1200), R("dc1/w0"))
    analysis = analyse(runs_of(statuses))
    assert flagged(analysis) == {"dc2/flaky": {FlagKind.CLAIM_EXPIRED, FlagKind.COMPLETED_ELSEWHERE}}
    worker = analysis.flagged[0]
    assert worker.reasons["claim-expired"] == 3
    reasons = {flag.kind: flag for flag in worker.flags}
    assert reasons[FlagKind.CLAIM_EXPIRED].figures["claimExpired"] == 3
    assert "3 runs ended claim-expired" in reasons[FlagKind.CLAIM_EXPIRED].reason
    assert reasons[FlagKind.COMPLETED_ELSEWHERE].figures["completedElsewhere"] == 3


def test_a_single_claim_expired_or_shutdown_is_not_a_signal() -> None:
    factory = StatusFactory()
    statuses = healthy_pool(factory)
    statuses += [factory.status(R("dc1/w1", "exception", "claim-expired"), R("dc1/w2"))]
    statuses += factory.many(4, R("dc1/w3", "exception", "worker-shutdown"), R("dc1/w2"))
    analysis = analyse(runs_of(statuses))
    assert flagged(analysis) == {}
    assert {w.key.name: w.exception for w in analysis.workers if w.exception} == {"dc1/w1": 1, "dc1/w3": 4}


def test_too_few_runs_are_not_tested() -> None:
    factory = StatusFactory()
    statuses = healthy_pool(factory) + factory.many(3, R("dc1/new", "failed"))
    analysis = analyse(runs_of(statuses), thresholds=Thresholds(min_runs=5))
    new = next(w for w in analysis.workers if w.key.name == "dc1/new")
    assert new.p_value is None and not new.flagged


def test_each_pool_is_its_own_baseline() -> None:
    tests, builds = StatusFactory("prov/tests"), StatusFactory("prov/builds")
    statuses = []
    for index in range(4):  # every test worker fails half its runs: that is the pool, not a worker
        statuses += tests.many(10, R(f"t/w{index}")) + tests.many(10, R(f"t/w{index}", "failed"))
    statuses += healthy_pool(builds)
    analysis = analyse(runs_of(statuses))
    assert flagged(analysis) == {}
    assert {p.task_queue_id: p.bad_rate for p in analysis.pools} == {
        "prov/builds": pytest.approx(0.1),
        "prov/tests": pytest.approx(0.5),
    }


def test_durations_far_outside_the_pool_are_flagged_but_millisecond_noise_is_not() -> None:
    factory = StatusFactory()
    statuses = []
    for index in range(5):
        statuses += factory.many(10, R(f"dc1/w{index}", duration=600 + 10 * index))
    statuses += factory.many(10, R("dc1/fast", "completed", duration=5))
    analysis = analyse(runs_of(statuses))
    assert flagged(analysis) == {"dc1/fast": {FlagKind.DURATION}}
    flag = analysis.flagged[0].flags[0]
    assert flag.figures["medianDuration"] == 5 and "shorter" in flag.reason

    quick = StatusFactory()
    statuses = [s for i in range(5) for s in quick.many(10, R(f"dc1/w{i}", duration=0.02))]
    statuses += quick.many(10, R("dc1/slowish", duration=0.5))
    assert flagged(analyse(runs_of(statuses))) == {}


def test_sorted_by_suspicion_and_drill_down() -> None:
    factory = StatusFactory()
    statuses = healthy_pool(factory) + factory.many(10, R("dc1/bad", "failed"))
    runs = runs_of(statuses)
    analysis = analyse(runs)
    assert analysis.workers[0].key.name == "dc1/bad"
    p_values = [w.adjusted_p_value for w in analysis.workers[1:]]
    assert p_values == sorted(p for p in p_values if p is not None)
    detail = worker_detail(analysis, runs, "dc1/w0")
    assert len(detail.runs) == 20 and all(r.worker == WorkerKey(POOL, "dc1", "w0") for r in detail.runs)
    starts = [r.started for r in detail.runs if r.started is not None]
    assert starts == sorted(starts, reverse=True)
    with pytest.raises(UsageError, match="no run of worker dc9/nobody"):
        worker_detail(analysis, runs, "dc9/nobody")


def test_runs_of_statuses_skips_unclaimed_runs_and_honours_since() -> None:
    factory = StatusFactory()
    statuses = factory.many(10, R("dc1/w0"))
    statuses[0]["runs"].append({"runId": 1, "state": "pending", "reasonCreated": "rerun", "scheduled": "x"})
    assert len(runs_of_statuses(statuses)) == 10
    since = T0 + timedelta(minutes=6)
    assert [r.started and r.started >= since for r in runs_of_statuses(statuses, since=since)] == [True] * 5
