"""One capacity analysis of one service: history, queueing model, what-if sweep, recommendation.

``sdobs capacity`` and ``notebooks/capacity-analysis.ipynb`` both run :func:`analyse`; the
notebook then tells the story step by step from the same object.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sdobs.capacity.cost import PriceTable
from sdobs.capacity.history import ServiceHistory, load_history
from sdobs.capacity.report import (
    BASELINE,
    Recommendation,
    annotation_snippet,
    figures,
    format_cell,
    format_table,
    observed_row,
    recommend,
    results_frame,
    row_verdict,
    write_html,
)
from sdobs.capacity.sizing import Plan, plan, queueing_need
from sdobs.capacity.whatif import (
    GPU_KEYS,
    ReplayInput,
    ReplayResult,
    Setting,
    price_spec,
    replay_input,
    sweep,
)
from sdobs.errors import InputError
from sdobs.sim.manifest import RevisionSpec, ServiceSpec, load_files

#: The table row of the queueing model's plan, replayed.
PLAN_ROW = "queueing model"


def find_manifest(namespace: str, service: str) -> ServiceSpec | None:
    """The twin's own manifest of a service of the bundled scenarios (the demo), if any."""
    from sdobs.sim.scenarios import DEFAULT_SCENARIO, load_scenario

    for run in load_scenario(DEFAULT_SCENARIO).runs:
        if run.service.name == service and run.service.namespace == namespace:
            return run.service
    return None


def load_manifest(path: str | Path, namespace: str, service: str) -> ServiceSpec:
    """The Service of that name from a manifest file (``kubectl get ksvc -o yaml``)."""
    services, _ = load_files([path])
    for svc in services:
        if svc.name == service and svc.namespace == namespace:
            return svc
    if len(services) == 1:
        return services[0]
    names = ", ".join(f"{s.namespace}/{s.name}" for s in services)
    raise InputError(f"{path} holds no Service {namespace}/{service} (it has {names})")


def gpu_alternatives(prices: PriceTable, base_spec: str) -> list[str]:
    """The cheapest single-GPU spec of every other GPU model the twin knows, same provider."""
    base = prices[base_spec]
    best: dict[str, Any] = {}
    for row in prices:
        key = GPU_KEYS.get(row.gpu.lower())
        if key is None or row.provider != base.provider or row.gpus != 1:
            continue
        if key == GPU_KEYS.get(base.gpu.lower()):
            continue
        if key not in best or row.hourly_usd < best[key].hourly_usd:
            best[key] = row
    return [r.spec for r in sorted(best.values(), key=lambda r: r.hourly_usd)]


def default_settings(history: ServiceHistory, rev: RevisionSpec, the_plan: Plan | None,
                     prices: PriceTable, base_spec: str,
                     grid: str = "small") -> list[Setting]:
    """What to try: the deployed settings, the queueing model's plan, warm pods, retention,
    a lower utilisation target, always-on at the recorded peak, other GPUs (``full``: more)."""
    if grid not in ("small", "full"):
        raise InputError(f"grid {grid!r} must be small or full")
    kpa = rev.kpa
    tu = round(100 * kpa.target / max(kpa.total, 1e-9))
    peak = max(1, int(history.pods_wide("actual").sum(axis=1).max()))
    out = [Setting("as deployed")]
    if the_plan is not None:
        out.append(the_plan.setting())
    if kpa.min_scale < 1:
        out.append(Setting("warm pod", min_scale=1))
    if kpa.scale_to_zero_pod_retention < 300:
        out.append(Setting("retention 5m", retention_s=300))
    if tu != 70:
        out.append(Setting("TU 70 %", target_utilization=70))
    out.append(Setting("always on", min_scale=peak, max_scale=max(peak, kpa.max_scale or peak)))
    gpus = gpu_alternatives(prices, base_spec)
    for spec in gpus if grid == "full" else gpus[:2]:
        out.append(Setting(f"GPU {prices[spec].gpu}", spec=spec))
    if grid == "full":
        for value in (50, 85, 100):
            if value != tu:
                out.append(Setting(f"TU {value} %", target_utilization=value))
        out += [Setting("scale-down delay 5m", scale_down_delay_s=300),
                Setting("window 120s", window_s=120),
                Setting("warm pod, retention 10m", min_scale=1, retention_s=600)]
        if gpus:
            out.append(Setting(f"GPU {prices[gpus[0]].gpu}, warm pod", spec=gpus[0], min_scale=1))
    return out


@dataclass
class CapacityAnalysis:
    """Everything one analysis found, for printing, the HTML report and the notebook."""

    history: ServiceHistory
    service: ServiceSpec
    revision: RevisionSpec  # the revision that served most requests
    prices: PriceTable
    base_spec: str
    slo_seconds: float
    plan: Plan | None
    need: pd.DataFrame | None
    replay: ReplayInput
    settings: list[Setting]
    results: list[ReplayResult]
    frame: pd.DataFrame
    recommendation: Recommendation
    notes: list[str] = field(default_factory=list)

    @property
    def snippet(self) -> str:
        return annotation_snippet(self.recommendation.setting, self.revision)

    def table(self) -> str:
        return format_table(self.frame, self.recommendation.setting.name)

    def summary(self) -> list[str]:
        h = self.history
        obs = self.frame.loc["observed"] if "observed" in self.frame.index else None
        lines = [
            f"{h.namespace}/{h.service}: {h.requests():,.0f} requests over "
            f"{h.duration / 3600:.1f} h ({h.dialect} metrics, {h.step:g} s steps), "
            f"revisions {', '.join(h.revisions)}, GPU "
            f"{', '.join(sorted(set(h.gpu_models.values()))) or self.revision.gpu}, "
            f"billed at {self.base_spec}.",
        ]
        if self.plan is not None:
            p = self.plan
            lines.append(
                f"Queueing model (M/G/c, pods kept up, no cold starts): service time "
                f"{p.service_s:.1f} s (SCV {p.scv:.2f}, from {_service_time_source(h)}); at "
                f"the 95th-percentile rate {p.peak_rate * 60:.2f}/min, {p.pods_at_peak} steady "
                f"pods would hold P99 ≤ {self.slo_seconds:g} s (at most {p.max_pods} at the "
                "busiest).")
        for name in (PLAN_ROW, BASELINE):
            if name in self.frame.index:
                setting = next((s for s in self.settings if s.name == name), None)
                what = f" ({setting.describe()})" if setting and setting.changes() else ""
                lines.append(f"Replayed with the KPA and cold starts, '{name}'{what}: "
                             f"{row_verdict(self.frame.loc[name], self.slo_seconds)}.")
        if obs is not None:
            lines.append(
                f"Observed: {format_cell('pod_hours', obs['pod_hours'])} pod-hours billed, "
                f"${format_cell('cost_usd', obs['cost_usd'])}; always on at the peak of "
                f"{obs['peak_pods']:.0f} pods: ${format_cell('cost_usd', obs['always_on_usd'])}; "
                f"scale to zero saved "
                f"{format_cell('savings_vs_always_on', obs['savings_vs_always_on'])} "
                "(the reference platform reports 60 %).")
        lines.append(f"Recommendation: {self.recommendation.setting.name} — "
                     f"{self.recommendation.reason}.")
        return lines + self.notes

    def figures(self) -> dict[str, Any]:
        return figures(self.history, self.need, self.frame, self.results, self.slo_seconds)

    def write_html(self, path: str | Path) -> Path:
        h = self.history
        return write_html(path, title=f"Capacity analysis: {h.namespace}/{h.service}",
                          summary=self.summary(), frame=self.frame,
                          recommendation=self.recommendation, snippet=self.snippet,
                          figs=self.figures())


def analyse(
    client: Any,
    namespace: str,
    service: str,
    start: Any,
    end: Any,
    *,
    slo_seconds: float,
    prices: PriceTable | None = None,
    manifest: ServiceSpec | str | Path | None = None,
    settings: Sequence[Setting] | None = None,
    grid: str = "small",
    jobs: int = 2,
    dialect: str | None = None,
    spec: str | None = None,
    seed: int = 1,
    step: float | None = None,
    scrape_interval: float = 30.0,
) -> CapacityAnalysis:
    """Read the history, size it, replay the settings and recommend one (see module doc)."""
    if not slo_seconds > 0:
        raise InputError(f"the P99 target must be positive seconds, got {slo_seconds!r}")
    prices = prices or PriceTable()
    notes: list[str] = []
    if manifest is None:
        svc = find_manifest(namespace, service)
        if svc is None:
            raise InputError(f"no manifest for {namespace}/{service}: pass the Knative Service "
                             "YAML (kubectl get ksvc NAME -o yaml) so the replay knows its "
                             "settings")
        notes.append("Settings from the twin's bundled manifest of this service.")
    elif isinstance(manifest, ServiceSpec):
        svc = manifest
    else:
        svc = load_manifest(manifest, namespace, service)
    history = load_history(client, namespace, service, start, end, step=step,
                           scrape_interval=scrape_interval, dialect=dialect)
    work = prepare(history, svc, slo_seconds=slo_seconds, prices=prices, settings=settings,
                   grid=grid, spec=spec, seed=seed, notes=notes)
    results = sweep(work.replay, work.settings, prices, slo_seconds=slo_seconds, jobs=jobs)
    return conclude(work, results)


@dataclass
class Prepared:
    """One service sized and ready to replay: what :func:`conclude` needs besides the results.

    The fleet analysis (``sdobs.capacity.fleet``) prepares every service, replays all their
    settings as tasks on a cluster, then concludes each, exactly as :func:`analyse` does."""

    history: ServiceHistory
    service: ServiceSpec
    revision: RevisionSpec
    prices: PriceTable
    base_spec: str
    slo_seconds: float
    plan: Plan | None
    need: pd.DataFrame | None
    replay: ReplayInput
    settings: list[Setting]
    notes: list[str]


def prepare(history: ServiceHistory, svc: ServiceSpec, *, slo_seconds: float,
            prices: PriceTable, settings: Sequence[Setting] | None = None, grid: str = "small",
            spec: str | None = None, seed: int = 1,
            notes: Sequence[str] = ()) -> Prepared:
    """Size the busiest revision with the queueing model and choose the settings to replay."""
    notes = list(notes)
    busiest = max(history.revisions, key=lambda r: history.requests(revision=r))
    rev = next((r for r in svc.revisions if r.name == busiest), svc.revisions[-1])
    base_spec = price_spec(rev, prices, spec)
    try:
        the_plan = plan(history, rev, slo_seconds)
        need = queueing_need(history, rev, slo_seconds)
    except ValueError as exc:
        the_plan, need = None, None
        notes.append(f"No queueing-model plan: {exc}.")
    inp = replay_input(history, svc, seed=seed, base_spec=base_spec)
    chosen = list(settings) if settings else default_settings(history, rev, the_plan, prices,
                                                             base_spec, grid)
    if not any(s.name == "as deployed" for s in chosen):
        chosen.insert(0, Setting("as deployed"))
    return Prepared(history, svc, rev, prices, base_spec, slo_seconds, the_plan, need, inp,
                    chosen, notes)


def conclude(work: Prepared, results: list[ReplayResult]) -> CapacityAnalysis:
    """The analysis of one service from its replayed settings (in ``work.settings``' order)."""
    history, rev, prices = work.history, work.revision, work.prices
    notes = list(work.notes)
    observed = observed_row(history, rev, prices, spec=work.base_spec,
                            slo_seconds=work.slo_seconds)
    frame = results_frame(observed, results)
    rec = recommend(results, work.slo_seconds)
    if not math.isfinite(observed["p99_s"]):
        notes.append("Prometheus has no latency histogram for the range.")
    notes.append("Observed latency is queue-proxy's (no activator or gateway wait, no cold "
                 "start); replayed latency is what clients see.")
    return CapacityAnalysis(history, work.service, rev, prices, work.base_spec,
                            work.slo_seconds, work.plan, work.need, work.replay, work.settings,
                            results, frame, rec, notes)


def _service_time_source(history) -> str:
    """Which histogram the service time came from, in words."""
    sources = {st.source for st in history.service_times.values()}
    if sources == {"sd-exporter"}:
        return "the SD request exporter"
    if "sd-exporter" in sources:
        return "the SD request exporter where it runs, else Knative's histogram"
    return "Knative's app histogram"
