"""The twin's virtual-time speed against an earlier commit, side by side in one run.

Runs ``sim_speed.one_revision`` (one revision at 1 request/s for a simulated day: every KPA
tick, window average, activator and pod event of the engine) from this checkout and from
``--baseline`` (a commit, extracted with ``git archive`` into a temporary folder), alternating
the two so that load from elsewhere on the machine falls on both alike, and prints the best
CPU time of each and their ratio (>= 1.0 means this checkout is no slower).

Run: ``.venv/bin/python benchmarks/sim_speed_vs_commit.py --baseline b8e2f80 [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_WALL = re.compile(r"simulated: ([0-9.]+) s wall, (\d+) requests, (\d+) events")
_CPU = re.compile(r"^cpu ([0-9.]+)$", re.M)


def _extract(commit: str, into: Path) -> None:
    data = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "sdobs", "benchmarks"],
                          check=True, capture_output=True).stdout
    archive = into / "src.tar"
    archive.write_bytes(data)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def _one(tree: Path, days: float) -> tuple[float, str]:
    code = (f"import sys; sys.path[:0] = [{str(tree)!r}, {str(tree / 'benchmarks')!r}]\n"
            "import sdobs, sim_speed\n"
            f"assert sdobs.__file__.startswith({str(tree)!r}), sdobs.__file__\n"
            "import time; c0 = time.process_time()\n"
            f"sim_speed.one_revision({days!r})\n"
            "print(f'cpu {time.process_time() - c0:.3f}')\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    m, cpu = _WALL.search(out), _CPU.search(out)
    if m is None or cpu is None:
        raise SystemExit(f"unexpected output from {tree}: {out[:300]}")
    return float(cpu.group(1)), f"{m.group(1)} s wall, {m.group(2)} requests, {m.group(3)} events"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="commit to compare against")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--days", type=float, default=1.0, help="simulated days per run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sdobs-baseline-") as tmp:
        base = Path(tmp)
        _extract(args.baseline, base)
        times: dict[str, list[float]] = {"baseline": [], "this checkout": []}
        for i in range(args.rounds):
            for name, tree in (("baseline", base), ("this checkout", ROOT)):
                wall, what = _one(tree, args.days)
                times[name].append(wall)
                print(f"round {i + 1} {name:>13}: {wall:.2f} s CPU ({what})", flush=True)
    best = {k: min(v) for k, v in times.items()}
    print(f"best of {args.rounds} (CPU seconds of the run, which load elsewhere on the machine "
          f"disturbs less than wall time): baseline {args.baseline} {best['baseline']:.2f} s, "
          f"this checkout {best['this checkout']:.2f} s; speed ratio (baseline / this) "
          f"{best['baseline'] / best['this checkout']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
