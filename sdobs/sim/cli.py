"""``sdobs simulate``: run a twin scenario and backfill its history into the local Prometheus."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from sdobs.cli import UserError, parse_end
from sdobs.prom.cli import STATE_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sdobs.sim.scenarios import DEFAULT_SCENARIO

    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO,
                        help="scenario YAML (default: the reference service plus a fleet, 24 h)")
    parser.add_argument("--duration", help="simulated history, e.g. 6h (default: the scenario's)")
    parser.add_argument("--end", default="now",
                        help="when the history ends: 'now' or an ISO time (default now)")
    parser.add_argument("--scrape-interval", help="e.g. 15s (default: the scenario's)")
    parser.add_argument("--dialect", action="append",
                        help="Knative metric dialect(s): opencensus, opentelemetry, "
                             "opentelemetry-early; repeat or comma-separate for several")
    parser.add_argument("--gpu-naming", choices=("default", "dcgm", "sdobs-node", "dcgm-exporter",
                                                 "none"), default="default",
                        help="GPU source: the sdobs exporter sidecar in its default or dcgm "
                             "naming, the sdobs exporter in node mode, NVIDIA's dcgm-exporter, "
                             "or none (default default)")
    parser.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    parser.add_argument("--dir", type=Path, default=STATE_DIR / "prometheus",
                        help="the local Prometheus' working directory; its data/ is the TSDB "
                             "(default .sdobs/prometheus, as sdobs prometheus uses)")
    parser.add_argument("--replace", action="store_true",
                        help="delete what the TSDB holds before backfilling")
    parser.add_argument("--jobs", type=int, default=2,
                        help="worker processes for simulation and promtool (default 2)")
    parser.add_argument("--keep-openmetrics", type=Path, metavar="DIR",
                        help="keep the OpenMetrics shards in DIR instead of deleting them")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")



def run(args: argparse.Namespace) -> int:
    from sdobs.prom.harness import HarnessError
    from sdobs.sim.backfill import BackfillError, Progress, backfill_scenario
    from sdobs.sim.manifest import ManifestError
    from sdobs.sim.scenarios import ScenarioError, load_scenario

    dialects = None
    if args.dialect:
        dialects = [d.strip() for v in args.dialect for d in v.split(",") if d.strip()]
    try:
        scenario = load_scenario(args.scenario, overrides={
            "duration": args.duration, "scrape_interval": args.scrape_interval,
            "dialects": dialects, "seed": args.seed,
        })
    except (ScenarioError, ManifestError) as exc:
        raise UserError(str(exc)) from None
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    tsdb = args.dir / "data"
    n = len(scenario.runs)
    progress = Progress(2 * n + 1, enabled=not args.quiet)
    names = ", ".join(d.name for d in scenario.dialects)
    if not args.quiet:
        print(f"simulating {scenario.name!r}: {n} services, {scenario.duration / 3600:g} h of "
              f"history, {names}, scraped every {scenario.scrape_interval:g} s")
    try:
        summary = backfill_scenario(
            scenario, tsdb, end_epoch=parse_end(args.end), jobs=args.jobs,
            gpu_naming=None if args.gpu_naming == "none" else args.gpu_naming,
            replace=args.replace, keep_openmetrics=args.keep_openmetrics, progress=progress,
        )
    except (BackfillError, HarnessError) as exc:
        raise UserError(str(exc)) from None
    start = datetime.fromtimestamp(summary.start_epoch, UTC).isoformat(timespec="seconds")
    end = datetime.fromtimestamp(summary.end_epoch, UTC).isoformat(timespec="seconds")
    print(f"history {start} .. {end} in {summary.tsdb}")
    print(f"{'namespace/service':<28} {'requests':>9} {'5xx':>6} {'pods':>6} {'samples':>10}")
    for s in summary.shards:
        errors = sum(c for code, c in s.requests.items() if code >= 500)
        print(f"{s.namespace + '/' + s.service:<28} {sum(s.requests.values()):>9} "
              f"{errors:>6} {s.pods:>6} {s.samples:>10}")
    print(f"{summary.samples} samples ({summary.bytes / 1e6:.0f} MB of OpenMetrics) in "
          f"{summary.wall_seconds:.1f} s: simulate {summary.simulate_seconds:.1f} s, render "
          f"{summary.render_seconds:.1f} s, promtool {summary.promtool_seconds:.1f} s "
          f"(CPU seconds over {args.jobs} jobs)")
    print(f"start Prometheus on it with: sdobs prometheus --dir {args.dir}")
    return 0
