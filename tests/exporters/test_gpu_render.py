"""The exporter's renderer writes exactly what prometheus-client writes, in both formats."""

from __future__ import annotations

import pytest
from gpu_fake_nvml import FakeGpu, FakeMig, FakeNvml, two_gpus
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as om_generate_latest
from sdobs_exporters.gpu import GpuCollector, Identity, NvmlBackend, SimulatedBackend, SimulatedGpu
from sdobs_exporters.gpu.exposition import Labels, label_text, render
from sdobs_exporters.gpu.server import make_registry

ODD = Identity(namespace="sd", pod='we"ird\\pod\nname', container="ünïcode", revision="r-1")


class Fixed:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def collectors() -> list[GpuCollector]:
    mig = FakeNvml([FakeGpu(0, "GPU-a", mig_mode=1, migs=[FakeMig("MIG-1", 3)])])
    sim = SimulatedGpu.create("l4")
    sim.xid_errors = {79: 2}
    return [
        GpuCollector(NvmlBackend(two_gpus()), identity=ODD, hostname="n"),
        GpuCollector(NvmlBackend(two_gpus()), naming="dcgm", identity=ODD, hostname="n"),
        GpuCollector(NvmlBackend(mig), naming="dcgm"),
        GpuCollector(NvmlBackend(mig)),
        GpuCollector(SimulatedBackend([sim])),
    ]


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("timestamp", [None, 1700000000.25])
def test_same_bytes_as_prometheus_client(index: int, timestamp: float | None) -> None:
    c = collectors()[index]
    for _ in range(2):  # the second scrape renders from cached label text
        fams = c.families(timestamp)
        assert render(fams) == generate_latest(Fixed(fams))
        assert render(fams, openmetrics=True) == om_generate_latest(Fixed(fams))


def test_whole_registry_with_process_metrics() -> None:
    registry = make_registry(GpuCollector(NvmlBackend(two_gpus()), identity=ODD))
    fams = list(registry.collect())
    assert render(fams) == generate_latest(Fixed(fams))
    assert render(fams, openmetrics=True) == om_generate_latest(Fixed(fams))


def test_histograms_fall_back_to_prometheus_client() -> None:
    registry = CollectorRegistry()
    Histogram("h_seconds", "h", registry=registry).observe(0.3)
    g = GaugeMetricFamily("g", "g", labels=["a"])
    g.add_metric(["x"], 1)
    fams = [*registry.collect(), g]
    assert render(fams) == generate_latest(Fixed(fams))
    assert render(fams, openmetrics=True) == om_generate_latest(Fixed(fams))


def test_label_text_is_cached_on_labels_dicts_only() -> None:
    stable = Labels({"b": "2", "a": 'x"y'})
    assert label_text(stable) == '{a="x\\"y",b="2"}'
    assert stable.text == '{a="x\\"y",b="2"}'
    assert label_text({}) == ""
