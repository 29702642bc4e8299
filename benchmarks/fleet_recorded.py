"""The fleet page at 500 services on recorded series vs raw queries, and the rules' cost.

One Prometheus holds 90 minutes of a generated 500-service fleet (OpenTelemetry dialect, 30 s
samples, to 20 minutes past now; 1-4 pods per service, responses 200/400/500) and sdobs'
rules, the recorded series backfilled with ``promtool tsdb create-blocks-from rules``. Side by
side in one run, interleaved rounds of the fleet page's queries (the app's
``data.fleet_specs`` and ``recorded.fleet_specs``: same keys, same window) sent concurrently as
the app sends them, bodies read. Goal: recorded <= 1/3 of raw.

Then the rules evaluate live every 30 s; ``prometheus_rule_group_last_duration_seconds`` of
every sdobs group, each over its own interval, summed: the share of an evaluation interval the
rules take for 500 services. Goal: < 10 %.

Run: .venv/bin/python benchmarks/fleet_recorded.py [--rounds 9] [--services 500]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / p) for p in ("tests", "tests/app")]

import app_traffic as at  # noqa: E402

from sdobs.app import data  # noqa: E402
from sdobs.app import recorded as rec_page  # noqa: E402
from sdobs.app.source import Source  # noqa: E402
from sdobs.app.state import ViewState  # noqa: E402
from sdobs.prom.client import PrometheusClient  # noqa: E402
from sdobs.prom.harness import LocalPrometheus  # noqa: E402
from sdobs.rules.backfill import backfill_records  # noqa: E402
from sdobs.rules.generate import rule_file, rule_groups, to_yaml  # noqa: E402

SPAN = 3600 + 600 + 1200
INTERVAL = "30s"


def page_seconds(source: Source, specs, window) -> float:
    started = time.perf_counter()
    results = data.run_specs(source, specs, window)
    elapsed = time.perf_counter() - started
    failed = [k for k, r in results.items() if not r.ok]
    if failed:
        raise SystemExit(f"fleet queries failed: {failed}: {results[failed[0]].error}")
    return elapsed


def rule_cost(url: str) -> tuple[float, list[tuple[str, float, float]]]:
    """sdobs groups' last evaluation time over their interval, from Prometheus' own /metrics
    (``prometheus_rule_group_last_duration_seconds``, ``..._interval_seconds``)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    last, interval = {}, {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            group = s.labels.get("rule_group", "")
            if ";sdobs-" not in group:
                continue
            if s.name == "prometheus_rule_group_last_duration_seconds":
                last[group] = s.value
            elif s.name == "prometheus_rule_group_interval_seconds":
                interval[group] = s.value
    rows = sorted(((g.rsplit(";", 1)[1], last[g], interval[g]) for g in last),
                  key=lambda r: -r[1])
    return sum(sec / ival for _, sec, ival in rows), rows


def fleet_pods(t0: int, n: int, *, span: int, step: int = 30, codes=(("200", 0.96),
               ("400", 0.02), ("500", 0.02))) -> str:
    """``n`` services as the app benchmark's fleet, but with each service's ready pods as
    separate queue-proxy targets and three response codes, as a real fleet scrapes them."""
    name = "http_server_request_duration_seconds"
    lines = [f"# HELP {name} Duration of HTTP server requests.", f"# TYPE {name} histogram"]
    offsets = range(0, span + 1, step)
    services = [at.fleet_service(i) for i in range(n)]
    for s in services:
        pods = max(1, s["pods"])
        ident = (f'k8s_namespace_name="{s["namespace"]}",kn_revision_name="{s["revision"]}",'
                 f'kn_configuration_name="{s["service"]}",kn_service_name="{s["service"]}"')
        for p in range(pods):
            base = f'{ident},k8s_pod_name="{s["pod"]}-{p}"'
            for code, share in codes:
                labels = f'{base},http_response_status_code="{code}"'
                for t in offsets:
                    lines.extend(at._histogram(name, labels, math.floor(
                        s["rate"] / pods * share * t), t0 + t))
    lines += ["# HELP kn_serving_queue_depth Number of current requests in the queue",
              "# TYPE kn_serving_queue_depth gauge"]
    for s in services:
        for p in range(max(1, s["pods"])):
            labels = (f'k8s_namespace_name="{s["namespace"]}",k8s_pod_name="{s["pod"]}-{p}",'
                      f'kn_revision_name="{s["revision"]}",kn_service_name="{s["service"]}"')
            lines += [f"kn_serving_queue_depth{{{labels}}} 0 {t0 + t}" for t in offsets]
    for metric in ("kn_revision_pods_count", "kn_revision_pods_desired",
                   "kn_revision_pods_requested"):
        lines += [f"# HELP {metric} autoscaler gauge", f"# TYPE {metric} gauge"]
        for s in services:
            labels = (f'k8s_namespace_name="{s["namespace"]}",kn_revision_name="{s["revision"]}",'
                      f'kn_configuration_name="{s["service"]}",kn_service_name="{s["service"]}"')
            lines += [f"{metric}{{{labels}}} {s['pods']} {t0 + t}" for t in offsets]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--services", type=int, default=500)
    args = parser.parse_args()
    now = int(time.time()) // 30 * 30
    # The history runs on 20 minutes past now, so the raw series are still fresh while the
    # rules evaluate live at the end (backfilled blocks may lie ahead of the head block).
    ahead = 1200
    t0 = now + ahead - SPAN
    groups = [g for t in ("opentelemetry", "gpu") for gs in rule_groups(t).values() for g in gs]
    with tempfile.TemporaryDirectory(prefix="sdobs-bench-rules-") as tmp:
        prom = LocalPrometheus(Path(tmp) / "prom", evaluation_interval=INTERVAL,
                               extra_args=["--query.timeout=10m"])
        print(f"generating {args.services} services x {SPAN // 60} min ...", flush=True)
        # (a pod per ready pod: the raw queries aggregate pods and codes on every refresh)
        prom.backfill_text(fleet_pods(t0, args.services, span=SPAN), max_block_duration="2h")
        prom.start()
        started = time.perf_counter()
        # What the fleet page reads; the SLO groups build their own history once live.
        fleet_groups = [g for g in groups if g.name in ("sdobs-revision", "sdobs-gpu-recording")]
        backfill_records(prom, fleet_groups, t0, now, eval_interval=INTERVAL)
        print(f"recorded history backfilled in {time.perf_counter() - started:.0f} s", flush=True)
        try:
            source = Source(PrometheusClient(prom.url, timeout=120), "opentelemetry",
                            scrape_interval=30)
            state = ViewState(range="1h")
            window = data.window_for(state, now, 30)
            cat = source.catalog()
            raw_specs = data.fleet_specs(cat, state, window, 30)
            rec_specs = rec_page.fleet_specs(cat, state, window, 30)
            rows_raw = len(data.fleet_table(data.load(source, lambda c: raw_specs, window)))
            rows_rec = len(data.fleet_table(data.load(source, lambda c: rec_specs, window)))
            raw, rec = [], []
            for _ in range(args.rounds):
                raw.append(page_seconds(source, raw_specs, window))
                rec.append(page_seconds(source, rec_specs, window))
            r, c = statistics.median(raw), statistics.median(rec)
            print(f"fleet page, {args.services} services, 1 h: raw {r * 1000:.0f} ms "
                  f"({rows_raw} rows), recorded {c * 1000:.0f} ms ({rows_rec} rows): "
                  f"recorded/raw = {c / r:.2f} (goal <= 0.33), {args.rounds} rounds, medians")
            # -- rule evaluation cost, live ----------------------------------------------------
            rules = Path(tmp) / "sdobs.rules.yaml"
            rules.write_text(to_yaml(rule_file(groups)))
            prom.rule_files = [rules]
            prom.reload()
            wait = 330  # every group, the 5-minute ones too, has run at least once
            print(f"evaluating the rules live for {wait:.0f} s ...", flush=True)
            time.sleep(wait)
            share, rows = rule_cost(prom.url)
            for group, seconds, interval in rows:
                print(f"  {group:28} {seconds * 1000:8.1f} ms every {interval:g} s")
            print(f"rule evaluation: {share * 100:.2f} % of the evaluation interval "
                  f"(goal < 10 %), {len(rows)} groups, {args.services} services")
        finally:
            prom.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
