"""What the twin's cluster series (kube-state-metrics, cAdvisor) cost in rendered history.

Renders the same simulated day of the reference revision (``reference_revision.py``, 1
request/s) with and without ``RenderOptions.cluster_series`` side by side (interleaved rounds,
the fastest of each kept) and prints samples, bytes and render seconds of each and their
ratio, plus dcgm-exporter's exposition in place of the sdobs sidecar's.

Run: ``.venv/bin/python benchmarks/cluster_series.py [--hours H] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

import reference_revision

from sdobs.sim.render import RenderOptions, render_to_file

print = functools.partial(print, flush=True)  # lines show while it runs



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    log = reference_revision.simulate(args.hours * 3600, seed=3)
    print(f"{args.hours:g} h of one revision at 1 req/s: {len(log.pods['id'])} pods")
    variants = (
        ("without cluster series", dict(cluster_series=False)),
        ("with cluster series", dict(cluster_series=True)),
        ("dcgm-exporter instead of sidecar", dict(cluster_series=True,
                                                   gpu_naming="dcgm-exporter")),
    )
    rows: dict[str, tuple[int, int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):  # interleaved; the fastest of each is kept
            for name, opts in variants:
                t0 = time.perf_counter()
                stats = render_to_file([log], Path(tmp) / "h.om",
                                       RenderOptions(start_epoch=1.7e9, **opts))
                seconds = time.perf_counter() - t0
                best = min(seconds, rows.get(name, (0, 0, float("inf")))[2])
                rows[name] = (stats.samples, stats.bytes, best)
    for name, (samples, size, seconds) in rows.items():
        print(f"  {name:<34} {samples:>10,} samples {size / 1e6:>8.1f} MB {seconds:>6.2f} s")
    base = rows["without cluster series"]
    for name in ("with cluster series", "dcgm-exporter instead of sidecar"):
        s, b, t = rows[name]
        print(f"ratio {name} / without: samples {s / base[0]:.3f}, bytes {b / base[1]:.3f}, "
              f"render time {t / base[2]:.3f}")


if __name__ == "__main__":
    main()
