"""What-if sweep speed: 20 settings replayed over 7 days of one service at 0.5 requests/s.

The service is the reference one (knative-sd-demo: MPA class, CC 1, max-scale 10, P100 on ECI)
with the default scenario's request mix; its history is 7 days of counts per 30 s step drawn
from a Poisson process with a daily shape averaging 0.5 requests/s (302,400 requests expected),
turned into arrivals as ``replay_input`` does. Settings: target utilisation 60-100 % x min-scale
0/1 x GPU P100/T4. Measured side by side in one run: the sweep serially (one process) and with
``jobs=2`` (the baseline is the serial run; goal <= 60 s on 2 cores, both used).

Run: .venv/bin/python benchmarks/capacity_whatif.py [--days 7] [--settings 20]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np

from sdobs.capacity.whatif import (
    ReplayInput,
    RevisionReplay,
    Setting,
    arrivals_from_counts,
    mix_for,
    sweep,
)
from sdobs.sim.manifest import load_files
from sdobs.sim.scenarios import REFERENCE_MANIFEST
from sdobs.sim.servicetime import GPUS, Txt2Img, mean_seconds

STEP = 30.0
RATE = 0.5


def replay_input(days: float, seed: int = 7) -> ReplayInput:
    (svc,), _ = load_files([REFERENCE_MANIFEST])
    rev = svc.revisions[0]
    rng = np.random.default_rng(seed)
    duration = days * 86400
    starts = np.arange(0, duration, STEP)
    hours = (starts / 3600 + 8) % 24  # UTC+8, peak at 14:00
    shape = 0.3 + 0.7 * (1 + np.cos(2 * np.pi * (hours - 14) / 24)) / 2
    counts = rng.poisson(RATE * STEP * shape / shape.mean())
    arrivals = arrivals_from_counts(starts, counts, STEP, duration, rng)
    # The default scenario's mix on a P100: 80 % 20 steps at 512 px, 20 % 30 steps at 768 px.
    p100 = GPUS["p100"]
    small, large = mean_seconds(p100, Txt2Img(steps=20)), mean_seconds(
        p100, Txt2Img(steps=30, width=768, height=768))
    mix = mix_for([small] * 8 + [large] * 2, "p100", share_4xx=0.004)
    rr = RevisionReplay(rev, tuple(arrivals.tolist()), mix)
    return ReplayInput(svc.namespace, svc.name, (rr,), duration, step=STEP, seed=seed)


def settings(n: int) -> list[Setting]:
    grid = itertools.product((60, 70, 80, 90, 100), (0, 1),
                             (None, "ecs.gn6i-c4g1.xlarge"))
    out = []
    for tu, warm, spec in grid:
        name = f"TU {tu} %, min-scale {warm}, {spec or 'P100'}"
        out.append(Setting(name, target_utilization=tu, min_scale=warm, spec=spec))
    return out[:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--settings", type=int, default=20)
    args = parser.parse_args()
    inp = replay_input(args.days)
    chosen = settings(args.settings)
    n = len(inp.revisions[0].arrivals)
    print(f"{args.days:g} days, {n:,} requests ({n / inp.duration:.3f}/s), {len(chosen)} "
          f"settings, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    parallel = sweep(inp, chosen, jobs=2)
    t_par = time.perf_counter() - t0
    print(f"sweep, jobs=2:  {t_par:7.1f} s  ({t_par / len(chosen):.2f} s a setting; goal 60 s)")
    t0 = time.perf_counter()
    serial = sweep(inp, chosen, jobs=1)
    t_ser = time.perf_counter() - t0
    print(f"sweep, serial:  {t_ser:7.1f} s  ({t_ser / len(chosen):.2f} s a setting)")
    same = all(a.row == b.row for a, b in zip(parallel, serial, strict=True))
    print(f"ratio: serial / parallel = {t_ser / t_par:.2f}x on 2 workers; results identical: "
          f"{same}; goal {'met' if t_par <= 60 else 'MISSED'} ({t_par / 60:.2f}x the 60 s goal)")
    for r in parallel[:4]:
        row = r.row
        print(f"  {row['setting']:<40} P99 {row['p99_s']:6.1f} s  cold {row['cold_share']:5.1%}"
              f"  pod-h {row['pod_hours']:7.1f}  ${row['cost_usd']:8.2f}")


if __name__ == "__main__":
    main()
