"""A real Prometheus holding a short twin history of the reference service, for capacity tests.

The reference Knative Service (knative-sd-demo: Alibaba's MPA class, CC 1, max-scale 10, a P100
ECI spec) alone, 6 h at a few requests per minute with bursts, scraped every 30 s and rendered
in both Knative dialects. The twin's own log of the same run (same scenario, same seed) is the
truth the history and the replays are held to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from capacity_reference import END

from sdobs.prom.harness import LocalPrometheus
from sdobs.sim.engine import ServiceLog, simulate_service
from sdobs.sim.scenarios import REFERENCE_MANIFEST, Scenario, load_scenario
from sdobs.sim.sdexporter import ANNOTATION

SCENARIO = f"""name: capacity tests
duration: 6h
warmup: 20m
scrape_interval: 30s
dialects: [opencensus, opentelemetry]
seed: 11
services:
- manifest: {REFERENCE_MANIFEST}
  traffic:
    rate: 0.1
    diurnal: {{peak_hour: 14, floor: 0.2}}
    bursts: {{per_day: 8, multiplier: 4, duration: 5m}}
    mix:
    - {{weight: 8, steps: 20}}
    - {{weight: 2, steps: 30, width: 768, height: 768}}
    unknown_sampler: 0.01
"""


@dataclass
class TwinHistory:
    prom: LocalPrometheus
    scenario: Scenario
    start: float
    end: float
    truth: ServiceLog  # the twin's log of exactly what was backfilled

    @property
    def url(self) -> str:
        return self.prom.url


@pytest.fixture(scope="session")
def twin_history(tmp_path_factory: pytest.TempPathFactory):
    from sdobs.sim.backfill import backfill_scenario

    work = tmp_path_factory.mktemp("capacity")
    path = Path(work) / "scenario.yaml"
    # The reference service without the SD request exporter: these tests read Knative's own
    # histograms (the fallback); test_capacity_sd_source.py covers the exporter's.
    manifest = Path(work) / "knative-sd-demo.yaml"
    manifest.write_text("".join(line for line in Path(REFERENCE_MANIFEST).read_text()
                                .splitlines(keepends=True) if ANNOTATION not in line))
    path.write_text(SCENARIO.replace(str(REFERENCE_MANIFEST), str(manifest)))
    scenario = load_scenario(path)
    end = END
    prom = LocalPrometheus(Path(work) / "prometheus")
    summary = backfill_scenario(scenario, prom.tsdb, end_epoch=end, jobs=1)
    truth = simulate_service(scenario.runs[0].service, scenario.runs[0].traffic,
                             scenario.options(0, summary.start_epoch))
    prom.start()
    try:
        yield TwinHistory(prom, scenario, summary.start_epoch, summary.end_epoch, truth)
    finally:
        prom.stop()


@pytest.fixture(scope="session")
def demo_day(tmp_path_factory: pytest.TempPathFactory):
    """The demo's day of the reference service: ``sdobs demo``'s scenario (the same manifest,
    traffic, seed and dialect), its other services left out, 24 h ending at ``END``."""
    from dataclasses import replace

    from sdobs.sim.backfill import backfill_scenario
    from sdobs.sim.scenarios import DEFAULT_SCENARIO

    demo = load_scenario(DEFAULT_SCENARIO)
    reference = replace(demo, runs=demo.runs[:1])  # index 0 keeps its seed
    assert reference.runs[0].service.name == "knative-sd-demo"
    prom = LocalPrometheus(Path(tmp_path_factory.mktemp("demo-day")) / "prometheus")
    summary = backfill_scenario(reference, prom.tsdb, end_epoch=END, jobs=2)
    prom.start()
    try:
        yield prom, summary.end_epoch
    finally:
        prom.stop()
