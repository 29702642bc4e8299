"""The capacity report: what the autoscaler did, what-if rows, a recommendation, plotly figures.

One table holds the recorded history ("observed", from Prometheus) beside every replayed
setting; costs are billed pod time (cold start and drain included) at the price table's rates,
and savings are ratios against keeping the peak pod count up all the time ("always on"), so the
reference platform's "60 % lower resource cost" can be checked on one's own data. The
``sdobs capacity`` command and the notebook both call these functions.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdobs.capacity.cost import (
    PriceTable,
    always_on_cost,
    billed_seconds_from_pod_counts,
    savings_ratio,
)
from sdobs.capacity.whatif import ReplayResult, Setting, pod_hourly_usd, price_spec
from sdobs.errors import InputError
from sdobs.sim.manifest import RevisionSpec

OBSERVED = "observed"
BASELINE = "as deployed"
#: Columns of the printed recommendation table, with their headings.
TABLE_COLUMNS = {
    "setting": "setting", "changes": "changes", "gpu": "GPU", "p50_s": "P50 s",
    "p99_s": "P99 s", "meets_slo": "SLO", "cold_share": "cold", "timeouts_504": "504",
    "pod_hours": "pod-h", "gpu_hours_busy": "GPU-h busy", "gpu_hours_allocated": "GPU-h alloc",
    "cost_usd": "cost $", "savings_vs_always_on": "saved vs always-on",
    "cost_vs_baseline": "cost vs deployed",
}


def observed_row(history: Any, rev: RevisionSpec, prices: PriceTable, *, spec: str | None = None,
                 slo_seconds: float = math.inf) -> dict[str, Any]:
    """The recorded history as a what-if row: latency at queue-proxy (activator and gateway
    waits not included), billed pod time from the autoscaler's pod counts."""
    step = history.step
    allocated = history.allocated_pods()
    ready = history.pods_wide("actual").sum(axis=1)
    hourly = pod_hourly_usd(rev, prices, price_spec(rev, prices, spec))
    seconds = billed_seconds_from_pod_counts(allocated.to_numpy(), cold_start_s=0.0,
                                             drain_s=0.0, step_s=step)
    peak = float(ready.max()) if len(ready) else 0.0
    cost = seconds / 3600 * hourly
    always = always_on_cost(max(peak, 1.0), history.duration, hourly)
    answered = history.requests() - history.requests("4xx")
    p99 = history.latency_overall.get("p99", math.nan)
    gpus = max(1, rev.gpu_count)
    return {
        "setting": OBSERVED, "changes": "what the autoscaler did (Prometheus)",
        "gpu": ", ".join(sorted(set(history.gpu_models.values()))) or rev.gpu,
        "requests": history.requests(),
        "p50_s": history.latency_overall.get("p50", math.nan),
        "p90_s": history.latency_overall.get("p90", math.nan), "p99_s": p99,
        "meets_slo": bool(p99 <= slo_seconds) if math.isfinite(p99) else False,
        "cold_share": math.nan, "timeouts_504": math.nan, "share_504": math.nan,
        "errors_5xx": history.requests("5xx"), "errors_4xx": history.requests("4xx"),
        "pods_started": math.nan, "peak_pods": peak,
        "mean_pods": float(allocated.mean()) if len(allocated) else 0.0,
        "pod_hours": seconds / 3600, "ready_pod_hours": float(ready.sum() * step / 3600),
        "cold_start_pod_hours": math.nan,
        "gpu_hours_allocated": seconds * gpus / 3600,
        "gpu_hours_busy": history.gpu_busy_hours(),
        "gpu_busy_share": history.gpu_busy_hours() / (seconds * gpus / 3600) if seconds else 0.0,
        "cost_usd": cost, "always_on_usd": always, "savings_vs_always_on": savings_ratio(always,
                                                                                     cost),
        "answered": answered,
    }


def results_frame(observed: dict[str, Any] | None, results: Sequence[ReplayResult]) -> pd.DataFrame:
    """One row per setting (the observed history first), with cost ratios against the
    replay of the deployed settings and against what was observed."""
    rows = ([observed] if observed else []) + [r.row for r in results]
    frame = pd.DataFrame(rows).set_index("setting", drop=False)
    base = frame.loc[BASELINE, "cost_usd"] if BASELINE in frame.index else math.nan
    frame["cost_vs_baseline"] = frame["cost_usd"] / base if base and base > 0 else math.nan
    if observed:
        # One baseline for every row: the recorded peak pods up all the time at the deployed
        # price, so "saved" answers how much the autoscaler (or a setting) saves against it.
        always = observed["always_on_usd"]
        frame["always_on_usd"] = always
        frame["savings_vs_always_on"] = [savings_ratio(always, c) for c in frame["cost_usd"]]
        frame["cost_vs_observed"] = frame["cost_usd"] / observed["cost_usd"] if observed[
            "cost_usd"] > 0 else math.nan
    return frame


@dataclass(frozen=True)
class Recommendation:
    """The setting to apply and why."""

    setting: Setting
    row: dict[str, Any]
    meets_slo: bool
    reason: str


def recommend(results: Sequence[ReplayResult], slo_seconds: float, *,
              margin: float = 0.02) -> Recommendation:
    """The cheapest replayed setting whose P99 meets the SLO, else the one with the lowest P99.

    When the deployed settings meet the SLO, a change must save more than ``margin`` of their
    cost to be recommended (smaller differences are within the replay's noise)."""
    if not results:
        raise InputError("no what-if results to recommend from")
    ok = [r for r in results if r.row["meets_slo"]]
    if ok:
        best = min(ok, key=lambda r: (r.row["cost_usd"], r.row["p99_s"]))
        deployed = next((r for r in ok if r.setting.name == BASELINE), None)
        if deployed is not None and best.row["cost_usd"] >= (1 - margin) * deployed.row[
                "cost_usd"]:
            best = deployed
        reason = (f"cheapest of {len(ok)} settings with P99 ≤ {slo_seconds:g} s "
                  f"({row_verdict(best.row, slo_seconds)})")
        return Recommendation(best.setting, best.row, True, reason)
    best = min(results, key=lambda r: (r.row["p99_s"], r.row["cost_usd"]))
    reason = (f"no setting meets P99 ≤ {slo_seconds:g} s; lowest P99 is "
              f"{_fmt('p99_s', best.row['p99_s'])} s")
    return Recommendation(best.setting, best.row, False, reason)


def annotation_snippet(setting: Setting, rev: RevisionSpec) -> str:
    """The recommended settings as a Knative Service template fragment (YAML)."""
    lines = ["spec:", "  template:", "    metadata:", "      annotations:"]
    ann = setting.annotations(rev)
    if not ann:
        lines.append("        {}  # keep the deployed annotations")
    for key, value in ann.items():
        lines.append(f'        {key}: "{value}"')
    if setting.container_concurrency is not None:
        lines += ["    spec:", f"      containerConcurrency: {int(setting.container_concurrency)}"]
    if setting.spec is not None and not setting.spec.startswith("ecs."):
        lines.append(f"# GPU: schedule on {setting.spec} nodes (node selector of your cluster)")
    return "\n".join(lines) + "\n"


def _fmt(key: str, value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key in ("cold_share", "savings_vs_always_on"):
        return f"{value:.1%}"
    if key == "cost_vs_baseline":
        return f"{value:.2f}x"
    if key == "timeouts_504":
        return f"{int(value)}"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def format_cell(key: str, value: Any) -> str:
    """A value as the table prints it in the column ``key``."""
    return _fmt(key, value)


def row_verdict(row: Any, slo_seconds: float) -> str:
    """One row of the table in words, with the table's own numbers and formatting, so the
    summary above the table can never say something the table does not."""
    meets = "meets" if bool(row["meets_slo"]) else "misses"
    return (f"P99 {_fmt('p99_s', row['p99_s'])} s, {meets} P99 ≤ {slo_seconds:g} s; "
            f"cold {_fmt('cold_share', row['cold_share'])}; "
            f"${_fmt('cost_usd', row['cost_usd'])}")


def recommendation_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as strings with readable headings (for printing and the HTML report)."""
    cols = [c for c in TABLE_COLUMNS if c in frame.columns]
    out = pd.DataFrame({TABLE_COLUMNS[c]: [_fmt(c, v) for v in frame[c]] for c in cols})
    return out.reset_index(drop=True)


def format_table(frame: pd.DataFrame, recommended: str | None = None) -> str:
    """A plain-text table, the recommended row marked with ``*``."""
    table = recommendation_table(frame)
    mark = ["*" if s == recommended else " " for s in frame["setting"]]
    table.insert(0, "", mark)
    return table.to_string(index=False)


# -- figures ---------------------------------------------------------------------------------------
def figures(history: Any, need: pd.DataFrame | None, frame: pd.DataFrame,
            results: Sequence[ReplayResult], slo_seconds: float) -> dict[str, Any]:
    """The report's plotly figures: traffic, daily shape, service time, pods, latency, cost."""
    import plotly.graph_objects as go

    figs: dict[str, Any] = {}
    rates = history.rates
    fig = go.Figure()
    for rev in rates.columns:
        fig.add_scatter(x=rates.index, y=rates[rev] * 60, mode="lines", name=rev)
    fig.update_layout(title="Requests per minute by revision", yaxis_title="requests/min")
    figs["traffic"] = fig

    total = rates.sum(axis=1)
    hours = total.index.hour + total.index.minute / 60
    shape = total.groupby(np.floor(hours)).mean() * 60
    fig = go.Figure(go.Bar(x=shape.index, y=shape.to_numpy(), name="mean"))
    fig.update_layout(title="Daily shape: mean requests per minute by hour (UTC)",
                      xaxis_title="hour of day (UTC)", yaxis_title="requests/min")
    figs["daily_shape"] = fig

    fig = go.Figure()
    for rev, st in history.service_times.items():
        gpu = history.gpu_models.get(rev, "?")
        fig.add_box(y=st.profile(40), name=f"{rev} ({gpu}, {st.source})", boxmean=True)
    fig.update_layout(title="Service time per revision and GPU model (2xx app latency)",
                      yaxis_title="seconds")
    figs["service_time"] = fig

    fig = go.Figure()
    fig.add_scatter(x=rates.index, y=history.pods_wide("actual").sum(axis=1),
                    name="ready (recorded)", mode="lines", line={"shape": "hv"})
    if need is not None:
        fig.add_scatter(x=need.index, y=need["need"],
                        name=f"queueing model: P99 ≤ {slo_seconds:g} s", mode="lines",
                        line={"shape": "hv", "dash": "dash"})
        fig.add_scatter(x=need.index, y=need["kpa_steady"], name="KPA steady state",
                        mode="lines", line={"shape": "hv", "dash": "dot"})
    for r in results:
        if r.setting.name == BASELINE:
            fig.add_scatter(x=rates.index[: len(r.ready)], y=r.ready, name="ready (replay)",
                            mode="lines", line={"shape": "hv"}, opacity=0.6)
    fig.update_layout(title="Pods: recorded, replayed and what the queueing model needs",
                      yaxis_title="pods")
    figs["pods"] = fig

    figs["latency"] = latency_figure(results, slo_seconds)

    fig = go.Figure()
    fig.add_bar(x=frame["setting"], y=frame["cost_usd"], name="cost")
    fig.add_bar(x=frame["setting"], y=frame["always_on_usd"],
                name="always on (recorded peak pods)")
    fig.update_layout(title="Cost over the range: billed pod time vs always-on", barmode="group",
                      yaxis_title="USD")
    figs["cost"] = fig
    return figs


def latency_axis_range(results: Sequence[ReplayResult], slo_seconds: float) -> list[float]:
    """The log10 x-range of the response-time figure: every positive latency and the SLO.

    Set explicitly: on a log axis plotly reads shape and annotation coordinates as log10, so an
    SLO line drawn with ``add_vline(x=90)`` sat at 10^90 s and autorange squeezed every curve
    into the left edge."""
    values = [float(slo_seconds)]
    for r in results:
        xs = np.asarray(r.latencies, dtype=float)
        xs = xs[np.isfinite(xs) & (xs > 0)]
        if len(xs):
            values += [float(xs.min()), float(xs.max())]
    lo, hi = math.log10(min(values)), math.log10(max(values))
    pad = max(0.05, 0.03 * (hi - lo))
    return [lo - pad, hi + pad]


def latency_figure(results: Sequence[ReplayResult], slo_seconds: float) -> Any:
    """Response-time distribution (CDF) per replayed setting, log seconds, the SLO marked."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in results:
        xs = np.sort(np.asarray(r.latencies, dtype=float))
        xs = xs[np.isfinite(xs) & (xs > 0)]
        if len(xs):
            ys = np.arange(1, len(xs) + 1) / len(xs)
            keep = np.unique(np.linspace(0, len(xs) - 1, min(len(xs), 400)).astype(int))
            fig.add_scatter(x=xs[keep], y=ys[keep], name=r.setting.name, mode="lines")
    # The SLO as a trace in data coordinates (a shape's x on a log axis is log10).
    fig.add_scatter(x=[slo_seconds, slo_seconds], y=[0, 1], mode="lines",
                    name=f"SLO: P99 ≤ {slo_seconds:g} s",
                    line={"dash": "dash", "color": "black"})
    fig.update_layout(title="Response time per setting (replay, as clients see it)",
                      xaxis_title="seconds", yaxis_title="share of requests")
    fig.update_xaxes(type="log", range=latency_axis_range(results, slo_seconds))
    fig.update_yaxes(range=[0, 1.02])
    return fig


def write_html(path: str | Path, *, title: str, summary: Sequence[str], frame: pd.DataFrame,
               recommendation: Recommendation, snippet: str,
               figs: dict[str, Any]) -> Path:
    """One self-contained HTML file: summary, table, recommendation, figures (plotly inline)."""
    path = Path(path)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
             "collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "pre{background:#f6f6f6;padding:1em}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in summary]
    parts.append("<h2>What-if table</h2>")
    table = recommendation_table(frame)
    parts.append(table.to_html(index=False, escape=True))
    parts.append(f"<h2>Recommendation: {html.escape(recommendation.setting.name)}</h2>")
    parts.append(f"<p>{html.escape(recommendation.reason)}</p>")
    parts.append(f"<pre>{html.escape(snippet)}</pre>")
    first = True
    for fig in figs.values():
        parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
        first = False
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
