"""``sdobs demo``: the embedded default on one machine.

Today it starts the local Prometheus (with any history already in its TSDB) and says what is
still to come; each capability adds itself here as it lands (the serving twin, its history
backfill, the Dash app, the generated Grafana dashboards).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sdobs.prom.cli import LOCAL_PROMETHEUS_PORT, STATE_DIR, wait_for_signal

NOT_YET = (
    "serving twin with live Stable Diffusion traffic (sdobs twin)",
    "24 h of fleet history backfilled into Prometheus (sdobs simulate)",
    "the Dash monitoring app (sdobs app)",
    "generated Grafana dashboards (sdobs dashboards generate)",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prometheus-port", type=int, default=LOCAL_PROMETHEUS_PORT,
                        help=f"port of the local Prometheus (default {LOCAL_PROMETHEUS_PORT})")
    parser.add_argument("--dir", type=Path, default=STATE_DIR / "demo",
                        help="where the demo keeps its state (default .sdobs/demo)")
    parser.add_argument("--check", action="store_true",
                        help="start everything, print the URLs, and stop at once")


def run(args: argparse.Namespace) -> int:
    from sdobs.prom.client import PrometheusClient
    from sdobs.prom.harness import LocalPrometheus

    prom = LocalPrometheus(args.dir / "prometheus", port=args.prometheus_port)
    with prom:
        client = PrometheusClient(prom.url)
        series = client.query("count({__name__=~'.+'})")
        held = int(series["value"].iloc[0]) if not series.empty else 0
        print(f"Prometheus   {prom.url}   (pid {prom.pid}, {held} live series, "
              f"data in {prom.tsdb})")  # fmt: skip
        print("Try:         sdobs dialect --prometheus-url " + prom.url)
        print("Not built yet, so not started:")
        for item in NOT_YET:
            print(f"  - {item}")
        if not args.check:
            print("Ctrl-C or SIGTERM stops everything started here.")
            wait_for_signal()
    print("stopped.")
    return 0
