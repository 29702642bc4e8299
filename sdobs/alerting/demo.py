"""The demo's alerting: sdobs' rules in its Prometheus, a real Alertmanager, fault injection.

``sdobs demo`` calls :func:`add_demo_arguments` and :func:`start_alerting` (a few lines in
``sdobs/demo.py``); everything else lives here. The rules are generated for the demo's dialect
and the GPU source, with the scenario's Services' ``slo.sdobs.dev/*`` annotations, into the
demo's state folder; Prometheus is pointed at them and at Alertmanager and reloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdobs.prom.errors import HarnessError

ALERTMANAGER_PORT = 19093
FAULT_PORT = 18082
#: Rules evaluate at the scrape interval but not more often than this: evaluating ~60 rules
#: every second competes with the live twin for the demo machine's CPU.
MIN_EVALUATION = "5s"


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alertmanager-port", type=int, default=ALERTMANAGER_PORT,
                        help=f"the demo's Alertmanager (default {ALERTMANAGER_PORT})")
    parser.add_argument("--fault-port", type=int, default=FAULT_PORT,
                        help=f"the fault-injection control port for 'sdobs fault' "
                             f"(default {FAULT_PORT})")
    parser.add_argument("--no-alerting", action="store_true",
                        help="load no rules and start no Alertmanager")


@dataclass
class DemoAlerting:
    """What :func:`start_alerting` started, so the demo can print and stop it."""

    alertmanager: Any
    injector: Any
    control: Any
    rule_files: list[Path]
    lines: list[str] = field(default_factory=list)

    def stop(self) -> None:
        for part in (self.control, self.injector, self.alertmanager):
            if part is not None:
                with contextlib.suppress(Exception):  # stopping must reach every part
                    part.stop()


def start_alerting(prom, twin_thread, *, workdir: Path, dialect: str, services=(),
                   alertmanager_port: int | None = ALERTMANAGER_PORT,
                   fault_port: int | None = FAULT_PORT,
                   evaluation_interval: str | None = None,
                   slo_file: Path | None = None) -> DemoAlerting:
    """Generate the rules, start Alertmanager and the fault injector, reload Prometheus.

    ``services`` are the twin's ServiceSpecs (their annotations override the SLO file);
    ``slo_file`` defaults to rules/slo.yaml. Raises HarnessError / PortInUse / SloError with
    one sentence; nothing is left running on failure.
    """
    from sdobs.alerting.alertmanager import LocalAlertmanager
    from sdobs.alerting.faults import ControlServer, FaultInjector
    from sdobs.prom.harness import check_port_free
    from sdobs.rules.generate import GPU, SLO_FILE, load_definitions, rule_file, rule_groups
    from sdobs.rules.generate import to_yaml as rules_yaml
    from sdobs.rules.slofile import load_slo_file

    if fault_port:
        check_port_free("127.0.0.1", fault_port, "the fault-injection control server")
    workdir = Path(workdir)
    rules_dir = workdir / "rules"
    shutil.rmtree(rules_dir, ignore_errors=True)
    rules_dir.mkdir(parents=True)
    slo = load_slo_file(slo_file or SLO_FILE).with_services(
        (s.namespace, s.name, s.annotations) for s in services)
    definitions = load_definitions()
    paths = []
    for target in (dialect, GPU):
        for key, groups in rule_groups(target, slo, definitions).items():
            path = rules_dir / f"{target}-{key}.rules.yaml"
            path.write_text(rules_yaml(rule_file(groups)))
            paths.append(path)
    am = LocalAlertmanager(workdir / "alertmanager", port=alertmanager_port)
    out = DemoAlerting(am, None, None, paths)
    try:
        am.start()
        prom.rule_files = [p.resolve() for p in paths]
        prom.alertmanagers = [am.address]
        if evaluation_interval:
            prom.evaluation_interval = _at_least(evaluation_interval, MIN_EVALUATION)
        try:
            prom.reload()
        except OSError as exc:
            raise HarnessError(f"Prometheus did not take the sdobs rules ({exc}); see "
                               f"{prom.log_path}") from None
        if twin_thread is not None:
            out.injector = FaultInjector(twin_thread).start()
            out.control = ControlServer(out.injector, port=fault_port or 0).start()
    except BaseException:
        out.stop()
        raise
    # A store other than Prometheus says where its rules run (VictoriaStack: vmalert).
    where = getattr(prom, "rules_where", None) or f"Prometheus: {prom.url}/alerts"
    out.lines = [
        f"Alertmanager {am.url}   ({len(paths)} rule files of sdobs in {where})",
    ]
    if out.control is not None:
        svc = next(((s.namespace, s.name) for s in services
                    if s.name != "knative-sd-demo"), ("default", "knative-sd-demo"))
        out.lines.append(f"Faults       {out.control.url}/faults   (inject one into the live "
                         f"twin: sdobs fault inject gpu-xid --namespace {svc[0]} "
                         f"--service {svc[1]}{_port_flag(fault_port)})")
    return out


def scenario_slo_file(scenario: Path | str) -> Path:
    """The scenario's own SLO file (``<name>.slo.yaml`` beside it), else rules/slo.yaml."""
    from sdobs.rules.generate import SLO_FILE
    from sdobs.rules.slofile import slo_file_for

    return slo_file_for(scenario, SLO_FILE)


def _at_least(interval: str, floor: str) -> str:
    from sdobs.catalog.gpu import duration_seconds

    return interval if duration_seconds(interval) >= duration_seconds(floor) else floor


def _port_flag(port: int | None) -> str:
    return "" if port in (None, FAULT_PORT) else f" --control-url http://127.0.0.1:{port}"
