"""A real Prometheus on loopback, owned by this process: for the tests and for ``sdobs demo``.

It runs Debian's ``prometheus`` 2.42+ with its own TSDB directory and generated config (static
scrape jobs, file-based service discovery, rule files), backfills OpenMetrics text with
``promtool tsdb create-blocks-from openmetrics``, waits until ``/-/ready`` and stops by PID.
The child is killed with its parent (Linux ``PR_SET_PDEATHSIG``) and at interpreter exit, so an
interrupted test or demo never leaves a Prometheus behind.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from sdobs.prom import child
from sdobs.prom.child import die_with_parent  # noqa: F401 - imported from here by others
from sdobs.prom.errors import HarnessError, PortInUse

INSTALL_HINT = (
    "install Prometheus 2.42 or newer: on Debian or Ubuntu run 'apt-get install prometheus' "
    "as root, elsewhere put the prometheus and promtool binaries on PATH"
)


def find_binary(name: str) -> str:
    """Path of ``prometheus`` or ``promtool``, or a HarnessError that says what to install."""
    path = shutil.which(name)
    if not path and os.access(f"/usr/bin/{name}", os.X_OK):
        path = f"/usr/bin/{name}"
    if not path:
        raise HarnessError(f"{name} was not found on PATH; {INSTALL_HINT}")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int, what: str = "Prometheus") -> None:
    """Raise PortInUse with a clear message when ``host:port`` is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like Go's listeners, ignore TIME_WAIT leftovers of our own earlier connections.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(
                f"port {port} on {host} is already in use, so {what} cannot listen there; "
                "stop the process holding it or choose another port"
            ) from exc


def backfill(openmetrics: Path, tsdb: Path, *, max_block_duration: str = "24h") -> float:
    """Write TSDB blocks from an OpenMetrics file with promtool; returns the seconds it took."""
    promtool = find_binary("promtool")
    tsdb.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics",
         f"--max-block-duration={max_block_duration}", str(openmetrics), str(tsdb)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise HarnessError(
            f"promtool could not backfill {openmetrics}: {' / '.join(detail)}; "
            "check that the file is OpenMetrics text ending with '# EOF'"
        )
    return time.perf_counter() - started


class LocalPrometheus:
    """A Prometheus child process with its own config and TSDB under ``workdir``.

    ``scrape_configs`` are Prometheus scrape job dicts used as given; ``file_sd_jobs`` names jobs
    whose targets come from ``workdir/file_sd/<job>.json`` and change at run time through
    :meth:`set_targets`. Without ``workdir`` a temporary directory is used and removed on stop.
    """

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        scrape_interval: str = "15s",
        evaluation_interval: str = "15s",
        scrape_configs: Sequence[Mapping[str, Any]] = (),
        file_sd_jobs: Mapping[str, Mapping[str, Any]] | Iterable[str] = (),
        rule_files: Sequence[str | Path] = (),
        retention: str = "3650d",
        extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
    ) -> None:
        self._tmp = workdir is None
        # Absolute, because Prometheus resolves relative paths in its config (file_sd files,
        # rule files) against the config file's folder, not against our working directory.
        self.workdir = Path(
            tempfile.mkdtemp(prefix="sdobs-prom-") if workdir is None else workdir
        ).absolute()
        self.host = host
        self.port = port
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.scrape_configs = [dict(c) for c in scrape_configs]
        jobs = file_sd_jobs if isinstance(file_sd_jobs, Mapping) else {j: {} for j in file_sd_jobs}
        self.file_sd_jobs = {name: dict(opts) for name, opts in jobs.items()}
        self.rule_files = [Path(r).resolve() for r in rule_files]
        self.retention = retention
        self.extra_args = list(extra_args)
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        #: ``host:port`` of Alertmanagers to send alerts to (set before start() or reload())
        self.alertmanagers: list[str] = []

    # -- paths ---------------------------------------------------------------------------------
    @property
    def tsdb(self) -> Path:
        return self.workdir / "data"

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    @property
    def url(self) -> str:
        if self.port is None:
            raise HarnessError("the local Prometheus has no port yet; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def file_sd_path(self, job: str) -> Path:
        return self.workdir / "file_sd" / f"{job}.json"

    # -- configuration -------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The prometheus.yml this instance runs with."""
        jobs = list(self.scrape_configs)
        for name, opts in self.file_sd_jobs.items():
            jobs.append({
                "job_name": name,
                **opts,
                "file_sd_configs": [{"files": [str(self.file_sd_path(name))],
                                     "refresh_interval": "5s"}],
            })
        cfg: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "rule_files": [str(r) for r in self.rule_files],
            "scrape_configs": jobs,
        }
        if self.alertmanagers:
            cfg["alerting"] = {"alertmanagers": [{"static_configs": [
                {"targets": list(self.alertmanagers)}]}]}
        return cfg

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in self.file_sd_jobs:
            if not self.file_sd_path(name).exists():
                self.set_targets(name, [])
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return self.config_path

    def set_targets(self, job: str, targets: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """Replace the targets of a file-SD job atomically (address, target labels)."""
        if job not in self.file_sd_jobs:
            raise HarnessError(f"job {job!r} is not a file-SD job of this Prometheus; "
                               f"declare it in file_sd_jobs (have: {sorted(self.file_sd_jobs)})")
        groups = [{"targets": [addr], "labels": dict(labels)} for addr, labels in targets]
        path = self.file_sd_path(job)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(groups, indent=1))
        os.replace(tmp, path)

    def check_config(self) -> None:
        """Run ``promtool check config`` on the generated config (rule files included)."""
        self.write_config()
        proc = subprocess.run(
            [find_binary("promtool"), "check", "config", str(self.config_path)],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise HarnessError(f"promtool rejected {self.config_path}: {proc.stdout}{proc.stderr}")

    # -- data ----------------------------------------------------------------------------------
    def backfill(self, openmetrics: str | Path, *, max_block_duration: str = "24h") -> float:
        """Load an OpenMetrics file into the TSDB; a running instance is restarted around it.

        Backfilling into a fresh TSDB before start is the safe order (promtool must not write
        into the range of a running server's head block). Returns the seconds promtool took.
        """
        running = self.running
        if running:
            self._terminate()
        seconds = backfill(Path(openmetrics), self.tsdb, max_block_duration=max_block_duration)
        if running:
            self.start()
        return seconds

    def backfill_text(self, text: str, **kwargs: Any) -> float:
        """Like :meth:`backfill`, for OpenMetrics text held in memory."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "backfill.om.txt"
        path.write_text(text if text.endswith("\n") else text + "\n")
        try:
            return self.backfill(path, **kwargs)
        finally:
            path.unlink(missing_ok=True)

    # -- process -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> LocalPrometheus:
        """Start Prometheus and wait until it is ready; raises HarnessError with its log tail."""
        if self.running:
            return self
        binary = find_binary("prometheus")
        if self.port is None:
            self.port = free_port(self.host)
        else:
            check_port_free(self.host, self.port)
        self.write_config()
        self.tsdb.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.tsdb}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address={self.host}:{self.port}",
            "--web.enable-lifecycle",
            "--web.enable-remote-write-receiver",
            *self.extra_args,
        ]
        self.proc = child.spawn(args, self.log_path)
        child.own(self)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        child.await_ready(self, f"{self.url}/-/ready", "prometheus", f"{self.host}:{self.port}",
                          lambda: f"last log lines: {self.log_tail()}")

    def reload(self) -> None:
        """Re-read the config and rule files (``POST /-/reload``)."""
        self.write_config()
        req = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def log_tail(self, lines: int = 5) -> str:
        return child.log_tail(self.log_path, lines)

    def _terminate(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        child.terminate(proc, timeout)

    def stop(self) -> None:
        """Stop the process by PID and, for a temporary workdir, delete it."""
        self._terminate()
        child.disown(self)
        if self._tmp:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"LocalPrometheus({self.host}:{self.port}, {state}, workdir={self.workdir})"
