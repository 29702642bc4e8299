"""How a VictoriaMetrics answer relates to Prometheus' answer on the same data, per signal.

MetricsQL is PromQL with a few documented differences (docs/victoriametrics.md). On the known
history they show in exactly three places, each named here with its bound; everywhere else the
two stores agree to float rounding (``SAME_REL``).

* ``rate``/``increase`` over a window that reaches back before a series' first sample: Prometheus
  extrapolates the increase by at most half a scrape interval and divides by the whole window;
  VictoriaMetrics does not extrapolate and divides by the time its samples cover. So for a sum
  of rates at time t over window w, where the latest series starts at ``first``:
  ``P <= V <= P * w / (t - first)`` (no upper bound while t - first is under a scrape
  interval). A ratio or a quantile of such rates has no such bound (its parts scale
  differently per series) and is compared only off the edge.
* ``changes`` over such a window: VictoriaMetrics counts the first sample as a change, so
  ``0 <= V - P <= the number of series summed``.
* a subquery (``[range:step]``) evaluated on its inner-step grid: Prometheus 2.x includes the inner
  point at exactly ``t - range``, VictoriaMetrics does not. Off the grid both agree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

#: VictoriaMetrics keeps a float as a decimal mantissa and exponent: 1e-12 relative is plenty.
SAME_REL = 1e-9

SAME = "same"  # gauges, *_over_time, counts: equal at every point
RATE = "rate"  # a sum of rates or increases: equal off the edge, P <= V <= P w / (t - first) on it
RATIO = "ratio"  # a ratio or quantile of rates: equal off the edge, both present on it
CHANGES = "changes"  # changes(): equal off the edge, 0 <= V - P <= series on it
SUBQUERY = "subquery"  # equal off the inner-step grid (compared there)


@dataclass(frozen=True)
class Relation:
    kind: str
    reason: str


_RATE = Relation(RATE, "rate()/increase() without extrapolation (MetricsQL)")
_RATIO = Relation(RATIO, "a ratio of rates: both parts differ on the edge, not as one bound")
_QUANTILE = Relation(RATIO, "histogram_quantile of rates: buckets differ on the edge")
_SAME = Relation(SAME, "gauge or count: same samples, same answer")
_CHANGES = Relation(CHANGES, "changes() counts the first sample of a window with no sample "
                             "before it")
_SUBQUERY = Relation(SUBQUERY, "subquery inner points: Prometheus 2.x includes t - range")

#: Every catalog method the panels call, with how VictoriaMetrics' answer relates to Prometheus'.
RELATIONS: dict[str, Relation] = {
    "request_rate": _RATE, "rate_4xx": _RATE, "rate_5xx": _RATE, "sd_its": _RATE,
    "container_cpu": _RATE, "gpu_ecc_errors": _RATE, "container_restarts": _RATE,
    "container_oom_kills": _RATE,
    "success_ratio": _RATIO, "sd_phase_mean": _RATIO,
    "latency": _QUANTILE, "sd_latency": _QUANTILE, "latency_by_source": _QUANTILE,
    "scale_events": _CHANGES, "gpu_xid_events": _CHANGES,
    "gpu_seconds": _SUBQUERY,
    **{m: _SAME for m in (
        "pods", "queue_depth", "concurrency", "panic_mode", "excess_burst_capacity",
        "activator_concurrency", "gpu_utilization", "gpu_memory_used", "gpu_memory_total",
        "gpu_power", "gpu_temperature", "gpu_memory_free", "gpu_sm_clock", "gpu_exporter_up",
        "gpu_sources", "gpus_allocated", "gpus_busy", "sd_cold_start", "sd_model_load",
        "gpu_memory_repairs", "gpu_throttled", "container_memory", "container_memory_limit",
        "container_memory_limit_ratio", "services_at_zero", "slo_budget_remaining",
        "slo_burn_rate", "alerts_firing")},
    # Recorded series read as stored (empty in this harness, which runs no rules); the rates
    # over windows past 5 minutes are subqueries of the recorded 5-minute rates.
    **{m: _SUBQUERY for m in ("recorded_request_rate", "recorded_success_ratio",
                              "recorded_latency", "recorded_rate_5xx")},
    **{m: _SAME for m in ("recorded_pods", "recorded_gpu_utilization", "recorded_gpus_allocated",
                          "recorded_services_at_zero")},
}


def relation_of_expr(expr: str) -> Relation:
    """The relation of a dashboard target, from the functions its expression calls."""
    if re.search(r"\[[^\]]*:[^\]]*\]", expr):
        return _SUBQUERY
    if re.search(r"\bchanges\(", expr):
        return _CHANGES
    if re.search(r"\b(rate|increase|irate)\(", expr):
        if "histogram_quantile(" in expr or re.search(r"\)\s*/\s*", expr):
            return _RATIO
        return _RATE
    return _SAME


def points(frame: pd.DataFrame) -> dict[tuple, float]:
    """``{(labels, epoch seconds): value}`` of a query frame."""
    if frame is None or frame.empty:
        return {}
    labels = [c for c in frame.columns if c not in ("time", "value")]
    out = {}
    epoch = [round(t.timestamp()) for t in frame["time"]]
    for i, row in enumerate(frame[labels].itertuples(index=False)):
        key = tuple((k, v) for k, v in zip(labels, row, strict=True) if isinstance(v, str))
        out[(key, int(epoch[i]))] = float(frame["value"].iloc[i])
    return out


def _same(p: float, v: float) -> bool:
    if math.isnan(p) or math.isnan(v):
        return math.isnan(p) and math.isnan(v)
    return abs(p - v) <= SAME_REL * max(abs(p), abs(v), 1e-12)


def compare(name: str, relation: Relation, prom: pd.DataFrame, vm: pd.DataFrame, *,
            window: float, first: float, t0: float, series: int = 1,
            ) -> tuple[list[str], int, int]:
    """Problems (one line each) of VictoriaMetrics' answer against Prometheus', how many
    points sat on the edge (a window reaching before ``first``, the latest counter start) and
    how many were held to equality."""
    P, V = points(prom), points(vm)
    problems: list[str] = []
    edge = exact = 0
    for key in sorted(P.keys() | V.keys(), key=repr):
        p, v = P.get(key, math.nan), V.get(key, math.nan)
        t = key[1]
        on_edge = relation.kind in (RATE, RATIO, CHANGES) and t - window < first
        edge += on_edge
        if not on_edge:
            exact += 1
            ok = _same(p, v)
        elif relation.kind == RATE:
            upper = p * window / (t - first) if t - first >= 15 else math.inf
            ok = not math.isnan(p) and p * (1 - SAME_REL) <= v <= upper * (1 + SAME_REL) + 1e-12
        elif relation.kind == CHANGES:
            ok = 0 <= v - p <= series
        else:  # RATIO: both stores have a number or neither does
            ok = math.isnan(p) == math.isnan(v)
        if not ok:
            problems.append(f"{name} {dict(key[0])} t0+{t - t0:.0f}: prometheus {p!r}, "
                            f"victoriametrics {v!r} ({relation.kind}: {relation.reason})")
    return problems, edge, exact
