"""What each page shows, as plain data: a view state and a time range in, tidy frames out.

Every query comes from the catalog and a page's queries go to Prometheus together through
:meth:`PrometheusClient.query_many`, one failure never blanking the rest. Nothing here knows
Dash, so notebooks and tests call the same functions the app's callbacks call.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from sdobs.catalog import QUANTILES, Catalog, Query, Selection
from sdobs.catalog.counts import total
from sdobs.catalog.gpu_health import SLOWDOWN_REASONS
from sdobs.catalog.inventory import inventory_selectors, label_key
from sdobs.catalog.panels import PANELS
from sdobs.errors import NotFound
from sdobs.prom.client import InstantQuery, RangeQuery
from sdobs.prom.errors import PrometheusError

from .source import Source
from .state import ViewState

#: Steps a range query snaps to, seconds.
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
              43200, 86400)
POINTS = 200
SPARK_POINTS = 24
POD_TREND = ("desired", "requested", "actual", "pending", "terminating")
FLEET_BY = ("namespace", "service")


@dataclass(frozen=True)
class Window:
    """The time range of one page load and the steps and rate windows that go with it."""

    start: float
    end: float
    step: float
    rate_window: str  # for rate() in range queries: covers a step plus a scrape
    span_window: str  # the whole range, for the headline averages

    @property
    def span(self) -> float:
        return self.end - self.start

    @classmethod
    def of(cls, start: float, end: float, *, scrape_interval: float = 15.0,
           points: int = POINTS) -> Window:
        span = max(end - start, 1.0)
        raw = span / max(points, 1)
        step = next((s for s in NICE_STEPS if s >= raw), math.ceil(raw))
        step = max(float(step), scrape_interval)
        rate = max(step + scrape_interval, 4 * scrape_interval)
        return cls(start, end, step, f"{math.ceil(rate)}s", f"{math.ceil(span)}s")

    def with_points(self, points: int, scrape_interval: float = 15.0) -> Window:
        return Window.of(self.start, self.end, scrape_interval=scrape_interval, points=points)

    def grid(self, step: float | None = None) -> np.ndarray:
        """Timestamps (ms) Prometheus evaluates a range query at."""
        step = step or self.step
        n = math.floor((self.end - self.start) / step + 1e-9) + 1
        return np.round((self.start + np.arange(n) * step) * 1000).astype("int64")


@dataclass(frozen=True)
class Spec:
    """One query of a page: a key the figures use, the catalog query, instant or range."""

    key: str
    query: Query
    instant: bool = False
    step: float | None = None  # range queries: default the window's step
    lead: int = 0  # range queries: steps to start before the window (a baseline sample)


def shared(cat: Catalog, panel: str, sel: Selection, keys: Sequence[str], *,
           instant: bool = False) -> list[Spec]:
    """Specs for a panel of the shared list (``sdobs.catalog.panels``), one key per signal.

    The Grafana dashboards draw the same panels from the same list, so a panel shows the same
    number in both.
    """
    queries = PANELS[panel].queries(cat, sel)
    if len(queries) != len(keys):
        raise ValueError(f"panel {panel} has {len(queries)} queries, not {len(keys)}")
    return [Spec(k, q, instant=instant) for k, q in zip(keys, queries, strict=True)]


@dataclass
class Result:
    spec: Spec
    frame: pd.DataFrame | None = None
    error: PrometheusError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class PageData:
    """A page load: each query's frame or error, or one page-wide error (e.g. no dialect)."""

    window: Window
    results: dict[str, Result] = field(default_factory=dict)
    error: Exception | None = None
    dialect: str | None = None
    seconds: float = 0.0
    fetched_at: float = field(default_factory=time.time)

    def frame(self, key: str) -> pd.DataFrame | None:
        """The frame of a query, or None when it failed or the page did not run it."""
        r = self.results.get(key)
        return r.frame if r is not None and r.ok else None

    def failed(self, key: str) -> bool:
        if self.error is not None:
            return True
        r = self.results.get(key)
        return r is not None and not r.ok

    def errors(self) -> list[tuple[str, Exception]]:
        if self.error is not None:
            return [("page", self.error)]
        return [(k, r.error) for k, r in self.results.items() if r.error is not None]

    @property
    def queries(self) -> int:
        return len(self.results)

    @property
    def empty(self) -> bool:
        """True when every query that ran returned no series."""
        frames = [r.frame for r in self.results.values() if r.ok and r.frame is not None]
        return bool(frames) and all(f.empty for f in frames)


# -- running ---------------------------------------------------------------------------------
def run_specs(source: Source, specs: Sequence[Spec], window: Window) -> dict[str, Result]:
    """Send a page's queries concurrently; each slot gets its frame or its error."""
    queries = [
        InstantQuery(s.query.expr, window.end) if s.instant
        else RangeQuery(s.query.expr, window.start - s.lead * (s.step or window.step),
                        window.end, s.step or window.step)
        for s in specs
    ]
    answers = source.client.query_many(queries, return_exceptions=True)
    out: dict[str, Result] = {}
    for spec, answer in zip(specs, answers, strict=True):
        if isinstance(answer, PrometheusError):
            out[spec.key] = Result(spec, error=answer)
        else:
            out[spec.key] = Result(spec, frame=answer)
    return out


def load(source: Source, build: Callable[[Catalog], list[Spec]], window: Window) -> PageData:
    """Detect (if needed), build the page's specs from the catalog, run them; never raises."""
    started = time.perf_counter()
    try:
        cat = source.catalog()
    except (PrometheusError, NotFound) as exc:
        source.recheck()
        return PageData(window, error=exc, seconds=time.perf_counter() - started)
    page = PageData(window, dialect=cat.dialect.name)
    specs = build(cat)
    page.results = run_specs(source, specs, window) if specs else {}
    if page.errors() or page.empty:
        source.recheck()
    page.seconds = time.perf_counter() - started
    return page


def window_for(state: ViewState, now: float, scrape_interval: float = 15.0) -> Window:
    start, end = state.time_range(now)
    return Window.of(start, end, scrape_interval=scrape_interval)


def _selection(state: ViewState, window: str, *, revisions: bool = True) -> Selection:
    return Selection(namespace=state.namespace, service=state.service,
                     revisions=(state.revisions or None) if revisions else None,
                     window=window)


# -- service page ----------------------------------------------------------------------------
def service_specs(cat: Catalog, state: ViewState, window: Window) -> list[Spec]:
    """Reference-console panels, range headlines and the revision comparison."""
    sel = _selection(state, window.rate_window)
    span = replace(sel, window=window.span_window)
    whole = _selection(state, window.span_window, revisions=False)  # every revision
    whole_rate = replace(whole, window=window.rate_window)
    specs = [
        *shared(cat, "request_volume", sel, ["volume"]),
        *shared(cat, "success_rate", sel, ["success"]),
        *shared(cat, "rate_4xx", sel, ["rate_4xx"]),
        *shared(cat, "rate_5xx", sel, ["rate_5xx"]),
        *shared(cat, "volume_by_revision", sel, ["by_revision"]),
        *shared(cat, "volume_by_code_class", sel, ["by_code_class"]),
        # The console's one response-time panel: the four quantiles of the whole selection.
        *shared(cat, "latency_quantiles", sel, [f"latency_{q:g}" for q in QUANTILES]),
        *shared(cat, "pod_trend", sel, [f"pods_{s}" for s in POD_TREND]),
        # Headline numbers: averages over the whole range, evaluated at its end.
        Spec("h_volume", cat.request_rate(span), instant=True),
        Spec("h_success", cat.success_ratio(span), instant=True),
        Spec("h_4xx", cat.rate_4xx(span), instant=True),
        Spec("h_5xx", cat.rate_5xx(span), instant=True),
        *[Spec(f"h_latency_{q:g}", cat.latency(span, q), instant=True) for q in QUANTILES],
        Spec("h_pods", cat.pods(sel, "actual"), instant=True),
        # Requests in the range exactly: raw per-pod counters from one step before it.
        Spec("h_counters", cat.request_counter(sel), lead=1),
        # Revision comparison: every revision of the service, so traffic shares add up.
        Spec("c_volume", cat.request_rate(whole, by=("revision",)), instant=True),
        Spec("c_success", cat.success_ratio(whole, by=("revision",)), instant=True),
        Spec("c_4xx", cat.rate_4xx(whole, by=("revision",)), instant=True),
        Spec("c_5xx", cat.rate_5xx(whole, by=("revision",)), instant=True),
        *[Spec(f"c_latency_{q:g}", cat.latency(whole, q, by=("revision",)), instant=True)
          for q in (0.5, 0.95, 0.99)],
        Spec("c_latency_series", cat.latency(whole_rate, 0.95, by=("revision",))),
        Spec("c_volume_series", cat.request_rate(whole_rate, by=("revision",))),
    ]
    return specs


def load_service(source: Source, state: ViewState, now: float | None = None) -> PageData:
    from sdobs.app.sdlatency import with_sd

    window = window_for(state, time.time() if now is None else now, source.scrape_interval)
    return load(source, with_sd(lambda cat: service_specs(cat, state, window), source, state,
                                window), window)


def scalar(page: PageData, key: str) -> float | None:
    """The single value of an instant query (None when it failed or selected nothing)."""
    frame = page.frame(key)
    if frame is None or frame.empty:
        return None
    value = float(frame["value"].iloc[0])
    return None if math.isnan(value) else value


def headline(page: PageData) -> dict[str, float | None]:
    """The reference console's numbers over the selected range (averages; latency over it)."""
    out = {
        "volume": scalar(page, "h_volume"),
        "success": scalar(page, "h_success"),
        "rate_4xx": scalar(page, "h_4xx"),
        "rate_5xx": scalar(page, "h_5xx"),
        "pods": scalar(page, "h_pods"),
    }
    for q in QUANTILES:
        out[f"latency_{q:g}"] = scalar(page, f"h_latency_{q:g}")
    vol = out["volume"]
    out["requests"] = requests_in_range(page)
    # A range with traffic but no 4xx/5xx series has a zero rate of them, not an unknown one.
    if vol is not None:
        for key in ("rate_4xx", "rate_5xx"):
            if out[key] is None and not page.failed(f"h_{key[-3:]}"):
                out[key] = 0.0
    return out


def requests_in_range(page: PageData) -> float | None:
    """Requests answered in the page's range, counted from the per-pod counters (an integer).

    The counter query starts one step before the range; series seen there are the baseline,
    series born later (pods started in the range) count from zero, as :mod:`sdobs.catalog.counts`
    explains. None when the query failed.
    """
    frame = page.frame("h_counters")
    if frame is None:
        return None
    return float(total(frame, page.window.start - page.window.step))


def _by_label(page: PageData, key: str, label: str) -> dict[str, float]:
    frame = page.frame(key)
    if frame is None or frame.empty or label not in frame:
        return {}
    return {str(k): float(v) for k, v in zip(frame[label], frame["value"], strict=True)}


def revisions_seen(page: PageData) -> list[str]:
    """Revisions the comparison queries found, oldest first (Knative numbers them in order)."""
    names: set[str] = set()
    for key in ("c_volume", "c_latency_series", "c_volume_series"):
        frame = page.frame(key)
        if frame is not None and "revision" in frame:
            names.update(str(v) for v in frame["revision"].dropna().unique())
    return sorted(names)


def default_pair(revisions: Sequence[str]) -> tuple[str | None, str | None]:
    """The two newest revisions (a canary against the one it replaces)."""
    revs = sorted(revisions)
    if not revs:
        return None, None
    if len(revs) == 1:
        return revs[0], None
    return revs[-2], revs[-1]


def comparison(page: PageData, a: str | None, b: str | None) -> pd.DataFrame:
    """Side-by-side numbers of two revisions over the range: traffic share, errors, latency."""
    volume = _by_label(page, "c_volume", "revision")
    total = sum(v for v in volume.values() if not math.isnan(v))
    columns = {
        "volume": volume,
        "success": _by_label(page, "c_success", "revision"),
        "rate_4xx": _by_label(page, "c_4xx", "revision"),
        "rate_5xx": _by_label(page, "c_5xx", "revision"),
        **{f"latency_{q:g}": _by_label(page, f"c_latency_{q:g}", "revision")
           for q in (0.5, 0.95, 0.99)},
    }
    rows = []
    for rev in (a, b):
        if not rev:
            continue
        row: dict[str, object] = {"revision": rev}
        for name, values in columns.items():
            value = values.get(rev)
            if value is None and name in ("rate_4xx", "rate_5xx") and rev in volume:
                value = 0.0
            row[name] = value
        vol = volume.get(rev)
        row["share"] = (vol / total) if (vol is not None and total > 0) else None
        rows.append(row)
    cols = ["revision", "share", *columns]
    return pd.DataFrame(rows, columns=cols)


# -- scaling page ----------------------------------------------------------------------------
def scaling_specs(cat: Catalog, state: ViewState, window: Window) -> list[Spec]:
    sel = _selection(state, window.rate_window)
    return [
        *shared(cat, "concurrency", sel, ["concurrency_stable", "concurrency_panic",
                                          "concurrency_target"]),
        *shared(cat, "panic_mode", sel, ["panic_mode"]),
        *shared(cat, "excess_burst_capacity", sel, ["excess_burst_capacity"]),
        *shared(cat, "activator_concurrency", sel, ["activator_concurrency"]),
        *shared(cat, "pods_and_scale_events", sel, ["pods_desired", "pods_actual"]),
    ]


def load_scaling(source: Source, state: ViewState, now: float | None = None) -> PageData:
    window = window_for(state, time.time() if now is None else now, source.scrape_interval)
    return load(source, lambda cat: scaling_specs(cat, state, window), window)


def scale_events(frame: pd.DataFrame | None, by: str = "revision") -> pd.DataFrame:
    """Where a pod count changes: scale-up, scale-down, scale-to-zero (time, from, to)."""
    cols = ["time", by, "kind", "from", "to"]
    if frame is None or frame.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    groups = frame.groupby(by, sort=True) if by in frame else [("", frame)]
    for name, group in groups:
        g = group.sort_values("time")
        values = g["value"].to_numpy(dtype=float)
        times = g["time"].to_numpy()
        if len(values) < 2:
            continue
        prev, cur = values[:-1], values[1:]
        changed = np.flatnonzero((cur != prev) & ~np.isnan(cur) & ~np.isnan(prev))
        for i in changed:
            before, after = prev[i], cur[i]
            kind = "scale-to-zero" if after == 0 else ("scale-up" if after > before
                                                       else "scale-down")
            rows.append({"time": times[i + 1], by: name, "kind": kind, "from": before,
                         "to": after})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("time", kind="stable").reset_index(drop=True) if rows else out


# -- GPU page --------------------------------------------------------------------------------
def has_gpu(cat: Catalog) -> bool:
    """Whether this catalog carries the GPU signals (``sdobs.catalog.gpu``)."""
    return hasattr(cat, "gpu_utilization") and hasattr(cat, "gpu_seconds")


def gpu_specs(cat: Catalog, state: ViewState, window: Window) -> list[Spec]:
    if not has_gpu(cat):
        return []
    sel = _selection(state, window.rate_window)
    specs = [
        *shared(cat, "gpu_utilization_by_pod", sel, ["util_pod"]),
        *shared(cat, "gpu_utilization_by_revision", sel, ["util_revision"]),
        *shared(cat, "gpu_memory_by_pod", sel, ["memory_pod", "memory_total"]),
        *shared(cat, "gpu_memory_by_revision", sel, ["memory_revision"]),
        *shared(cat, "gpu_power_by_pod", sel, ["power_pod"]),
        *shared(cat, "gpu_power_by_revision", sel, ["power_revision"]),
        *shared(cat, "gpus_allocated_vs_busy", sel, ["allocated", "busy"]),
        # GPU health (sdobs.catalog.gpu_health)
        *shared(cat, "gpu_xid_by_pod", sel, ["xid_pod"]),
        *shared(cat, "gpu_ecc_by_pod", sel, ["ecc_uncorrected", "ecc_corrected"]),
        *shared(cat, "gpu_row_remap_by_pod", sel, ["repairs_pod"]),
        *shared(cat, "gpu_throttle_reasons", sel,
                [f"throttle_{r}" for r in SLOWDOWN_REASONS]),
        # revision resources (sdobs.catalog.resources)
        *shared(cat, "revision_cpu", sel, ["cpu_user", "cpu_queue_proxy"]),
        *shared(cat, "revision_memory", sel, ["memory_user", "memory_limit_user",
                                              "memory_queue_proxy"]),
        *shared(cat, "memory_limit_ratio_by_pod", sel, ["memory_ratio_pod"]),
        *shared(cat, "revision_restarts", sel, ["restarts_user", "oom_kills_user",
                                                "restarts_queue_proxy"]),
    ]
    # GPU-seconds over the page's range (Grafana passes $__range to the same catalog call).
    sub_step = f"{math.ceil(max(window.step, 1))}s"
    specs += [
        Spec("h_allocated", cat.gpu_seconds(sel, "allocated", window.span_window, sub_step),
             instant=True),
        Spec("h_busy", cat.gpu_seconds(sel, "busy", window.span_window, sub_step), instant=True),
        Spec("h_sources", cat.gpu_sources(sel), instant=True),  # which exporter reports them
    ]
    return specs


def load_gpu(source: Source, state: ViewState, now: float | None = None) -> PageData:
    window = window_for(state, time.time() if now is None else now, source.scrape_interval)
    return load(source, lambda cat: gpu_specs(cat, state, window), window)


def gpu_sources_text(page: PageData) -> str:
    """Which exporter reports the selected GPUs now, e.g. ``dcgm-exporter (4)``."""
    frame = page.frame("h_sources")
    if frame is None or frame.empty or "source" not in frame:
        return "–"
    return ", ".join(f"{src} ({int(n)})" for src, n in
                     sorted(zip(frame["source"], frame["value"], strict=True)))


def gpu_headline(page: PageData) -> dict[str, float | None]:
    allocated, busy = scalar(page, "h_allocated"), scalar(page, "h_busy")
    ratio = busy / allocated if (allocated and busy is not None) else None
    return {"allocated": allocated, "busy": busy, "busy_ratio": ratio}


# -- fleet page ------------------------------------------------------------------------------
def fleet_specs(cat: Catalog, state: ViewState, window: Window,
                scrape_interval: float = 15.0) -> list[Spec]:
    sel = Selection(namespace=state.namespace, window=window.span_window)
    spark = window.with_points(SPARK_POINTS, scrape_interval)
    spark_sel = replace(sel, window=spark.rate_window)
    specs = [
        *shared(cat, "fleet_table", sel, ["rps", "success", "p95", "pods", "gpu"], instant=True),
        *shared(cat, "gpus_allocated_by_service", sel, ["gpus"], instant=True),
        Spec("spark", cat.request_rate(spark_sel, FLEET_BY), step=spark.step),
    ]
    return specs


def load_fleet(source: Source, state: ViewState, now: float | None = None) -> PageData:
    window = window_for(state, time.time() if now is None else now, source.scrape_interval)
    from .recorded import fleet_specs as recorded_specs
    from .recorded import has_recorded

    if has_recorded(source, since=window.start):  # the recording rules cover the range
        page = load(source, lambda cat: recorded_specs(cat, state, window,
                                                       source.scrape_interval), window)
        if page.dialect:
            page.dialect += " · recorded series"
        return page
    return load(source, lambda cat: fleet_specs(cat, state, window, source.scrape_interval),
                window)


FLEET_COLUMNS = ("namespace", "service", "rps", "success", "p95", "pods", "gpu", "gpus", "zero")


def fleet_table(page: PageData) -> pd.DataFrame:
    """One row per service seen by any fleet query, with its sparkline values."""
    keys: set[tuple[str, str]] = set()
    values: dict[str, dict[tuple[str, str], float]] = {}
    for name in ("rps", "success", "p95", "pods", "gpu", "gpus"):
        frame = page.frame(name)
        col: dict[tuple[str, str], float] = {}
        if frame is not None and not frame.empty and set(FLEET_BY) <= set(frame.columns):
            for ns, svc, v in zip(frame["namespace"], frame["service"], frame["value"],
                                  strict=True):
                col[(str(ns), str(svc))] = float(v)
        values[name] = col
        keys.update(col)
    sparks: dict[tuple[str, str], list[float]] = {}
    frame = page.frame("spark")
    if frame is not None and not frame.empty and set(FLEET_BY) <= set(frame.columns):
        step = page.results["spark"].spec.step or page.window.step
        grid = page.window.grid(step)
        ms = _epoch_ms(frame["time"])
        idx = grid_index(ms, grid, step)
        vals = frame["value"].to_numpy(dtype=float)
        codes, uniques = pd.MultiIndex.from_arrays([frame["namespace"], frame["service"]]) \
            .factorize()
        series = np.full((len(uniques), len(grid)), np.nan)
        series[codes, idx] = vals
        for i, (ns, svc) in enumerate(uniques):
            sparks[(str(ns), str(svc))] = series[i].tolist()
        keys.update(sparks)
    ordered = sorted(keys)
    data: dict[str, object] = {
        "namespace": [k[0] for k in ordered],
        "service": [k[1] for k in ordered],
    }
    for name in ("rps", "success", "p95", "pods", "gpu", "gpus"):
        data[name] = [values[name].get(k, np.nan) for k in ordered]
    table = pd.DataFrame(data)
    # No traffic in the range counts as zero requests per second once the service is known.
    if not page.failed("rps"):
        table["rps"] = table["rps"].fillna(0.0)
    table["zero"] = table["pods"].map(lambda p: None if math.isnan(p) else bool(p == 0))
    table["spark"] = [sparks.get(k, []) for k in ordered]
    return table


def filter_sort(table: pd.DataFrame, query: str, sort: str, descending: bool) -> pd.DataFrame:
    """The fleet table searched (substring of namespace/service) and sorted (unknowns last)."""
    out = table
    if query:
        q = query.lower()
        mask = out["service"].str.lower().str.contains(q, regex=False) | \
            out["namespace"].str.lower().str.contains(q, regex=False)
        out = out[mask]
    if sort in out.columns:
        key = out[sort]
        if sort == "zero":
            key = key.map(lambda z: np.nan if z is None else float(z))
        out = out.assign(_key=key).sort_values(
            ["_key", "namespace", "service"], ascending=[not descending, True, True],
            na_position="last", kind="stable",
        ).drop(columns="_key")
    return out.reset_index(drop=True)


# -- selectors -------------------------------------------------------------------------------
def options(source: Source, state: ViewState, now: float | None = None) -> dict[str, list[str]]:
    """Namespaces, services (in the namespace) and revisions (of the service) in the range."""
    cat = source.catalog()
    start, end = state.time_range(time.time() if now is None else now)

    def values(label: str, sel: Selection) -> list[str]:
        return source.client.label_values(label_key(cat, label),
                                          match=inventory_selectors(cat, sel),
                                          start=start, end=end)

    out = {"namespace": values("namespace", Selection()),
           "service": values("service", Selection(namespace=state.namespace)),
           "revision": []}
    if state.service:
        sel = Selection(namespace=state.namespace, service=state.service)
        out["revision"] = values("revision", sel)
    return out


def grid_index(ms: np.ndarray, grid: np.ndarray, step: float) -> np.ndarray:
    """Position of each timestamp on a range query's evaluation grid."""
    if len(grid) == 0:
        return np.zeros(len(ms), dtype="int64")
    idx = np.rint((ms - grid[0]) / (step * 1000)).astype("int64")
    return np.clip(idx, 0, len(grid) - 1)


def _epoch_ms(times: pd.Series) -> np.ndarray:
    return times.dt.as_unit("ms").astype("int64").to_numpy()


def epoch_ms(times: pd.Series) -> np.ndarray:
    """Frame timestamps as integer milliseconds since the epoch (what plotly's date axis takes)."""
    return _epoch_ms(times)
