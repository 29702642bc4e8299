"""A service's own history from Prometheus, as pandas frames, for sizing and what-if replays.

Read through the catalog (docs/architecture.md, contract 1) for one namespace/service: request
rates per revision and response class at a fixed step, the app-latency histogram of successful
requests over the whole range (the service time: with ``containerConcurrency: 1`` the model
container does one generation at a time, so its latency is inference time, not queueing), pod
counts by state, GPU busy time from the GPU exporter and each revision's GPU model.

Request counts per step are the increments of the raw counters per pod and response class,
where a series that appears inside the range counts from zero. ``rate()`` cannot do that (it
never sees what a series held at its first sample), and a service that scales to zero starts a
new pod, hence new series, for many of its requests: on the twin's scale-to-zero history rates
from ``rate()`` counted about 70 % of the requests, the increments all of them. The value at
time t covers (t − step, t], by completion time.

For a replay, arrivals are rebuilt from the rate series: Poisson within each step at the
recorded rate (the twin's :class:`~sdobs.sim.traffic.Replay`, seeded by the replay), so counts
per step match the recording in expectation; what happens inside a step is not recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sdobs.catalog import QUANTILES, Catalog, Selection
from sdobs.catalog.counts import increments
from sdobs.errors import InputError, NotFound
from sdobs.prom.client import InstantQuery, PrometheusClient, RangeQuery, TimeLike, to_unix

MAX_POINTS = 10_000
#: Knative's and kube-prometheus-stack's usual scrape interval (and the twin's default).
DEFAULT_SCRAPE_INTERVAL = 30.0
POD_STATES = ("actual", "desired", "not_ready", "pending", "terminating")
CODE_CLASSES = ("2xx", "3xx", "4xx", "5xx")


class HistoryError(NotFound):
    """The history cannot be read as asked (no such service, no data in the range)."""


def _window(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


@dataclass(frozen=True)
class ServiceTimes:
    """The service-time distribution of one revision: app latency of its 2xx requests
    (Knative), or the time its requests held the GPU (the SD request exporter)."""

    revision: str
    requests: float  # successful requests the histogram counted over the range
    mean_s: float  # from the histogram's sum and count (exact up to OpenCensus' ms floor)
    bounds_s: tuple[float, ...]  # upper bucket bounds in seconds, +Inf last
    cumulative: tuple[float, ...]  # requests at or under each bound
    #: whose histogram: "sd-exporter" (SD-sized buckets, in the model container) where the
    #: SD request exporter runs, else "knative" (queue-proxy's app histogram)
    source: str = "knative"

    def quantile(self, p: float) -> float:
        """Prometheus' histogram_quantile: linear within the bucket, the top finite bound above."""
        total = self.cumulative[-1] if self.cumulative else 0.0
        if total <= 0:
            return math.nan
        rank = p * total
        prev_bound, prev_count = 0.0, 0.0
        for bound, count in zip(self.bounds_s, self.cumulative, strict=True):
            if count >= rank:
                if math.isinf(bound):
                    return prev_bound
                if count == prev_count:
                    return bound
                return prev_bound + (bound - prev_bound) * (rank - prev_count) / (
                    count - prev_count)
            prev_bound, prev_count = bound, count
        return prev_bound

    def profile(self, points: int = 20) -> np.ndarray:
        """``points`` equally likely service times: histogram quantiles at (i + ½)/points,
        scaled so their mean is the recorded mean (the buckets only bound each value)."""
        values = np.array([self.quantile((i + 0.5) / points) for i in range(points)])
        if not np.all(np.isfinite(values)) or values.mean() <= 0:
            return np.full(points, self.mean_s)
        if math.isfinite(self.mean_s) and self.mean_s > 0:
            values *= self.mean_s / values.mean()
        return values

    @property
    def scv(self) -> float:
        """Squared coefficient of variation of the profile (0 for deterministic service)."""
        v = self.profile()
        return float(v.var() / v.mean() ** 2) if v.mean() > 0 else 0.0


@dataclass
class ServiceHistory:
    """One Knative Service's history over [start, end] (epoch seconds), per revision."""

    namespace: str
    service: str
    dialect: str
    start: float
    end: float
    step: float
    scrape_interval: float
    rates: pd.DataFrame  # index: time (UTC, end of each step); columns: revisions; requests/s
    rates_by_class: pd.DataFrame  # long: time, revision, code_class, value (requests/s)
    pods: pd.DataFrame  # long: time, revision, state, value (pods)
    gpu: pd.DataFrame  # index: time; busy (sum of utilisation), exporters (GPUs reporting)
    latency: pd.DataFrame  # index: time; p50, p90, p95, p99 at queue-proxy, seconds
    latency_overall: dict[str, float]  # the same quantiles over the whole range
    totals: pd.DataFrame  # revision, code_class, requests over the range
    service_times: dict[str, ServiceTimes] = field(default_factory=dict)
    gpu_models: dict[str, str] = field(default_factory=dict)  # revision -> GPU name
    client_latency: pd.DataFrame | None = None  # load-test clients' p50/p99 when asked for

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def revisions(self) -> list[str]:
        return list(self.rates.columns)

    def pods_wide(self, state: str = "actual") -> pd.DataFrame:
        """Pods of one state: index time, one column per revision (0 where none)."""
        if state not in POD_STATES:
            raise InputError(f"unknown pod state {state!r}; use one of: {', '.join(POD_STATES)}")
        sub = self.pods[self.pods["state"] == state]
        wide = sub.pivot_table(index="time", columns="revision", values="value", aggfunc="sum")
        return wide.reindex(index=self.rates.index, columns=self.revisions).fillna(0.0)

    def allocated_pods(self) -> pd.Series:
        """Pods that exist (ready or not: starting, draining), all revisions: what is billed."""
        return (self.pods_wide("actual") + self.pods_wide("not_ready")).sum(axis=1)

    def requests(self, code_class: str | None = None, revision: str | None = None) -> float:
        """Requests over the range, optionally of one class and revision."""
        t = self.totals
        if code_class is not None:
            t = t[t["code_class"] == code_class]
        if revision is not None:
            t = t[t["revision"] == revision]
        return float(t["requests"].sum())

    def class_share(self, code_class: str, revision: str | None = None) -> float:
        total = self.requests(revision=revision)
        return self.requests(code_class, revision) / total if total > 0 else 0.0

    def replay_rates(self, revision: str) -> tuple[np.ndarray, np.ndarray]:
        """(step start in seconds from ``start``, requests/s) of one revision, for a Replay."""
        t = (self.rates.index.as_unit("ns").asi8 / 1e9) - self.step - self.start
        return np.maximum(t, 0.0), self.rates[revision].to_numpy(dtype=float)

    def gpu_busy_hours(self) -> float:
        """GPU-hours in which a kernel ran (the exporters' utilisation integrated)."""
        return float(self.gpu["busy"].sum() * self.step / 3600.0)


def _wide(frame: pd.DataFrame, index: pd.DatetimeIndex, column: str | None) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(index=index)
    if column is None:
        return frame.groupby("time")["value"].sum().to_frame("value").reindex(index)
    wide = frame.pivot_table(index="time", columns=column, values="value", aggfunc="sum")
    return wide.reindex(index)


def _grid(start: float, end: float, step: float) -> pd.DatetimeIndex:
    n = math.floor((end - start) / step + 1e-9)
    ms = np.round((start + step * np.arange(1, n + 1)) * 1000).astype("int64")
    return pd.to_datetime(ms, unit="ms", utc=True)


def _service_times(hist: pd.DataFrame, means: pd.DataFrame, span: float,
                   scale: float, source: str = "knative") -> dict[str, ServiceTimes]:
    out: dict[str, ServiceTimes] = {}
    if hist.empty:
        return out
    mean_of = dict(zip(means.get("revision", []), means.get("value", []), strict=True))
    for rev, group in hist.groupby("revision"):
        le = group["le"].astype(str)
        bounds = np.array([math.inf if v == "+Inf" else float(v) * scale for v in le])
        counts = group["value"].to_numpy(dtype=float) * span
        order = np.argsort(bounds)
        bounds, counts = bounds[order], np.maximum.accumulate(counts[order])
        total = float(counts[-1]) if len(counts) else 0.0
        if total <= 0.5:
            continue
        mean = float(mean_of.get(rev, math.nan))
        out[str(rev)] = ServiceTimes(str(rev), total, mean, tuple(bounds.tolist()),
                                     tuple(counts.tolist()), source)
    return out


def _step_for(t0: int, t1: int, step: float | None, scrape_interval: float) -> float:
    """The step of a read over [t0, t1], checked against the range and the point limit."""
    if step is None:
        step = scrape_interval * max(1, math.ceil((t1 - t0) / scrape_interval / MAX_POINTS))
    if t1 - t0 < 2 * step:
        raise HistoryError(f"the range {t1 - t0:g} s is shorter than two steps of {step:g} s; "
                           "widen it or pass a smaller step")
    points = (t1 - t0) / step
    if points > 11_000:
        raise HistoryError(f"{points:.0f} steps of {step:g} s exceed Prometheus' point limit; "
                           "pass a larger step")
    return step


def _trimmed(t0: int, t1: int, step: float, probe: pd.DataFrame) -> tuple[float, float, float]:
    """(start, end, first seen) of the range trimmed to where the autoscaler saw the service.

    Every probe sample lies on the grid ``t0 + k * step``, so trimmed ranges of different
    services stay on one grid (what lets :func:`load_histories` read them in one query)."""
    seen = (probe["time"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    first, last = float(seen.min()), float(seen.max())
    a = max(t0, first - step)
    b = min(t1, last)
    b = a + step * math.floor((b - a) / step + 1e-9)
    return a, b, first


def _queries(cat: Catalog, namespace: str | None, service: str | None, t0: float, t1: float,
             step: float, by: tuple[str, ...] = (), client_target: str | None = None,
             native: bool = True) -> list[RangeQuery | InstantQuery]:
    """The history's queries, in the order :func:`_assemble` reads them; ``by`` is prepended to
    every grouping (``("namespace", "service")`` reads a whole fleet in one query per signal).

    ``native=False`` (the plain catalog forms but the latency quantiles': canonical labels
    copied onto every raw series) is kept for ``benchmarks/capacity_fleet.py``, which measures
    what grouping natively saves.
    """
    base = Selection(namespace=namespace, service=service)
    whole = Selection(namespace=namespace, service=service, window=_window(t1 - t0))
    smooth = Selection(namespace=namespace, service=service,
                       window=_window(max(5 * 60, 2 * step)))
    lo, hi = t0 + step, t1

    def ranged(expr: str) -> RangeQuery:
        return RangeQuery(expr, lo, hi, step)

    per_rev = (*by, "revision")
    # Grouped on the dialect's own label names: label_replace runs on the few result series,
    # not on every raw series at every step, and each group is summed in selector order, so a
    # group of a fleet's read is bit for bit the query of that service alone (Prometheus sums
    # a label_replace'd vector in map order).

    def latency(sel: Selection, q: float) -> str:
        return (cat.latency_per_group(sel, q, by).expr if by else
                cat.latency(sel, q).expr)
    queries: list[RangeQuery | InstantQuery] = [
        RangeQuery(cat.request_counter(base, by=(*by, "revision", "pod", "code_class"),
                                       native=native).expr,
                   t0, t1, step),
        *(ranged(cat.pods(base, s, by=per_rev, native=native).expr) for s in POD_STATES),
        ranged(cat.gpus_busy(base, by=by).expr),
        ranged(cat.gpus_allocated(base, by=by).expr),
        *(ranged(latency(smooth, q)) for q in QUANTILES),
        InstantQuery(cat.latency_histogram(whole, by=per_rev, app=True, code_class="2xx",
                                           native=native).expr, t1),
        InstantQuery(cat.latency_mean(whole, by=per_rev, app=True, code_class="2xx",
                                      native=native).expr, t1),
        InstantQuery(cat.gpu_models_any_source(whole, by=per_rev).expr, t1),
        *(InstantQuery(latency(whole, q), t1) for q in QUANTILES),
    ]
    if client_target is not None:
        queries += [ranged(cat.client_latency(q, client_target, _window(max(300, 2 * step))).expr)
                    for q in (0.5, 0.99)]
    # Where the SD request exporter runs: the time requests held the GPU, in its fine buckets.
    queries += [InstantQuery(cat.sd_generation_histogram(whole, by=per_rev).expr, t1),
                InstantQuery(cat.sd_phase_mean(whole, "generation", by=per_rev).expr, t1)]
    return queries


def load_history(
    client: PrometheusClient,
    namespace: str,
    service: str,
    start: TimeLike,
    end: TimeLike,
    *,
    step: float | None = None,
    scrape_interval: float = DEFAULT_SCRAPE_INTERVAL,
    dialect: str | None = None,
    client_target: str | None = None,
) -> ServiceHistory:
    """Read one service's history over [start, end]; the dialect is detected when not given.

    The range is trimmed to where the autoscaler reported the service (so "the last 24 h" of a
    history that ended an hour ago does not count the missing hour as idle). The step defaults
    to the scrape interval, or the least multiple of it that keeps 10,000 points or fewer.
    """
    from sdobs.knative.detect import detect_dialect

    t0, t1 = math.floor(to_unix(start)), math.floor(to_unix(end))
    step = _step_for(t0, t1, step, scrape_interval)
    name = dialect or detect_dialect(client, t0, t1).name
    cat = Catalog(name)
    base = Selection(namespace=namespace, service=service)
    # Where the autoscaler saw the service: its desired-pods gauge exists even at zero scale.
    probe = client.query_range(cat.pods(base, "desired").expr, t0, t1, step)
    if probe.empty:
        raise HistoryError(f"Prometheus at {client.url} holds no autoscaler series for "
                           f"{namespace}/{service} between the range's ends; check the names "
                           "and the range")
    a, b, first = _trimmed(t0, t1, step, probe)
    if b - a < 2 * step:
        raise HistoryError(f"{namespace}/{service} has less than two steps of history in "
                           "the range")
    frames = client.query_many(_queries(cat, namespace, service, a, b, step,
                                        client_target=client_target))
    return _assemble(frames, namespace, service, name, a, b, step, first, scrape_interval,
                     cat, client_target is not None)


#: Labels that tell services apart in a fleet read.
SERVICE_KEYS = ("namespace", "service")


@dataclass
class FleetHistory:
    """Histories of many services read together (:func:`load_histories`)."""

    histories: dict[tuple[str, str], ServiceHistory]  # (namespace, service) -> history
    skipped: dict[tuple[str, str], str]  # services seen but not read, and why
    queries: int  # PromQL requests the read made (not growing with the number of services)


def _of_service(frame: pd.DataFrame, namespace: str, service: str) -> pd.DataFrame:
    """The rows of one service in a fleet answer, without its namespace/service columns."""
    if frame.empty or not set(SERVICE_KEYS) <= set(frame.columns):
        return frame.iloc[0:0].drop(columns=[k for k in SERVICE_KEYS if k in frame.columns])
    keep = (frame["namespace"] == namespace) & (frame["service"] == service)
    return frame[keep].drop(columns=list(SERVICE_KEYS)).reset_index(drop=True)


def load_histories(
    client: PrometheusClient,
    start: TimeLike,
    end: TimeLike,
    *,
    namespace: str | None = None,
    services: Sequence[tuple[str, str]] | None = None,
    step: float | None = None,
    scrape_interval: float = DEFAULT_SCRAPE_INTERVAL,
    dialect: str | None = None,
) -> FleetHistory:
    """Read the history of every service of a namespace (``None``: the whole fleet) at once.

    Each signal is one query grouped by namespace and service, split into per-service answers
    afterwards, so a fleet of 500 services costs Prometheus as many requests as one service.
    The answer per service is exactly :func:`load_history`'s. Services whose trimmed ranges
    differ (one that started inside the range) are read in one batch per distinct range.
    ``services`` limits the read to those (namespace, service) pairs.
    """
    from sdobs.knative.detect import detect_dialect

    t0, t1 = math.floor(to_unix(start)), math.floor(to_unix(end))
    step = _step_for(t0, t1, step, scrape_interval)
    name = dialect or detect_dialect(client, t0, t1).name
    cat = Catalog(name)
    requests = 0 if dialect else 1
    services_seen = cat.pods(Selection(namespace=namespace), "desired", by=SERVICE_KEYS,
                             native=True)
    probe = client.query_range(services_seen.expr, t0, t1, step)
    requests += 1
    where = f"namespace {namespace}" if namespace else "any namespace"
    if probe.empty:
        raise HistoryError(f"Prometheus at {client.url} holds no autoscaler series of {where} "
                           "between the range's ends; check the namespace and the range")
    wanted = set(services) if services is not None else None
    batches: dict[tuple[float, float], list[tuple[str, str, float]]] = {}
    skipped: dict[tuple[str, str], str] = {}
    for (ns, svc), group in probe.groupby(list(SERVICE_KEYS), sort=True):
        key = (str(ns), str(svc))
        if wanted is not None and key not in wanted:
            continue
        a, b, first = _trimmed(t0, t1, step, group)
        if b - a < 2 * step:
            skipped[key] = "less than two steps of history in the range"
            continue
        batches.setdefault((a, b), []).append((*key, first))
    if wanted is not None:
        seen = set(probe.groupby(list(SERVICE_KEYS)).groups)
        for key in sorted(wanted - {(str(n), str(s)) for n, s in seen}):
            skipped[key] = "no autoscaler series in the range"
    histories: dict[tuple[str, str], ServiceHistory] = {}
    for (a, b), members in sorted(batches.items()):
        frames = client.query_many(_queries(cat, namespace, None, a, b, step, by=SERVICE_KEYS))
        requests += len(frames)
        for ns, svc, first in members:
            own = [_of_service(f, ns, svc) for f in frames]
            histories[(ns, svc)] = _assemble(own, ns, svc, name, a, b, step, first,
                                             scrape_interval, cat, False)
    return FleetHistory(dict(sorted(histories.items())), skipped, requests)


def _assemble(frames: list[pd.DataFrame], namespace: str, service: str, name: str, t0: float,
              t1: float, step: float, first: float, scrape_interval: float, cat: Catalog,
              with_client: bool) -> ServiceHistory:
    """One ServiceHistory from the answers of :func:`_queries` (for this service alone)."""
    span = t1 - t0
    index = _grid(t0, t1, step)
    it = iter(frames)
    counters = next(it)
    pods = [next(it) for _ in POD_STATES]
    busy, exporters = next(it), next(it)
    lat = [next(it) for _ in QUANTILES]
    hist, means, models = next(it), next(it), next(it)
    overall = [next(it) for _ in QUANTILES]
    client_lat = [next(it) for _ in range(2)] if with_client else None
    sd_hist, sd_means = next(it), next(it)

    by_class = increments(counters, index, max(t0, first))
    rates = _wide(by_class, index, "revision").fillna(0.0) / step
    pod_rows = []
    for state, frame in zip(POD_STATES, pods, strict=True):
        if frame.empty:
            continue
        f = frame[["time", "revision", "value"]].copy()
        f["state"] = state
        pod_rows.append(f)
    pod_frame = (pd.concat(pod_rows, ignore_index=True) if pod_rows else
                 pd.DataFrame(columns=["time", "revision", "value", "state"]))
    for rev in pod_frame["revision"].unique().tolist():
        if rev not in rates.columns:
            rates[rev] = 0.0
    rates = rates.reindex(columns=sorted(rates.columns)).rename_axis(columns=None)
    gpu = pd.DataFrame({"busy": _wide(busy, index, None).get("value", np.nan),
                        "exporters": _wide(exporters, index, None).get("value", np.nan)},
                       index=index).fillna(0.0)
    latency = pd.DataFrame(
        {f"p{q * 100:g}": _wide(f, index, None).get("value", np.nan)
         for q, f in zip(QUANTILES, lat, strict=True)}, index=index)
    tot = (by_class.groupby(["revision", "code_class"], as_index=False)["value"].sum()
           .rename(columns={"value": "requests"}))
    gpu_models: dict[str, str] = {}
    if not models.empty:
        for rev, group in models.groupby("revision"):
            gpu_models[str(rev)] = str(group.sort_values("value")["name"].iloc[-1])
    client_frame = None
    if client_lat is not None:
        client_frame = pd.DataFrame({name: _wide(f, index, None).get("value", np.nan)
                                     for name, f in zip(("p50", "p99"), client_lat, strict=True)},
                                    index=index)
    return ServiceHistory(
        namespace=namespace, service=service, dialect=name, start=t0, end=t1, step=step,
        scrape_interval=scrape_interval, rates=rates,
        rates_by_class=by_class.assign(value=by_class["value"] / step),
        pods=pod_frame[["time", "revision", "state", "value"]],
        gpu=gpu, latency=latency,
        latency_overall={f"p{q * 100:g}": float(f["value"].iloc[0]) if not f.empty else math.nan
                         for q, f in zip(QUANTILES, overall, strict=True)},
        totals=tot.reset_index(drop=True),
        service_times={
            **_service_times(hist, means, span, cat.latency_bucket_scale(app=True)),
            **_service_times(sd_hist, sd_means, span, 1.0, source="sd-exporter")},
        gpu_models=gpu_models, client_latency=client_frame,
    )
