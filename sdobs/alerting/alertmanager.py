"""A real Alertmanager on loopback (Debian's ``prometheus-alertmanager``), owned by this process.

Like :class:`sdobs.prom.harness.LocalPrometheus`: its own config and storage under a work
directory, clustering off, killed with its parent, stopped by PID. The config routes every alert
to one receiver without notifications (the demo shows alerts; it sends no mail or pages).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from sdobs.prom import child
from sdobs.prom.errors import HarnessError
from sdobs.prom.harness import check_port_free, free_port

INSTALL_HINT = ("install Alertmanager: on Debian or Ubuntu run 'apt-get install "
                "prometheus-alertmanager' as root (./run demo does), elsewhere put "
                "alertmanager on PATH")
BINARIES = ("prometheus-alertmanager", "alertmanager")
RECEIVER = "sdobs-demo"


def find_alertmanager() -> str:
    for name in BINARIES:
        path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                      else None)
        if path:
            return path
    raise HarnessError(f"alertmanager was not found on PATH; {INSTALL_HINT}")


def config(group_wait: str = "5s") -> dict[str, Any]:
    """One route, grouped by alert and service, to a receiver that notifies nobody."""
    return {
        "route": {"receiver": RECEIVER, "group_by": ["alertname", "namespace", "service"],
                  "group_wait": group_wait, "group_interval": "1m", "repeat_interval": "4h"},
        "receivers": [{"name": RECEIVER}],
        "inhibit_rules": [{"source_matchers": ['slo_severity="page"'],
                           "target_matchers": ['slo_severity="ticket"'],
                           "equal": ["namespace", "service", "slo"]}],
    }


class LocalAlertmanager:
    """An Alertmanager child process with its config and storage under ``workdir``."""

    def __init__(self, workdir: Path, *, host: str = "127.0.0.1", port: int | None = None,
                 ready_timeout: float = 30.0) -> None:
        self.workdir = Path(workdir)
        self.host = host
        self.port = port
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise HarnessError("the local Alertmanager has no port yet; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> LocalAlertmanager:
        if self.running:
            return self
        binary = find_alertmanager()
        if self.port is None:
            self.port = free_port(self.host)
        else:
            check_port_free(self.host, self.port, "Alertmanager")
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "alertmanager.yml"
        cfg.write_text(yaml.safe_dump(config(), sort_keys=False))
        args = [binary, f"--config.file={cfg}", f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address={self.address}", "--cluster.listen-address=",
                f"--web.external-url={self.url}"]
        self.proc = child.spawn(args, self.log_path)
        child.own(self)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        child.await_ready(self, f"{self.url}/-/ready", "alertmanager", self.address,
                          lambda: f"see {self.log_path}")

    def alerts(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds now (its v2 API)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=timeout) as resp:
            return json.loads(resp.read())

    def stop(self, timeout: float = 10.0) -> None:
        child.disown(self)
        proc, self.proc = self.proc, None
        child.terminate(proc, timeout)

    def __enter__(self) -> LocalAlertmanager:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
