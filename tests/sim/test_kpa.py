"""The KPA pieces against the behaviour of knative/serving's code (docs/kpa.md)."""

from __future__ import annotations

import math

import pytest

from sdobs.sim.kpa import (
    Active,
    AutoscalerConfig,
    Decider,
    KpaSpec,
    LinearBuckets,
    MaxTimeWindow,
    Metric,
    MetricCollector,
    PodAutoscaler,
    PodCounts,
    SksMode,
    WeightedBuckets,
    resolve_target,
)


def test_linear_window_averages_over_the_valid_part_only() -> None:
    b = LinearBuckets(60)
    b.record(100.2, 3.0)
    b.record(100.9, 1.0)  # same second: values add up
    assert b.average(100.5) == 4.0
    b.record(101.0, 2.0)
    assert b.average(101.5) == 3.0  # (4 + 2) / 2 buckets written so far
    # Trailing seconds without writes are excluded, not counted as zeros.
    assert b.average(110.0) == 3.0
    assert not b.is_empty(160.0)
    assert b.average(161.0) == 0.0  # a whole window without writes
    assert b.is_empty(162.0)


def test_linear_window_zero_fills_gaps_between_writes() -> None:
    b = LinearBuckets(6)
    for t in range(6):
        b.record(t, 6.0)
    b.record(9, 0.0)  # seconds 6-8 become zeros; the window is now seconds 4-9
    assert b.average(9) == pytest.approx((6.0 * 2) / 6)
    b.record(20, 1.0)  # a gap of a full window resets the history
    assert b.average(20) == 1.0


def test_averages_are_floored_to_six_decimals() -> None:
    b = LinearBuckets(3)
    b.record(0, 1.0)
    b.record(1, 0.0)
    b.record(2, 0.0)
    assert b.average(2) == 0.333333


def test_weighted_window_uses_knatives_smoothing() -> None:
    b = WeightedBuckets(60)
    assert b.alpha == pytest.approx(0.2)
    assert WeightedBuckets(6).alpha == pytest.approx(1 - 0.0001 ** (1 / 6))
    for t in range(60):
        b.record(t, 10.0)
    assert b.average(59) == pytest.approx(10.0, rel=1e-4)
    b.record(60, 0.0)
    assert b.average(60) == pytest.approx(8.0, rel=1e-3)  # the newest bucket weighs 0.2


def test_scale_down_delay_holds_the_maximum() -> None:
    w = MaxTimeWindow(10)
    w.record(0, 5)
    w.record(4, 2)
    assert w.current() == 5
    w.record(10, 1)
    assert w.current() == 2  # 5 left the 10 s window


def test_target_resolution_follows_target_go() -> None:
    cfg = AutoscalerConfig()
    assert resolve_target(1, 0.7, None, Metric.CONCURRENCY, cfg) == (0.7, 1.0)
    assert resolve_target(0, 0.7, None, Metric.CONCURRENCY, cfg) == (70.0, 100.0)
    assert resolve_target(4, 1.0, 10.0, Metric.CONCURRENCY, cfg) == (4.0, 4.0)
    assert resolve_target(4, 1.0, 2.0, Metric.CONCURRENCY, cfg) == (2.0, 2.0)
    assert resolve_target(1, 0.7, None, Metric.RPS, cfg) == pytest.approx((140.0, 200.0))


def _decide(spec: KpaSpec, now: float, ready: int, stable: float, panic: float,
            decider: Decider | None = None) -> tuple[Decider, int, bool]:
    decider = decider or Decider(spec)
    res = decider.scale(now, ready, (stable, panic))
    return decider, res.desired, res.panic_mode


def test_panic_holds_scale_until_a_stable_window_after_the_last_over_threshold_tick() -> None:
    spec = KpaSpec(container_concurrency=1, target=0.7, total=1.0)
    d, desired, panic = _decide(spec, 0, 0, 1.0, 1.0)
    assert (desired, panic) == (2, True)
    d, desired, panic = _decide(spec, 2, 2, 0.2, 0.2, d)
    assert (desired, panic) == (2, True)  # no scale-down in panic
    d, desired, panic = _decide(spec, 60, 2, 0.2, 0.2, d)
    assert panic  # 0 + 60 is not before 60
    d, desired, panic = _decide(spec, 62, 2, 0.2, 0.2, d)
    assert (desired, panic) == (1, False)


def test_rates_limit_scaling_and_ebc_depends_on_tbc() -> None:
    spec = KpaSpec(container_concurrency=1, target=1.0, total=1.0, max_scale_up_rate=2.0)
    d = Decider(spec)
    res = d.scale(0, 2, (50.0, 50.0))
    assert res.desired == 4  # ceil(2 × 2 ready)
    d = Decider(spec)
    res = d.scale(0, 10, (0.0, 0.0))
    assert res.desired == 5  # halving per tick at most
    assert res.excess_burst_capacity == math.floor(10 - 211 - 0)
    assert Decider(KpaSpec(target_burst_capacity=0)).scale(0, 3, (0, 0)).excess_burst_capacity == 0
    assert Decider(KpaSpec(target_burst_capacity=-1)).scale(0, 3, (0, 0)).excess_burst_capacity \
        == -1


def test_unreachable_revisions_scale_down_without_a_rate_limit() -> None:
    spec = KpaSpec(container_concurrency=1, target=1.0, total=1.0, reachable=False)
    assert Decider(spec).scale(0, 10, (0.0, 0.0)).desired == 0


def test_collector_reports_no_data_only_with_a_scrape_target() -> None:
    with_scraper = MetricCollector(KpaSpec(target_burst_capacity=211))
    assert with_scraper.stable_and_panic(100) is None
    activator_only = MetricCollector(KpaSpec(target_burst_capacity=-1))
    assert activator_only.stable_and_panic(100) == (0.0, 0.0)


def test_scale_to_zero_marks_inactive_then_applies_zero_after_grace() -> None:
    spec = KpaSpec(container_concurrency=1, target=1.0, total=1.0, target_burst_capacity=0)
    pa = PodAutoscaler(spec, 0, ready=1, ebc=0)
    assert pa.mode is SksMode.SERVE and pa.state is Active.ACTIVE
    one = PodCounts(ready=1)
    r = pa.reconcile(1000, 0, 0, one)
    assert (r.want, r.apply, r.mode) == (0, False, SksMode.PROXY)  # marked inactive first
    assert pa.state is Active.INACTIVE
    r = pa.reconcile(1000 + 2, 0, 0, one)
    assert not r.apply and r.requeue_at == pytest.approx(1000 + 30)  # grace in proxy mode
    r = pa.reconcile(1000 + 30, 0, 0, one)
    assert (r.want, r.apply) == (0, True)


def test_retention_keeps_the_last_pod() -> None:
    spec = KpaSpec(target_burst_capacity=-1, scale_to_zero_pod_retention=120)
    pa = PodAutoscaler(spec, 0, ready=1, ebc=-1)
    pa.reconcile(500, 0, -1, PodCounts(ready=1))
    assert pa.reconcile(560, 0, -1, PodCounts(ready=1)).apply is False
    r = pa.reconcile(620, 0, -1, PodCounts(ready=1))
    assert (r.want, r.apply) == (0, True)


def test_bounds_and_initial_scale() -> None:
    spec = KpaSpec(min_scale=2, max_scale=4, initial_scale=3)
    pa = PodAutoscaler(spec, 0, ready=0)
    pa.initialized = False
    r = pa.reconcile(1, 1, -1, PodCounts())
    assert r.want == 3  # initial scale until the target has been reached once
    pa.reconcile(5, 1, -1, PodCounts(ready=3))  # the target reached initial scale once
    r = pa.reconcile(7, 1, -1, PodCounts(ready=3))
    assert r.want == 2  # from then on min-scale
    assert pa.reconcile(9, 9, -1, PodCounts(ready=3)).want == 4


def test_activation_that_never_succeeds_is_abandoned() -> None:
    spec = KpaSpec(progress_deadline=600)
    pa = PodAutoscaler(spec, 0, ready=0)
    pa.reconcile(10, 1, -1, PodCounts(pending=1, not_ready=1))
    assert pa.state is Active.ACTIVATING
    assert pa.reconcile(100, 0, -1, PodCounts(pending=1, not_ready=1)).want == -1
    # Strictly after progress deadline + 30 s (CanFailActivation is ">", issue 17): at the
    # deadline itself the PA is re-enqueued, a moment later it gives up.
    r = pa.reconcile(10 + 630, 0, -1, PodCounts(pending=1, not_ready=1))
    assert (r.want, r.apply, r.requeue_at) == (-1, False, 10 + 630 + 630)
    r = pa.reconcile(10 + 630.5, 0, -1, PodCounts(pending=1, not_ready=1))
    assert (r.want, r.apply) == (0, True)


def test_a_reconcile_at_its_requeue_time_never_asks_for_the_same_instant() -> None:
    import random

    rng = random.Random(0)
    spec = KpaSpec(target_burst_capacity=211, scale_to_zero_pod_retention=600)
    for _ in range(2000):
        since = rng.uniform(0, 1e5)
        pa = PodAutoscaler(spec, 0, ready=1, ebc=-210)
        pa.reconcile(since, 0, -210, PodCounts(ready=1))  # marks the PA inactive at `since`
        now = since
        for _ in range(5):
            r = pa.reconcile(now, 0, -210, PodCounts(ready=1))
            if r.apply:
                break
            assert r.requeue_at is not None and r.requeue_at > now
            now = r.requeue_at
        assert r.apply and r.want == 0
