"""The KPA where the twin deviated from knative/serving, each case pinned to Knative's result.

Each test names the Knative file and function the behaviour comes from (knative/serving, main);
the expected values are what that Go code computes on the same inputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sdobs.sim.kpa import (
    SCALE_UNKNOWN,
    Active,
    Decider,
    KpaSpec,
    LinearBuckets,
    PodAutoscaler,
    PodCounts,
    RevisionAutoscaler,
    round6,
)
from sdobs.sim.manifest import ManifestError, load_files, panic_window_seconds


# -- pkg/autoscaler/aggregation/bucketing.go: roundToNDigits(6, f) = math.Round(f*1e6) / 1e6 ------
@pytest.mark.parametrize(("value", "rounded"), [
    (1.0000007, 1.000001),  # floor gave 1.0
    (0.1234565, 0.123457),  # a half: away from zero
    (2.0000005, 2.000001),
    (0.3333333333, 0.333333),
    (-1e-12, 0.0),  # float drift below zero is 0, not -1e-06 (and not -0.0)
    (-0.0000015, -0.000002),  # math.Round(-1.5) = -2
    (4.9999999, 5.0),
])
def test_round_to_six_digits_is_gos_math_round(value: float, rounded: float) -> None:
    got = round6(value)
    assert got == rounded and str(got) == str(rounded)


def test_an_average_of_1_0000007_wants_two_pods_at_target_1() -> None:
    """bucketing.go WindowAverage rounds; autoscaler.go Scale() takes ceil(stable / target)."""
    b = LinearBuckets(6)
    for t, v in enumerate((1.0, 1.0, 1.0, 1.0, 1.0, 1.0000042)):
        b.record(float(t), v)
    assert b.average(5.0) == 1.000001  # (5 + 1.0000042) / 6 = 1.0000007
    decider = Decider(KpaSpec(target=1.0, total=1.0, panic_window=6, stable_window=6))
    assert decider.scale(5.0, 1, (b.average(5.0), b.average(5.0))).desired == 2


def test_float_drift_never_gives_a_negative_average() -> None:
    b = LinearBuckets(3)
    b.record(0.0, 0.1)
    b.record(0.0, 0.2)
    b.record(0.0, -0.30000000000000004)  # 0.1 + 0.2 - 0.3 in floats: -5.6e-17
    assert b.average(0.0) == 0.0 and str(b.average(0.0)) == "0.0"


# -- pkg/reconciler/autoscaling/resources/target.go: ResolveMetricTarget ---------------------------
MANIFEST = """apiVersion: serving.knative.dev/v1
kind: Service
metadata: {{name: s}}
spec:
  template:
    metadata:
      annotations:
{annotations}
    spec:
      containerConcurrency: 1
      containers: [{{name: c, image: i}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: config-autoscaler, namespace: knative-serving}}
data:
  container-concurrency-target-percentage: "50"
"""


def _kpa(tmp_path: Path, annotations: dict[str, str]):
    annotations = {"k8s.aliyun.com/eci-use-specs": "ecs.gn7i-c8g1.2xlarge", **annotations}
    lines = "\n".join(f'        {k}: "{v}"' for k, v in annotations.items())
    path = tmp_path / "s.yaml"
    path.write_text(MANIFEST.format(annotations=lines))
    services, _ = load_files([path])
    return services[0].revisions[0].kpa


def test_rps_target_uses_the_fixed_target_utilization_not_the_concurrency_percentage(
        tmp_path: Path) -> None:
    """RPS: tu = config.TargetUtilization (0.7, config.go defaultTargetUtilization); only
    concurrency uses container-concurrency-target-percentage (50 % here)."""
    rps = _kpa(tmp_path, {"autoscaling.knative.dev/metric": "rps",
                          "autoscaling.knative.dev/target": "10"})
    assert (rps.target, rps.total) == (7.0, 10.0)
    rps_default = _kpa(tmp_path, {"autoscaling.knative.dev/metric": "rps"})
    assert (rps_default.target, rps_default.total) == (140.0, 200.0)
    conc = _kpa(tmp_path, {})
    assert (conc.target, conc.total) == (0.5, 1.0)
    rps_annotated = _kpa(tmp_path, {"autoscaling.knative.dev/metric": "rps",
                                    "autoscaling.knative.dev/target": "10",
                                    "autoscaling.knative.dev/target-utilization-percentage": "40"})
    assert rps_annotated.target == 4.0


# -- pkg/reconciler/autoscaling/resources/metric.go: MakeMetric (panic window) ---------------------
@pytest.mark.parametrize(("window", "pct", "seconds"), [
    (65, 10, 7.0),  # 6.5 s: Duration.Round goes away from zero; Python's round() gave 6
    (25, 10, 3.0),  # 2.5 s (round() gave 2)
    (60, 10, 6.0),
    (6, 1, 1.0),  # 0.06 s: below one bucket, BucketSize
    (3600, 12.5, 450.0),
    (45, 11, 5.0),  # 4.95 s
])
def test_panic_window_is_rounded_as_go_duration_round(window: float, pct: float,
                                                      seconds: float) -> None:
    assert panic_window_seconds(window, pct) == seconds


def test_a_65s_window_at_10_percent_has_a_7s_panic_window_in_the_manifest(tmp_path: Path) -> None:
    kpa = _kpa(tmp_path, {"autoscaling.knative.dev/window": "65s"})
    assert kpa.panic_window == 7.0


# -- pkg/reconciler/autoscaling/kpa/scaler.go: handleScaleToZero (activation timeout) --------------
def test_progress_deadline_annotation_sets_the_activation_timeout(tmp_path: Path) -> None:
    """pa_lifecycle.go ProgressDeadline(): the revision annotation before config-deployment."""
    kpa = _kpa(tmp_path, {"serving.knative.dev/progress-deadline": "120s"})
    assert kpa.progress_deadline == 120.0
    assert _kpa(tmp_path, {}).progress_deadline == 600.0
    pa = PodAutoscaler(kpa, 0, ready=0)
    pa.reconcile(10, 1, -1, PodCounts(pending=1, not_ready=1))
    assert pa.state is Active.ACTIVATING
    r = pa.reconcile(20, 0, -1, PodCounts(pending=1, not_ready=1))
    assert (r.want, r.apply, r.requeue_at) == (SCALE_UNKNOWN, False, 20 + 150)
    r = pa.reconcile(160, 0, -1, PodCounts(pending=1, not_ready=1))  # exactly 150 s: not yet
    assert (r.want, r.apply, r.requeue_at) == (SCALE_UNKNOWN, False, 160 + 150)
    r = pa.reconcile(160.001, 0, -1, PodCounts(pending=1, not_ready=1))
    assert (r.want, r.apply, r.requeue_at) == (0, True, None)


def test_progress_deadline_annotation_must_be_whole_seconds(tmp_path: Path) -> None:
    """revision_validation.go validateProgressDeadlineAnnotation: second precision."""
    with pytest.raises(ManifestError, match="progress-deadline"):
        _kpa(tmp_path, {"serving.knative.dev/progress-deadline": "1.5s"})


# -- pkg/reconciler/autoscaling/kpa/scaler.go: scale() (initial scale) -----------------------------
def test_initial_scale_does_not_apply_to_an_unreachable_revision() -> None:
    reachable = PodAutoscaler(KpaSpec(initial_scale=3), 0, ready=0)
    assert reachable.reconcile(1, 1, -1, PodCounts()).want == 3
    unreachable = PodAutoscaler(KpaSpec(initial_scale=3, reachable=False), 0, ready=0)
    assert unreachable.reconcile(1, 1, -1, PodCounts()).want == 1


# -- pkg/autoscaler/scaling/autoscaler.go newAutoscaler, multiscaler.go createScaler ---------------
def test_a_restarted_autoscaler_starts_in_panic_and_keeps_the_scale_until_it_has_data() -> None:
    spec = KpaSpec(target=0.7, total=1.0, target_burst_capacity=211, stable_window=60,
                   panic_window=6)
    auto = RevisionAutoscaler(spec, 0.0, ready=5)
    auto.restart(100.0, ready=5, initial_scale=1)
    assert auto.decider.in_panic and auto.decider.max_panic_pods == 5
    assert auto.desired == SCALE_UNKNOWN and auto.ebc == -210  # int32(1*1 - 211)
    assert auto.tick(102.0, 5) is False  # no data: no decision, the PA keeps the scale
    assert auto.reconcile(102.0, PodCounts(ready=5)).apply is False
    auto.record(103.0, 0.7)  # one request's worth: Scale() alone would want 1 pod
    assert auto.tick(104.0, 5) is True
    assert auto.desired == 5  # panic holds maxPanicPods = the ready count at creation
    # panicTime + StableWindow must be Before(now): at 160 still in panic, at 162 not; then
    # the stable decision, ceil(0.7 / 0.7) = 1, limited by max scale-down floor(5 / 2) = 2.
    assert auto.tick(160.0, 5) is False and auto.desired == 5 and auto.decider.in_panic
    assert auto.tick(162.0, 5) is True and auto.desired == 2 and not auto.decider.in_panic


def test_a_restarted_autoscaler_with_one_pod_does_not_panic() -> None:
    auto = RevisionAutoscaler(KpaSpec(), 0.0, ready=1)
    auto.restart(10.0, ready=1, initial_scale=1)
    assert not auto.decider.in_panic and auto.decider.max_panic_pods == 1


@pytest.mark.parametrize(("initial", "total", "tbc", "ebc"), [
    (1, 1.0, 1.5, 0),  # int32(-0.5) = 0: truncation toward zero (floor gave -1)
    (1, 100.0, 211.0, -111),
    (3, 1.0, 2.5, 0),  # int32(0.5) = 0
    (2, 10.0, 0.0, 0),  # TBC 0 → 0
    (2, 10.0, -1.0, -1),  # TBC -1 → -1
    (1, 1.0, 2.7, -1),  # int32(-1.7) = -1 (floor gave -2)
])
def test_a_new_deciders_excess_burst_capacity_truncates_like_int32(
        initial: int, total: float, tbc: float, ebc: int) -> None:
    auto = RevisionAutoscaler(KpaSpec(total=total, target=total * 0.7, target_burst_capacity=tbc),
                              0.0, ready=0)
    auto.restart(1.0, ready=0, initial_scale=initial)
    assert auto.ebc == ebc
