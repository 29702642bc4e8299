"""``sdobs demo``: the whole thing on one machine, on the embedded default.

It starts a local Prometheus, fills it with the default scenario's 24 h fleet history when its
TSDB is empty, starts the live serving twin (the same services, light background traffic, the
reference service idle so a load test shows it scale 0 → N → 0), the Dash app, writes the
generated Grafana dashboards, and prints every URL with what to try first. Ctrl-C or SIGTERM
stops everything it started; Prometheus, its one child process, is stopped by PID.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

from sdobs.prom.cli import LOCAL_PROMETHEUS_PORT, STATE_DIR, wait_for_signal

GATEWAY_PORT = 18080
TWIN_METRICS_PORT = 18081
APP_PORT = 18050
REFERENCE = ("default", "knative-sd-demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=STATE_DIR / "demo",
                        help="where the demo keeps its state (default .sdobs/demo)")
    parser.add_argument("--scenario", type=Path,
                        help="scenario YAML (default: the reference service plus a small fleet)")
    parser.add_argument("--no-history", action="store_true",
                        help="do not backfill the scenario's history into an empty TSDB")
    parser.add_argument("--prometheus-port", type=int, default=LOCAL_PROMETHEUS_PORT)
    parser.add_argument("--gateway-port", type=int, default=GATEWAY_PORT,
                        help=f"the twin's A1111 gateway (default {GATEWAY_PORT})")
    parser.add_argument("--twin-metrics-port", type=int, default=TWIN_METRICS_PORT)
    parser.add_argument("--app-port", type=int, default=APP_PORT)
    parser.add_argument("--scrape-interval", default="5s",
                        help="how often Prometheus scrapes the live twin (default 5s)")
    parser.add_argument("--background-rate", type=float, default=0.02,
                        help="requests/s of light traffic to each fleet service (default 0.02; "
                             "the reference service gets none)")  # fmt: skip
    parser.add_argument("--no-app", action="store_true", help="do not start the Dash app")
    parser.add_argument("--check", action="store_true",
                        help="start everything, print the URLs, and stop at once")
    from sdobs.alerting.demo import add_demo_arguments  # alerting hook (sdobs.alerting.demo)

    add_demo_arguments(parser)


@dataclass
class Demo:
    """Everything the demo started, so that it can all be stopped."""

    prometheus: object
    twin: object | None = None
    app: object | None = None
    lines: list[str] = field(default_factory=list)
    alerting: object | None = None  # alerting hook: sdobs.alerting.demo.DemoAlerting

    def stop(self) -> None:
        if self.alerting is not None:
            self.alerting.stop()
        if self.app is not None:
            self.app.stop()
        if self.twin is not None:
            self.twin.stop()
        self.prometheus.stop()


def _has_blocks(tsdb: Path) -> bool:
    return tsdb.is_dir() and any((p / "meta.json").exists() for p in tsdb.iterdir())


def start(args: argparse.Namespace) -> Demo:
    """Bring the stack up; raises PortInUse / HarnessError / ScenarioError with one sentence."""
    from sdobs.prom.harness import LocalPrometheus, check_port_free
    from sdobs.sim.backfill import backfill_scenario
    from sdobs.sim.live.twin import Background, LiveTwin, TwinThread
    from sdobs.sim.render import GPU_JOB, QUEUE_PROXY_JOB
    from sdobs.sim.scenarios import DEFAULT_SCENARIO, load_scenario

    for port, what in ((args.gateway_port, "the twin's gateway"),
                       (args.twin_metrics_port, "the twin's metrics"),
                       (args.app_port, "the Dash app")):  # fmt: skip
        if what != "the Dash app" or not args.no_app:
            check_port_free("127.0.0.1", port, what)
    scenario = load_scenario(args.scenario or DEFAULT_SCENARIO)
    dialect = scenario.dialects[0]
    services = [run.service for run in scenario.runs]
    background = {s.name: Background(args.background_rate) for s in services
                  if (s.namespace, s.name) != REFERENCE and args.background_rate > 0}
    twin = LiveTwin(services, dialect=dialect, gateway_port=args.gateway_port,
                    metrics_port=args.twin_metrics_port, background=background,
                    cluster=scenario.cluster, seed=scenario.seed)  # fmt: skip
    interval = args.scrape_interval
    prom = LocalPrometheus(args.dir / "prometheus", port=args.prometheus_port,
                           scrape_interval=interval,
                           scrape_configs=twin.scrape_configs(interval),
                           file_sd_jobs={QUEUE_PROXY_JOB: {}, GPU_JOB: {}})  # fmt: skip
    demo = Demo(prom)
    lines = demo.lines
    if not args.no_history and not _has_blocks(prom.tsdb):
        print(f"backfilling {scenario.name}: {scenario.duration / 3600:g} h of "
              f"{len(services)} services ({dialect.name}) ... this takes about a minute")
        started = time.monotonic()
        summary = backfill_scenario(scenario, prom.tsdb)
        print(f"history ready in {time.monotonic() - started:.0f} s "
              f"({getattr(summary, 'samples', 0):,} samples)")
    prom.start()
    try:
        twin.on_targets = prom.set_targets
        demo.twin = TwinThread(twin)
        demo.twin.start()
        lines.append(f"Prometheus   {prom.url}   (pid {prom.pid}, data in {prom.tsdb})")
        gateway = twin.gateway_url
        lines.append(f"Twin         {gateway}   (A1111 API; Host: <service>.<namespace>."
                     f"{twin.domain} or {gateway}/services/<namespace>/<service>)")
        lines.append(f"Twin metrics {twin.metrics_url}   (queue-proxy, GPU exporter, activator, "
                     f"autoscaler in the {dialect.name} dialect)")
        if not args.no_alerting:  # alerting hook: rules, Alertmanager, faults
            from sdobs.alerting.demo import scenario_slo_file, start_alerting

            demo.alerting = start_alerting(
                prom, demo.twin, workdir=args.dir, dialect=dialect.name, services=services,
                alertmanager_port=args.alertmanager_port, fault_port=args.fault_port,
                evaluation_interval=interval,
                slo_file=scenario_slo_file(args.scenario or DEFAULT_SCENARIO))
            lines.extend(demo.alerting.lines)
        if not args.no_app:
            from sdobs.app import serve

            demo.app = serve(prom.url, port=args.app_port, dialect=dialect.name,
                             loadtest_target=f"{gateway}/services/{REFERENCE[0]}/{REFERENCE[1]}")
            lines.append(f"App          {demo.app.url}")
        try:
            from sdobs.dashboards.generate import generate

            out = args.dir / "dashboards"
            written = generate(out_dir=out, dialects=(dialect.name,))
            lines.append(f"Dashboards   {out / dialect.name}   ({len(written)} Grafana JSON files;"
                         " load them with sdobs dashboards upload)")
        except ImportError:
            lines.append("Dashboards   not generated (install sdobs[full] for grafanalib)")
        ref = f"{gateway}/services/{REFERENCE[0]}/{REFERENCE[1]}"
        lines.append("")
        lines.append("Try the reference scenario (5 in flight, 20 in total), then watch five pods")
        lines.append("appear and, about a minute after the last response, go back to zero:")
        lines.append(f"  sdobs loadtest {ref} -c 5 -n 20 --steps 20")
    except BaseException:
        demo.stop()
        raise
    return demo


def run(args: argparse.Namespace) -> int:
    demo = start(args)
    try:
        print("\n".join(demo.lines), flush=True)
        if args.check:
            return 0
        print("\nCtrl-C or SIGTERM stops everything started here.", flush=True)
        wait_for_signal()
    finally:
        demo.stop()
        print("stopped.", flush=True)
    return 0
