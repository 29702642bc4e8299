"""VictoriaMetrics as the demo's store: the store, vmagent scraping, vmalert evaluating rules.

``sdobs demo --store victoriametrics`` uses :class:`VictoriaStack` where it would use a
:class:`~sdobs.prom.harness.LocalPrometheus`: it takes the same scrape jobs and file-SD jobs
(written as a Prometheus config that vmagent reads, file_sd files included), answers queries at
``url`` (the store), takes ``set_targets`` from the live twin, and, once the alerting hook sets
``rule_files`` and ``alertmanagers`` and calls :meth:`reload`, runs vmalert on those rules:
recorded series and ``ALERTS`` go back into the store by remote write, alerts to Alertmanager.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sdobs.prom.harness import LocalPrometheus
from sdobs.prom.victoria import LocalVictoriaMetrics, LocalVMAgent, LocalVMAlert


class VictoriaStack:
    """VictoriaMetrics + vmagent (+ vmalert once rules are loaded) under ``workdir``."""

    name = "VictoriaMetrics"

    def __init__(self, workdir: str | Path, *, port: int | None = None,
                 scrape_interval: str = "15s", evaluation_interval: str = "15s",
                 scrape_configs: Sequence[Mapping[str, Any]] = (),
                 file_sd_jobs: Mapping[str, Mapping[str, Any]] | Iterable[str] = (),
                 ) -> None:
        self.workdir = Path(workdir).absolute()
        self.store = LocalVictoriaMetrics(self.workdir / "victoria-metrics", port=port)
        # Only its config and file-SD files are used: vmagent reads them as Prometheus would.
        self.scrape = LocalPrometheus(self.workdir / "scrape", scrape_interval=scrape_interval,
                                      scrape_configs=scrape_configs,
                                      file_sd_jobs=file_sd_jobs)
        self.agent: LocalVMAgent | None = None
        self.alert: LocalVMAlert | None = None
        self.evaluation_interval = evaluation_interval
        self.rule_files: list[Path] = []
        self.alertmanagers: list[str] = []

    # What the demo reads of a LocalPrometheus.
    @property
    def url(self) -> str:
        return self.store.url

    @property
    def pid(self) -> int | None:
        return self.store.pid

    @property
    def tsdb(self) -> Path:
        return self.store.data

    @property
    def log_path(self) -> Path:
        return self.store.log_path

    @property
    def running(self) -> bool:
        return self.store.running

    def set_targets(self, job: str, targets: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        self.scrape.set_targets(job, targets)

    def start(self) -> VictoriaStack:
        """Start the store, then vmagent scraping into it; HarnessError with a log tail."""
        try:
            self.store.start()
            self.scrape.write_config()
            self.agent = LocalVMAgent(self.workdir / "vmagent", self.store.remote_write_url,
                                      scrape_config=self.scrape.config()).start()
        except BaseException:
            self.stop()
            raise
        return self

    def reload(self) -> None:
        """(Re)start vmalert on ``rule_files``, notifying ``alertmanagers``."""
        if self.alert is not None:
            self.alert.stop()
            self.alert = None
        if not self.rule_files:
            return
        self.alert = LocalVMAlert(
            self.workdir / "vmalert", self.store.url, rule_files=self.rule_files,
            remote_write_url=self.store.url, evaluation_interval=self.evaluation_interval,
            notifier_urls=[f"http://{a}" for a in self.alertmanagers]).start()

    @property
    def rules_where(self) -> str | None:
        """Where the rules run, for the demo's banner (vmalert's alerts API)."""
        return f"vmalert: {self.alert.url}/api/v1/alerts" if self.alert is not None else None

    def stop(self) -> None:
        """Stop vmalert, vmagent and the store, by PID, in that order."""
        for part in (self.alert, self.agent, self.store):
            if part is not None:
                part.stop()

    def lines(self) -> list[str]:
        """The demo's banner lines for the store and its helpers."""
        out = [f"VictoriaMetrics {self.url}   (pid {self.pid}, data in {self.tsdb}/)"]
        if self.agent is not None:
            out.append(f"vmagent      {self.agent.url}/targets   (scraping the twin into it)")
        return out

    def __repr__(self) -> str:
        return f"VictoriaStack({self.store!r}, {self.agent!r}, {self.alert!r})"
