"""Serving twin speed: virtual time against wall time, OpenMetrics generation against promtool.

Prints, in one run:
1. one revision at 1 request/s for a simulated day: simulated seconds per wall second
   (baseline: the wall clock; goal >= 20,000x);
2. the default fleet scenario, serially on one core: time to simulate and render each Service's
   OpenMetrics shard against the time ``promtool tsdb create-blocks-from openmetrics`` takes to
   ingest the same shards (goal: generation no slower than ingestion), and peak memory of both;
3. the same scenario end to end as ``sdobs simulate`` runs it (2 jobs), against the 3-minute
   budget.

Run: ``.venv/bin/python benchmarks/sim_speed.py [--quick]`` (``--quick``: 2 h of fleet history).
"""

from __future__ import annotations

import argparse
import functools
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import reference_revision

from sdobs.prom.harness import backfill as promtool_backfill
from sdobs.sim.backfill import backfill_scenario, run_shard
from sdobs.sim.render import RenderOptions
from sdobs.sim.scenarios import load_scenario

print = functools.partial(print, flush=True)  # lines show while it runs



def _maxrss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def one_revision(days: float = 1.0) -> None:
    duration = 86400 * days
    t0 = time.perf_counter()
    log = reference_revision.simulate(duration, seed=1)
    wall = time.perf_counter() - t0
    print(f"1. one revision at 1 request/s, {duration / 3600:g} h simulated: {wall:.2f} s wall, "
          f"{len(log.requests['t'])} requests, {log.events} events, {len(log.pod_names)} pods")
    print(f"   simulated seconds per wall second: {duration / wall:,.0f}x (goal >= 20,000x)")


def fleet_serial(duration: str) -> None:
    scenario = load_scenario(overrides={"duration": duration})
    start = 1_717_200_000.0
    options = RenderOptions(start_epoch=start, scrape_interval=scenario.scrape_interval,
                            dialects=scenario.dialects)
    work = Path(tempfile.mkdtemp(prefix="sdobs-bench-"))
    gen = ingest = 0.0
    samples = size = 0
    try:
        for i in range(len(scenario.runs)):
            shard = run_shard(scenario, i, start, options, work / f"{i}.om")
            gen += shard.simulate_seconds + shard.render_seconds
            samples += shard.samples
            size += shard.bytes
            ingest += promtool_backfill(shard.path, work / "tsdb")
            shard.path.unlink()
        print(f"2. default fleet, {duration} of history, serially: {samples:,} samples, "
              f"{size / 1e6:,.0f} MB of OpenMetrics")
        print(f"   generation (simulate + render) {gen:.1f} s, promtool ingestion {ingest:.1f} s: "
              f"generation is {ingest / gen:.2f}x the speed of ingestion (goal >= 1)")
        print(f"   peak memory: generator {_maxrss_mib(resource.RUSAGE_SELF):,.0f} MiB, "
              f"promtool {_maxrss_mib(resource.RUSAGE_CHILDREN):,.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fleet_end_to_end(duration: str, jobs: int = 2) -> None:
    scenario = load_scenario(overrides={"duration": duration})
    work = Path(tempfile.mkdtemp(prefix="sdobs-bench-"))
    try:
        t0 = time.perf_counter()
        summary = backfill_scenario(scenario, work / "data", jobs=jobs)
        wall = time.perf_counter() - t0
        print(f"3. default fleet end to end ({jobs} jobs, as sdobs simulate): {wall:.1f} s wall "
              f"for {summary.requests:,} requests, {summary.pods:,} pods, "
              f"{summary.samples:,} samples; {180 / wall:.2f}x inside the 3-minute budget")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 h of fleet history instead of 24 h")
    args = p.parse_args(argv)
    duration = "2h" if args.quick else "24h"
    one_revision(days=0.25 if args.quick else 1.0)
    fleet_serial(duration)
    fleet_end_to_end(duration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
