"""VictoriaMetrics on loopback, owned by this process: the store, vmagent and vmalert.

Debian's ``victoria-metrics`` package (1.79 in bookworm) ships the three binaries. Each runs as a
:mod:`sdobs.prom.child`: its own data folder under a work directory, a free port unless given,
ready when ``/health`` answers, killed with its parent, stopped by PID.

* :class:`LocalVictoriaMetrics` is the single-node store. It answers the Prometheus query API
  (``/api/v1/query``, ``/api/v1/query_range``, ``/api/v1/labels``, ``/api/v1/series``) in
  MetricsQL, and takes history through its import API: the OpenMetrics text the twin renders
  for ``promtool`` goes to ``/api/v1/import/prometheus`` with its timestamps turned from
  seconds into milliseconds (:func:`prometheus_text`). It also takes Prometheus remote write
  on ``/api/v1/write``, which is how vmagent and vmalert write into it.
* :class:`LocalVMAgent` scrapes like Prometheus from a Prometheus scrape config (file_sd
  included) and remote-writes every sample to the store.
* :class:`LocalVMAlert` evaluates Prometheus rule files against the store, writes recorded
  series (and the ``ALERTS`` series) back through remote write and sends alerts to Alertmanager.

The test flags keep query answers exact on backfilled data: ``-search.latencyOffset=0`` (by
default the newest 30 s are hidden from queries), ``-search.disableCache`` (the rollup cache
would keep answers from before an import) and ``-retentionPeriod=100y`` (samples older than the
retention period are dropped on import). See docs/victoriametrics.md.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import yaml

from sdobs.prom import child
from sdobs.prom.errors import HarnessError
from sdobs.prom.harness import check_port_free, free_port

INSTALL_HINT = ("install VictoriaMetrics: on Debian or Ubuntu run 'apt-get install "
                "victoria-metrics' as root (./run test does), elsewhere put victoria-metrics, "
                "vmagent and vmalert on PATH")
#: Bytes of Prometheus text per import request: VictoriaMetrics streams the import API, but
#: bounded requests keep a failure's message near the line that caused it.
IMPORT_CHUNK = 8 << 20


def find_vm_binary(name: str) -> str:
    """Path of ``victoria-metrics``, ``vmagent`` or ``vmalert``, or a HarnessError."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                  else None)
    if not path:
        raise HarnessError(f"{name} was not found on PATH; {INSTALL_HINT}")
    return path


def prometheus_line(line: str) -> str | None:
    """One OpenMetrics sample line as Prometheus text with a millisecond timestamp.

    ``name{labels} value seconds`` becomes ``name{labels} value milliseconds``; comment lines
    (``# TYPE``, ``# HELP``, ``# UNIT``, ``# EOF``) and blank lines give None. A sample without
    a timestamp is kept as it is (the store stamps it with the time of the import).
    """
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        return None
    # Label values may hold spaces; the value and the timestamp never do, and the last "}"
    # closes the label set.
    if "}" in line:
        head, _, tail = line.rpartition("}")
        fields = [head + "}", *tail.split()]
    else:
        fields = line.split()
    if len(fields) != 3:
        return line
    name, value, stamp = fields
    try:
        millis = round(float(stamp) * 1000)
    except ValueError:
        raise HarnessError(f"the sample {line[:120]!r} has no valid timestamp; OpenMetrics "
                           "timestamps are seconds since the epoch") from None
    return f"{name} {value} {millis}"


def prometheus_text(openmetrics: Iterable[str]) -> Iterator[str]:
    """Prometheus text lines (ms timestamps) of OpenMetrics lines (second timestamps)."""
    for line in openmetrics:
        out = prometheus_line(line)
        if out is not None:
            yield out


class _Server:
    """What the three binaries share: a work folder, a port, a log, a child by PID."""

    binary = ""
    what = ""

    def __init__(self, workdir: str | Path | None, *, host: str, port: int | None,
                 ready_timeout: float, extra_args: Sequence[str]) -> None:
        self._tmp = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"sdobs-{self.binary}-") if workdir is None
                            else workdir).absolute()
        self.host = host
        self.port = port
        self.ready_timeout = ready_timeout
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise HarnessError(f"the local {self.what} has no port yet; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.binary}.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def args(self) -> list[str]:  # pragma: no cover - each server says its own
        raise NotImplementedError

    def log_tail(self, lines: int = 5) -> str:
        return child.log_tail(self.log_path, lines)

    def start(self) -> Self:
        """Start the binary and wait for ``/health``; HarnessError with its log tail."""
        if self.running:
            return self
        binary = find_vm_binary(self.binary)
        if self.port is None:
            self.port = free_port(self.host)
        else:
            check_port_free(self.host, self.port, self.what)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = child.spawn([binary, f"-httpListenAddr={self.address}", *self.args(),
                                 *self.extra_args], self.log_path)
        child.own(self)
        child.await_ready(self, f"{self.url}/health", self.binary, self.address,
                          lambda: f"last log lines: {self.log_tail()}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process by PID and, for a temporary workdir, delete it."""
        child.disown(self)
        proc, self.proc = self.proc, None
        child.terminate(proc, timeout)
        if self._tmp:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"{type(self).__name__}({self.host}:{self.port}, {state}, workdir={self.workdir})"


class LocalVictoriaMetrics(_Server):
    """A single-node VictoriaMetrics with its data under ``workdir/data``."""

    binary = "victoria-metrics"
    what = "VictoriaMetrics"

    def __init__(self, workdir: str | Path | None = None, *, host: str = "127.0.0.1",
                 port: int | None = None, retention: str = "100y", for_tests: bool = True,
                 extra_args: Sequence[str] = (), ready_timeout: float = 60.0) -> None:
        super().__init__(workdir, host=host, port=port, ready_timeout=ready_timeout,
                         extra_args=extra_args)
        self.retention = retention
        self.for_tests = for_tests

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    # Prometheus' harness calls it tsdb; the demo prints it.
    tsdb = data

    @property
    def remote_write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def args(self) -> list[str]:
        args = [f"-storageDataPath={self.data}", f"-retentionPeriod={self.retention}"]
        if self.for_tests:
            args += ["-search.latencyOffset=0s", "-search.disableCache"]
        return args

    def _post(self, path: str, body: bytes | None = None, timeout: float = 300.0) -> None:
        req = urllib.request.Request(f"{self.url}{path}", data=body,
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout):
                pass
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace").strip()[:300]
            raise HarnessError(f"VictoriaMetrics refused {path} with HTTP {exc.code}: "
                               f"{detail}") from None
        except OSError as exc:
            raise HarnessError(f"VictoriaMetrics at {self.url} did not answer {path} ({exc}); "
                               f"last log lines: {self.log_tail()}") from None

    def import_lines(self, lines: Iterable[str]) -> int:
        """Import Prometheus text lines (ms timestamps) in bounded requests; returns samples."""
        chunk: list[str] = []
        size = samples = 0
        for line in lines:
            chunk.append(line)
            size += len(line) + 1
            samples += 1
            if size >= IMPORT_CHUNK:
                self._post("/api/v1/import/prometheus", ("\n".join(chunk) + "\n").encode())
                chunk, size = [], 0
        if chunk:
            self._post("/api/v1/import/prometheus", ("\n".join(chunk) + "\n").encode())
        return samples

    def import_openmetrics(self, text: str) -> int:
        """Import OpenMetrics text (what ``promtool`` backfills) and flush it to queries."""
        samples = self.import_lines(prometheus_text(text.splitlines()))
        self.force_flush()
        return samples

    def import_openmetrics_file(self, path: str | Path) -> int:
        """Like :meth:`import_openmetrics`, streaming a file."""
        with open(path, encoding="utf-8") as handle:
            samples = self.import_lines(prometheus_text(handle))
        self.force_flush()
        return samples

    def force_flush(self) -> None:
        """Make every imported sample visible to queries now (``/internal/force_flush``)."""
        self._post("/internal/force_flush")


class LocalVMAgent(_Server):
    """vmagent scraping a Prometheus scrape config and remote-writing to ``remote_write_url``."""

    binary = "vmagent"
    what = "vmagent"

    def __init__(self, workdir: str | Path | None, remote_write_url: str, *,
                 scrape_config: Mapping[str, Any], host: str = "127.0.0.1",
                 port: int | None = None, extra_args: Sequence[str] = (),
                 ready_timeout: float = 60.0) -> None:
        super().__init__(workdir, host=host, port=port, ready_timeout=ready_timeout,
                         extra_args=extra_args)
        self.remote_write_url = remote_write_url
        self.scrape_config = dict(scrape_config)

    @property
    def config_path(self) -> Path:
        return self.workdir / "scrape.yml"

    def args(self) -> list[str]:
        # The parts of prometheus.yml that vmagent reads, without the fields it rejects (it
        # parses strictly): rule evaluation and file_sd's refresh_interval, for which it has
        # -promscrape.fileSDCheckInterval.
        glob = {k: v for k, v in self.scrape_config.get("global", {}).items()
                if k in ("scrape_interval", "scrape_timeout", "external_labels")}
        jobs = []
        for job in self.scrape_config.get("scrape_configs", []):
            job = dict(job)
            if "file_sd_configs" in job:
                job["file_sd_configs"] = [{k: v for k, v in sd.items() if k != "refresh_interval"}
                                          for sd in job["file_sd_configs"]]
            jobs.append(job)
        cfg = {"global": glob, "scrape_configs": jobs}
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return [f"-promscrape.config={self.config_path}",
                "-promscrape.fileSDCheckInterval=5s",
                f"-remoteWrite.url={self.remote_write_url}",
                f"-remoteWrite.tmpDataPath={self.workdir / 'queue'}",
                "-remoteWrite.flushInterval=1s"]


class LocalVMAlert(_Server):
    """vmalert evaluating Prometheus rule files against ``datasource_url``."""

    binary = "vmalert"
    what = "vmalert"

    def __init__(self, workdir: str | Path | None, datasource_url: str, *,
                 rule_files: Sequence[str | Path], remote_write_url: str | None = None,
                 notifier_urls: Sequence[str] = (), evaluation_interval: str = "15s",
                 host: str = "127.0.0.1", port: int | None = None,
                 extra_args: Sequence[str] = (), ready_timeout: float = 60.0) -> None:
        super().__init__(workdir, host=host, port=port, ready_timeout=ready_timeout,
                         extra_args=extra_args)
        if not rule_files:
            raise HarnessError("vmalert needs at least one rule file; generate them with "
                               "'sdobs rules'")
        self.datasource_url = datasource_url
        self.rule_files = [Path(r).resolve() for r in rule_files]
        self.remote_write_url = remote_write_url
        self.notifier_urls = list(notifier_urls)
        self.evaluation_interval = evaluation_interval

    def args(self) -> list[str]:
        args = [f"-datasource.url={self.datasource_url}",
                f"-evaluationInterval={self.evaluation_interval}",
                *(f"-rule={r}" for r in self.rule_files)]
        if self.remote_write_url:
            args += [f"-remoteWrite.url={self.remote_write_url}", "-remoteWrite.flushInterval=1s",
                     f"-remoteRead.url={self.datasource_url}"]
        args += [f"-notifier.url={u}" for u in self.notifier_urls]
        return args
