"""A real Alertmanager on loopback (Debian's ``prometheus-alertmanager``), owned by this process.

Like :class:`sdobs.prom.harness.LocalPrometheus`: its own config and storage under a work
directory, clustering off, killed with its parent, stopped by PID. The config routes every alert
to one receiver without notifications (the demo shows alerts; it sends no mail or pages).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any

import yaml

from sdobs.prom.errors import HarnessError
from sdobs.prom.harness import check_port_free, die_with_parent, free_port

INSTALL_HINT = ("install Alertmanager: on Debian or Ubuntu run 'apt-get install "
                "prometheus-alertmanager' as root (./run demo does), elsewhere put "
                "alertmanager on PATH")  # fmt: skip
BINARIES = ("prometheus-alertmanager", "alertmanager")
RECEIVER = "sdobs-demo"
_LIVE: weakref.WeakSet[LocalAlertmanager] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for am in list(_LIVE):
        am.stop()


def find_alertmanager() -> str:
    for name in BINARIES:
        path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                      else None)  # fmt: skip
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
    }  # fmt: skip


class LocalAlertmanager:
    """An Alertmanager child process with its config and storage under ``workdir``."""

    def __init__(self, workdir: Path, *, host: str = "127.0.0.1", port: int | None = None,
                 ready_timeout: float = 30.0) -> None:  # fmt: skip
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
                f"--web.external-url={self.url}"]  # fmt: skip
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
                                         start_new_session=True)  # fmt: skip
        finally:
            log.close()
        _LIVE.add(self)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if not self.running:
                code = None if self.proc is None else self.proc.returncode
                self.proc = None
                raise HarnessError(f"alertmanager exited with code {code} before it was ready; "
                                   f"see {self.log_path}")  # fmt: skip
            with contextlib.suppress(urllib.error.URLError, OSError), \
                    urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise HarnessError(f"alertmanager on {self.address} was not ready within "
                           f"{self.ready_timeout:.0f} s; see {self.log_path}")  # fmt: skip

    def alerts(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds now (its v2 API)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=timeout) as resp:
            return json.loads(resp.read())

    def stop(self, timeout: float = 10.0) -> None:
        _LIVE.discard(self)
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def __enter__(self) -> LocalAlertmanager:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
