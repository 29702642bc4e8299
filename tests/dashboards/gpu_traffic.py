"""GPU exporter series for the known Knative traffic's pods, rendered by the real exporter.

Each pod of ``knative_traffic.PODS`` gets one simulated A10 whose utilisation follows its
traffic; the exporter's own collector renders OpenMetrics at every 15 s sample time, and the
renders are regrouped so each family is contiguous (what promtool's backfill requires).
"""

from __future__ import annotations

from functools import cache

import knative_traffic as kt
from sdobs_exporters.gpu import GpuCollector, Identity, SimulatedBackend, SimulatedGpu

GIB = 2**30
#: Utilisation per pod name while its requests run (idle before and after the window).
BUSY = {p.name: 0.2 + 0.1 * i for i, p in enumerate(kt.PODS)}


def _configuration(revision: str) -> str:
    return revision.rsplit("-", 1)[0]


def _collectors(t0: int) -> list[tuple[kt.Pod, SimulatedGpu, GpuCollector]]:
    out = []
    for pod in kt.PODS:
        gpu = SimulatedGpu.create("a10", seed=pod.name)
        gpu.load_model(9 * GIB)
        ident = Identity(namespace=pod.namespace, pod=pod.name, container="stable-diffusion",
                         service=pod.service, configuration=_configuration(pod.revision),
                         revision=pod.revision)
        collector = GpuCollector(SimulatedBackend([gpu]), identity=ident, clock=lambda: t0)
        out.append((pod, gpu, collector))
    return out


@cache
def openmetrics_families(t0: int) -> str:
    """GPU families for all pods over ``[T0, T0+SPAN]``, without the final ``# EOF``."""
    headers: dict[str, list[str]] = {}
    samples: dict[str, list[str]] = {}
    collectors = _collectors(t0)
    for offset in range(0, kt.SPAN + 1, kt.STEP):
        busy = kt.WINDOW_START < offset <= kt.WINDOW_END
        for pod, gpu, collector in collectors:
            gpu.utilization = BUSY[pod.name] if busy else 0.0
            gpu.advance(kt.STEP)
            family = ""
            text = collector.render("openmetrics", timestamp=t0 + offset).decode()
            for line in text.splitlines():
                if line == "# EOF" or not line:
                    continue
                if line.startswith("# "):
                    family = line.split(" ", 3)[2]
                    if family not in samples:
                        headers.setdefault(family, []).append(line)
                    continue
                samples.setdefault(family, []).append(line)
            for family in samples:
                headers.setdefault(family, [])
    lines = []
    for family, body in samples.items():
        lines += headers[family] + body
    return "\n".join(lines) + "\n"


def with_knative(knative_text: str, t0: int) -> str:
    """One OpenMetrics document: the Knative traffic followed by the GPU families."""
    head = knative_text.rstrip().removesuffix("# EOF")
    return head + openmetrics_families(t0) + "# EOF\n"
