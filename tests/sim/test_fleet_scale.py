"""The seed-scale fleet scenario: 500 Services, each within the cardinality budget.

The whole scenario is rendered by ``benchmarks/fleet_scale.py`` (minutes); here a few Services
of each kind are simulated and rendered over ten minutes and their distinct series counted
against ``sdobs.sim.cardinality.series_budget`` of the pods, codes and revisions they show.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sdobs.sim import cardinality
from sdobs.sim.backfill import run_shard
from sdobs.sim.render import RenderOptions
from sdobs.sim.scenarios import SCENARIO_DIR, ScenarioError, load_scenario

FLEET_500 = SCENARIO_DIR / "fleet-500.yaml"
END = 1_780_000_020  # a fixed end (a minute boundary): the same pods every run


def test_the_fleet_scenario_has_500_distinct_services_of_nine_kinds() -> None:
    scenario = load_scenario(FLEET_500)
    names = [r.service.name for r in scenario.runs]
    assert len(names) == len(set(names)) == 500
    kinds = Counter(n.rsplit("-", 1)[0] for n in names)
    assert len(kinds) == 9 and min(kinds.values()) >= 50
    assert 2 * 3600 <= scenario.duration <= 6 * 3600  # "a few hours"
    # Copies carry their own revisions and traffic targets, not the template's.
    for run in scenario.runs:
        svc = run.service
        assert all(r.name.startswith(svc.name + "-") and r.service == svc.name
                   for r in svc.revisions)
        assert {t.revision for t in svc.traffic} <= {r.name for r in svc.revisions}


@pytest.mark.parametrize("copies", [0, -1, "5", 1.5, True, 10_001])
def test_copies_must_be_a_whole_number(tmp_path: Path, copies) -> None:
    (tmp_path / "s.yaml").write_text(
        f"services: [{{manifest: {SCENARIO_DIR / 'knative-sd-demo.yaml'}, copies: {copies!r}}}]")
    with pytest.raises(ScenarioError, match=r"copies must be a whole number from 1 to 10000"):
        load_scenario(tmp_path / "s.yaml")


def test_each_kind_of_service_stays_within_its_series_budget(tmp_path: Path) -> None:
    scenario = load_scenario(FLEET_500, overrides={"duration": "10m", "warmup": "5m"})
    start = END - scenario.duration
    options = RenderOptions(start_epoch=start, scrape_interval=scenario.scrape_interval,
                            dialects=scenario.dialects, gpu_naming="default")
    first = {}
    for i, run in enumerate(scenario.runs):
        first.setdefault(run.service.name.rsplit("-", 1)[0], i)
    shapes = {}
    for kind, i in first.items():
        shard = run_shard(scenario, i, start, options, tmp_path / f"{i}.om")
        shapes[kind] = cardinality.shard_shape(shard.path)
    for kind, shape in shapes.items():
        # An upper bound, and a tight one: pods that never served cost a few series less.
        assert 0.85 * shape.budget <= shape.series <= shape.budget, (kind, shape)
    # The budget's inputs are all exercised: churned pods, SD exporter pods, activator codes,
    # a two-revision Service.
    assert shapes["knative-sd-demo"].sd_pods > 0 and shapes["sd-anime"].activator_codes > 0
    assert shapes["sd-portrait"].revisions == 2
    assert sum(s.pods for s in shapes.values()) > 30
