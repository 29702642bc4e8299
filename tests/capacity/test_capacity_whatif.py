"""What-if replays: settings applied to revisions, arrivals rebuilt from counts, and the replay
of the twin's own history with its own settings against what the twin recorded."""

from __future__ import annotations

import numpy as np
import pytest
from capacity_reference import NAMESPACE, SERVICE

from sdobs.capacity.cost import PriceTable
from sdobs.capacity.history import load_history
from sdobs.capacity.whatif import (
    Setting,
    arrivals_from_counts,
    mix_for,
    replay,
    replay_input,
    sweep,
)
from sdobs.prom.client import PrometheusClient
from sdobs.sim.manifest import load_files
from sdobs.sim.scenarios import REFERENCE_MANIFEST
from sdobs.sim.servicetime import GPUS, Txt2Img, mean_seconds

(REF,), _ = load_files([REFERENCE_MANIFEST])
REV = REF.revisions[0]


def test_setting_changes_only_what_it_names() -> None:
    assert Setting().apply(REV).kpa == REV.kpa.with_reachable(True)
    rev = Setting("x", target_utilization=70, min_scale=1, max_scale=4, retention_s=300,
                  scale_down_delay_s=120, window_s=120).apply(REV)
    k = rev.kpa
    assert (k.target, k.total) == (pytest.approx(0.7), 1.0)  # CC 1: total follows CC
    assert (k.min_scale, k.max_scale) == (1, 4)
    assert (k.scale_to_zero_pod_retention, k.scale_down_delay) == (300.0, 120.0)
    assert (k.stable_window, k.panic_window) == (120.0, 12.0)  # panic window stays 10 %
    assert rev.gpu == REV.gpu and rev.cold_start == REV.cold_start
    cc = Setting("cc", container_concurrency=4).apply(REV)
    assert cc.container_concurrency == cc.kpa.container_concurrency == 4
    assert (cc.kpa.target, cc.kpa.total) == (pytest.approx(4.0), 4.0)  # TU 100 % of CC 4
    t4 = Setting("t4", spec="ecs.gn6i-c4g1.xlarge").apply(REV)
    assert (t4.gpu, t4.platform, t4.instance_spec) == ("t4", "eci", "ecs.gn6i-c4g1.xlarge")
    assert t4.cold_start.schedule == 30.0  # the ECI T4 profile, not the P100's 40 s
    aws = Setting("g5", spec="g5.xlarge").apply(REV)
    assert (aws.gpu, aws.platform) == ("a10", "nodes")


def test_setting_annotations_and_validation() -> None:
    s = Setting("r", target_utilization=85, min_scale=1, retention_s=300, window_s=90,
                spec="ecs.gn6i-c4g1.xlarge")
    assert s.annotations(REV) == {
        "autoscaling.knative.dev/target-utilization-percentage": "85",
        "autoscaling.knative.dev/min-scale": "1",
        "autoscaling.knative.dev/scale-to-zero-pod-retention-period": "5m",
        "autoscaling.knative.dev/window": "90s",
        "k8s.aliyun.com/eci-use-specs": "ecs.gn6i-c4g1.xlarge",
    }
    assert s.describe() == ("TU 85 %, min-scale 1, retention 5m, window 90s, "
                            "ecs.gn6i-c4g1.xlarge")
    with pytest.raises(ValueError, match="between 1 and 100"):
        Setting("bad", target_utilization=120)
    with pytest.raises(ValueError, match="min-scale is above max-scale"):
        Setting("bad", min_scale=3, max_scale=2)
    with pytest.raises(ValueError, match="unknown setting keys"):
        Setting.from_mapping({"name": "x", "minScale": 1})
    with pytest.raises(LookupError, match="no price for spec 'nope'"):
        Setting("x", spec="nope").apply(REV, PriceTable())


def test_mix_times_the_profile_on_the_deployed_gpu() -> None:
    profile = [4.0, 8.0, 8.0, 30.0]
    mix = mix_for(profile, "p100", share_4xx=0.02)
    per_step = (mean_seconds(GPUS["p100"], Txt2Img(steps=1))
                - mean_seconds(GPUS["p100"], Txt2Img(steps=0)))
    times = sorted(t for w, body in mix.profiles for t in [mean_seconds(GPUS["p100"], body)]
                   * int(w))
    assert np.allclose(times, profile, atol=per_step / 2)
    assert mix.unknown_sampler == 0.02
    # On a T4 the same bodies take the twin's T4 time: about 2x faster than a P100.
    t4 = [mean_seconds(GPUS["t4"], body) for _, body in mix.profiles]
    assert t4[-1] < 0.6 * times[-1]


def test_arrivals_keep_each_steps_count() -> None:
    rng = np.random.default_rng(3)
    starts = np.arange(0, 600, 60.0)
    counts = np.array([0, 3, 1, 0, 7, 2, 0, 0, 1, 5], dtype=float)
    t = arrivals_from_counts(starts, counts, 60.0, 600.0, rng)
    assert np.array_equal(np.histogram(t, bins=np.arange(0, 601, 60))[0], counts)
    many = arrivals_from_counts(starts, counts, 60.0, 600.0, rng, poisson=True)
    assert len(many) > 0 and np.all(np.diff(many) >= 0)


@pytest.fixture(scope="module")
def recorded(twin_history):
    with PrometheusClient(twin_history.url) as client:
        history = load_history(client, NAMESPACE, SERVICE, twin_history.start, twin_history.end,
                               dialect="opencensus")
    return history, twin_history


def _truth(twin) -> dict[str, float]:
    from sdobs.capacity.whatif import _log_metrics

    log = twin.truth
    m = _log_metrics(log, np.array([log.end]))
    r = log.requests
    ok = (r["t"] >= log.start) & (r["code"] == 200)
    latency = (r["t_end"] - r["t"])[ok]
    return {"requests": m["requests"], "ready_h": m["ready_seconds"] / 3600,
            "pod_h": m["pod_seconds"] / 3600, "cold": m["cold"] / m["answered"],
            "started": m["pods_started"], "p50": float(np.quantile(latency, 0.5)),
            "p99": float(np.quantile(latency, 0.99)), "5xx": m["server_errors"]}


@pytest.mark.prometheus
def test_replay_of_own_history_with_own_settings_reproduces_it(recorded) -> None:
    """Tolerances (3 replay seeds averaged; measured spread in brackets): requests exact;
    ready pod-hours +3 % (±2 %) → 10 %; billed pod-hours +8 % (±3 %) → 15 %; pods started
    +15 % (±5 %) → 30 %; cold share 0.38 vs 0.33 (±0.02) → ±0.08; P50 +5 %, P99 +6 % → 20 %.
    What is lost: arrival times inside each 30 s step and the order of requests queued through
    a cold start, which the counters cannot record (see whatif.replay_input)."""
    history, twin = recorded
    truth = _truth(twin)
    rows = [replay(replay_input(history, REF, seed=seed), Setting()).row for seed in (1, 2, 3)]

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in rows]))

    assert all(r["requests"] == history.requests() for r in rows)
    assert history.requests() == pytest.approx(truth["requests"], abs=3)
    assert mean("ready_pod_hours") == pytest.approx(truth["ready_h"], rel=0.10)
    assert mean("pod_hours") == pytest.approx(truth["pod_h"], rel=0.15)
    assert mean("pods_started") == pytest.approx(truth["started"], rel=0.30)
    assert mean("cold_share") == pytest.approx(truth["cold"], abs=0.08)
    assert mean("p50_s") == pytest.approx(truth["p50"], rel=0.20)
    assert mean("p99_s") == pytest.approx(truth["p99"], rel=0.20)
    assert mean("errors_5xx") == truth["5xx"] == 0


@pytest.mark.prometheus
def test_settings_move_the_replay_the_way_knative_would(recorded) -> None:
    history, _ = recorded
    inp = replay_input(history, REF)
    base, warm, always = sweep(inp, [Setting(), Setting("warm", min_scale=1),
                                     Setting("always", min_scale=8, max_scale=10)], jobs=2)
    assert base.row["requests"] == warm.row["requests"] == always.row["requests"]
    # A warm pod removes most cold starts, always-on all of them, at more pod time.
    assert warm.row["cold_share"] < base.row["cold_share"] / 3
    assert always.row["cold_share"] == 0 and always.row["p99_s"] < warm.row["p99_s"]
    assert always.row["pod_hours"] == pytest.approx(8 * history.duration / 3600, rel=0.02)
    assert always.row["savings_vs_always_on"] == pytest.approx(0.0, abs=0.02)
    price = PriceTable()["ecs.gn5-c4g1.xlarge"].hourly_usd
    assert base.row["cost_usd"] == pytest.approx(base.row["pod_hours"] * price)
    # Same arrivals and bodies for every setting: the GPU works the same hours.
    assert warm.row["gpu_hours_busy"] == pytest.approx(base.row["gpu_hours_busy"], rel=0.02)


@pytest.mark.prometheus
def test_parallel_sweep_equals_serial(recorded) -> None:
    history, _ = recorded
    inp = replay_input(history, REF)
    settings = [Setting(), Setting("tu70", target_utilization=70)]
    serial = [r.row for r in sweep(inp, settings, jobs=1)]
    parallel = [r.row for r in sweep(inp, settings, jobs=2)]
    assert serial == parallel
    with pytest.raises(ValueError, match="setting names must be unique"):
        sweep(inp, [Setting(), Setting()])
