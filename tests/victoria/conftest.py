"""One Prometheus and one VictoriaMetrics holding the same known history, for the session.

The history is rendered once per dialect (the known Knative traffic with the GPU exporter's,
the SD exporter's and the cluster's series, as the dashboard tests use) and given to both
stores: Prometheus by ``promtool`` backfill, VictoriaMetrics by its import API.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "dashboards"))  # gpu_traffic, sd_traffic

import gpu_traffic
import knative_traffic as kt
import sd_traffic

from sdobs.prom.client import PrometheusClient
from sdobs.prom.harness import LocalPrometheus
from sdobs.prom.victoria import LocalVictoriaMetrics


@dataclass
class Twins:
    """The same history in both stores; ``t0`` is where it starts, ``first`` the latest first
    sample of a counter (a rate window reaching before it sees some counter begin)."""

    dialect: str
    t0: int
    first: int
    prom: PrometheusClient
    vm: PrometheusClient
    vm_server: LocalVictoriaMetrics


def latest_first_sample(texts: list[str]) -> int:
    """The latest first timestamp of the counter and histogram series (what ``rate`` reads)
    in OpenMetrics texts; gauges that start late (a container's last-termination reason)
    are not read by rate or changes."""
    first: dict[str, float] = {}
    counting = False
    for text in texts:
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                counting = line.split()[3] in ("counter", "histogram", "summary")
            elif line and not line.startswith("#") and counting:
                key, _, stamp = line.rpartition(" ")
                first.setdefault(key.rpartition(" ")[0], float(stamp))
    return int(max(first.values()))


@pytest.fixture(scope="session", params=["opencensus", "opentelemetry"])
def twins(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    dialect = request.param
    t0 = kt.t0_for_tests()
    texts = [sd_traffic.with_sd(gpu_traffic.with_knative(kt.exposition(dialect, t0), t0), t0),
             kt.cluster(t0)]
    prom = LocalPrometheus(tmp_path_factory.mktemp(f"prom-{dialect}"))
    for text in texts:
        prom.backfill_text(text)
    prom.start()
    vm = LocalVictoriaMetrics(tmp_path_factory.mktemp(f"vm-{dialect}")).start()
    for text in texts:
        vm.import_openmetrics(text)
    pc, vc = PrometheusClient(prom.url), PrometheusClient(vm.url)
    try:
        yield Twins(dialect, t0, latest_first_sample(texts), pc, vc, vm)
    finally:
        pc.close()
        vc.close()
        vm.stop()
        prom.stop()
