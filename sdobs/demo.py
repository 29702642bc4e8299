"""``sdobs demo``: the whole thing on one machine, on the embedded default.

It starts a local Prometheus, fills it with the default scenario's 24 h fleet history when its
TSDB is empty, starts the live serving twin (the same services, light background traffic, the
reference service idle so a load test shows it scale 0 → N → 0), the Dash app, writes the
generated Grafana dashboards, and prints every URL with what to try first. Ctrl-C or SIGTERM
stops everything it started; Prometheus, its one child process, is stopped by PID.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sdobs.errors import InputError
from sdobs.prom.cli import LOCAL_PROMETHEUS_PORT, STATE_DIR, wait_for_signal
from sdobs.prom.errors import HarnessError

if TYPE_CHECKING:
    from sdobs.sim.backfill import BackfillSummary

GATEWAY_PORT = 18080
TWIN_METRICS_PORT = 18081
APP_PORT = 18050
REFERENCE = ("default", "knative-sd-demo")


def _prometheus_duration(text: str) -> str:
    """A Prometheus duration (``5s``, ``1m30s``), as Prometheus' config takes it."""
    from sdobs.catalog.promql import check_window

    try:
        if text.startswith("$"):  # Grafana's interval variables are windows, not intervals
            raise InputError(f"{text!r} is not a Prometheus duration such as 5s or 1m")
        return check_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: The default of ``--history``: a quicker first start, and the fresh-clone test's shorter day.
HISTORY_ENV = "SDOBS_DEMO_HISTORY"
MAX_HISTORY_S = 31 * 86400


def _history_length(text: str) -> float:
    """A history length: a duration over 0 s and up to 31 days."""
    from sdobs.duration import seconds_arg

    return seconds_arg(0.0, MAX_HISTORY_S)(text)


def history_length(args: argparse.Namespace) -> float | None:
    """``--history``, else ``$SDOBS_DEMO_HISTORY``, else None (the scenario's own duration)."""
    if getattr(args, "history", None) is not None:
        return args.history
    text = os.environ.get(HISTORY_ENV, "").strip()
    if not text:
        return None
    try:
        return _history_length(text)
    except argparse.ArgumentTypeError as exc:
        raise InputError(f"{HISTORY_ENV}: {exc}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=STATE_DIR / "demo",
                        help="where the demo keeps its state (default .sdobs/demo)")
    parser.add_argument("--scenario", type=Path,
                        help="scenario YAML (default: the reference service plus a small fleet)")
    parser.add_argument("--no-history", action="store_true",
                        help="do not backfill the scenario's history into an empty TSDB")
    parser.add_argument("--history", type=_history_length,
                        help="how much history to backfill into an empty TSDB, e.g. 2h (default: "
                             f"the scenario's, 24h for the default one; env {HISTORY_ENV})")
    parser.add_argument("--prometheus-port", type=int, default=LOCAL_PROMETHEUS_PORT)
    parser.add_argument("--gateway-port", type=int, default=GATEWAY_PORT,
                        help=f"the twin's A1111 gateway (default {GATEWAY_PORT})")
    parser.add_argument("--twin-metrics-port", type=int, default=TWIN_METRICS_PORT)
    parser.add_argument("--app-port", type=int, default=APP_PORT)
    parser.add_argument("--scrape-interval", default="5s", type=_prometheus_duration,
                        help="how often Prometheus scrapes the live twin (default 5s)")
    parser.add_argument("--background-rate", type=float, default=0.02,
                        help="requests/s of light traffic to each fleet service (default 0.02; "
                             "the reference service gets none)")
    parser.add_argument("--no-app", action="store_true", help="do not start the Dash app")
    parser.add_argument("--check", action="store_true",
                        help="start everything, print the URLs, and stop at once")
    from sdobs.alerting.demo import add_demo_arguments  # alerting hook (sdobs.alerting.demo)

    add_demo_arguments(parser)
    from sdobs.demo_store import add_store_argument  # store hook (sdobs.demo_store)

    add_store_argument(parser)


class DemoRunning(HarnessError):
    """Another ``sdobs demo`` holds the state directory."""


@dataclass
class Demo:
    """Everything the demo started, so that it can all be stopped."""

    prometheus: object
    lock: IO[str] | None = None
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
        if self.lock is not None:
            self.lock.close()  # closing the file releases the lock
            self.lock = None


def _has_blocks(tsdb: Path) -> bool:
    return tsdb.is_dir() and any((p / "meta.json").exists() for p in tsdb.iterdir())


def lock_state_dir(state: Path, ports: dict[str, int]) -> IO[str]:
    """Hold ``state/demo.lock`` for this process's life; refuse when another demo holds it.

    The lock (``flock``) goes with the process, also when it is killed, so a stale file never
    blocks a new demo; the file says who holds it so the refusal can name the PID and ports.
    """
    state.mkdir(parents=True, exist_ok=True)
    path = state / "demo.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        try:
            holder = json.loads(handle.read() or "{}")
        except ValueError:
            holder = {}
        handle.close()
        where = ", ".join(f"{k} :{v}" for k, v in holder.get("ports", {}).items())
        raise DemoRunning(
            f"another sdobs demo (pid {holder.get('pid', '?')}{', ' + where if where else ''}) "
            f"is running on {state}; stop it first (kill {holder.get('pid', '<pid>')}) or give "
            "this one another --dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "ports": ports}))
    handle.flush()
    return handle


#: Written beside the TSDB when a backfill starts and when it completes: a TSDB whose marker
#: does not say "complete" holds an interrupted history, which the next start redoes.
HISTORY_MARKER = "history.json"


def _history_state(state: Path) -> dict:
    try:
        return json.loads((state / HISTORY_MARKER).read_text())
    except (OSError, ValueError):
        return {}


def _write_history_state(folder: Path, **values: object) -> None:
    tmp = folder / (HISTORY_MARKER + ".tmp")
    tmp.write_text(json.dumps(values))
    os.replace(tmp, folder / HISTORY_MARKER)


def _launcher() -> str:
    """How the user started sdobs, so printed commands work when pasted in the same folder."""
    if os.environ.get("SDOBS_LAUNCHER"):  # set by ./run to the path it was called by
        return os.environ["SDOBS_LAUNCHER"]
    script = shutil.which("sdobs")
    if script and Path(script).resolve() == Path(sys.argv[0]).resolve():
        return "sdobs"
    return f"{sys.executable} -m sdobs.cli"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM during start-up: unwind like Ctrl-C, cleaning up


def start(args: argparse.Namespace) -> Demo:
    """Bring the stack up; raises PortInUse / HarnessError / ScenarioError with one sentence."""

    ports = {"prometheus": args.prometheus_port, "gateway": args.gateway_port,
             "twin metrics": args.twin_metrics_port}
    if not args.no_app:
        ports["app"] = args.app_port
    lock = lock_state_dir(args.dir, ports)
    try:
        return _start(args, lock)
    except BaseException:
        lock.close()
        raise


def _start(args: argparse.Namespace, lock: IO[str]) -> Demo:
    from sdobs.prom.harness import LocalPrometheus, check_port_free
    from sdobs.sim.live.cluster import CLUSTER_JOB
    from sdobs.sim.live.twin import Background, LiveTwin, TwinThread
    from sdobs.sim.render import GPU_JOB, QUEUE_PROXY_JOB
    from sdobs.sim.scenarios import DEFAULT_SCENARIO, load_scenario
    from sdobs.sim.sdexporter import SD_JOB

    for port, what in ((args.gateway_port, "the twin's gateway"),
                       (args.twin_metrics_port, "the twin's metrics"),
                       (args.app_port, "the Dash app")):
        if what != "the Dash app" or not args.no_app:
            check_port_free("127.0.0.1", port, what)
    # --history replaces the scenario's duration: the same services and traffic, a shorter past.
    scenario = load_scenario(args.scenario or DEFAULT_SCENARIO,
                             overrides={"duration": history_length(args)})
    dialect = scenario.dialects[0]
    services = [run.service for run in scenario.runs]
    background = {s.name: Background(args.background_rate) for s in services
                  if (s.namespace, s.name) != REFERENCE and args.background_rate > 0}
    twin = LiveTwin(services, dialect=dialect, gateway_port=args.gateway_port,
                    metrics_port=args.twin_metrics_port, background=background,
                    cluster=scenario.cluster, seed=scenario.seed)
    interval = args.scrape_interval
    file_sd_jobs = {QUEUE_PROXY_JOB: {}, GPU_JOB: {}, SD_JOB: {},
                    # kube-state-metrics and cAdvisor keep their job
                    CLUSTER_JOB: {"honor_labels": True}}
    victoria = getattr(args, "store", "prometheus") == "victoriametrics"
    if victoria:  # store hook: VictoriaMetrics, vmagent and vmalert (sdobs.demo_store)
        from sdobs.demo_store import ensure_history, victoria_stack

        prom = victoria_stack(args.dir, port=args.prometheus_port, scrape_interval=interval,
                              scrape_configs=twin.scrape_configs(interval),
                              file_sd_jobs=file_sd_jobs)
    else:
        prom = LocalPrometheus(args.dir / "prometheus", port=args.prometheus_port,
                               scrape_interval=interval,
                               scrape_configs=twin.scrape_configs(interval),
                               file_sd_jobs=file_sd_jobs)
    demo = Demo(prom, lock=lock)
    lines = demo.lines
    history_end = None
    if victoria:
        prom.start()
        try:
            if not args.no_history:
                history_end = ensure_history(args.dir, scenario, prom)
        except BaseException:
            prom.stop()
            raise
    else:
        if not args.no_history:
            history_end = _ensure_history(args.dir, scenario, prom.tsdb)
        prom.start()
    try:
        _continue_history(prom, twin, dialect, history_end)
        twin.on_targets = prom.set_targets
        demo.twin = TwinThread(twin)
        demo.twin.start()
        if victoria:
            lines.extend(prom.lines())
        else:
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
        # The reference service, or the scenario's first when it has none.
        spec = next((s for s in services if (s.namespace, s.name) == REFERENCE), services[0])
        ref = f"{gateway}/services/{spec.namespace}/{spec.name}"
        if not args.no_app:
            from sdobs.app import serve

            demo.app = serve(prom.url, port=args.app_port, dialect=dialect.name,
                             loadtest_target=ref)
            lines.append(f"App          {demo.app.url}")
        try:
            from sdobs.dashboards.generate import generate

            out = args.dir / "dashboards"
            written = generate(out_dir=out, dialects=(dialect.name,))
            lines.append(f"Dashboards   {out / dialect.name}   ({len(written)} Grafana JSON files;"
                         " load them with sdobs dashboards upload)")
        except ImportError:
            lines.append("Dashboards   not generated (install sdobs[full] for grafanalib)")
        lines.append("")
        lines.append(f"Try the reference scenario on {spec.name} (5 in flight, 20 in total), then "
                     "watch the pods")
        lines.append(f"appear and, about {time_to_zero(spec):.0f} s after the last response, "
                     "go back to zero:")
        lines.append(f"  {_launcher()} loadtest {ref} -c 5 -n 20 --steps 20")
        if demo.app is not None:
            search = f"?ns={spec.namespace}&service={spec.name}&range=15m&refresh=10s"
            lines.append(f"  {demo.app.url}/service{search}")
            lines.append(f"  {demo.app.url}/scaling{search}")
    except BaseException:
        demo.stop()
        raise
    return demo


def _ensure_history(state: Path, scenario, tsdb: Path) -> float | None:
    """Backfill the scenario unless a complete history is there; returns where a new one ends.

    A TSDB with blocks but no completion marker from an interrupted backfill is redone; one
    with blocks and no marker at all predates the marker (or was filled by hand) and is kept.
    """
    from sdobs.sim.backfill import Progress, backfill_scenario

    marker = _history_state(state)
    if _has_blocks(tsdb) and marker.get("state") in ("complete", None):
        return None
    if marker:
        print(f"the history in {tsdb} is incomplete (an earlier backfill was interrupted); "
              "writing it again")
    hours, n = scenario.duration / 3600, len(scenario.runs)
    _write_history_state(state, state="started", scenario=scenario.name)
    progress = Progress(2 * n + 1).start(
        f"simulating {hours:g} h of {n} services ({scenario.dialects[0].name}), "
        "then writing them into the TSDB")
    try:
        summary = backfill_scenario(scenario, tsdb, replace=True, progress=progress,
                                    work_dir=state / "backfill-work")
    finally:
        progress.close()
    return _history_complete(state, scenario.name, summary)


def _history_complete(folder: Path, scenario: str, summary: BackfillSummary) -> float:
    """Mark the history in ``folder`` complete, say so, and return where it ends."""
    _write_history_state(folder, state="complete", scenario=scenario,
                         start=summary.start_epoch, end=summary.end_epoch,
                         samples=summary.samples)
    end = datetime.fromtimestamp(summary.end_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"history ready in {summary.wall_seconds:.0f} s ({summary.samples:,} samples, "
          f"ending {end})")
    return summary.end_epoch


def _continue_history(prom, twin, dialect, history_end: float | None) -> None:
    """End the past's per-pod series and start the twin with the pods the history ended with."""
    from sdobs.catalog import Catalog
    from sdobs.prom.client import PrometheusClient
    from sdobs.prom.errors import PrometheusError
    from sdobs.sim.live.resume import end_pod_series, pods_at
    from sdobs.sim.render import GPU_JOB, QUEUE_PROXY_JOB

    client = PrometheusClient(prom.url)
    now = time.time()
    # A seam drawn less cleanly is no reason not to start: say so and go on.
    try:
        twin.start_with_pods(pods_at(client, Catalog(dialect), history_end or now))
    except PrometheusError as exc:
        print(f"note: the live twin starts at zero pods; reading the history's last pods failed "
              f"({exc})")
    try:
        end_pod_series(client, (QUEUE_PROXY_JOB, GPU_JOB), now=now, history_end=history_end)
    except PrometheusError as exc:
        print(f"note: the history's last pods may show as flat lines for 5 minutes ({exc})")
    finally:
        client.close()


def time_to_zero(spec) -> float:
    """Seconds from a Service's last response to zero ready pods, from its settings.

    Knative's KPA wants zero pods once its stable window holds no request; the PA then scales
    to zero at once when the activator (or, for ACK's ``mpa`` class, the gateway) has been in
    the request path for the scale-to-zero grace period, and not before the pod retention
    period has passed. Add up to one 2 s autoscaler tick and the 3 s re-enqueue in proxy mode.
    See docs/kpa.md.
    """
    kpa = spec.revisions[-1].kpa
    in_path = kpa.target_burst_capacity == -1  # else the grace period starts at the scale-down
    grace = 0.0 if in_path else kpa.scale_to_zero_grace_period
    return kpa.stable_window + max(grace, kpa.scale_to_zero_pod_retention)


def run(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo = start(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
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
