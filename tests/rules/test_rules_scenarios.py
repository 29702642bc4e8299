"""The twin produces the conditions: fault scenarios backfilled into a real Prometheus, with their
recorded series backfilled by ``promtool tsdb create-blocks-from rules``, where each alert's
expression holds for at least its ``for:``; and the healthy reference day (the demo fleet's
24 h) where no alert's expression ever holds that long."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pandas as pd
import pytest

from sdobs.alerting.demo import scenario_slo_file
from sdobs.catalog.gpu import duration_seconds
from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus
from sdobs.rules.backfill import backfill_records
from sdobs.rules.generate import alerts, rule_groups
from sdobs.rules.slofile import load_slo_file
from sdobs.sim.backfill import backfill_scenario
from sdobs.sim.scenarios import DEFAULT_SCENARIO, load_scenario

pytestmark = pytest.mark.prometheus

FAULTS = Path(__file__).parents[2] / "sdobs" / "sim" / "scenarios" / "faults"
STEP = 60
EXPECTED = {
    "5xx-burst": ("SDHighErrorRatio", "SDAvailabilityBudgetBurn"),
    "max-scale": ("SDMaxScaleSaturated",),
    "pending": ("SDPodsNotReady", "SDColdRequestsWaiting"),
    "warm-at-night": ("SDIdleNotScaledToZero",),
}


def longest_hold(frame: pd.DataFrame, step: float = STEP) -> float:
    """Seconds of the longest unbroken run of samples of any one series of a range query."""
    if frame.empty:
        return -math.inf
    labels = [c for c in frame.columns if c not in ("time", "value")]
    best = 0.0
    groups = frame.groupby(labels, dropna=False) if labels else [((), frame)]
    for _, g in groups:
        t = (g["time"].sort_values() - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
        run = 0.0
        for a, b in itertools.pairwise(t):
            run = run + (b - a) if b - a <= step + 1 else 0.0
            best = max(best, run)
    return best


def history(tmp: Path, scenario_path: Path):
    """A running Prometheus with the scenario's raw history and the rules' recorded history."""
    scenario = load_scenario(scenario_path)
    dialect = scenario.dialects[0].name
    prom = LocalPrometheus(tmp)
    end = math.floor(pd.Timestamp.now(tz="UTC").timestamp() / STEP) * STEP - STEP
    summary = backfill_scenario(scenario, prom.tsdb, end_epoch=end)
    prom.start()
    slo = load_slo_file(scenario_slo_file(scenario_path)).with_services(
        (r.service.namespace, r.service.name, r.service.annotations) for r in scenario.runs)
    groups = [g for t in (dialect, "gpu") for gs in rule_groups(t, slo).values() for g in gs]
    import time

    t0 = time.monotonic()
    backfill_records(prom, groups, summary.start_epoch, summary.end_epoch, eval_interval=f"{STEP}s")
    print(f"history: raw {summary.wall_seconds:.0f} s, recorded {time.monotonic() - t0:.0f} s")
    return prom, groups, summary.start_epoch, summary.end_epoch


def holds(prom: LocalPrometheus, groups, name: str, start: float, end: float) -> list[tuple]:
    """(rule labels, for seconds, longest hold) of every rule of alert ``name``."""
    client = PrometheusClient(prom.url, timeout=120)
    out = []
    for rule in alerts(groups):
        if rule.alert != name:
            continue
        frame = client.query_range(rule.expr, start, end, step=STEP)
        out.append((dict(rule.labels), duration_seconds(rule.for_), longest_hold(frame)))
    assert out, f"no rule named {name}"
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_fault_scenario_fires_its_alerts(fault_history, scenario):
    # Backfilled once per session (conftest.py): test_fleet_recorded.py reads 5xx-burst too.
    prom, groups, start, end = fault_history(FAULTS / f"{scenario}.yaml")
    for name in EXPECTED[scenario]:
        results = holds(prom, groups, name, start, end)
        assert any(held >= for_ for _, for_, held in results), (name, results)


@pytest.mark.timeout(1800)
def test_healthy_reference_day_fires_nothing(tmp_path):
    prom, groups, start, end = history(tmp_path, DEFAULT_SCENARIO)
    try:
        fired = []
        for name in sorted({a.alert for a in alerts(groups)}):
            for labels, for_, held in holds(prom, groups, name, start, end):
                if held >= for_:
                    fired.append((name, labels, held))
        assert fired == []
    finally:
        prom.stop()
