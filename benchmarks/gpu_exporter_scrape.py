"""GPU exporter scrape cost: 8 simulated GPUs with 16 processes against plain prometheus-client.

The candidate is the exporter's real path: the collector reads the simulated backend, builds
fresh families and renders them (``GpuCollector.render``, the exporter's renderer, which writes
the same bytes as prometheus-client). The baseline is prometheus-client rendering the same number
of plain ``Gauge`` series with the same label sets and values, set beforehand (rendering only).
A third column renders the exporter's families with prometheus-client's own renderer, to show
where the time goes. Everything runs interleaved in one process, in both exposition formats
(Prometheus asks for OpenMetrics first). Then resident memory is read before and after 10,000
scrapes.

    .venv/bin/python benchmarks/gpu_exporter_scrape.py [--scrapes 2000] [--check]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exporters"))

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as om_generate_latest
from sdobs_exporters.gpu import (
    GpuCollector,
    Identity,
    SimulatedBackend,
    SimulatedGpu,
    SimulatedProcess,
)

GIB = 2**30
GOAL_RATIO = 2.0
GOAL_MS = 5.0


def make_collector(naming: str) -> GpuCollector:
    gpus = []
    for i in range(8):
        gpu = SimulatedGpu.create("a100-80gb", index=i, seed="bench-node")
        gpu.load_model(20 * GIB, pid=1000 + 2 * i)
        gpu.processes.append(SimulatedProcess(1001 + 2 * i, 2 * GIB, sm_utilization=0.05))
        gpu.utilization = 0.1 * i
        gpu.advance(60)
        gpus.append(gpu)
    ident = Identity(namespace="sd-prod", pod="knative-sd-demo-00042-deployment-7d9c8b6f5d-abcde",
                     container="stable-diffusion", service="knative-sd-demo",
                     configuration="knative-sd-demo", revision="knative-sd-demo-00042")
    return GpuCollector(SimulatedBackend(gpus), naming=naming, identity=ident, hostname="node-1")


def make_baseline(collector: GpuCollector) -> tuple[CollectorRegistry, int]:
    """Plain gauges holding exactly the series one scrape of ``collector`` produces."""
    registry = CollectorRegistry(auto_describe=False)
    series = 0
    for fam in collector.collect():
        keys = sorted({k for s in fam.samples for k in s.labels})
        gauge = Gauge(fam.name.replace(":", "_") + "_plain", fam.documentation, keys,
                      registry=registry)
        for s in fam.samples:
            child = gauge.labels(**{k: s.labels.get(k, "") for k in keys}) if keys else gauge
            child.set(s.value)
            series += 1
    return registry, series


class _Fixed:
    def __init__(self, families) -> None:
        self.families = families

    def collect(self):
        return self.families


def timed(fn, n: int) -> tuple[list[float], float]:
    """Per-call wall times (s) and CPU seconds per call over ``n`` calls."""
    walls = []
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    return walls, (time.process_time() - cpu0) / n


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource

    return pages * resource.getpagesize()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=2000, help="timed scrapes per side and mode")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--memory-scrapes", type=int, default=10_000)
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = ap.parse_args()
    ok = True
    print(f"8 simulated GPUs, 16 processes; {args.rounds} interleaved rounds of "
          f"{args.scrapes // args.rounds} scrapes per side\n")
    print(f"{'naming':8} {'format':12} {'series':>6} {'exporter ms':>12} {'baseline ms':>12} "
          f"{'ratio':>6} {'CPU ratio':>9} {'client-rendered ms':>19}")
    for naming in ("default", "dcgm"):
        collector = make_collector(naming)
        registry, series = make_baseline(collector)
        for fmt, client in (("text", generate_latest), ("openmetrics", om_generate_latest)):
            candidate = lambda c=collector, f=fmt: c.render(f)  # noqa: E731
            baseline = lambda r=registry, g=client: g(r)  # noqa: E731
            via_client = lambda c=collector, g=client: g(_Fixed(c.families()))  # noqa: E731
            for _ in range(200):  # warm up caches and the allocator
                candidate()
                baseline()
                via_client()
            per_round = max(args.scrapes // args.rounds, 1)
            c_walls, b_walls, v_walls, c_cpu, b_cpu = [], [], [], [], []
            gc.collect()
            for _ in range(args.rounds):
                w, cpu = timed(candidate, per_round)
                c_walls += w
                c_cpu.append(cpu)
                w, cpu = timed(baseline, per_round)
                b_walls += w
                b_cpu.append(cpu)
                v_walls += timed(via_client, per_round)[0]
            c_ms = statistics.median(c_walls) * 1000
            b_ms = statistics.median(b_walls) * 1000
            v_ms = statistics.median(v_walls) * 1000
            ratio = c_ms / b_ms
            cpu_ratio = statistics.median(c_cpu) / statistics.median(b_cpu)
            print(f"{naming:8} {fmt:12} {series:>6} {c_ms:>12.3f} {b_ms:>12.3f} {ratio:>6.2f} "
                  f"{cpu_ratio:>9.2f} {v_ms:>19.3f}")
            if naming == "default":
                ok &= ratio <= GOAL_RATIO and cpu_ratio <= GOAL_RATIO and c_ms < GOAL_MS

    collector = make_collector("default")
    for _ in range(500):
        collector.render()
    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    for _ in range(args.memory_scrapes):
        collector.render()
    elapsed = time.perf_counter() - t0
    gc.collect()
    after = rss_bytes()
    print(f"\nresident memory: {before / 2**20:.2f} MiB after 500 scrapes, {after / 2**20:.2f} MiB "
          f"after {args.memory_scrapes} more ({(after - before) / 1024:+.0f} KiB; "
          f"{elapsed / args.memory_scrapes * 1000:.3f} ms per scrape)")
    ok &= after - before < 1 * 2**20
    print(f"goals (default naming: ratio <= {GOAL_RATIO:g}, < {GOAL_MS:g} ms per scrape, "
          f"no memory growth): {'met' if ok else 'MISSED'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
