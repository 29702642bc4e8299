"""Fleet data at seed scale: the 500-service twin in the store, against a 50-service baseline.

Both fleets come from ``sdobs/sim/scenarios/fleet-500.yaml`` (the baseline is every tenth
Service, so the mix of kinds is the same), over the same hours ending now. For each, side by
side in one run:

- generation and backfill (simulate, render, ``promtool``; 2 jobs) wall time;
- distinct series, counted in each rendered shard before it is ingested
  (``sdobs.sim.cardinality.shard_shape``), against the budget formula;
- TSDB bytes right after the backfill (one set of blocks per Service) and after Prometheus
  has compacted the overlapping blocks (what a store keeps);
- the fleet page's queries (``data.fleet_specs``: raw; ``recorded.fleet_specs`` over sdobs'
  recording rules, backfilled with ``promtool tsdb create-blocks-from rules``), sent
  concurrently as the app sends them, median of interleaved rounds;
- the Grafana fleet dashboard: every target of ``dashboards/generated/opentelemetry/fleet.json``
  (namespace "All", over the whole history) concurrently, as Grafana sends a dashboard's panels,
  and side by side every target of its recorded variant ``fleet-recorded.json`` (the same
  panels on the recorded series).

Goals: the fleet page on recorded series <= 1/3 of raw (``fleet_recorded.py``) and, for both
the page and the dashboard (with the recording rules: the recorded variant), every load well
inside Grafana's default 30 s data-source timeout.

Run: .venv/bin/python benchmarks/fleet_scale.py [--hours 1] [--rounds 5] [--sizes 50,500]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from sdobs.app import data
from sdobs.app import recorded as rec_page
from sdobs.app.source import Source
from sdobs.app.state import ViewState
from sdobs.dashboards.generate import GENERATED
from sdobs.dashboards.interpolate import Windows, interpolate
from sdobs.prom.client import InstantQuery, PrometheusClient, RangeQuery
from sdobs.prom.harness import LocalPrometheus
from sdobs.prom.harness import backfill as promtool_backfill
from sdobs.rules.backfill import backfill_records
from sdobs.rules.generate import rule_groups
from sdobs.sim import cardinality
from sdobs.sim.backfill import backfill_scenario
from sdobs.sim.scenarios import SCENARIO_DIR, load_scenario

print = functools.partial(print, flush=True)  # lines show while it runs

SCRAPE = 60


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def block_bytes(tsdb: Path) -> tuple[int, int]:
    """Bytes and count of the persisted blocks (not the WAL or the head's chunks)."""
    blocks = [p for p in tsdb.iterdir() if (p / "meta.json").exists()]
    return sum(du(b) for b in blocks), len(blocks)


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else float("nan")


def wait_compacted(prom: LocalPrometheus, hours: float, limit: float = 1800) -> float:
    """Seconds until Prometheus has merged the overlapping blocks (one per Service) into as many
    as the history's 24 h block ranges, with no compaction left in flight."""
    want = int(hours // 24) + 2
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        busy = any(".tmp" in p.name for p in prom.tsdb.iterdir())
        if not busy and metric(prom.url, "prometheus_tsdb_blocks_loaded") <= want:
            break
        time.sleep(5)
    return time.perf_counter() - started


def dashboard_queries(start: float, end: float,
                      key: str = "fleet") -> list[RangeQuery | InstantQuery]:
    dash = json.loads((GENERATED / "opentelemetry" / f"{key}.json").read_text())
    variables = dash["templating"]["list"]
    span = int(end - start)
    windows = Windows(rate_interval=f"{4 * SCRAPE}s", interval=f"{SCRAPE}s", range=f"{span}s",
                      range_seconds=span)
    out: list[RangeQuery | InstantQuery] = []
    panels = [q for p in dash["panels"] for q in (p.get("panels", []) if p["type"] == "row"
                                                  else [p])]
    for panel in panels:
        for target in panel.get("targets", []):
            expr = interpolate(target["expr"], variables, {"namespace": "$__all"}, windows)
            out.append(InstantQuery(expr, end) if target.get("instant")
                       else RangeQuery(expr, start, end, SCRAPE))
    return out


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def measure(n: int, hours: float, rounds: int, work: Path) -> dict[str, float]:
    full = load_scenario(SCENARIO_DIR / "fleet-500.yaml", overrides={"duration": f"{hours}h"})
    runs = full.runs if n >= len(full.runs) else full.runs[:: len(full.runs) // n][:n]
    scenario = dataclasses.replace(full, runs=runs)
    prom = LocalPrometheus(work / f"prom-{n}", extra_args=["--query.timeout=10m"])
    shapes: list[cardinality.Shape] = []
    lock = threading.Lock()

    def ingest(om: Path, tsdb: Path) -> float:
        if om.name != "control-plane.om":
            shape = cardinality.shard_shape(om)
            with lock:
                shapes.append(shape)
        return promtool_backfill(om, tsdb)

    end = time.time() // SCRAPE * SCRAPE
    print(f"[{n}] generating and backfilling {n} services x {hours:g} h ...")
    summary = backfill_scenario(scenario, prom.tsdb, end_epoch=end, jobs=2, promtool=ingest)
    out: dict[str, float] = {"services": n, "backfill_s": summary.wall_seconds,
                             "samples": summary.samples, "openmetrics_bytes": summary.bytes}
    out["series"] = sum(s.series for s in shapes)
    out["budget"] = sum(s.budget for s in shapes)
    out["pods"] = sum(s.pods for s in shapes)
    out["bytes_backfilled"], out["blocks_backfilled"] = block_bytes(prom.tsdb)
    print(f"[{n}] backfilled in {summary.wall_seconds:.0f} s: {out['series']:,.0f} series, "
          f"{out['blocks_backfilled']:.0f} blocks, {out['bytes_backfilled'] / 2**20:.0f} MiB")
    prom.start()
    try:
        out["compaction_s"] = wait_compacted(prom, hours)
        out["bytes_compacted"], out["blocks_compacted"] = block_bytes(prom.tsdb)
        print(f"[{n}] compacted in {out['compaction_s']:.0f} s: {out['blocks_compacted']:.0f} "
              f"blocks, {out['bytes_compacted'] / 2**20:.0f} MiB")
        start = end - hours * 3600
        groups = [g for t in ("opentelemetry", "gpu") for gs in rule_groups(t).values()
                  for g in gs if g.name in ("sdobs-revision", "sdobs-gpu-recording")]
        out["record_backfill_s"] = timed(lambda: backfill_records(
            prom, groups, start, end, eval_interval=f"{SCRAPE}s", timeout=3600))
        print(f"[{n}] recorded series backfilled in {out['record_backfill_s']:.0f} s")
        client = PrometheusClient(prom.url, timeout=600, max_workers=8)
        source = Source(client, "opentelemetry", scrape_interval=SCRAPE)
        state = ViewState(range="1h")
        window = data.window_for(state, end, SCRAPE)
        cat = source.catalog()
        raw_specs = data.fleet_specs(cat, state, window, SCRAPE)
        rec_specs = rec_page.fleet_specs(cat, state, window, SCRAPE)
        out["rows_raw"] = len(data.fleet_table(data.load(source, lambda c: raw_specs, window)))
        out["rows_recorded"] = len(data.fleet_table(data.load(source, lambda c: rec_specs,
                                                              window)))
        queries = dashboard_queries(start, end)
        rec_queries = dashboard_queries(start, end, "fleet-recorded")
        out["dashboard_queries"] = len(queries)
        # The same panels in the same order: a recorded target is empty only where the raw is.
        empty = [q.expr for q, f, w in zip(rec_queries, client.query_many(rec_queries),
                                           client.query_many(queries), strict=True)
                 if f.empty and not w.empty]
        if empty:
            raise SystemExit(f"recorded fleet dashboard targets empty at {n} services: {empty}")
        raw, rec, dash, dash_rec = [], [], [], []
        for _ in range(rounds):
            raw.append(timed(lambda: data.run_specs(source, raw_specs, window)))
            rec.append(timed(lambda: data.run_specs(source, rec_specs, window)))
            dash.append(timed(lambda: client.query_many(queries)))
            dash_rec.append(timed(lambda: client.query_many(rec_queries)))
        out["page_raw_s"] = statistics.median(raw)
        out["page_recorded_s"] = statistics.median(rec)
        out["dashboard_s"] = statistics.median(dash)
        out["dashboard_recorded_s"] = statistics.median(dash_rec)
        failed = [k for k, r in data.run_specs(source, rec_specs, window).items() if not r.ok]
        if failed:
            raise SystemExit(f"recorded fleet queries failed at {n} services: {failed}")
        source.close()
    finally:
        prom.stop()
    return out


ROWS = [
    ("backfill wall (s)", "backfill_s", False),
    ("samples", "samples", True),
    ("OpenMetrics bytes", "openmetrics_bytes", True),
    ("pods seen", "pods", True),
    ("series (counted)", "series", True),
    ("series budget (formula)", "budget", True),
    ("TSDB bytes after backfill", "bytes_backfilled", True),
    ("blocks after backfill", "blocks_backfilled", False),
    ("compaction wait (s)", "compaction_s", False),
    ("TSDB bytes after compaction", "bytes_compacted", True),
    ("blocks after compaction", "blocks_compacted", False),
    ("recorded-series backfill (s)", "record_backfill_s", False),
    ("fleet page rows", "rows_recorded", False),
    ("fleet page, raw (s)", "page_raw_s", False),
    ("fleet page, recorded (s)", "page_recorded_s", False),
    ("fleet dashboard, all targets (s)", "dashboard_s", False),
    ("fleet dashboard recorded, all (s)", "dashboard_recorded_s", False),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="50,500")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="sdobs-bench-fleet-") as tmp:
        for n in sizes:
            results.append(measure(n, args.hours, args.rounds, Path(tmp)))
    base, big = results[0], results[-1]
    hours = args.hours
    print(f"\nfleet-500 scenario, {hours:g} h, {SCRAPE} s scrapes, OpenTelemetry; "
          f"medians of {args.rounds} rounds")
    head = f"{'':34}{base['services']:>14.0f}{big['services']:>14.0f}{'ratio':>8}"
    print(head + f"{'per svc ' + str(int(base['services'])):>16}"
          f"{'per svc ' + str(int(big['services'])):>16}")
    for label, key, per_service in ROWS:
        a, b = base[key], big[key]
        line = f"{label:34}{a:>14,.2f}{b:>14,.2f}{b / a if a else float('nan'):>8.2f}"
        if per_service:
            line += f"{a / base['services']:>16,.1f}{b / big['services']:>16,.1f}"
        print(line)
    for r in results:
        n = r["services"]
        print(f"[{n:.0f}] series/budget {r['series'] / r['budget']:.3f}; bytes per series "
              f"after compaction {r['bytes_compacted'] / r['series']:.0f}; per service per hour "
              f"{r['bytes_compacted'] / n / hours / 1024:.0f} KiB; recorded/raw page "
              f"{r['page_recorded_s'] / r['page_raw_s']:.2f} (goal <= 0.33); recorded/raw "
              f"dashboard {r['dashboard_recorded_s'] / r['dashboard_s']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
