"""Suite time: the same tests in one process and on two xdist workers, side by side.

    python benchmarks/suite_time.py [PYTEST PATHS...]   # default: a slice of the slow tests
    python benchmarks/suite_time.py --demo-history      # sdobs demo's backfill: 24 h vs 2 h

The first form runs pytest on the paths twice in this run, once as before (one process) and
once as ``./run test`` now does (``-n 2 --dist loadgroup``, groups in tests/xdist_groups.py),
and prints both wall times and their ratio. The second times ``sdobs demo --check`` on a fresh
state folder with the default 24 h history and with ``--history 2h`` (what the fresh-clone
story test backfills). The machine may be shared: only ratios of one run mean anything.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLICE = ["tests/twin/test_live_scale_to_zero.py", "tests/twin/test_demo_state.py",
         "tests/rules/test_fleet_recorded.py"]
XDIST = ["-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder"]


def _pytest(paths: list[str], extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, *paths]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"pytest failed ({' '.join(extra) or 'one process'}):\n{proc.stdout[-3000:]}")
    return wall


def _demo(history: str | None) -> float:
    from sdobs.prom.harness import free_port

    with tempfile.TemporaryDirectory(prefix="sdobs-suite-time-") as tmp:
        cmd = [sys.executable, "-m", "sdobs.cli", "demo", "--check", "--no-app", "--dir", tmp,
               "--background-rate", "0"]
        for flag in ("--prometheus-port", "--gateway-port", "--twin-metrics-port",
                     "--alertmanager-port", "--fault-port"):
            cmd += [flag, str(free_port())]
        if history:
            cmd += ["--history", history]
        env = {k: v for k, v in os.environ.items() if k != "SDOBS_DEMO_HISTORY"}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or "history ready" not in proc.stdout:
            sys.exit(f"sdobs demo failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=SLICE)
    parser.add_argument("--demo-history", action="store_true",
                        help="time sdobs demo --check with 24 h and with 2 h of history")
    args = parser.parse_args()
    if args.demo_history:
        full, short = _demo(None), _demo("2h")
        print(f"sdobs demo --check, 24 h history: {full:7.1f} s")
        print(f"sdobs demo --check,  2 h history: {short:7.1f} s")
        print(f"ratio 2 h / 24 h: {short / full:.2f}")
        return 0
    serial = _pytest(args.paths, [])
    parallel = _pytest(args.paths, XDIST)
    print(f"one process:           {serial:7.1f} s")
    print(f"-n 2 --dist loadgroup: {parallel:7.1f} s")
    print(f"ratio -n 2 / one:      {parallel / serial:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
