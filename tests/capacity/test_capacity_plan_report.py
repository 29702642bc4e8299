"""The queueing plan and the cost rows on hand-built histories, against independent values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from sdobs.capacity.cost import PriceTable
from sdobs.capacity.history import ServiceHistory, ServiceTimes
from sdobs.capacity.report import (
    annotation_snippet,
    format_table,
    observed_row,
    recommend,
    results_frame,
)
from sdobs.capacity.sizing import cold_start_seconds, plan, queueing_need
from sdobs.capacity.whatif import ReplayResult, Setting
from sdobs.sim.manifest import load_files
from sdobs.sim.scenarios import REFERENCE_MANIFEST

(REF,), _ = load_files([REFERENCE_MANIFEST])
REV = REF.revisions[0]  # MPA, CC 1, TU 100 %, P100 on ECI: cold start 40+12+9+15 s
STEP, SPAN = 60.0, 7200.0


def synthetic(rate: float, ready: np.ndarray | float = 1.0, not_ready: np.ndarray | float = 0.0,
              service_s: float = 4.0) -> ServiceHistory:
    """A constant-rate history with deterministic service (all times in (S − 1 ms, S])."""
    n = int(SPAN / STEP)
    index = pd.to_datetime((np.arange(1, n + 1) * STEP * 1000).astype("int64"), unit="ms",
                           utc=True)
    name = REV.name
    rates = pd.DataFrame({name: np.full(n, rate)}, index=index)
    by_class = pd.DataFrame({"time": index, "revision": name, "code_class": "2xx",
                             "value": rate})
    pods = pd.concat([
        pd.DataFrame({"time": index, "revision": name, "state": state,
                      "value": np.broadcast_to(np.asarray(v, float), n)})
        for state, v in (("actual", ready), ("not_ready", not_ready), ("desired", ready))
    ], ignore_index=True)
    total = rate * SPAN
    st = ServiceTimes(name, total, service_s, (service_s - 0.001, service_s, math.inf),
                      (0.0, total, total))
    return ServiceHistory(
        namespace="default", service=REF.name, dialect="opencensus", start=0.0, end=SPAN,
        step=STEP, scrape_interval=30.0, rates=rates, rates_by_class=by_class, pods=pods,
        gpu=pd.DataFrame({"busy": 0.5, "exporters": 1.0}, index=index),
        latency=pd.DataFrame(index=index), latency_overall={"p50": 4.0, "p99": 9.0},
        totals=pd.DataFrame({"revision": [name], "code_class": ["2xx"], "requests": [total]}),
        service_times={name: st}, gpu_models={name: "Tesla P100-PCIE-16GB"},
    )


def test_plan_sizes_the_worked_example() -> None:
    """docs/queueing.md §4: S = 4 s deterministic, λ = 2/s, P99 ≤ 8 s needs c = 10 pods and
    TU ≈ 89 % (L(10)/10 = 8.88/10) holds them."""
    history = synthetic(2.0)
    p = plan(history, REV, 8.0)
    assert p.service_s == 4.0 and p.scv == pytest.approx(0.0, abs=1e-6)
    assert p.peak_rate == pytest.approx(2.0)
    assert p.pods_at_peak == 10
    assert p.target_utilization == 89
    need = queueing_need(history, REV, 8.0)
    assert (need["need"] == 10).all() and (need["rate"] == 2.0).all()
    # KPA at TU 100 %, CC 1 settles at the least c with ceil(L(c)) ≤ c (docs/queueing.md §3 step 4):
    # L(9) > 9 (Wq grows at ρ = 0.89), L(10) = 8.88, so 10 pods.
    assert (need["kpa_steady"] == 10).all()
    assert p.setting().target_utilization == 89


def test_plan_cold_fraction_and_retention_follow_section_3_3_step_5() -> None:
    rate, s, slo = 0.05, 4.0, 20.0
    history = synthetic(rate, service_s=s)
    p = plan(history, REV, slo)
    t_cold = cold_start_seconds(REV)
    assert t_cold == 40 + 12 + 9 + 15
    idle = 60 + 30  # stable window + scale-to-zero grace period
    by_hand = math.exp(-rate * (idle + s)) * (1 + rate * max(0.0, t_cold - slo + s))
    assert p.cold_fraction == pytest.approx(by_hand, rel=1e-9)
    # ≤ 1 % needs T_idle ≥ ln(100 (1 + λ max(0, T_cold − SLO + S))) / λ − S = 115.8 s, so a
    # retention of 55.8 s: the least offered is 60 s.
    need = math.log(100 * (1 + rate * (t_cold - slo + s))) / rate - s
    assert need == pytest.approx(115.8, abs=0.1)
    assert p.retention_s == 60.0
    assert p.setting().retention_s == 60.0 and p.setting().min_scale is None


def test_observed_cost_and_savings_by_hand() -> None:
    n = int(SPAN / STEP)
    not_ready = np.where(np.arange(n) < n // 2, 1.0, 0.0)
    history = synthetic(0.1, ready=2.0, not_ready=not_ready)
    prices = PriceTable().with_overrides([{"spec": REV.instance_spec, "hourly_usd": 3.0}])
    row = observed_row(history, REV, prices, slo_seconds=10)
    assert row["pod_hours"] == pytest.approx((2 * 7200 + 3600) / 3600)  # ready + not ready
    assert row["ready_pod_hours"] == pytest.approx(4.0)
    assert row["cost_usd"] == pytest.approx(5.0 * 3.0)
    assert row["always_on_usd"] == pytest.approx(2 * 2.0 * 3.0)  # peak 2 pods for 2 h
    assert row["savings_vs_always_on"] == pytest.approx(1 - 15.0 / 12.0)
    assert row["gpu_hours_busy"] == pytest.approx(0.5 * 2.0)
    assert row["meets_slo"] is True and row["requests"] == pytest.approx(720)


def _result(name: str, cost: float, p99: float, slo: float = 30.0) -> ReplayResult:
    row = {"setting": name, "changes": name, "gpu": "p100", "p50_s": 5.0, "p99_s": p99,
           "meets_slo": p99 <= slo, "cold_share": 0.1, "timeouts_504": 0, "pod_hours": cost,
           "gpu_hours_busy": 1.0, "gpu_hours_allocated": cost, "cost_usd": cost,
           "always_on_usd": 50.0, "savings_vs_always_on": 1 - cost / 50}
    return ReplayResult(Setting(name), row, np.zeros(1), np.zeros(1))


def test_recommendation_is_the_cheapest_setting_meeting_the_slo() -> None:
    results = [_result("as deployed", 10.0, 45.0), _result("warm", 14.0, 25.0),
               _result("always", 40.0, 12.0)]
    rec = recommend(results, 30.0)
    assert rec.setting.name == "warm" and rec.meets_slo
    # A deployed setting that meets the SLO stays unless a change saves more than 2 %.
    close = [_result("as deployed", 10.0, 25.0), _result("window", 9.9, 24.0)]
    assert recommend(close, 30.0).setting.name == "as deployed"
    assert recommend([close[0], _result("t4", 9.0, 24.0)], 30.0).setting.name == "t4"
    none = recommend(results[:1], 30.0)
    assert not none.meets_slo and "no setting meets" in none.reason
    frame = results_frame({**results[0].row, "setting": "observed", "cost_usd": 20.0,
                           "always_on_usd": 80.0}, results)
    assert frame.loc["warm", "cost_vs_baseline"] == pytest.approx(1.4)
    assert frame.loc["warm", "savings_vs_always_on"] == pytest.approx(1 - 14 / 80)
    text = format_table(frame, "warm")
    marked = [line for line in text.splitlines() if line.lstrip().startswith("*")]
    assert "P99 s" in text and len(marked) == 1 and "warm" in marked[0]


def test_annotation_snippet_is_a_knative_template_fragment() -> None:
    s = Setting("r", target_utilization=85, min_scale=1, container_concurrency=1)
    doc = yaml.safe_load(annotation_snippet(s, REV))
    ann = doc["spec"]["template"]["metadata"]["annotations"]
    assert ann == {"autoscaling.knative.dev/target-utilization-percentage": "85",
                   "autoscaling.knative.dev/min-scale": "1"}
    assert doc["spec"]["template"]["spec"] == {"containerConcurrency": 1}
