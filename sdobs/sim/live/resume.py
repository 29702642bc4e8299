"""Where the backfilled history ends, the live twin begins: no flat lines, no fake scale event.

Backfilled history cannot carry Prometheus' staleness markers, so every per-pod series alive at
its end would be carried forward for the 5-minute lookback, and a live twin starting at zero pods
would draw a scale-down that never happened. At start the demo therefore ends each per-pod series
of the past with a staleness marker one millisecond after its last sample (remote write), and
starts each live revision with the pods the history ended with (its autoscaler's actual count).
"""

from __future__ import annotations

from collections.abc import Sequence

from sdobs.catalog import Catalog, Selection
from sdobs.catalog.inventory import job_samples
from sdobs.prom.client import PrometheusClient
from sdobs.prom.remote_write import mark_stale

#: Prometheus' default lookback: how far an instant query carries a series' last sample.
LOOKBACK_S = 300

Pods = dict[tuple[str, str], dict[str, int]]


def end_pod_series(client: PrometheusClient, jobs: Sequence[str], *, now: float,
                   history_end: float | None = None) -> int:
    """Mark every series of ``jobs`` seen in the lookback stale where the past ends.

    Call it before the live twin publishes its targets: every such series then belongs to a
    pod of the past (the history, or an earlier run of the demo). The markers go one
    millisecond after the newest sample of them all: Prometheus takes no sample older than
    the end of its newest block, and backfilled blocks end at their newest sample. Returns
    how many series were ended.
    """
    since = min(now, history_end if history_end is not None else now) - LOOKBACK_S
    window = f"{max(1, int(now - since))}s"
    frame = client.query(job_samples(jobs, window), now)
    if frame.empty:
        return 0
    labels = [c for c in frame.columns if c not in ("time", "value")]
    at = round(frame["time"].max().timestamp() * 1000) + 1
    ended = []
    for key in frame.groupby(labels, dropna=False, sort=False).groups:
        values = key if isinstance(key, tuple) else (key,)
        series = {k: v for k, v in zip(labels, values, strict=True) if isinstance(v, str)}
        ended.append((series, at))
    return mark_stale(f"{client.url}/api/v1/write", ended)


def pods_at(client: PrometheusClient, catalog: Catalog, at: float) -> Pods:
    """Ready pods per revision at ``at``, from the autoscaler's series (what the history had)."""
    query = catalog.pods(Selection(), "actual", by=["namespace", "service", "revision"])
    frame = client.query(query.expr, at)
    out: Pods = {}
    for row in frame.itertuples(index=False):
        count = round(float(row.value))
        if count > 0:
            out.setdefault((row.namespace, row.service), {})[row.revision] = count
    return out
