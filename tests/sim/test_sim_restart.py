"""An autoscaler restart as a scenario event (knative/serving scaling/autoscaler.go
``newAutoscaler`` and scaling/multiscaler.go ``createScaler``): the new decider has no history,
makes no decision until it has data, and starts in panic holding the current scale when more
than one pod is ready, so a restart does not scale a revision down for a stable window."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sim_helpers import SD20, kpa, service, service_yaml

from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.manifest import ClusterConfig
from sdobs.sim.scenarios import ScenarioError, load_scenario
from sdobs.sim.traffic import Traffic


def _run(restarts: tuple[float, ...]):
    svc = service(kpa(target_utilization_percentage="70"))
    name = svc.revisions[0].name
    cluster = replace(ClusterConfig(), autoscaler_restarts=restarts)
    opts = SimOptions(duration=150, seed=4, cluster=cluster, initial_pods={name: 6})
    return simulate_service(svc, Traffic(mix=SD20), opts).revisions[0]


def test_without_a_restart_an_idle_revision_of_six_halves_at_once() -> None:
    rev = _run(())
    counts = rev.counts
    first_down = counts["t"][counts["requested"] == 3][0]
    assert first_down < 5  # the settled decider's first tick: max(0, floor(6 / 2)) = 3


def test_a_restart_holds_the_scale_in_panic_for_a_stable_window() -> None:
    rev = _run((1.0,))  # before the settled decider's first tick (2.8 s): 6 pods ready
    ticks = rev.ticks
    at = np.flatnonzero(ticks["t"] == 1.0)[0]
    # createScaler: DesiredScale -1 (no decision, not rendered), ExcessBurstCapacity
    # int32(InitialScale 1 × total 1 − TBC 211) = -210; newAutoscaler: panic (6 ready > 1)
    assert (ticks["desired"][at], ticks["ebc"][at], ticks["panic_mode"][at],
            ticks["valid"][at]) == (-1, -210, 1, 0)
    after = ticks["t"] > 1.0
    valid = after & (ticks["valid"] == 1)
    in_window = valid & (ticks["t"] <= 61.0)  # panicTime 1 + stable window 60, not Before
    assert in_window.any()
    assert set(ticks["desired"][in_window].tolist()) == {6}
    assert set(ticks["panic_mode"][in_window].tolist()) == {1}
    first_calm = ticks["t"][valid & (ticks["panic_mode"] == 0)][0]
    assert 61.0 < first_calm <= 63.0
    assert ticks["desired"][ticks["t"] == first_calm][0] == 3  # then halved: floor(6 / 2)
    counts = rev.counts
    before_calm = counts["t"] < first_calm
    assert counts["requested"][before_calm & (counts["requested"] >= 0)].min() == 6


def test_the_scenario_file_takes_restart_times(tmp_path) -> None:
    (tmp_path / "svc.yaml").write_text(service_yaml())
    (tmp_path / "s.yaml").write_text("duration: 1h\ncluster: {autoscaler_restarts: [2h, 30m]}\n"
                                     "services: [{manifest: svc.yaml}]\n")
    assert load_scenario(tmp_path / "s.yaml").cluster.autoscaler_restarts == (1800.0, 7200.0)
    (tmp_path / "bad.yaml").write_text("cluster: {autoscaler_restarts: 2h}\n"
                                       "services: [{manifest: svc.yaml}]\n")
    with pytest.raises(ScenarioError, match="autoscaler_restarts"):
        load_scenario(tmp_path / "bad.yaml")
