"""The fleet page on recorded series: detected like the dialect, used when the rules run.

Where Prometheus holds sdobs' recording rules (``sdobs rules``), the fleet page reads the
per-revision recorded series instead of every service's raw counters and buckets, so a refresh
at hundreds of services costs a fraction of the raw queries (``benchmarks/fleet_recorded.py``).
Over a range, a recorded 5-minute rate is averaged (``avg_over_time``), which equals the raw
range rate up to the edges of the range.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from sdobs.catalog import Catalog, Selection
from sdobs.prom.errors import PrometheusError

from .data import FLEET_BY, SPARK_POINTS, Spec, Window
from .state import ViewState

#: Seconds a detection result is trusted before Prometheus is asked again.
DETECT_TTL = 60.0
_cache: dict[tuple[str, int | None], tuple[float, bool]] = {}
_lock = threading.Lock()


def has_recorded(source, now: float | None = None, *, since: float | None = None) -> bool:
    """Whether the source's Prometheus holds the Knative recording rules' series.

    With ``since`` (a range's start, Unix seconds) they must exist from there on: rules loaded
    later than the range begins (the demo's, over its backfilled day) would show only the
    range's recorded end, so such a range is read raw.
    """
    now = time.monotonic() if now is None else now
    key = (source.client.url, None if since is None else int(since // DETECT_TTL))
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < DETECT_TTL:
            return hit[1]
    try:
        cat = Catalog("opencensus")  # the recorded names are the same in every dialect
        found = not source.client.query(f"count({cat.recorded_marker()})", since).empty
    except PrometheusError:
        found = False
    with _lock:
        _cache[key] = (now, found)
    return found


def forget() -> None:
    """Drop cached detections (tests, and after the rules were loaded or removed)."""
    with _lock:
        _cache.clear()


def fleet_specs(cat: Catalog, state: ViewState, window: Window,
                scrape_interval: float = 15.0) -> list[Spec]:
    """The fleet page's queries (same keys as the raw ones) over the recorded series."""
    sel = Selection(namespace=state.namespace, window=window.span_window)
    now = replace(sel, window="5m")
    spark = window.with_points(SPARK_POINTS, scrape_interval)
    spark_sel = replace(sel, window=spark.rate_window)
    return [
        Spec("rps", cat.recorded_request_rate(sel, FLEET_BY), instant=True),
        Spec("success", cat.recorded_success_ratio(sel, FLEET_BY), instant=True),
        Spec("p95", cat.recorded_latency(sel, 0.95, FLEET_BY), instant=True),
        Spec("pods", cat.recorded_pods(now, "actual", FLEET_BY), instant=True),
        Spec("gpu", cat.recorded_gpu_utilization(now, FLEET_BY), instant=True),
        Spec("gpus", cat.recorded_gpus_allocated(now, FLEET_BY), instant=True),
        Spec("spark", cat.recorded_request_rate(spark_sel, FLEET_BY), step=spark.step),
    ]
