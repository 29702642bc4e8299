"""Fleet-wide capacity: size and what-if replay every service of a namespace or of the fleet.

One service's sweep takes about a minute of CPU; a fleet of hundreds takes hours on one
machine. The work splits into independent tasks, one per (service, setting) replay, which run
on Dask distributed: a ``LocalCluster`` of worker processes on this machine by default, or any
running Dask scheduler (``tcp://host:8786``) for a real cluster. Everything else stays in this
process and is cheap: the histories are read with one query per signal for the whole fleet
(:func:`sdobs.capacity.history.load_histories`), each service is sized and its settings chosen
(:func:`sdobs.capacity.analysis.prepare`), and the replayed rows are concluded per service
exactly as ``sdobs capacity --service`` does (:func:`sdobs.capacity.analysis.conclude`). A
replay is seeded by its input, so the fleet's numbers are the serial run's, value for value,
whichever worker ran which task.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sdobs.capacity.analysis import (
    CapacityAnalysis,
    Prepared,
    conclude,
    prepare,
)
from sdobs.capacity.cost import PriceTable
from sdobs.capacity.history import FleetHistory, load_histories
from sdobs.capacity.idle import WarmIdle, warm_idle
from sdobs.capacity.report import BASELINE, format_cell
from sdobs.capacity.whatif import ReplayResult, Setting, replay
from sdobs.errors import InputError
from sdobs.prom.client import PrometheusClient, TimeLike
from sdobs.sim.manifest import ServiceSpec

#: Columns of the fleet table, with their headings.
FLEET_COLUMNS = {
    "namespace": "namespace", "service": "service", "gpu": "GPU", "requests": "requests",
    "deployed_pods": "pods (deployed)", "recommended_pods": "pods (recommended)",
    "deployed_usd_day": "$/day deployed", "recommended_usd_day": "$/day recommended",
    "savings_usd_day": "saved $/day", "savings_share": "saved",
    "deployed_p99_s": "P99 s deployed", "deployed_meets_slo": "SLO deployed",
    "observed_p99_s": "P99 s observed", "recommended": "recommendation",
    "recommended_meets_slo": "SLO recommended",
}


class FleetError(InputError):
    """The fleet analysis cannot run as asked (no services, no scheduler, bad option)."""


Key = tuple[str, str]


@dataclass
class FleetAnalysis:
    """Every service's capacity analysis, and the fleet table built from them."""

    namespace: str | None  # None: every namespace
    slo_seconds: float
    analyses: dict[Key, CapacityAnalysis]
    skipped: dict[Key, str] = field(default_factory=dict)  # services not analysed, and why
    queries: int = 0  # PromQL requests the history read made
    engine: str = "serial"  # where the replays ran, in words
    #: services without a request kept warm by min-scale: in the table at their billed cost
    idle: dict[Key, WarmIdle] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """One row per service: pods and cost as deployed vs recommended, savings, SLO.

        Pods are the mean pods allocated (what is billed) in the replay; costs are per day of
        the history's range at the price table's rates; "deployed" is the replay of the
        deployed settings (what clients see, cold starts included), "observed" Prometheus'."""
        rows = []
        for (ns, svc), a in self.analyses.items():
            f = a.frame
            dep = f.loc[BASELINE]
            rec = f.loc[a.recommendation.setting.name]
            per_day = 86400.0 / a.history.duration
            obs = f.loc["observed"] if "observed" in f.index else None
            rows.append({
                "namespace": ns, "service": svc, "gpu": dep["gpu"],
                "requests": a.history.requests(),
                "deployed_pods": float(dep["mean_pods"]),
                "recommended_pods": float(rec["mean_pods"]),
                "deployed_usd_day": float(dep["cost_usd"]) * per_day,
                "recommended_usd_day": float(rec["cost_usd"]) * per_day,
                "savings_usd_day": (float(dep["cost_usd"]) - float(rec["cost_usd"])) * per_day,
                "savings_share": (1 - float(rec["cost_usd"]) / float(dep["cost_usd"])
                                  if dep["cost_usd"] > 0 else math.nan),
                "deployed_p99_s": float(dep["p99_s"]),
                "deployed_meets_slo": bool(dep["meets_slo"]),
                "observed_p99_s": float(obs["p99_s"]) if obs is not None else math.nan,
                "recommended": a.recommendation.setting.name,
                "recommended_meets_slo": bool(a.recommendation.meets_slo),
            })
        rows += [_idle_row(key, w) for key, w in self.idle.items()]
        rows.sort(key=lambda row: (row["namespace"], row["service"]))
        return pd.DataFrame(rows, columns=list(FLEET_COLUMNS))

    def breaking_slo(self) -> list[Key]:
        """Services whose deployed settings miss the P99 target in the replay."""
        return [k for k, a in self.analyses.items() if not bool(a.frame.loc[BASELINE, "meets_slo"])]

    def summary(self) -> list[str]:
        f = self.frame()
        where = f"namespace {self.namespace}" if self.namespace else "every namespace"
        dep, rec = f["deployed_usd_day"].sum(), f["recommended_usd_day"].sum()
        broken = self.breaking_slo()
        lines = [
            f"Fleet capacity of {where}: {len(f)} services analysed"
            + (f" ({len(self.idle)} kept warm without requests)" if self.idle else "")
            + (f", {len(self.skipped)} skipped" if self.skipped else "")
            + f"; history read with {self.queries} PromQL requests; replays on {self.engine}.",
            f"As deployed ${dep:,.2f}/day, as recommended ${rec:,.2f}/day: saves "
            f"${dep - rec:,.2f}/day ({(1 - rec / dep) if dep > 0 else 0:.1%}).",
            f"{len(broken)} of {len(f)} services miss P99 ≤ {self.slo_seconds:g} s as deployed"
            + (": " + ", ".join(f"{ns}/{svc}" for ns, svc in broken) if broken else "") + ".",
        ]
        lines += [f"{w.note}." for w in self.idle.values()]
        lines += [f"Skipped {ns}/{svc}: {why}." for (ns, svc), why in self.skipped.items()]
        return lines

    def table(self) -> str:
        return _display(self.frame()).to_string(index=False)

    def write_html(self, path: str | Path) -> Path:
        """One self-contained HTML file: the summary, the fleet table, a cost figure."""
        import plotly.graph_objects as go

        f = self.frame()
        names = [f"{ns}/{svc}" for ns, svc in zip(f["namespace"], f["service"], strict=True)]
        fig = go.Figure()
        fig.add_bar(x=names, y=f["deployed_usd_day"], name="as deployed")
        fig.add_bar(x=names, y=f["recommended_usd_day"], name="recommended")
        fig.update_layout(title="Cost per day by service", yaxis_title="USD per day",
                          barmode="group")
        title = "Fleet capacity: " + (self.namespace or "all namespaces")
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
                 "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
                 "collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                 "</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
        parts += [f"<p>{html.escape(line)}</p>" for line in self.summary()]
        parts.append("<h2>Services</h2>")
        parts.append(_display(f).to_html(index=False, escape=True))
        parts.append(fig.to_html(full_html=False, include_plotlyjs=True))
        parts.append("</body></html>")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(parts), encoding="utf-8")
        return path


def _idle_row(key: Key, w: WarmIdle) -> dict[str, Any]:
    """A fleet row of a service kept warm without requests: deployed = recommended = billed."""
    per_day = 86400.0 / w.history.duration
    cost = float(w.observed["cost_usd"]) * per_day
    pods = float(w.observed["mean_pods"])
    return {
        "namespace": key[0], "service": key[1], "gpu": w.observed["gpu"], "requests": 0.0,
        "deployed_pods": pods, "recommended_pods": pods, "deployed_usd_day": cost,
        "recommended_usd_day": cost, "savings_usd_day": 0.0, "savings_share": 0.0,
        "deployed_p99_s": math.nan, "deployed_meets_slo": True,  # no request missed it
        "observed_p99_s": math.nan, "recommended": w.recommendation,
        "recommended_meets_slo": True,
    }


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """The fleet table as strings with headings, in the capacity table's number formats."""
    def cell(key: str, value: Any) -> str:
        if key in ("deployed_usd_day", "recommended_usd_day", "savings_usd_day"):
            return format_cell("cost_usd", value)
        if key == "savings_share":
            return format_cell("savings_vs_always_on", value)
        if key in ("deployed_pods", "recommended_pods", "deployed_p99_s", "observed_p99_s"):
            return format_cell("p99_s", value)
        if key in ("deployed_meets_slo", "recommended_meets_slo"):
            return format_cell("meets_slo", value)
        if key == "requests":
            return f"{value:,.0f}"
        return str(value)

    return pd.DataFrame({FLEET_COLUMNS[c]: [cell(c, v) for v in frame[c]] for c in FLEET_COLUMNS})


# -- where replays run -----------------------------------------------------------------------------
#: Runs every replay of every prepared service; returns results per service in settings order.
Runner = Callable[[Sequence[Prepared]], list[list[ReplayResult]]]


def run_serial(works: Sequence[Prepared]) -> list[list[ReplayResult]]:
    """Every replay in this process, one after the other (the reference the cluster must match)."""
    return [[replay(w.replay, s, w.prices, slo_seconds=w.slo_seconds) for s in w.settings]
            for w in works]


def dask_runner(client: Any) -> Runner:
    """Replays as Dask tasks, one per (service, setting), on ``client``'s cluster.

    Each service's replay input is scattered to the workers once and shared by its settings'
    tasks; results are gathered in submission order, so the output does not depend on which
    worker ran what."""

    from distributed import KilledWorker

    def run(works: Sequence[Prepared]) -> list[list[ReplayResult]]:
        if not works:
            return []
        try:
            inputs = client.scatter([w.replay for w in works], hash=False)
            futures = [[client.submit(replay, inp, s, w.prices, slo_seconds=w.slo_seconds,
                                      pure=False) for s in w.settings]
                       for w, inp in zip(works, inputs, strict=True)]
            flat = client.gather([f for row in futures for f in row])
        except KilledWorker as exc:
            raise FleetError(f"a Dask worker died replaying {exc.task} (out of memory? see "
                             "the worker's log); the fleet was not finished") from None
        except (OSError, TimeoutError) as exc:
            raise FleetError(f"lost the Dask scheduler at {client.scheduler.address} "
                             f"({type(exc).__name__}: {exc}); the fleet was not "
                             "finished") from None
        out, i = [], 0
        for row in futures:
            out.append(flat[i:i + len(row)])
            i += len(row)
        return out

    return run


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                timeout: float | None = None) -> Iterator[Any]:
    """A Dask client: of the scheduler at ``scheduler`` (``tcp://host:8786``), or of a new
    ``LocalCluster`` of ``workers`` single-threaded worker processes (default: the cores).

    ``timeout`` (seconds to reach the scheduler) defaults to Dask's own setting,
    ``distributed.comm.timeouts.connect`` (``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT``)."""
    import logging

    import dask.config
    from dask.utils import parse_timedelta
    from distributed import Client, LocalCluster

    if scheduler:
        if timeout is None:
            timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise FleetError(f"cannot reach the Dask scheduler at {scheduler} within "
                             f"{timeout:g} s ({type(exc).__name__}); check the address and "
                             "that the scheduler runs") from None
        except ValueError as exc:
            raise FleetError(f"--scheduler {scheduler!r} is not a Dask address such as "
                             f"tcp://host:8786 ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise FleetError(f"a LocalCluster needs at least one worker, got {n}")
    try:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    except (OSError, TimeoutError, AssertionError) as exc:  # AssertionError: its loop not up
        raise FleetError(f"cannot start a local Dask cluster of {n} worker processes "
                         f"({type(exc).__name__} {exc}); is the machine overloaded?") from None
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def describe_client(client: Any) -> str:
    """Where a Dask client's tasks run, in words (for the report)."""
    workers = client.scheduler_info().get("workers", {})
    threads = sum(w.get("nthreads", 1) for w in workers.values())
    return f"Dask at {client.scheduler.address} ({len(workers)} workers, {threads} threads)"


# -- the analysis --------------------------------------------------------------------------------
def bundled_manifests() -> dict[Key, ServiceSpec]:
    """The twin's own Services of the demo fleet (the default when no manifest is given)."""
    from sdobs.sim.scenarios import DEFAULT_SCENARIO, load_scenario

    return {(r.service.namespace, r.service.name): r.service
            for r in load_scenario(DEFAULT_SCENARIO).runs}


def manifests_from(paths: Sequence[str | Path]) -> dict[Key, ServiceSpec]:
    """Services of Knative YAML files or folders of them (``kubectl get ksvc -A -o yaml``)."""
    from sdobs.sim.manifest import load_files

    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p]
    if not files:
        raise FleetError(f"no YAML files in {', '.join(map(str, paths))}")
    services, _ = load_files(files)
    return {(s.namespace, s.name): s for s in services}


def prepare_fleet(fleet: FleetHistory, manifests: Mapping[Key, ServiceSpec], *,
                  slo_seconds: float, prices: PriceTable,
                  settings: Sequence[Setting] | None = None, grid: str = "small",
                  seed: int = 1) -> tuple[list[Prepared], dict[Key, str]]:
    """Every read service sized and ready to replay; those that cannot be, and why."""
    works: list[Prepared] = []
    skipped = dict(fleet.skipped)
    for key, history in fleet.histories.items():
        svc = manifests.get(key)
        if svc is None:
            skipped[key] = ("no manifest (pass its Knative Service YAML with --manifest, "
                            "e.g. from kubectl get ksvc -A -o yaml)")
            continue
        try:
            works.append(prepare(history, svc, slo_seconds=slo_seconds, prices=prices,
                                 settings=settings, grid=grid, seed=seed))
        except (ValueError, KeyError) as exc:
            skipped[key] = f"cannot be sized ({exc})"
    return works, dict(sorted(skipped.items()))


def analyse_fleet(
    client: PrometheusClient,
    start: TimeLike,
    end: TimeLike,
    *,
    namespace: str | None,
    slo_seconds: float,
    runner: Runner = run_serial,
    engine: str = "serial",
    prices: PriceTable | None = None,
    manifests: Mapping[Key, ServiceSpec] | None = None,
    settings: Sequence[Setting] | None = None,
    grid: str = "small",
    dialect: str | None = None,
    seed: int = 1,
    step: float | None = None,
    scrape_interval: float = 30.0,
) -> FleetAnalysis:
    """Read, size, replay (on ``runner``) and conclude every service of ``namespace`` (None:
    the fleet). Manifests default to the twin's bundled ones (the demo fleet)."""
    if not slo_seconds > 0:
        raise FleetError(f"the P99 target must be positive seconds, got {slo_seconds!r}")
    prices = prices or PriceTable()
    if manifests is None:
        manifests = bundled_manifests()
    fleet = load_histories(client, start, end, namespace=namespace, step=step,
                           scrape_interval=scrape_interval, dialect=dialect)
    works, skipped = prepare_fleet(fleet, manifests, slo_seconds=slo_seconds, prices=prices,
                                   settings=settings, grid=grid, seed=seed)
    idle: dict[Key, WarmIdle] = {}
    for key in list(skipped):
        history, svc = fleet.histories.get(key), manifests.get(key)
        found = warm_idle(history, svc, prices) if history and svc else None
        if found is not None:
            idle[key] = found
            del skipped[key]
    if not works and not idle:
        where = f"namespace {namespace}" if namespace else "the fleet"
        reasons = "; ".join(f"{ns}/{svc}: {why}" for (ns, svc), why in list(skipped.items())[:3])
        if len(skipped) > 3:
            reasons += f"; and {len(skipped) - 3} more"
        raise FleetError(f"no service of {where} can be analysed ({reasons})")
    results = runner(works) if works else []
    analyses = {(w.history.namespace, w.history.service): conclude(w, r)
                for w, r in zip(works, results, strict=True)}
    return FleetAnalysis(namespace, slo_seconds, analyses, skipped, fleet.queries, engine, idle)
